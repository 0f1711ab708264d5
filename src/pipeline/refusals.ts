// Refused model calls on the audit log: a call refused after its caller was authenticated, before
// it went upstream (over budget, rate-limited, a body too large or not JSON, an unknown model…),
// leaves a `model.refused` event — besides the event of the decision itself where there is one
// (`policy.decision`, `tool.denied`, `approval.requested`). Unauthenticated calls leave
// `auth.denied` instead. An agent that keeps calling while refused could otherwise write the
// disk full of refusals: the same refusal of one session (same API, model and code) within a second is folded into the next
// event recorded for it (`repeats`), or into one of its own once the second has passed. A refusal
// because the store failed is not recorded (it could not be written).
import type { AuditLog } from '../audit/index.js';
import type { GatewayError } from '../errors/index.js';
import type { Session } from '../store/index.js';
import type { CallContext } from './context.js';

const FOLD_MS = 1000;
/** How often refusals folded and not yet recorded are written out. */
const FLUSH_MS = 5000;
/** Most sessions × codes remembered; past it, what they folded is written out and they are forgotten. */
const MAX_REMEMBERED = 10_000;

interface Folded {
  /** When the last event of this session and code was recorded. */
  at: number;
  /** Refusals folded since. */
  count: number;
  /** The last of them, to record them by. */
  session: Session;
  err: GatewayError;
  api: string;
  model: string | null;
}

export class RefusalLog {
  private readonly recent = new Map<string, Folded>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly audit: AuditLog,
    private readonly now: () => number,
  ) {
    this.timer = setInterval(() => this.writeFolded(this.now() - FOLD_MS), FLUSH_MS);
    this.timer.unref();
  }

  /** Records the refusal of an authenticated call that did not go upstream (durable with the call's other events). */
  /** `requestedModel`: the model asked for, where the call was not parsed as a model call (a token count). */
  record(ctx: CallContext, err: GatewayError, requestedModel: string | null = null): void {
    const session = ctx.session;
    // Not when the store is what failed: the event would wait for it, and the refusal with it.
    if (!session || err.code === 'store_unavailable') return;
    const now = this.now();
    const api = ctx.adapter.kind;
    const model = ctx.call?.model ?? requestedModel;
    // Only the same refusal folds: same API, model and code (a message may differ: a rate limit's
    // names its wait; the event carries the last one's). The model as configured: names no route
    // knows fold together, or an agent sending a new one each time would write an event each time.
    const key = `${session.id}\u0000${err.code}\u0000${api}\u0000${ctx.route?.name ?? ''}`;
    const last = this.recent.get(key);
    if (last && now - last.at < FOLD_MS) {
      Object.assign(last, { count: last.count + 1, session, err, api, model });
      return;
    }
    let repeats = last?.count ?? 0;
    if (this.recent.size >= MAX_REMEMBERED) {
      // Everything folded is written out (this key's count with it) and forgotten.
      this.writeFolded(Number.POSITIVE_INFINITY);
      repeats = 0;
    }
    this.recent.set(key, { at: now, count: 0, session, err, api, model });
    this.write(session, err, api, model, ctx.requestId, repeats);
  }

  /** Writes out what was folded for entries last recorded before `before`, and forgets them. */
  writeFolded(before: number): void {
    for (const [key, f] of this.recent) {
      if (f.at >= before) continue;
      this.recent.delete(key);
      if (f.count > 0) this.write(f.session, f.err, f.api, f.model, null, f.count);
    }
  }

  /** Writes out everything folded (at shutdown) and stops the timer. */
  close(): void {
    clearInterval(this.timer);
    this.writeFolded(Number.POSITIVE_INFINITY);
  }

  private write(session: Session, err: GatewayError, api: string, model: string | null, requestId: string | null, repeats: number): void {
    void this.audit.record({
      type: 'model.refused', actor: `agent:${session.agentId}`, requestId, agentId: session.agentId, sessionId: session.id,
      teamId: session.teamId, chain: session.chain,
      data: {
        code: err.code, status: err.status, message: err.message, api, model,
        ...(err.details ? { details: err.details } : {}),
        ...(repeats > 0 ? { repeats } : {}),
      },
    });
  }
}
