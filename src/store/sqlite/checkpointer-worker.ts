// The SQLite store's checkpointer thread: copies committed pages from the WAL into the database
// file on its own connection, so that the writer thread's commits — and the answers waiting on
// them — seldom wait for a checkpoint. Left to SQLite, the connection that commits runs the
// checkpoint (page copies and three fsyncs, ~5 ms on a shared VM's disk) every ~1,000 WAL pages:
// at one connection every ~60 calls, and the call behind it waited.
// A PASSIVE checkpoint takes no lock a writer needs: commits go on while it copies. (The
// committing connections still checkpoint past WAL_BACKSTOP_PAGES: see wal-signal.ts.)
import { workerData } from 'node:worker_threads';
import { openSqlite, type Synchronous } from './batch-writer.js';
import { awaitCommits, type WalSignal } from './wal-signal.js';

const { path, synchronous, signal } = workerData as { path: string; synchronous: Synchronous; signal: WalSignal };
const db = openSqlite(path, synchronous);
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');

// From 0, not the count now: commits made while this thread was starting are checkpointed too.
for (let seen: number | null = 0; (seen = awaitCommits(signal, seen)) !== null; ) {
  try {
    checkpoint.get();
  } catch {
    // A failed checkpoint (a full disk, say) is only late: the next commit brings another try,
    // and the committing connections' wal_autocheckpoint bounds the log meanwhile.
  }
}
db.close();
