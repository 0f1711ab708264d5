// The writer thread's body: its own connection to the store's file, one batch at a time, in the
// order the gateway sent them. Answers each with where its audit rows landed, or with the error.
import { parentPort, workerData } from 'node:worker_threads';
import { unlinkedRecord } from '../chain.js';
import type { WriteSet } from '../store.js';
import { openSqlite, SqliteBatchWriter, type Synchronous } from './batch-writer.js';
import type { WriterReply, WriterRequest } from './writer-thread.js';

const { path, synchronous } = workerData as { path: string; synchronous: Synchronous };
const db = openSqlite(path, synchronous);
const writer = new SqliteBatchWriter(db);
const port = parentPort!;

port.on('message', (m: WriterRequest) => {
  if ('close' in m) {
    db.close();
    port.close();
    return;
  }
  let reply: WriterReply;
  try {
    const set = JSON.parse(m.json) as WriteSet;
    reply = { id: m.id, links: writer.write({ rows: set.events.map(unlinkedRecord), records: set.records, reservations: set.reservations }) };
  } catch (err) {
    const e = err as Error & { code?: string };
    reply = { id: m.id, error: { name: e.name, message: e.message, code: e.code } };
  }
  port.postMessage(reply);
});
