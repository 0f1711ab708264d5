// An audit log on a real SQLite file with the gateway's key ring, and a second connection to
// the same file for the tests to tamper with, as an attacker with database access would.
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, storedCheckpointKeys, type AuditLogOptions } from '../../src/audit/index.js';
import { KeyRing, MasterKey } from '../../src/identity/index.js';
import { recordHash, SqliteStore, type ChainRecord } from '../../src/store/index.js';
import { rowToRecord } from '../../src/store/rows.js';

export interface AuditFixture {
  path: string;
  store: SqliteStore;
  keys: KeyRing;
  master: MasterKey;
  audit: AuditLog;
  /** A second connection to the database file: the attacker's. */
  db: Database.Database;
  /** Slices of the chain the store walked off the event loop (Store.walkChain). */
  offLoopWalks(): number;
  /** Records `n` events (request ids req_<i>) and waits until they are durable. */
  record(n: number, from?: number): Promise<void>;
  rows(): ChainRecord[];
  close(): Promise<void>;
}

/** `writeThread: false`: no writer thread, so verification walks the chain on the event loop. */
export async function auditFixture(options: Partial<AuditLogOptions> = {}, writeThread = true): Promise<AuditFixture> {
  const path = join(mkdtempSync(join(tmpdir(), 'tollgate-audit-')), 'audit.db');
  const store = new SqliteStore({ path, writeThread });
  await store.migrate();
  let offLoopWalks = 0;
  const walkChain = store.walkChain.bind(store);
  store.walkChain = (from, limit) => {
    const walk = walkChain(from, limit);
    if (walk) offLoopWalks++;
    return walk;
  };
  const master = MasterKey.fromBytes(randomBytes(32));
  const keys = new KeyRing(store, master, { overlapMs: 60_000, rotationMs: 0 });
  await keys.load();
  const audit = new AuditLog(store, Date.now, { signer: keys, keys: storedCheckpointKeys(store, master), ...options });
  const db = new Database(path);
  return {
    path, store, keys, master, audit, db,
    offLoopWalks: () => offLoopWalks,
    async record(n, from = 1) {
      await Promise.all(Array.from({ length: n }, (_, k) => {
        const i = from + k;
        return audit.record({ type: 'test.event', actor: `agent:agt_${i % 4}`, requestId: `req_${i}`, agentId: `agt_${i % 4}`, sessionId: `ses_${i % 7}`, chain: [`ses_${i % 7}`], data: { i, tokens: i * 3, note: `event ${i}` } });
      }));
    },
    rows: () => (db.prepare('SELECT * FROM audit_events ORDER BY seq').all() as Record<string, unknown>[]).map(rowToRecord),
    async close() {
      db.close();
      await store.close();
    },
  };
}

/**
 * What an attacker who knows the hash function does: changes event `seq` with `change`, then
 * recomputes every hash from there on and moves the chain head, so hashes and links all agree.
 */
export function rewriteFrom(db: Database.Database, seq: number, change: (data: Record<string, unknown>) => void): void {
  const rows = (db.prepare('SELECT * FROM audit_events WHERE seq >= ? ORDER BY seq').all(seq) as Record<string, unknown>[]).map(rowToRecord);
  let prev = (db.prepare('SELECT hash FROM audit_events WHERE seq = ?').get(seq - 1) as { hash: string }).hash;
  const update = db.prepare('UPDATE audit_events SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?');
  db.transaction(() => {
    for (const r of rows) {
      let dataJson = r.dataJson;
      if (r.seq === seq) {
        const data = JSON.parse(dataJson) as Record<string, unknown>;
        change(data);
        dataJson = JSON.stringify(data);
      }
      const hash = recordHash({ ...r, dataJson, prevHash: prev });
      update.run(dataJson, prev, hash, r.seq);
      prev = hash;
    }
    db.prepare('UPDATE audit_chain_head SET last_hash = ? WHERE id = 1').run(prev);
  })();
}
