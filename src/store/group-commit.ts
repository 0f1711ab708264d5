// Group commit: writes from many concurrent requests are gathered and flushed in one
// transaction. A lone write is flushed on the next turn of the event loop, so it waits no longer
// than one commit; under load, one commit carries many requests' writes.
//
// A write that need not be durable soon (`lazyMs`) schedules no commit of its own: it rides with
// the next batch, or is flushed when its delay runs out. Every batch carries all lazy writes
// queued so far, ahead of the others, so the order of writes stays the order they were added.

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<T> {
  private pending: T[] = [];
  private waiters: Waiter[] = [];
  private lazy: T[] = [];
  private lazyWaiters: Waiter[] = [];
  private lazyTimer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly flushBatch: (items: T[]) => Promise<void>,
    private readonly maxBatch = 512,
  ) {}

  /**
   * Queues `item`; resolves once it is durably written (rejects if its batch failed). With
   * `lazyMs`, the item waits for the next batch, at most that long.
   */
  add(item: T, options: { lazyMs?: number } = {}): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (options.lazyMs !== undefined) {
        this.lazy.push(item);
        this.lazyWaiters.push({ resolve, reject });
        this.lazyTimer ??= setTimeout(() => void this.flush(), options.lazyMs);
        return;
      }
      this.pending.push(item);
      this.waiters.push({ resolve, reject });
      if (this.pending.length >= this.maxBatch) void this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /** Writes everything queued so far, lazy writes included; resolves when it is durable. */
  async flush(): Promise<void> {
    this.scheduled = false;
    // One batch at a time keeps the order of writes the order of calls.
    while (this.flushing) await this.flushing;
    if (this.pending.length === 0 && this.lazy.length === 0) return;
    if (this.lazyTimer) clearTimeout(this.lazyTimer);
    this.lazyTimer = null;
    const items = this.lazy.length === 0 ? this.pending : [...this.lazy, ...this.pending];
    const waiters = this.lazy.length === 0 ? this.waiters : [...this.lazyWaiters, ...this.waiters];
    this.pending = [];
    this.waiters = [];
    this.lazy = [];
    this.lazyWaiters = [];
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
    return this.pending.length + this.lazy.length;
  }
}
