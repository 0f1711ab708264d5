// Stage 1b — concurrency: one session may have at most `server.max_concurrent_calls_per_session`
// model calls in flight. Rate limits count calls per minute; this bounds what a session can make
// the gateway hold at once (open streams, upstream connections, reservations), so a runaway
// agent opening thousands of streams is refused at once rather than starving every other session.
import { GatewayError } from '../errors/index.js';

export class SessionConcurrency {
  private readonly inFlight = new Map<string, number>();

  /** `limit`: calls per session at once; 0 means no limit. */
  constructor(private readonly limit: number) {}

  /** Counts a call of `sessionId` in; returns what counts it out (call it once). 429 past the limit. */
  enter(sessionId: string): () => void {
    if (this.limit === 0) return () => undefined;
    const current = this.inFlight.get(sessionId) ?? 0;
    if (current >= this.limit) {
      throw new GatewayError('too_many_concurrent_calls', `This session already has ${current} calls in flight (server.max_concurrent_calls_per_session: ${this.limit}).`, {
        details: { limit: this.limit }, headers: { 'retry-after': '1' },
      });
    }
    this.inFlight.set(sessionId, current + 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const n = (this.inFlight.get(sessionId) ?? 1) - 1;
      if (n <= 0) this.inFlight.delete(sessionId);
      else this.inFlight.set(sessionId, n);
    };
  }

  /** Calls of `sessionId` in flight now. */
  count(sessionId: string): number {
    return this.inFlight.get(sessionId) ?? 0;
  }
}
