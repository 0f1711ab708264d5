// Shared memory between the writer thread and the checkpointer thread: the writer counts its
// commits, the checkpointer sleeps on the count (Atomics.wait) — no message per commit.

const COMMITS = 0;
const STOPPING = 1;

/** How often at most the checkpointer copies the WAL into the database file, while commits come. */
export const CHECKPOINT_EVERY_MS = 250;

/**
 * WAL pages after which a committing connection runs a checkpoint itself (SQLite's
 * wal_autocheckpoint; its default is 1,000): only a backstop while the checkpointer keeps up.
 * Under sustained commits the log rarely empties between two passive checkpoints, so it can
 * only start over from its beginning after one of these (~40 MB at most on disk).
 */
export const WAL_BACKSTOP_PAGES = 10_000;

export type WalSignal = Int32Array;

export function newWalSignal(): WalSignal {
  return new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
}

/** The writer: a commit landed. */
export function signalCommit(signal: WalSignal): void {
  Atomics.add(signal, COMMITS, 1);
  Atomics.notify(signal, COMMITS);
}

/** The owner: the checkpointer should close its connection and end. */
export function signalStop(signal: WalSignal): void {
  Atomics.store(signal, STOPPING, 1);
  // Moving the count too: a checkpointer about to wait on it (still starting, say) does not.
  Atomics.add(signal, COMMITS, 1);
  Atomics.notify(signal, STOPPING);
  Atomics.notify(signal, COMMITS);
}

const stopping = (signal: WalSignal): boolean => Atomics.load(signal, STOPPING) !== 0;

/**
 * The checkpointer: blocks until a commit after `seenCommits` (or the stop), then lets commits
 * gather for CHECKPOINT_EVERY_MS. Returns the count to wait past next time, or null to stop.
 */
export function awaitCommits(signal: WalSignal, seenCommits: number): number | null {
  // A stop after `seenCommits` was read moved the count, so the wait cannot miss it.
  if (stopping(signal)) return null;
  Atomics.wait(signal, COMMITS, seenCommits);
  if (!stopping(signal)) Atomics.wait(signal, STOPPING, 0, CHECKPOINT_EVERY_MS);
  return stopping(signal) ? null : Atomics.load(signal, COMMITS);
}
