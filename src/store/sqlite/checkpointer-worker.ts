// The SQLite store's checkpointer thread: copies committed pages from the WAL into the database
// file on its own connection, so that the writer thread's commits — and the answers waiting on
// them — seldom wait for a checkpoint. Left to SQLite, the connection that commits runs the
// checkpoint (page copies and three fsyncs, ~5 ms on a shared VM's disk) every ~1,000 WAL pages:
// at one connection every ~60 calls, and the call behind it waited.
// A PASSIVE checkpoint takes no lock a writer needs: commits go on while it copies. (The
// committing connections still checkpoint past WAL_BACKSTOP_PAGES: see wal-signal.ts.)
// Between checkpoints it walks stretches of the audit chain for the store (writer-thread.ts): reading
// events back and hashing them (~8 µs each here, ~11 on the event loop) is the loop's work no more.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { recordFromValues } from '../rows.js';
import { ChainWalker } from '../chain.js';
import { CACHE_KIB, openSqlite, READ_CHAIN_SQL, type Synchronous } from './batch-writer.js';
import { CheckpointerWaits, type WalSignal } from './wal-signal.js';
import { lowerThreadPriority } from './thread-priority.js';
import type { WalkReply, WalkRequest } from './writer-thread.js';

const { path, synchronous, walSignal, threadNice } = workerData as { path: string; synchronous: Synchronous; walSignal: WalSignal; threadNice: number };
lowerThreadPriority(threadNice);
const db = openSqlite(path, synchronous, CACHE_KIB.checkpointer);
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const events = db.prepare(READ_CHAIN_SQL).raw(true);
const port = parentPort!;

/** One slice of a walk: its events read one at a time (never the slice in memory at once). */
function walk(request: WalkRequest): WalkReply {
  try {
    const walker = new ChainWalker(request.from);
    for (const values of events.iterate(request.from.seq, request.limit) as IterableIterator<unknown[]>) {
      if (!walker.step(recordFromValues(values))) break;
    }
    return { id: request.id, walk: walker.result() };
  } catch (err) {
    return { id: request.id, error: (err as Error).message };
  }
}

const waits = new CheckpointerWaits(walSignal);
for (;;) {
  const task = waits.next(() => receiveMessageOnPort(port)?.message as WalkRequest | undefined);
  if ('stop' in task) break;
  if ('work' in task) {
    port.postMessage(walk(task.work));
    continue;
  }
  try {
    checkpoint.get();
  } catch {
    // A failed checkpoint (a full disk, say) is only late: the next commit brings another try,
    // and the committing connections' wal_autocheckpoint bounds the log meanwhile.
  }
}
db.close();
