// One session token presented from two source addresses within a short window means the
// credential is shared between workloads (OWASP NHI: credential reuse). Each such pair is
// recorded once per window as a `credential.shared` audit event.
import type { AuditLog } from '../audit/index.js';
import type { Session } from '../store/index.js';
import type { CallContext } from './context.js';

const LIMIT = 100_000;

export class SharedCredentialWatch {
  private readonly lastSeen = new Map<string, { from: string; at: number; flaggedAt: number }>();

  constructor(
    private readonly windowMs: number,
    private readonly audit: AuditLog,
    private readonly now: () => number = Date.now,
  ) {}

  observe(ctx: CallContext, session: Session, from: string | null): void {
    if (this.windowMs === 0 || from === null) return;
    const now = this.now();
    const seen = this.lastSeen.get(session.id);
    if (seen && seen.from !== from && now - seen.at <= this.windowMs && now - seen.flaggedAt > this.windowMs) {
      seen.flaggedAt = now;
      void this.audit.record({
        type: 'credential.shared', actor: 'system', requestId: ctx.requestId, agentId: session.agentId, sessionId: session.id, teamId: session.teamId, chain: session.chain,
        data: { sources: [seen.from, from], window_seconds: this.windowMs / 1000 },
      });
    }
    if (this.lastSeen.size >= LIMIT && !seen) this.lastSeen.delete(this.lastSeen.keys().next().value!);
    this.lastSeen.set(session.id, { from, at: now, flaggedAt: seen?.flaggedAt ?? 0 });
  }
}
