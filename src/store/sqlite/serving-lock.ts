// One serving process per SQLite file. A gateway keeps in memory what only it may change — the
// chain's head it wrote last, the holds of its calls in flight, budgets' running totals — and at
// start it charges every hold it finds as a dead process's. A second gateway started on the same
// file (a second `tollgate serve` in the same directory, which then fails on its port) would
// charge the live one's holds, append to its chain and sign a checkpoint over it. So the serving
// process claims the file first, before it reads or writes anything.
//
// The claim is a POSIX record lock SQLite takes on a sidecar file (`<database>.lock`) and holds for
// the life of one connection in EXCLUSIVE locking mode: the kernel drops it when the process
// ends, however it ends, so a crash leaves nothing stale to clean up.
import Database from 'better-sqlite3';
import { ownerOnly } from './batch-writer.js';

export class StoreInUseError extends Error {
  constructor(readonly path: string) {
    super(`the SQLite store ${path} is in use by another Tollgate process serving it: stop that one first, or start this one with another --data-dir (storage.sqlite.path)`);
    this.name = 'StoreInUseError';
  }
}

/** Claims `databasePath` for this process; returns the release. Throws StoreInUseError when another process holds it. */
export function claimForServing(databasePath: string): () => void {
  const path = `${databasePath}.lock`;
  ownerOnly(path);
  // No busy wait: a held claim is an answer, not a contention to sit out.
  const db = new Database(path, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // No journal file beside it: the claim's one row needs no rollback.
    db.pragma('journal_mode = MEMORY');
    // The first write takes the exclusive lock, which EXCLUSIVE mode then never releases.
    db.exec('CREATE TABLE IF NOT EXISTS claim (pid INTEGER NOT NULL, since INTEGER NOT NULL); DELETE FROM claim;');
    db.prepare('INSERT INTO claim (pid, since) VALUES (?, ?)').run(process.pid, Date.now());
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code?.startsWith('SQLITE_BUSY') || (err as { code?: string }).code?.startsWith('SQLITE_LOCKED')) throw new StoreInUseError(databasePath);
    throw err;
  }
  return () => {
    if (db.open) db.close();
  };
}
