// Who is calling (once authenticated), and the `mcp.rejected` audit event for refusals that happen
// before the tool gate is reached (unknown server or tool, malformed body, header mismatch…).
import type { AuditLog } from '../audit/index.js';
import type { TokenClaims } from '../identity/index.js';
import type { Agent, Session } from '../store/index.js';

export interface Caller {
  session: Session;
  agent: Agent;
  /** The token it presented: a call it makes is cut if that token, its session or its agent is revoked. */
  claims: TokenClaims;
  requestId: string;
  /** The caller's address. */
  source: string | null;
}

export interface Rejection {
  server: string;
  /** A short machine-readable reason (`unknown_server`, `header_mismatch`…). */
  reason: string;
  requestId: string;
  source: string | null;
  /** Null when the caller is not (yet) known. */
  caller: Caller | null;
  facts?: Record<string, unknown>;
}

/** Records a protocol-level refusal; resolves once it is durable. */
export function recordRejection(audit: AuditLog, r: Rejection): Promise<void> {
  const c = r.caller;
  return audit.record({
    type: 'mcp.rejected',
    actor: c ? `agent:${c.agent.id}` : 'anonymous',
    requestId: r.requestId,
    agentId: c?.agent.id ?? null,
    sessionId: c?.session.id ?? null,
    teamId: c?.session.teamId ?? null,
    chain: c?.session.chain ?? null,
    data: { server: r.server, reason: r.reason, source: r.source, ...(r.facts ?? {}) },
  });
}
