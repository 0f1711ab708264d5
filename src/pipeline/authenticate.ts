// Stage 1 — authenticate: the session token, then the session and agent it names must be live,
// and the token must not have been revoked. Also notices one token used from two places at once.
import { GatewayError } from '../errors/index.js';
import { refuseSuspendedTeam } from '../identity/sessions.js';
import type { Agent, Session } from '../store/index.js';
import type { CallContext, PipelineDeps } from './context.js';

/** The bearer credential: `Authorization: Bearer …`, or Anthropic's `x-api-key`. */
export function presentedToken(headers: CallContext['req']['headers']): string | null {
  const auth = headers.authorization;
  if (auth !== undefined) {
    const match = /^Bearer +(\S+) *$/i.exec(auth);
    return match ? match[1]! : null;
  }
  const key = headers['x-api-key'];
  return typeof key === 'string' && key.length > 0 ? key : null;
}

/** Authenticates the call; every refusal is recorded as an `auth.denied` audit event. */
export async function authenticate(ctx: CallContext, deps: PipelineDeps): Promise<void> {
  try {
    await verifyCaller(ctx, deps);
  } catch (err) {
    if (err instanceof GatewayError) {
      // Who (if the token named anyone), from where, and why — never the credential itself.
      void deps.audit.record({
        type: 'auth.denied', actor: ctx.claims ? `agent:${ctx.claims.sub}` : 'anonymous', requestId: ctx.requestId,
        agentId: ctx.claims?.sub ?? null, sessionId: ctx.claims?.sid ?? null,
        data: { code: err.code, reason: err.message, source: ctx.req.socket.remoteAddress ?? null, path: ctx.req.url ?? null },
      });
    }
    throw err;
  }
}

/** Anthropic's clients send the key as `x-api-key`: say so in their terms. */
const ANTHROPIC_UNAUTHENTICATED = 'Missing credentials: send the session token as x-api-key (the Anthropic SDK\'s apiKey) or as a Bearer token.';

async function verifyCaller(ctx: CallContext, deps: PipelineDeps): Promise<void> {
  const token = presentedToken(ctx.req.headers);
  if (!token) throw new GatewayError('unauthenticated', ctx.adapter.dialect === 'anthropic' ? ANTHROPIC_UNAUTHENTICATED : undefined);
  const claims = await deps.tokens.verify(token);
  ctx.claims = claims;
  const { session, agent } = await callerStanding(claims, deps, ctx);
  ctx.session = session;
  ctx.agent = agent;
  deps.sharedCredentials.observe(ctx, session, ctx.req.socket.remoteAddress ?? null);
}

/**
 * The session and agent a verified token names, while the caller may call: the token not revoked,
 * the session and every session it was delegated from active, the agent active, its team not
 * suspended — else the refusal, thrown. With `starting` (the call now authenticating), the
 * session is also refused once expired, and the call learns the session as soon as it is found
 * (telemetry labels a refusal with it). Without, it is a call in flight checked again after a
 * revocation (`InFlightCalls`): an expiry is not a revocation, and does not cut an answer already
 * coming.
 */
export async function callerStanding(
  claims: NonNullable<CallContext['claims']>,
  deps: Pick<PipelineDeps, 'revocations' | 'directory' | 'approvals' | 'now'>,
  starting?: CallContext,
  /** A suspended session (or ancestor) stands too: for a token refresh, which grants no call while it is suspended. */
  suspendedStands = false,
): Promise<{ session: Session; agent: Agent }> {
  if (deps.revocations.isRevoked(claims.jti)) throw new GatewayError('token_revoked');
  const session = deps.directory.sessions.peek(claims.sid) ?? (await deps.directory.sessions.get(claims.sid));
  if (!session || session.agentId !== claims.sub) throw new GatewayError('invalid_token', 'The session token names an unknown session.');
  if (starting) starting.tokenSession = session;
  // The checks below take the common case (everything active, cached) without a promise: an
  // async helper awaited on every call costs one and a microtask each.
  if (session.status !== 'active' && !(suspendedStands && session.status === 'suspended')) await sessionRefusal(session, null, deps, starting !== undefined);
  // Suspending or revoking a session moves its whole subtree, but a resume of a descendant racing
  // a suspension of its ancestor (two store steps apart, or on two replicas) could leave one
  // active below one suspended: a session stands only while every session above it does.
  for (let i = session.chain.length - 2; i >= 0; i--) {
    const id = session.chain[i]!;
    const ancestor = deps.directory.sessions.peek(id) ?? (await deps.directory.sessions.get(id));
    if (!ancestor) throw new GatewayError('session_inactive', `The session it was delegated from (${id}) no longer exists.`);
    if (ancestor.status !== 'active' && !(suspendedStands && ancestor.status === 'suspended')) await sessionRefusal(ancestor, session, deps, starting !== undefined);
    // Delegated by another agent: that agent stands too — a suspended orchestrator's authority
    // does not go on working through the agents it delegated to.
    if (ancestor.agentId !== session.agentId) {
      const delegator = deps.directory.agents.peek(ancestor.agentId) ?? (await deps.directory.agents.get(ancestor.agentId));
      if (delegator?.status !== 'active') {
        throw new GatewayError('agent_inactive', `The agent it was delegated from (${delegator?.name ?? ancestor.agentId}) is ${delegator?.status ?? 'unknown'}.`);
      }
    }
    // Delegated across teams: the team it works for stands too.
    if (ancestor.teamId !== session.teamId) refuseSuspendedTeam(deps.directory.teams.peek(ancestor.teamId) ?? (await deps.directory.teams.get(ancestor.teamId)));
  }
  if (starting && session.expiresAt <= deps.now()) throw new GatewayError('session_inactive', 'The session has expired.');
  const agent = deps.directory.agents.peek(session.agentId) ?? (await deps.directory.agents.get(session.agentId));
  if (!agent || agent.status !== 'active') throw new GatewayError('agent_inactive', `The agent is ${agent?.status ?? 'unknown'}.`);
  refuseSuspendedTeam(deps.directory.teams.peek(session.teamId) ?? (await deps.directory.teams.get(session.teamId)));
  // An agent moved to another team since the session opened: its present team stands too.
  if (agent.teamId !== session.teamId) refuseSuspendedTeam(deps.directory.teams.peek(agent.teamId) ?? (await deps.directory.teams.get(agent.teamId)));
  return { session, agent };
}

/** Throws the refusal for a session (`of`'s ancestor, or the caller's own when null) that is not active. */
async function sessionRefusal(session: Session, of: Session | null, deps: Pick<PipelineDeps, 'approvals' | 'now'>, starting: boolean): Promise<void> {
  if (session.status === 'suspended') {
    // Contained: say which approval a human must decide, so the agent (or its SDK) can wait on it.
    const [pending] = await deps.approvals.pendingResume(session.id);
    throw new GatewayError('session_suspended', of ? `The session it was delegated from (${session.id}) is suspended.` : undefined, { details: { session_id: session.id, approval_id: pending?.id ?? null } });
  }
  // Past its expiry the gateway closes a session (`endExpired`): for a call already running, that
  // is an expiry, not a revocation.
  if (!starting && session.status === 'closed' && session.expiresAt <= deps.now()) return;
  throw new GatewayError('session_inactive', of ? `The session it was delegated from (${session.id}) is ${session.status}.` : `The session is ${session.status}.`);
}
