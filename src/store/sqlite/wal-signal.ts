// Shared memory between the SQLite store's threads and its checkpointer thread: the writer counts
// its commits, the owner asks for work (a walk over the audit chain, sent as a message) or the
// stop, and the checkpointer sleeps on a wake-up count (Atomics.wait) — no message per commit,
// no timer while idle. A commit moves the wake-up count only while the checkpointer is idle:
// while commits gather for a checkpoint, waking it for each would cost a thread switch per
// commit on a machine whose cores are busy with the writer and the event loop.

const COMMITS = 0;
const STOPPING = 1;
const WAKE = 2;
/** 1 while the checkpointer sleeps with no commit to checkpoint: the next commit wakes it. */
const IDLE = 3;

/** How often at most the checkpointer copies the WAL into the database file, while commits come. */
export const CHECKPOINT_EVERY_MS = 250;

/**
 * WAL pages after which a committing connection runs a checkpoint itself (SQLite's
 * wal_autocheckpoint; its default is 1,000): only a backstop while the checkpointer keeps up.
 * Under sustained commits the log rarely empties between two passive checkpoints, so it can
 * only start over from its beginning after one of these (~40 MB on disk; ~50 MB seen when the
 * backstop met the checkpointer thread's own checkpoint under heavy load).
 */
export const WAL_BACKSTOP_PAGES = 10_000;

export type WalSignal = Int32Array;

export function newWalSignal(): WalSignal {
  return new Int32Array(new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT));
}

const wake = (signal: WalSignal): void => {
  Atomics.add(signal, WAKE, 1);
  Atomics.notify(signal, WAKE);
};

/** The writer: a commit landed. */
export function signalCommit(signal: WalSignal): void {
  Atomics.add(signal, COMMITS, 1);
  if (Atomics.load(signal, IDLE) !== 0) wake(signal);
}

/** The owner: a request was posted to the checkpointer (after postMessage, so it is there to take). */
export function signalWork(signal: WalSignal): void {
  wake(signal);
}

/** The owner: the checkpointer should close its connection and end. */
export function signalStop(signal: WalSignal): void {
  Atomics.store(signal, STOPPING, 1);
  wake(signal);
}

export type CheckpointerTask<W> = { stop: true } | { checkpoint: true } | { work: W };

/** The checkpointer's side: what to do next, blocking until there is something. */
export class CheckpointerWaits {
  /** The commit count at the last checkpoint: from 0, so commits made while the thread started count. */
  private checkpointed = 0;
  /** When the commits since the last checkpoint are due for one (they gather CHECKPOINT_EVERY_MS). */
  private dueAt: number | null = null;

  constructor(private readonly signal: WalSignal) {}

  /**
   * The stop; else a request `take` finds waiting; else a checkpoint once commits came and
   * gathered; else sleeps until one of them. Requests go first: each is one slice of a walk, and
   * the owner sends the next only after the answer, so checkpoints come in between.
   */
  next<W>(take: () => W | undefined): CheckpointerTask<W> {
    for (;;) {
      // Read before looking: anything signalled after this moves it, and the wait returns at once.
      const seen = Atomics.load(this.signal, WAKE);
      if (Atomics.load(this.signal, STOPPING) !== 0) return { stop: true };
      const work = take();
      if (work !== undefined) return { work };
      const commits = Atomics.load(this.signal, COMMITS);
      if (commits === this.checkpointed) {
        Atomics.store(this.signal, IDLE, 1);
        // A commit after IDLE was set moves WAKE (the wait returns at once); one before, this sees.
        if (Atomics.load(this.signal, COMMITS) === this.checkpointed) Atomics.wait(this.signal, WAKE, seen);
        Atomics.store(this.signal, IDLE, 0);
        continue;
      }
      const now = performance.now();
      this.dueAt ??= now + CHECKPOINT_EVERY_MS;
      if (now >= this.dueAt) {
        this.checkpointed = commits;
        this.dueAt = null;
        return { checkpoint: true };
      }
      // Commits do not wake this wait (IDLE is 0): only a request, the stop, or the time.
      Atomics.wait(this.signal, WAKE, seen, this.dueAt - now);
    }
  }
}
