// The context a session carries into every policy decision: the environment it runs in, how
// sensitive its data is, and what it intends to do. Set when the session opens; a child inherits
// its parent's and may only tighten it (never a lower data class, never another environment or
// another intended action).
import { GatewayError } from '../errors/index.js';
import type { Agent, DataSensitivity, Profile, Session } from '../store/index.js';

export const SENSITIVITY_LEVELS: readonly DataSensitivity[] = ['public', 'internal', 'confidential', 'restricted'];

export const sensitivityLevel = (s: DataSensitivity): number => SENSITIVITY_LEVELS.indexOf(s);

/** The keys Tollgate gives meaning to; other context keys are kept as labels. */
export interface SessionContext {
  environment: string;
  data_sensitivity: DataSensitivity;
  /** What the task intends to do (e.g. `read`, `write`, `deploy`); `unspecified` when not said. */
  intended_action: string;
  [label: string]: unknown;
}

const UNSPECIFIED = 'unspecified';

function sensitivityOf(value: unknown, param: string): DataSensitivity | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !SENSITIVITY_LEVELS.includes(value as DataSensitivity)) {
    throw new GatewayError('invalid_request', `${param} must be one of ${SENSITIVITY_LEVELS.join(', ')}`, { param });
  }
  return value as DataSensitivity;
}

function actionOf(value: unknown, param: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[A-Za-z0-9_.:-]{1,64}$/.test(value)) {
    throw new GatewayError('invalid_request', `${param} must be 1-64 letters, digits or . _ : -`, { param });
  }
  return value;
}

/** The requested data class, refused when below `floor` (the profile's, or the parent's). */
function atLeast(asked: DataSensitivity | undefined, floor: DataSensitivity, whose: string, oauth?: string): DataSensitivity {
  if (asked === undefined) return floor;
  if (sensitivityLevel(asked) < sensitivityLevel(floor)) {
    throw new GatewayError('invalid_request', `context.data_sensitivity may not be below ${whose} (${floor})`, { param: 'context.data_sensitivity', ...(oauth ? { details: { oauth } } : {}) });
  }
  return asked;
}

/** Session tags: business context (cost center, ticket, customer) that spend reports group by. */
export type SessionTags = Record<string, string>;

export const MAX_TAGS = 16;
const TAG_KEY = /^[a-z0-9_.-]{1,64}$/;
const MAX_TAG_VALUE = 256;

/** Validated tags from a request (`tags`, or `context.tags`); undefined when none were sent. */
function tagsOf(value: unknown, param: string): SessionTags | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new GatewayError('invalid_request', `${param} must be an object of strings`, { param, details: { oauth: 'invalid_request' } });
  const tags: SessionTags = {};
  for (const [k, v] of Object.entries(value)) {
    if (!TAG_KEY.test(k)) throw new GatewayError('invalid_request', `${param}: tag key "${k.slice(0, 70)}" must be 1-64 of a-z 0-9 _ . -`, { param, details: { oauth: 'invalid_request' } });
    if (typeof v !== 'string' || v.length > MAX_TAG_VALUE) throw new GatewayError('invalid_request', `${param}.${k} must be a string of at most ${MAX_TAG_VALUE} characters`, { param, details: { oauth: 'invalid_request' } });
    tags[k] = v;
  }
  return tags;
}

/** `base` plus `added`: a tag already set keeps its value (asking to change it is an error). */
function addTags(base: SessionTags, added: SessionTags | undefined, param: string, whose: string): SessionTags {
  const out = { ...base };
  for (const [k, v] of Object.entries(added ?? {})) {
    if (k in out && out[k] !== v) throw new GatewayError('invalid_request', `tag "${k}" is already set to "${out[k]}" by ${whose}; it cannot be changed`, { param, details: { oauth: 'invalid_request' } });
    out[k] = v;
  }
  if (Object.keys(out).length > MAX_TAGS) throw new GatewayError('invalid_request', `a session carries at most ${MAX_TAGS} tags`, { param, details: { oauth: 'invalid_request' } });
  return out;
}

/** The context with its tags set, the `tags` key left out when there are none. */
function withTags<T extends Record<string, unknown>>(context: T, tags: SessionTags): T {
  const { tags: _dropped, ...rest } = context;
  return (Object.keys(tags).length > 0 ? { ...rest, tags } : rest) as T;
}

/** A stored session's tags ({} for sessions without). */
export function tagsOfSession(session: Session): SessionTags {
  const t = session.context.tags;
  return t && typeof t === 'object' && !Array.isArray(t) ? Object.fromEntries(Object.entries(t).filter((e): e is [string, string] => typeof e[1] === 'string')) : {};
}

/**
 * A root session's context: the agent's environment, the requested data class — never below
 * the profile's, which is also the default.
 */
export function rootContext(agent: Agent, profile: Profile, input: Record<string, unknown> = {}, tags?: SessionTags): SessionContext {
  if (input.environment !== undefined && input.environment !== agent.environment) {
    throw new GatewayError('invalid_request', `context.environment must be the agent's environment ("${agent.environment}")`, { param: 'context.environment' });
  }
  const allTags = addTags(addTags({}, tagsOf(input.tags, 'context.tags'), 'tags', 'context.tags'), tagsOf(tags, 'tags'), 'tags', 'context.tags');
  return withTags({
    ...input,
    environment: agent.environment,
    data_sensitivity: atLeast(sensitivityOf(input.data_sensitivity, 'context.data_sensitivity'), profile.dataSensitivity, 'the profile\'s'),
    intended_action: actionOf(input.intended_action, 'context.intended_action') ?? UNSPECIFIED,
  }, allTags);
}

/** Reads a stored session's context, filling what sessions opened before these keys existed lack. */
export function contextOf(session: Session): SessionContext {
  const c = session.context;
  return {
    ...c,
    environment: typeof c.environment === 'string' ? c.environment : 'dev',
    data_sensitivity: SENSITIVITY_LEVELS.includes(c.data_sensitivity as DataSensitivity) ? (c.data_sensitivity as DataSensitivity) : 'internal',
    intended_action: typeof c.intended_action === 'string' ? c.intended_action : UNSPECIFIED,
  };
}

/** A child session's context: the parent's, tightened by what the child asks for, never relaxed. */
export function childContext(parent: Session, childAgent: Agent, childProfile: Profile, input: Record<string, unknown> = {}, tags?: SessionTags): SessionContext {
  const inherited = contextOf(parent);
  if (childAgent.environment !== inherited.environment) {
    throw new GatewayError('forbidden', `agent "${childAgent.name}" runs in ${childAgent.environment}, the parent session in ${inherited.environment}`, { details: { oauth: 'invalid_target' } });
  }
  if (input.environment !== undefined && input.environment !== inherited.environment) {
    throw new GatewayError('invalid_request', 'a child session keeps its parent\'s environment', { param: 'context.environment', details: { oauth: 'invalid_request' } });
  }
  const asked = sensitivityOf(input.data_sensitivity, 'context.data_sensitivity');
  if (asked !== undefined && sensitivityLevel(asked) < sensitivityLevel(inherited.data_sensitivity)) {
    throw new GatewayError('invalid_request', `a child session may not lower data_sensitivity below its parent's (${inherited.data_sensitivity})`, { param: 'context.data_sensitivity', details: { oauth: 'invalid_request' } });
  }
  // The child's own profile may demand more than the parent carried: the stricter one holds.
  const floor = sensitivityLevel(childProfile.dataSensitivity) > sensitivityLevel(inherited.data_sensitivity) ? childProfile.dataSensitivity : inherited.data_sensitivity;
  const action = actionOf(input.intended_action, 'context.intended_action');
  if (action !== undefined && inherited.intended_action !== UNSPECIFIED && action !== inherited.intended_action) {
    throw new GatewayError('invalid_request', `a child session keeps its parent's intended_action ("${inherited.intended_action}")`, { param: 'context.intended_action', details: { oauth: 'invalid_request' } });
  }
  // Tags are inherited whole: a child may add tags, never change one its parent carries.
  const childTags = addTags(addTags(tagsOfSession(parent), tagsOf(input.tags, 'context.tags'), 'tags', 'the parent session'), tagsOf(tags, 'tags'), 'tags', 'the parent session');
  return withTags({
    ...inherited,
    ...input,
    environment: inherited.environment,
    data_sensitivity: atLeast(asked, floor, 'the child profile\'s', 'invalid_request'),
    intended_action: action ?? inherited.intended_action,
  }, childTags);
}
