// Refused model calls on the audit log: a call refused after its caller was authenticated, before
// it went upstream (over budget, rate-limited, a body too large or not JSON, an unknown model…),
// leaves a `model.refused` event — besides the event of the decision itself where there is one
// (`policy.decision`, `tool.denied`, `approval.requested`). Unauthenticated calls leave
// `auth.denied` instead. An agent that keeps calling while refused could otherwise write the
// disk full of refusals: the same refusal of one session within a second is folded into the next
// event recorded for it (`repeats`). A refusal because the store failed is not recorded (it could
// not be written).
import type { AuditLog } from '../audit/index.js';
import type { GatewayError } from '../errors/index.js';
import type { CallContext } from './context.js';

const FOLD_MS = 1000;
/** Past this many sessions × codes remembered, entries older than the fold window are dropped. */
const SWEEP_AT = 10_000;

export class RefusalLog {
  /** Per session and code: when the last event was recorded, and how many were folded since. */
  private readonly recent = new Map<string, { at: number; folded: number }>();

  constructor(
    private readonly audit: AuditLog,
    private readonly now: () => number,
  ) {}

  /** Records the refusal of an authenticated call that did not go upstream (durable with the call's other events). */
  record(ctx: CallContext, err: GatewayError): void {
    const session = ctx.session;
    // Not when the store is what failed: the event would wait for it, and the refusal with it.
    if (!session || err.code === 'store_unavailable') return;
    const now = this.now();
    const key = `${session.id}\u0000${err.code}`;
    const last = this.recent.get(key);
    if (last && now - last.at < FOLD_MS) {
      last.folded++;
      return;
    }
    if (this.recent.size >= SWEEP_AT) this.sweep(now);
    this.recent.set(key, { at: now, folded: 0 });
    void this.audit.record({
      type: 'model.refused', actor: `agent:${session.agentId}`, requestId: ctx.requestId, agentId: session.agentId, sessionId: session.id,
      teamId: session.teamId, chain: session.chain,
      data: {
        code: err.code, status: err.status, message: err.message, api: ctx.adapter.kind, model: ctx.call?.model ?? null,
        ...(err.details ? { details: err.details } : {}),
        ...(last && last.folded > 0 ? { repeats: last.folded } : {}),
      },
    });
  }

  private sweep(now: number): void {
    for (const [key, entry] of this.recent) if (now - entry.at >= FOLD_MS) this.recent.delete(key);
  }
}
