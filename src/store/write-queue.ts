// One group commit for everything a model call must make durable before its answer ends: its
// hold (at reserve), its spend line (at settle) and its audit events. Writes queued in one turn of
// the event loop go to the store together: in one transaction where the store can (`writeBatch`),
// else as its two writes. The audit log and the spend journal are both views of this queue.
import type { Logger } from 'pino';
import { GroupCommit } from './group-commit.js';
import type { Store, WriteSet } from './store.js';
import type { AuditEvent, ChainedEvent, PendingReservation, UsageRecord } from './types.js';

export type Write = { event: AuditEvent } | { usage: UsageRecord } | { reservation: PendingReservation };

export class WriteQueue {
  private readonly commit: GroupCommit<Write>;
  private readonly committedListeners: ((stored: ChainedEvent[]) => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly logger?: Logger,
    /**
     * Errors that pass (a networked store out of reach): a write that fails with one is kept and
     * tried again, backing off to 2 s, rather than failing its writers — spend already charged and
     * its audit events are never dropped by an outage. Each of the two writes is retried on its
     * own, so one that landed is not written twice. Default: none (fail the batch).
     */
    private readonly retryable: (err: unknown) => boolean = () => false,
  ) {
    this.commit = new GroupCommit((writes) => this.write(writes));
  }

  /** Queues a write; resolves once it is durable (rejects if its batch failed). */
  add(write: Write): Promise<void> {
    return this.commit.add(write);
  }

  /** Writes everything queued so far. */
  flush(): Promise<void> {
    return this.commit.flush();
  }

  /** Called with each batch's audit events as stored (with seq and hashes), once durable. */
  onCommitted(listener: (stored: ChainedEvent[]) => void): void {
    this.committedListeners.push(listener);
  }

  private async write(writes: Write[]): Promise<void> {
    const set: { events: AuditEvent[]; records: UsageRecord[]; reservations: PendingReservation[] } = { events: [], records: [], reservations: [] };
    for (const w of writes) {
      if ('event' in w) set.events.push(w.event);
      else if ('usage' in w) set.records.push(w.usage);
      else set.reservations.push(w.reservation);
    }
    let stored: ChainedEvent[];
    try {
      stored = await this.writeSet(set);
    } catch (err) {
      this.logger?.error({ err, events: set.events.length, lines: set.records.length, holds: set.reservations.length }, 'store writes could not be committed');
      throw err;
    }
    if (stored.length > 0) for (const listener of this.committedListeners) listener(stored);
  }

  private async writeSet(set: WriteSet): Promise<ChainedEvent[]> {
    if (this.store.writeBatch) return this.untilWritten(() => this.store.writeBatch!(set));
    const [, stored] = await Promise.all([
      set.records.length > 0 || set.reservations.length > 0 ? this.untilWritten(() => this.store.recordUsage(set.records, set.reservations)) : undefined,
      set.events.length > 0 ? this.untilWritten(() => this.store.appendEvents(set.events)) : [],
    ]);
    return stored;
  }

  private async untilWritten<T>(write: () => Promise<T>): Promise<T> {
    for (let pause = 50; ; pause = Math.min(pause * 2, 2_000)) {
      try {
        return await write();
      } catch (err) {
        if (!this.retryable(err)) throw err;
        this.logger?.warn({ err, retry_ms: pause }, 'store unavailable: keeping the writes and trying again');
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  }
}
