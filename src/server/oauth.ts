// The token endpoint (RFC 6749 §3.2, RFC 8693) and token revocation (RFC 7009).
//   client_credentials                 agent secret        → a new session the agent opens itself
//   token-exchange, subject = jwt      federated workload  → a new session for the mapped agent
//   token-exchange, subject = session  + task              → a child session (delegation)
//   token-exchange, subject = session  (no task)           → a fresh token for the same session
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditLog } from '../audit/index.js';
import { asGatewayError, GatewayError, type ErrorCode } from '../errors/index.js';
import type { Actor, CredentialService, Directory, FederationVerifier, IssuedToken, RevocationList, SessionService, TokenClaims, TokenService } from '../identity/index.js';
import { EXPIRED_TOKEN_GRACE_MS, isLive } from '../identity/index.js';
import { callerStanding, readBody, type PipelineDeps } from '../pipeline/index.js';
import { MAX_USD } from '../config/index.js';
import { usdToNano } from '../providers/pricing.js';
import type { Session } from '../store/index.js';
import type { Logger } from 'pino';

export const GRANT_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const TOKEN_TYPE_ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
export const TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';
const TOKEN_TYPE_ID = 'urn:ietf:params:oauth:token-type:id_token';

export interface OAuthDeps {
  sessions: SessionService;
  credentials: CredentialService;
  federation: FederationVerifier;
  tokens: TokenService;
  revocations: RevocationList;
  directory: Directory;
  /** Names a suspended session's resume approval in its refusal. */
  approvals: PipelineDeps['approvals'];
  audit: AuditLog;
  /** Where a failure of the gateway's own (a 500) is logged, with the request id. */
  logger: Pick<Logger, 'error'>;
  bodyLimitBytes: number;
  now: () => number;
}

/** An RFC 6749 §5.2 error; `tollgate`: the gateway's own code behind it (docs/errors.md), and its details. */
class OAuthError extends Error {
  constructor(readonly error: string, description: string, readonly status = 400, readonly tollgate?: { code: string; details?: Record<string, unknown> }) {
    super(description);
  }
}

/**
 * The error body: RFC 6749's `error` and `error_description`, and — as the RFC allows more
 * parameters — `tollgate_code` and `tollgate_details`, so a client (the SDK) tells a suspended
 * team from an expired token without reading the message.
 */
function errorBody(e: OAuthError): Record<string, unknown> {
  const body: Record<string, unknown> = { error: e.error, error_description: e.message };
  if (e.tollgate) {
    body.tollgate_code = e.tollgate.code;
    if (e.tollgate.details && Object.keys(e.tollgate.details).length > 0) body.tollgate_details = e.tollgate.details;
  }
  return body;
}

/** Gateway errors as OAuth errors: one table, used by both endpoints. */
const OAUTH_ERRORS: Partial<Record<ErrorCode, string>> = {
  invalid_client: 'invalid_client',
  invalid_token: 'invalid_grant',
  token_expired: 'invalid_grant',
  token_revoked: 'invalid_grant',
  session_inactive: 'invalid_grant',
  session_suspended: 'invalid_grant',
  agent_inactive: 'invalid_grant',
  team_suspended: 'invalid_grant',
  forbidden: 'unauthorized_client',
  policy_denied: 'unauthorized_client',
  not_found: 'invalid_target',
  budget_exceeded: 'invalid_target',
  invalid_request: 'invalid_request',
  body_too_large: 'invalid_request',
};

function toOAuthError(err: unknown): OAuthError {
  if (err instanceof OAuthError) return err;
  const e = asGatewayError(err);
  const { oauth: explicit, ...details } = e.details ?? {};
  const code = typeof explicit === 'string' ? explicit : OAUTH_ERRORS[e.code];
  if (!code) return new OAuthError('server_error', 'The token could not be issued.', 500);
  return new OAuthError(code, e.message, code === 'invalid_client' ? 401 : 400, { code: e.code, details });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  // RFC 6749 §5.1: token responses must not be cached.
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

/** Form parameters; a parameter sent twice is an error (RFC 6749 §3.2). */
async function readForm(req: IncomingMessage, limit: number): Promise<Map<string, string>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new OAuthError('invalid_request', 'Send the parameters as application/x-www-form-urlencoded.');
  const params = new Map<string, string>();
  for (const [key, value] of new URLSearchParams((await readBody(req, limit)).toString('utf8'))) {
    if (params.has(key)) throw new OAuthError('invalid_request', `The parameter "${key}" is repeated.`);
    params.set(key, value);
  }
  return params;
}

/** Client authentication: HTTP Basic (RFC 6749 §2.3.1, form-urlencoded parts) or body parameters. */
function clientCredentials(req: IncomingMessage, form: Map<string, string>): { id: string; secret: string } {
  const basic = /^Basic +([A-Za-z0-9+/=]+)$/i.exec(req.headers.authorization ?? '');
  if (basic && form.has('client_secret')) throw new OAuthError('invalid_request', 'Use one client authentication method.');
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new OAuthError('invalid_client', 'Malformed Basic credentials.', 401);
    try {
      return { id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')), secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')) };
    } catch {
      throw new OAuthError('invalid_client', 'Malformed Basic credentials.', 401);
    }
  }
  const id = form.get('client_id');
  const secret = form.get('client_secret');
  if (!id || !secret) throw new OAuthError('invalid_client', 'Client authentication is required.', 401);
  return { id, secret };
}

function number(form: Map<string, string>, name: string): number | undefined {
  const raw = form.get(name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0) throw new OAuthError('invalid_request', `"${name}" must be a non-negative number.`);
  return n;
}

/** The session-shaping extension parameters shared by every grant. */
function sessionParams(form: Map<string, string>) {
  const usd = number(form, 'budget_usd');
  if (usd !== undefined && usd > MAX_USD) throw new OAuthError('invalid_request', `"budget_usd" must be at most ${MAX_USD}.`);
  const tokens = number(form, 'budget_tokens');
  const ttl = number(form, 'ttl_seconds');
  if (tokens !== undefined && !Number.isSafeInteger(tokens)) throw new OAuthError('invalid_request', '"budget_tokens" must be an integer below 2^53.');
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl === 0)) throw new OAuthError('invalid_request', '"ttl_seconds" must be a positive integer.');
  const context: Record<string, string> = {};
  for (const key of ['data_sensitivity', 'intended_action'] as const) {
    const value = form.get(key);
    if (value !== undefined) context[key] = value;
  }
  const tags = tagParams(form);
  return { budget: { ...(usd === undefined ? {} : { usdNano: usdToNano(usd) }), ...(tokens === undefined ? {} : { tokens }) }, ttlSeconds: ttl, ...scopeParams(form.get('scope')), context, ...(tags ? { tags } : {}) };
}

/** Session tags sent as `tag.KEY=VALUE` parameters (validated where the session opens). */
function tagParams(form: Map<string, string>): Record<string, string> | undefined {
  const tags: Record<string, string> = {};
  for (const [key, value] of form) if (key.startsWith('tag.')) tags[key.slice(4)] = value;
  return Object.keys(tags).length > 0 ? tags : undefined;
}

/**
 * `scope` (space-separated): plain entries narrow the models; `tool:`, `resource:` and `prompt:`
 * entries narrow the MCP scopes. Any kind left out keeps what is held.
 */
function scopeParams(scope: string | undefined): { models?: string[]; tools?: string[]; resources?: string[]; prompts?: string[] } {
  if (scope === undefined) return {};
  const out: Record<string, string[]> = {};
  for (const entry of scope.split(' ').filter(Boolean)) {
    const m = /^(tool|resource|prompt):(.+)$/.exec(entry);
    const kind = m ? `${m[1]}s` : 'models';
    (out[kind] ??= []).push(m ? m[2]! : entry);
  }
  return out;
}

function withContext<T extends { context: Record<string, string> }>(params: T, extra: Record<string, string>): T {
  return { ...params, context: { ...params.context, ...extra } };
}

function requiredTask(form: Map<string, string>): string {
  const task = form.get('task');
  if (!task || task.length > 500) throw new OAuthError('invalid_request', 'The "task" parameter (1-500 characters) is required.');
  return task;
}

function tokenResponse(issued: IssuedToken, now: number) {
  return {
    access_token: issued.token,
    issued_token_type: TOKEN_TYPE_ACCESS,
    token_type: 'Bearer',
    expires_in: Math.max(0, Math.floor((issued.expiresAt - now) / 1000)),
    scope: issued.session.models.join(' '),
    session_id: issued.session.id,
    // A token never outlives its session: a client can tell a token cut at the session's end.
    session_expires_in: Math.max(0, Math.floor((issued.session.expiresAt - now) / 1000)),
  };
}

/**
 * A Tollgate session token presented as subject or actor: its holder may call now (the same check
 * as a model call's: the token unrevoked, the session, its ancestors, its agent and teams in good
 * standing) and the session has not expired. A suspended agent or team can neither refresh its
 * token nor hand its budget to another agent.
 */
/**
 * An agent asking for a session must be active, its team too: refused as RFC 6749's
 * `unauthorized_client`, with the Tollgate code (`agent_inactive`, `team_suspended`) beside it.
 */
async function activeClient(agentId: string, deps: OAuthDeps): Promise<void> {
  await deps.sessions.requireActiveAgent(agentId).catch((err: unknown) => {
    const e = asGatewayError(err);
    throw new GatewayError(e.code, e.message, { details: { ...e.details, oauth: 'unauthorized_client' } });
  });
}

/** The live session a presented token stands for (`suspendedStands`: a suspended one too, for a refresh). */
async function sessionFromToken(token: string, deps: OAuthDeps, suspendedStands = false): Promise<{ session: Session; agentId: string; claims: TokenClaims }> {
  const claims = await deps.tokens.verify(token);
  const { session } = await callerStanding(claims, deps, undefined, suspendedStands);
  if (session.expiresAt <= deps.now()) throw new GatewayError('session_inactive', 'The session has expired.');
  return { session, agentId: claims.sub, claims };
}

/**
 * The session a token's holder may close (RFC 7009 revocation): the token's signature, issuer and
 * audience hold — expired or not, closing only takes power away, and an agent idle past its token
 * must still be able to end its task — it is not revoked, and its session is live (active or
 * suspended); null otherwise (the endpoint answers 200 either way).
 */
async function sessionToClose(token: string, deps: OAuthDeps): Promise<{ session: Session; agentId: string } | null> {
  const claims = await deps.tokens.verify(token, { allowExpired: true });
  // Within a day of its expiry — as long as a revocation of it is remembered.
  if (claims.exp * 1000 + EXPIRED_TOKEN_GRACE_MS <= deps.now() || deps.revocations.isRevoked(claims.jti)) return null;
  const session = await deps.directory.sessions.get(claims.sid);
  if (!session || session.agentId !== claims.sub || !isLive(session)) return null;
  return { session, agentId: claims.sub };
}

async function tokenExchange(form: Map<string, string>, deps: OAuthDeps, requestId: string): Promise<IssuedToken> {
  const subject = form.get('subject_token');
  const subjectType = form.get('subject_token_type');
  if (!subject || !subjectType) throw new OAuthError('invalid_request', '"subject_token" and "subject_token_type" are required.');
  const actorToken = form.get('actor_token');
  const actorType = form.get('actor_token_type');
  if ((actorToken === undefined) !== (actorType === undefined)) throw new OAuthError('invalid_request', '"actor_token" and "actor_token_type" go together.');
  const requested = form.get('requested_token_type');
  if (requested !== undefined && requested !== TOKEN_TYPE_ACCESS && requested !== TOKEN_TYPE_JWT) {
    throw new OAuthError('invalid_request', 'Only access tokens (JWTs) are issued.');
  }
  const params = sessionParams(form);

  if (subjectType === TOKEN_TYPE_JWT || subjectType === TOKEN_TYPE_ID) {
    if (!deps.federation.enabled) throw new OAuthError('invalid_request', 'No federated issuers are configured.');
    const identity = await deps.federation.verify(subject);
    const agent = await deps.directory.agents.get(identity.agent);
    if (agent) await activeClient(agent.id, deps);
    const actor: Actor = { actor: `agent:${agent?.id ?? identity.agent}`, requestId };
    return deps.sessions.open({ agent: identity.agent, task: requiredTask(form), ...params, context: { ...params.context, federated_subject: identity.subject, federated_issuer: identity.issuer } }, actor);
  }
  if (subjectType !== TOKEN_TYPE_ACCESS) throw new OAuthError('invalid_request', `Unsupported subject_token_type "${subjectType}".`);

  // A refresh (no task) of a suspended session is allowed: its calls are refused while it is
  // suspended, and the agent keeps a token to go on with once a human resumes it. Delegating is not.
  const { session: parent, agentId, claims } = await sessionFromToken(subject, deps, !form.has('task'));
  const actor: Actor = { actor: `agent:${agentId}`, requestId };
  if (!form.has('task')) {
    // No new task: a fresh token for the same session (refresh before expiry).
    for (const p of ['agent', 'budget_usd', 'budget_tokens', 'scope', 'ttl_seconds']) {
      if (form.has(p)) throw new OAuthError('invalid_request', `"${p}" applies to delegation, which needs a "task".`);
    }
    if (tagParams(form)) throw new OAuthError('invalid_request', 'Tags ("tag.KEY") apply to delegation, which needs a "task".');
    const issued = await deps.sessions.refresh(parent);
    // While suspended the token is rotated: the one exchanged is revoked, so only one holder's
    // line of tokens lasts until a human decides — a copy taken by a thief and the agent's own
    // cannot both go on (the one refused says so, token_revoked).
    if (parent.status === 'suspended') await deps.revocations.revoke(claims.jti, claims.exp * 1000);
    await deps.audit.record({ ...actor, type: 'token.refreshed', agentId, sessionId: parent.id, teamId: parent.teamId, chain: parent.chain });
    return issued;
  }
  const childAgent = form.get('agent') ?? agentId;
  const { agent, profile } = await deps.sessions.activeAgent(childAgent);
  if (profile.requireActorToken) {
    // The child proves it is who the delegation names, with its own workload identity.
    if (!actorToken || (actorType !== TOKEN_TYPE_JWT && actorType !== TOKEN_TYPE_ID)) {
      throw new OAuthError('invalid_request', `Agent "${agent.name}" must present an actor_token (a workload JWT) to accept delegation.`);
    }
    const proven = await deps.federation.verify(actorToken);
    const provenAgent = await deps.directory.agents.get(proven.agent);
    if (provenAgent?.id !== agent.id) throw new OAuthError('invalid_grant', 'The actor_token does not identify the delegated agent.');
  }
  return deps.sessions.delegate(parent, { agent: agent.id, task: requiredTask(form), ...params }, actor);
}

export async function handleToken(req: IncomingMessage, res: ServerResponse, deps: OAuthDeps, requestId: string): Promise<void> {
  let grant: string | undefined;
  try {
    if (req.method !== 'POST') throw new OAuthError('invalid_request', 'Use POST.');
    const form = await readForm(req, deps.bodyLimitBytes);
    grant = form.get('grant_type');
    let issued: IssuedToken;
    if (grant === 'client_credentials') {
      const client = clientCredentials(req, form);
      const credential = await deps.credentials.verify(client.id, client.secret, req.socket.remoteAddress ?? null);
      await activeClient(credential.agentId, deps);
      issued = await deps.sessions.open({ agent: credential.agentId, task: requiredTask(form), ...withContext(sessionParams(form), { credential: credential.id }) }, { actor: `agent:${credential.agentId}`, requestId });
    } else if (grant === GRANT_TOKEN_EXCHANGE) {
      issued = await tokenExchange(form, deps, requestId);
    } else {
      throw new OAuthError(grant ? 'unsupported_grant_type' : 'invalid_request', grant ? `Unsupported grant_type "${grant}".` : '"grant_type" is required.');
    }
    send(res, 200, tokenResponse(issued, deps.now()), { 'x-request-id': requestId });
  } catch (err) {
    const e = toOAuthError(err);
    if (e.status >= 500) deps.logger.error({ err, req_id: requestId }, 'token request failed');
    await deps.audit.record({ type: 'token.denied', actor: 'anonymous', requestId, data: { grant_type: grant ?? null, error: e.error, reason: e.message, source: req.socket.remoteAddress ?? null } }).catch(() => undefined);
    send(res, e.status, errorBody(e), { 'x-request-id': requestId, ...(e.status === 401 ? { 'www-authenticate': 'Basic realm="tollgate"' } : {}) });
  }
}

/** RFC 7009: the agent ends its own session. The answer is 200 whether or not the token was valid. */
export async function handleRevoke(req: IncomingMessage, res: ServerResponse, deps: OAuthDeps, requestId: string): Promise<void> {
  try {
    if (req.method !== 'POST') throw new OAuthError('invalid_request', 'Use POST.');
    const form = await readForm(req, deps.bodyLimitBytes);
    const token = form.get('token');
    if (!token) throw new OAuthError('invalid_request', '"token" is required.');
    const found = await sessionToClose(token, deps).catch(() => null);
    if (found) await deps.sessions.end(found.session.id, 'closed', { actor: `agent:${found.agentId}`, requestId, reason: 'revoked by its holder (RFC 7009)' });
    send(res, 200, {}, { 'x-request-id': requestId });
  } catch (err) {
    const e = toOAuthError(err);
    if (e.status >= 500) deps.logger.error({ err, req_id: requestId }, 'token revocation failed');
    send(res, e.status, errorBody(e), { 'x-request-id': requestId });
  }
}
