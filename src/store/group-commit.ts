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
// `storage.answer_after: hold`) can be deferred: they leave with the next batch that gathered
// behind another (under load), or on their own after `deferMs` — never with a batch of `quick`
// writes alone (a hold its call's answer may wait for) sent to an idle writer, which would then
// commit them too before that answer could leave. At one connection a caller's calls then commit
// about once each (its hold) instead of twice (bench/RESULTS.md).

interface Entry<T> {
  item: T;
  deferred: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<T> {
  private pending: Entry<T>[] = [];
  private scheduled = false;
  /** Set while `deferred` runs: the writes it adds schedule no flush of their own. */
  private deferring = false;
  /** The flush of deferred writes, if no batch takes them first. */
  private deferTimer: NodeJS.Timeout | null = null;
  /** Settles once every batch sent so far has (never rejects). */
  private inFlight: Promise<void> | null = null;

  constructor(
    private readonly flushBatch: (items: T[]) => Promise<void>,
    private readonly maxBatch = 512,
    /** The longest a deferred write waits for a batch to join before it leaves on its own; 0: never deferred. */
    private readonly deferMs = 0,
    /** Writes a batch sent to an idle writer should not make wait for deferred ones. */
    private readonly quick: (item: T) => boolean = () => false,
  ) {}

  /** Queues `item`; resolves once it is durably written (rejects if its batch failed). */
  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ item, deferred: this.deferring, resolve, reject });
      if (this.pending.length >= this.maxBatch) void this.flush();
      else if (this.deferring) this.deferTimer ??= setTimeout(this.flushDeferred, this.deferMs);
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flushScheduled);
      }
    });
  }

  /**
   * Runs `queue` (synchronous) with the writes it adds deferred (see the header). Their promises
   * resolve as any other's, once durable; a flush takes them at once.
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

  private readonly flushScheduled = (): void => void this.flush(false);

  private readonly flushDeferred = (): void => {
    this.deferTimer = null;
    void this.flush();
  };

  /**
   * Writes everything queued so far; resolves when it (and every batch before it) is durable.
   * `all` false (the flush a write schedules): deferred writes stay behind a batch of quick ones
   * that did not wait for another.
   */
  async flush(all = true): Promise<void> {
    this.scheduled = false;
    const waited = this.inFlight !== null;
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
    let entries = this.pending;
    if (!all && !waited && this.leavesDeferredBehind(entries)) {
      this.pending = entries.filter((e) => e.deferred);
      entries = entries.filter((e) => !e.deferred);
    } else {
      this.pending = [];
      if (this.deferTimer) clearTimeout(this.deferTimer);
      this.deferTimer = null;
    }
    if (entries.length === 0) return;
    const sent = this.flushBatch(entries.map((e) => e.item)).then(
      () => entries.forEach((e) => e.resolve()),
      (err: unknown) => entries.forEach((e) => e.reject(err)),
    );
    this.inFlight = sent;
    try {
      await sent;
    } finally {
      this.inFlight = null;
    }
  }

  /** Deferred writes beside quick ones only: the quick ones go alone. */
  private leavesDeferredBehind(entries: readonly Entry<T>[]): boolean {
    let deferred = false;
    let quick = false;
    for (const e of entries) {
      if (e.deferred) deferred = true;
      else if (this.quick(e.item)) quick = true;
      else return false;
    }
    return deferred && quick;
  }

  private async noneInFlight(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  get size(): number {
    return this.pending.length;
  }
}
