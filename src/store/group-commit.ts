// Group commit: writes from many concurrent requests are gathered and flushed in one
// transaction. A lone write is flushed on the next turn of the event loop, so it waits no longer
// than one commit; under load, one commit carries many requests' writes. One batch is in flight
// at a time and the next one gathers meanwhile — and for one more turn once it has committed: that
// keeps the order of writes the order of calls, and makes commits as large as the load (a
// commit's fixed cost — its pages written to the log — is then shared by more calls: measured
// with SQLite's writer thread at 32 connections, ~6 → ~12 calls per commit and CPU per call −8 %
// against sending each turn's batch at once; the extra turn, ~10 → ~11 calls per commit and CPU
// per call −4 to −10 % in five comparisons, throughput up as much).
//
// Writes nobody waits for (a call's spend line and event once its answer left on its hold,
// `storage.answer_after: hold`) can be deferred: they wait up to `deferMs` for a write that must
// not wait — the next call's hold — and leave with it. A caller's calls back to back then commit
// once each (a call's hold with the line and event of the call before) instead of twice: at one
// connection, CPU per call −16 to −21 % and throughput +14 to +31 % (bench/RESULTS.md).

export class GroupCommit<T> {
  private pending: T[] = [];
  private waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private scheduled = false;
  /** Set while `deferred` runs: the writes it adds schedule no flush of their own. */
  private deferring = false;
  /** The flush of deferred writes, if no other write comes first. */
  private deferTimer: NodeJS.Timeout | null = null;
  /** Settles once every batch sent so far has (never rejects). */
  private inFlight: Promise<void> | null = null;

  constructor(
    private readonly flushBatch: (items: T[]) => Promise<void>,
    private readonly maxBatch = 512,
    /** The longest a deferred write waits for company before it leaves on its own; 0: never deferred. */
    private readonly deferMs = 0,
  ) {}

  /** Queues `item`; resolves once it is durably written (rejects if its batch failed). */
  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push(item);
      this.waiters.push({ resolve, reject });
      if (this.pending.length >= this.maxBatch) void this.flush();
      else if (this.deferring) this.deferTimer ??= setTimeout(this.flushDeferred, this.deferMs);
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /**
   * Runs `queue` (synchronous) with the writes it adds deferred: they leave with the next batch
   * another write sends, or on their own after `deferMs`. Their promises resolve as any other's,
   * once durable; a flush takes them at once.
   */
  deferred<R>(queue: () => R): R {
    if (this.deferMs <= 0) return queue();
    const was = this.deferring;
    this.deferring = true;
    try {
      return queue();
    } finally {
      this.deferring = was;
    }
  }

  private readonly flushDeferred = (): void => {
    this.deferTimer = null;
    void this.flush();
  };

  /** Writes everything queued so far; resolves when it (and every batch before it) is durable. */
  async flush(): Promise<void> {
    this.scheduled = false;
    if (this.inFlight) {
      await this.noneInFlight();
      // One more turn of the event loop before the next batch leaves: the batch just committed
      // answered its calls, and the requests and answers that turn brings add their writes to
      // this one. Commits carry more calls, and cost less per call (see the header).
      await new Promise((resolve) => setImmediate(resolve));
    }
    // Checked again with no await between the check and the send: another flush may have sent a
    // batch meanwhile, and only one is ever in flight.
    while (this.inFlight) await this.inFlight;
    if (this.pending.length === 0) return;
    // The deferred writes leave with this batch.
    if (this.deferTimer) {
      clearTimeout(this.deferTimer);
      this.deferTimer = null;
    }
    const items = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    const sent = this.flushBatch(items).then(
      () => waiters.forEach((w) => w.resolve()),
      (err: unknown) => waiters.forEach((w) => w.reject(err)),
    );
    this.inFlight = sent;
    try {
      await sent;
    } finally {
      this.inFlight = null;
    }
  }

  private async noneInFlight(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  get size(): number {
    return this.pending.length;
  }
}
