// The writer thread's body: its own connection to the store's file, batches committed in the
// order the gateway sent them. Batches that queued up while it was committing are taken
// together into one transaction — each in its own savepoint, so a bad batch fails alone — and
// each is answered with where its audit rows landed, or with its error.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { CACHE_KIB, openSqlite, packLinks, PreparedStatements, SqliteBatchWriter, type Synchronous, type WriteRows } from './batch-writer.js';
import { SessionIndexer, warnPassFailed, type SessionIndexLimits } from './session-index.js';
import { signalCommit, WAL_BACKSTOP_PAGES, type WalSignal } from './wal-signal.js';
import { lowerThreadPriority } from './thread-priority.js';
import type { WriterReply, WriterRequest } from './writer-thread.js';

const { path, synchronous, walSignal, threadNice, sessionIndex } = workerData as { path: string; synchronous: Synchronous; walSignal: WalSignal; threadNice: number; sessionIndex: SessionIndexLimits };
lowerThreadPriority(threadNice);
const db = openSqlite(path, synchronous, CACHE_KIB.writer);
// The checkpointer thread copies the log into the file; a commit here checkpoints only as a backstop.
db.pragma(`wal_autocheckpoint = ${WAL_BACKSTOP_PAGES}`);
const statements = new PreparedStatements(db);
const writer = new SqliteBatchWriter(db, statements);
const indexer = new SessionIndexer(db, statements, Date.now, sessionIndex);
const port = parentPort!;

type Batch = { id: number; json: string };

const errorOf = (err: unknown) => {
  const e = err as Error & { code?: string };
  return { name: e.name, message: e.message, code: e.code };
};

/** One batch, in a savepoint of the enclosing transaction (better-sqlite3 nests them so). */
function writeOne(batch: Batch): WriterReply {
  try {
    const rows = JSON.parse(batch.json) as WriteRows;
    return { id: batch.id, links: packLinks(writer.writeAsRows(rows)) };
  } catch (err) {
    return { id: batch.id, error: errorOf(err) };
  }
}

const writeAll = db.transaction((batches: Batch[]) => batches.map(writeOne));

function commit(batches: Batch[]): void {
  let replies: WriterReply[];
  try {
    replies = batches.length === 1 ? [writeOne(batches[0]!)] : writeAll.immediate(batches);
  } catch (err) {
    // The commit itself failed: none of them is on disk.
    replies = batches.map((b) => ({ id: b.id, error: errorOf(err) }));
  }
  for (const reply of replies) port.postMessage(reply);
  // After the answers: the checkpointer's wake-up is not on their path.
  signalCommit(walSignal);
  // After the batches that came meanwhile: a step waits for the next turn's messages to commit.
  setImmediate(indexBySession);
}

/**
 * A step of the session indexes' passes (session-index.ts), when one is due or under way: after
 * each commit, and on a timer while no batches come. A failed step is tried again later; no query
 * depends on it.
 */
function indexBySession(): void {
  if (!db.open) return;
  try {
    indexer.step();
  } catch (err) {
    warnPassFailed(err);
  }
}
const indexTimer = setInterval(indexBySession, 100);
indexTimer.unref();

port.on('message', (first: WriterRequest) => {
  const batches: Batch[] = [];
  let closing = false;
  for (let m: WriterRequest | undefined = first; m; m = receiveMessageOnPort(port)?.message as WriterRequest | undefined) {
    if ('close' in m) {
      closing = true;
      break;
    }
    batches.push(m);
  }
  if (batches.length > 0) commit(batches);
  if (closing) {
    clearInterval(indexTimer);
    try {
      indexer.drain();
    } catch {
      // Left for the next start: rows above the mark are still found by a scan.
    }
    db.close();
    port.close();
  }
});
