// Upgrading a SQLite file written by an earlier version: what it held is still there, and works.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reservationValues, RESERVATION_COLUMNS } from '../../src/store/rows.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import type { PendingReservation } from '../../src/store/index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const hold = (id: string, expiresAt: number): PendingReservation => ({
  id, requestId: `req_${id}`, sessionId: 'ses_1', agentId: 'agt_1', teamId: 'team_1', profileId: 'prof_1', model: 'gpt-4o-mini', provider: 'openai',
  api: 'openai.chat', stream: true, promptTokens: 12, outputTokens: 300, usdNano: 189_150, chain: ['ses_1'], createdAt: 1_000, expiresAt,
});

describe('SQLite upgrade', () => {
  it('migration 11 keeps the holds in flight, keyed by id, without a rowid or the expiry index', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-upgrade-'));
    dirs.push(dir);
    const path = join(dir, 'tollgate.db');
    // A file at schema version 10 with two holds of calls that were in flight when it stopped.
    const old = new Database(path);
    old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const m of SQLITE_MIGRATIONS.filter((m) => m.version <= 10)) {
      old.exec(m.sql);
      old.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, 0);
    }
    const insert = old.prepare(`INSERT INTO reservations (${RESERVATION_COLUMNS.join(', ')}) VALUES (${RESERVATION_COLUMNS.map(() => '?').join(', ')})`);
    insert.run(...reservationValues(hold('use_a', 5_000)));
    insert.run(...reservationValues(hold('use_b', 9_000)));
    old.close();

    const store = new SqliteStore({ path, writeThread: false });
    await store.migrate();
    expect((await store.listReservations(Number.POSITIVE_INFINITY)).map((r) => r.id)).toEqual(['use_a', 'use_b']);
    expect(await store.listReservations(6_000)).toEqual([hold('use_a', 5_000)]);
    await store.close();

    const db = new Database(path, { readonly: true });
    const table = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'reservations'").get() as { sql: string };
    expect(table.sql).toMatch(/WITHOUT ROWID/);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'reservations' AND sql IS NOT NULL").all()).toEqual([]);
    expect((db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number }).v).toBe(SQLITE_MIGRATIONS.at(-1)!.version);
    db.close();
  });
});
