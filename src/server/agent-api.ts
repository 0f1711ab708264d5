// The agent-facing API (`/agent/v1`), authenticated with the session token: what an agent needs
// to know about its own session that the provider APIs cannot say. Today: the state of an
// approval it is waiting on (a budget step-up, a tool call, the resume of its suspended session),
// with long polling so `waitForApproval()` in the SDK costs one request per decision.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApprovalService } from '../budget/index.js';
import { GatewayError } from '../errors/index.js';
import type { Directory, RevocationList, TokenService } from '../identity/index.js';
import { presentedToken } from '../pipeline/index.js';
import type { Approval } from '../store/index.js';
import { sendError, sendJson } from '../util/http.js';
import { isoTime, isoTimeOrNull } from '../util/time.js';

export interface AgentApiDeps {
  tokens: TokenService;
  revocations: RevocationList;
  directory: Directory;
  approvals: ApprovalService;
  now: () => number;
}

/** Longest a long poll is held (seconds). */
const MAX_WAIT_SECONDS = 60;
const APPROVAL_PATH = /^\/agent\/v1\/approvals\/([^/]+)$/;
const APPROVAL_ID = /^apr_[0-9a-f]{32}$/;

export async function handleAgentApi(req: IncomingMessage, res: ServerResponse, url: URL, deps: AgentApiDeps, requestId: string): Promise<void> {
  const headers = { 'x-request-id': requestId, 'cache-control': 'no-store' };
  try {
    const match = APPROVAL_PATH.exec(url.pathname);
    if (!match) throw new GatewayError('not_found', `No route ${req.method ?? ''} ${url.pathname}.`);
    if (req.method !== 'GET') throw new GatewayError('method_not_allowed', undefined, { headers: { allow: 'GET' } });
    const sessionId = await caller(req, deps);
    const wait = waitSeconds(url.searchParams);
    // Authenticated first: whether an id is well formed is not told to a caller without a token.
    const id = match[1]!;
    if (!APPROVAL_ID.test(id)) throw new GatewayError('not_found', `approval "${id.slice(0, 100)}" does not exist`);
    let approval = await visibleApproval(id, sessionId, deps);
    if (approval.status === 'pending' && wait > 0) {
      // Woken by the decision, or answered pending at the deadline (the client asks again).
      const gone = new AbortController();
      res.once('close', () => gone.abort());
      approval = (await deps.approvals.wait(approval.id, wait * 1000, gone.signal)) ?? (await visibleApproval(approval.id, sessionId, deps));
    }
    if (!res.destroyed) sendJson(res, 200, approvalForAgent(approval), headers);
  } catch (err) {
    sendError(res, err, 'admin', requestId, headers);
  }
}

/**
 * `wait`: seconds to hold the answer for a decision, 0 to MAX_WAIT_SECONDS (default 0), given at
 * most once. Anything else — a malformed or out-of-range `wait`, another parameter (a misspelt
 * `wait` would turn a long poll into a busy loop) — is 400 naming the parameter.
 */
function waitSeconds(params: URLSearchParams): number {
  for (const name of new Set(params.keys())) {
    if (name !== 'wait') throw new GatewayError('invalid_request', `Unknown query parameter "${name.slice(0, 100)}": the only one is wait (seconds, 0 to ${MAX_WAIT_SECONDS}).`, { param: name.slice(0, 100) });
  }
  const given = params.getAll('wait');
  if (given.length === 0) return 0;
  const text = given[0]!;
  const wait = /^\d{1,10}(\.\d{1,9})?$/.test(text) ? Number(text) : Number.NaN;
  if (given.length > 1 || !(wait <= MAX_WAIT_SECONDS)) {
    throw new GatewayError('invalid_request', `wait must be a number of seconds from 0 to ${MAX_WAIT_SECONDS}, given once${given.length > 1 ? ` (given ${given.length} times)` : ` (got "${text.slice(0, 100)}")`}.`, { param: 'wait' });
  }
  return wait;
}

/**
 * The calling session. A suspended session may ask (it is waiting on its resume approval); a
 * revoked token, an ended session or an inactive agent may not.
 */
async function caller(req: IncomingMessage, deps: AgentApiDeps): Promise<string> {
  const token = presentedToken(req.headers);
  if (!token) throw new GatewayError('unauthenticated');
  const claims = await deps.tokens.verify(token);
  if (deps.revocations.isRevoked(claims.jti)) throw new GatewayError('token_revoked');
  const session = await deps.directory.sessions.get(claims.sid);
  if (!session || session.agentId !== claims.sub) throw new GatewayError('invalid_token', 'The session token names an unknown session.');
  if ((session.status !== 'active' && session.status !== 'suspended') || session.expiresAt <= deps.now()) throw new GatewayError('session_inactive');
  return session.id;
}

/** An approval of the caller's session or of a session delegated from it; else 404 (never 403: ids are not confirmed). */
async function visibleApproval(id: string, sessionId: string, deps: AgentApiDeps): Promise<Approval> {
  const approval = await deps.approvals.get(id);
  const owner = approval ? await deps.directory.sessions.get(approval.sessionId) : null;
  if (!approval || !owner?.chain.includes(sessionId)) throw new GatewayError('not_found', `approval "${id}" does not exist`);
  return approval;
}

/** What an agent sees: the decision, not the approver's notes on other sessions. */
const approvalForAgent = (a: Approval) => ({
  id: a.id, object: 'approval', kind: a.kind, status: a.status, session_id: a.sessionId,
  created_at: isoTime(a.createdAt), decided_at: isoTimeOrNull(a.decidedAt),
  reason: a.reason, extra_budget: { tokens: a.extraBudget.tokens, usd: a.extraBudget.usdNano === null ? null : a.extraBudget.usdNano / 1e9 },
});
