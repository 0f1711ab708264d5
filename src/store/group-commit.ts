// Group commit: writes from many concurrent requests are gathered and flushed in one
// transaction. A lone write is flushed on the next turn of the event loop, so it waits no longer
// than one commit; under load, one commit carries many requests' writes.

export class GroupCommit<T> {
  private pending: T[] = [];
  private waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private scheduled = false;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly flushBatch: (items: T[]) => Promise<void>,
    private readonly maxBatch = 512,
  ) {}

  /** Queues `item`; resolves once it is durably written (rejects if its batch failed). */
  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push(item);
      this.waiters.push({ resolve, reject });
      if (this.pending.length >= this.maxBatch) void this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /** Writes everything queued so far; resolves when it is durable. */
  async flush(): Promise<void> {
    this.scheduled = false;
    // One batch at a time keeps the order of writes the order of calls.
    while (this.flushing) await this.flushing;
    if (this.pending.length === 0) return;
    const items = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    this.flushing = this.flushBatch(items).then(
      () => waiters.forEach((w) => w.resolve()),
      (err: unknown) => waiters.forEach((w) => w.reject(err)),
    );
    try {
      await this.flushing;
    } finally {
      this.flushing = null;
    }
  }

  get size(): number {
    return this.pending.length;
  }
}
