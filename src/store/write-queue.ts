// One group commit for everything a model call must make durable before its answer ends: its
// hold (at reserve), its spend line (at settle) and its audit events. Writes queued in one turn of
// the event loop go to the store together: in one transaction where the store can (`writeBatch`),
// else as its two writes. The audit log and the spend journal are both views of this queue.
import type { Logger } from 'pino';
import { markStoreUnavailable } from '../errors/index.js';
import { GroupCommit } from './group-commit.js';
import type { Store, WriteSet } from './store.js';
import type { AuditEvent, ChainedEvent, PendingReservation, UsageRecord } from './types.js';

export type Write = { event: AuditEvent } | { usage: UsageRecord } | { reservation: PendingReservation };

/**
 * Whether a call may go upstream now (`WriteQueue.admission`): `admit` — with its hold written
 * while it is upstream; `probe` — only once its hold is on disk (the last batch failed, and this
 * call tests the store again); `refuse` — not at all (503 `store_unavailable`).
 */
export type Admission = 'admit' | 'probe' | 'refuse';

/** After a failed batch, calls are refused this long before one is let through to test the store. */
export const PROBE_AFTER_MS = 1000;

export class WriteQueue {
  private readonly commit: GroupCommit<Write>;
  private readonly committedListeners: ((stored: ChainedEvent[]) => void)[] = [];
  /** A batch is kept and tried again (`retryable`): the store is out for now, and the batch tests it. */
  private waiting = false;
  private readonly stallListeners = new Set<() => void>();
  /** When the last batch failed for good, while no batch has committed since. */
  private failedAt: number | null = null;
  /** After such a failure, a call is testing the store (its hold is queued): the others wait for its outcome. */
  private probing = false;

  constructor(
    private readonly store: Store,
    private readonly logger?: Logger,
    /**
     * Errors that pass (a networked store out of reach, a full disk): a write that fails with one
     * is kept and tried again, backing off to 2 s, rather than failing its writers — spend already
     * charged and its audit events are never dropped by an outage. Each of the two writes is
     * retried on its own, so one that landed is not written twice. Meanwhile calls are refused
     * before they go upstream (`admission`). Default: none (fail the batch).
     */
    private readonly retryable: (err: unknown) => boolean = () => false,
    /** How long writes nobody waits for may wait to join a batch (`deferred`; `storage.settle_delay_ms`). */
    deferMs = 0,
  ) {
    // A hold is what an answer may wait for: it never waits for deferred lines and events.
    this.commit = new GroupCommit((writes) => this.write(writes), undefined, deferMs, (w) => 'reservation' in w);
  }

  /** Queues a write; resolves once it is durable (rejects if its batch failed). */
  add(write: Write): Promise<void> {
    return this.commit.add(write);
  }

  /** Runs `queue` with the writes it adds deferred (`GroupCommit.deferred`): nobody waits for them, and no hold waits for them. */
  deferred<R>(queue: () => R): R {
    return this.commit.deferred(queue);
  }

  /** Writes everything queued so far. */
  flush(): Promise<void> {
    return this.commit.flush();
  }

  /**
   * Whether a call may go upstream (see `Admission`). A hold is written while its call is
   * upstream, so a store that fails its writes would let calls spend without a record. While a
   * batch waits for the store to come back (`retryable`), calls are refused; after a batch failed
   * for good, they are refused until a probe's hold lands — one call every `PROBE_AFTER_MS`, which
   * waits for its hold before it goes upstream.
   */
  admission(options: { probe?: boolean; now?: number } = {}): Admission {
    if (this.waiting) return 'refuse';
    if (this.failedAt === null) return 'admit';
    // `probe: false`: a caller that cannot wait for its hold (a fallback attempt) is never the probe.
    if (this.probing || options.probe === false || (options.now ?? performance.now()) - this.failedAt < PROBE_AFTER_MS) return 'refuse';
    this.probing = true;
    return 'probe';
  }

  /** A batch is waiting for the store to take it, or the last one failed and none has committed since. */
  get failing(): boolean {
    return this.waiting || this.failedAt !== null;
  }

  /** A batch is waiting for the store to come back (an outage, not a write that failed for good). */
  get stalled(): boolean {
    return this.waiting;
  }

  /** Calls `listener` once, when a batch starts waiting for the store; returns what stops listening. */
  onStall(listener: () => void): () => void {
    this.stallListeners.add(listener);
    return () => this.stallListeners.delete(listener);
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
      this.batchEnded(performance.now());
      // Its writers answer 503 store_unavailable (failing closed), not 500.
      throw markStoreUnavailable(err);
    }
    this.batchEnded(null);
    if (stored.length > 0) for (const listener of this.committedListeners) listener(stored);
  }

  /** A batch committed (`failedAt` null) or failed for good: no longer waiting, and no probe out. */
  private batchEnded(failedAt: number | null): void {
    this.waiting = false;
    this.failedAt = failedAt;
    this.probing = false;
  }

  private async writeSet(set: WriteSet): Promise<ChainedEvent[]> {
    if (this.store.writeBatch) return this.untilWritten(() => this.store.writeBatch!(set));
    // Both settle before the batch is judged: one that failed for good must not leave the other
    // still retrying behind a batch already given up.
    const [usage, events] = await Promise.allSettled([
      set.records.length > 0 || set.reservations.length > 0 ? this.untilWritten(() => this.store.recordUsage(set.records, set.reservations)) : undefined,
      set.events.length > 0 ? this.untilWritten(() => this.store.appendEvents(set.events)) : [],
    ]);
    if (usage.status === 'rejected') throw usage.reason;
    if (events.status === 'rejected') throw events.reason;
    return events.value;
  }

  private async untilWritten<T>(write: () => Promise<T>): Promise<T> {
    for (let pause = 50; ; pause = Math.min(pause * 2, 2_000)) {
      try {
        return await write();
      } catch (err) {
        if (!this.retryable(err)) throw err;
        if (!this.waiting) {
          this.waiting = true;
          const listeners = [...this.stallListeners];
          this.stallListeners.clear();
          for (const listener of listeners) listener();
        }
        this.logger?.warn({ err, retry_ms: pause }, 'store unavailable: keeping the writes and trying again');
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  }
}
