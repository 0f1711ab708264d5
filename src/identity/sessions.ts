// Opening a session: one task boundary for one agent, with a budget and scope that never exceed
// what the agent's profile allows, and a short-lived token bound to it.
import { GatewayError } from '../errors/index.js';
import type { Agent, Budget, Profile, Session, Store } from '../store/index.js';
import { newId } from '../util/ids.js';
import type { Directory } from './directory.js';
import type { TokenService } from './tokens.js';

export interface OpenSessionInput {
  /** Agent id or name. */
  agent: string;
  task: string;
  budget?: Partial<Budget>;
  ttlSeconds?: number;
  /** Narrows the profile's models; every name must be in the profile. */
  models?: string[];
  context?: Record<string, unknown>;
}

export interface OpenedSession {
  session: Session;
  token: string;
  /** Token expiry (ms). */
  expiresAt: number;
}

function budgetWithin(requested: Partial<Budget> | undefined, profile: Profile): Budget {
  const pick = (unit: keyof Budget): number | null => {
    const max = profile.sessionBudget.max[unit];
    const value = requested?.[unit] ?? profile.sessionBudget.default[unit] ?? null;
    if (value !== null && max !== null && value > max) {
      throw new GatewayError('invalid_request', `budget.${unit === 'usdNano' ? 'usd' : unit} is above the profile's maximum`, { param: `budget.${unit === 'usdNano' ? 'usd' : unit}` });
    }
    return value ?? max;
  };
  return { tokens: pick('tokens'), usdNano: pick('usdNano') };
}

export class SessionService {
  constructor(
    private readonly store: Store,
    private readonly directory: Directory,
    private readonly tokens: TokenService,
    private readonly now: () => number = Date.now,
  ) {}

  async open(input: OpenSessionInput): Promise<OpenedSession> {
    const agent = await this.store.getAgent(input.agent);
    if (!agent) throw new GatewayError('not_found', `agent "${input.agent}" does not exist`, { param: 'agent' });
    if (agent.status !== 'active') throw new GatewayError('forbidden', `agent "${agent.name}" is ${agent.status}`);
    const profile = (await this.store.getProfile(agent.profileId))!;
    const models = this.scope(input.models, profile);
    const ttl = input.ttlSeconds ?? profile.sessionTtlSeconds.default;
    if (ttl > profile.sessionTtlSeconds.max) {
      throw new GatewayError('invalid_request', `ttl_seconds is above the profile's maximum (${profile.sessionTtlSeconds.max})`, { param: 'ttl_seconds' });
    }
    const createdAt = this.now();
    const session = await this.store.createSession({
      id: newId('ses'),
      agentId: agent.id,
      teamId: agent.teamId,
      profileId: profile.id,
      parentId: null,
      task: input.task,
      budget: budgetWithin(input.budget, profile),
      models,
      context: { environment: agent.environment, ...(input.context ?? {}) },
      createdAt,
      expiresAt: createdAt + ttl * 1000,
    });
    return this.withToken(session, agent);
  }

  private scope(requested: string[] | undefined, profile: Profile): string[] {
    if (!requested) return profile.models;
    const outside = requested.filter((m) => !profile.models.includes(m));
    if (outside.length > 0) throw new GatewayError('invalid_request', `models not in the profile: ${outside.join(', ')}`, { param: 'models' });
    return [...new Set(requested)];
  }

  private async withToken(session: Session, agent: Agent): Promise<OpenedSession> {
    this.directory.sessions.set(session.id, session);
    const { token, claims } = await this.tokens.issue({ agentId: agent.id, sessionId: session.id, sessionExpiresAt: session.expiresAt, scope: session.models });
    return { session, token, expiresAt: claims.exp * 1000 };
  }
}
