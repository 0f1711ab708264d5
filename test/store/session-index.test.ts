// SQLite's session indexes, kept in bulk off the hot path (src/store/sqlite/session-index.ts):
// queries by session answer the same before a pass, during one and after it, and the writer
// thread's passes run on their own.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore, type AuditEvent, type UsageRecord } from '../../src/store/index.js';
import { PreparedStatements } from '../../src/store/sqlite/batch-writer.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { PASS_AGE_MS, SessionIndexer } from '../../src/store/sqlite/session-index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-session-index-'));
  dirs.push(dir);
  return join(dir, 'tollgate.db');
}

async function seed(store: SqliteStore, sessions: number): Promise<{ ids: string[]; agentId: string; teamId: string; profileId: string }> {
  const team = await store.putTeam({ name: 'ops' }, 'error');
  const profile = await store.putProfile({ name: 'bot', models: ['*'] } as Parameters<SqliteStore['putProfile']>[0], 'error');
  const agent = await store.putAgent({ name: 'worker', teamId: team.id, profileId: profile.id, environment: 'dev' }, 'error');
  const ids: string[] = [];
  for (let i = 0; i < sessions; i++) {
    const id = `ses_${String(i).padStart(3, '0')}`;
    await store.createSession({
      id, agentId: agent.id, teamId: team.id, profileId: profile.id, parentId: null, task: 't', budget: { tokens: null, usdNano: null },
      models: ['*'], context: {}, expiresAt: Date.now() + 600_000, chain: [id],
    });
    ids.push(id);
  }
  return { ids, agentId: agent.id, teamId: team.id, profileId: profile.id };
}

const event = (n: number, sessionId: string | null): AuditEvent => ({
  id: `evt_${String(n).padStart(5, '0')}`, time: 1_000 + n, type: n % 3 === 0 ? 'model.call' : 'tool.called', actor: 'system',
  requestId: null, agentId: null, sessionId, teamId: null, chain: null, data: { n },
});

describe('SQLite session indexes kept in bulk', () => {
  it('answers by session the same with rows above the mark, between passes, and after them', async () => {
    const path = tempPath();
    const store = new SqliteStore({ path, writeThread: false });
    await store.migrate();
    const { ids: sessions, agentId, teamId, profileId } = await seed(store, 12);
    // Sessions in an order that is not their ids' (a pass sorts them), some events with none.
    const sessionOf = (n: number) => (n % 17 === 0 ? null : sessions[(n * 7) % sessions.length]!);
    const events = Array.from({ length: 600 }, (_, n) => event(n, sessionOf(n)));
    for (let i = 0; i < events.length; i += 50) await store.appendEvents(events.slice(i, i + 50));
    const lines: UsageRecord[] = Array.from({ length: 300 }, (_, n) => ({
      id: `use_${String(n).padStart(5, '0')}`, requestId: `req_${n}`, sessionId: sessions[(n * 5) % sessions.length]!, agentId, teamId, profileId,
      model: 'm', provider: 'p', api: 'openai.chat', stream: false, inputTokens: 1, outputTokens: 1, cachedInputTokens: 0, cacheWriteTokens: 0,
      reasoningTokens: 0, costUsdNano: 1, estimated: false, outcome: 'ok', httpStatus: 200, latencyMs: 1, createdAt: 5_000 - n, chain: [],
    }));
    for (let i = 0; i < lines.length; i += 30) await store.recordUsage(lines.slice(i, i + 30));

    const expectedEvents = (wanted: string[]) => events.filter((e) => e.sessionId !== null && wanted.includes(e.sessionId)).map((e) => e.id).reverse();
    const expectedLines = (s: string) => lines.filter((l) => l.sessionId === s).sort((a, b) => b.createdAt - a.createdAt).map((l) => l.id);
    const check = async () => {
      for (const s of sessions.slice(0, 5)) {
        expect((await store.listEvents({ sessionId: s, limit: 1_000 })).map((e) => e.id)).toEqual(expectedEvents([s]));
        expect((await store.listEvents({ sessionId: s, type: 'model.call', limit: 1_000 })).map((e) => e.id))
          .toEqual(events.filter((e) => e.sessionId === s && e.type === 'model.call').map((e) => e.id).reverse());
        expect((await store.listUsage({ sessionId: s, limit: 1_000 })).map((l) => l.id)).toEqual(expectedLines(s));
      }
      const pair = [sessions[1]!, sessions[8]!];
      expect((await store.listEvents({ sessionIds: pair, order: 'asc', limit: 1_000 })).map((e) => e.id)).toEqual(expectedEvents(pair).reverse());
      expect((await store.listEvents({ sessionId: sessions[3]!, limit: 4 })).map((e) => e.id)).toEqual(expectedEvents([sessions[3]!]).slice(0, 4));
    };

    // Written without the writer thread: indexed as written.
    const raw = new Database(path);
    const indexed = () => ({
      events: (raw.prepare('SELECT COUNT(*) AS n FROM audit_session_index').get() as { n: number }).n,
      lines: (raw.prepare('SELECT COUNT(*) AS n FROM usage_session_index').get() as { n: number }).n,
      marks: raw.prepare('SELECT name, upto FROM session_index_marks ORDER BY name').all(),
    });
    const withSession = events.filter((e) => e.sessionId !== null).length;
    expect(indexed()).toEqual({ events: withSession, lines: 300, marks: [{ name: 'audit_events', upto: 600 }, { name: 'usage_records', upto: 300 }] });
    await check();

    // Most rows back above the marks, as if no pass had run since: found by the scan above them.
    raw.exec(`DELETE FROM audit_session_index WHERE seq > 100; UPDATE session_index_marks SET upto = 100 WHERE name = 'audit_events';
      DELETE FROM usage_session_index WHERE id IN (SELECT id FROM usage_records WHERE rowid > 40); UPDATE session_index_marks SET upto = 40 WHERE name = 'usage_records';`);
    expect(indexed().events).toBeLessThan(100);
    await check();

    // Passes of 37 rows: after each, the answers are as they were.
    const indexer = new SessionIndexer(raw, new PreparedStatements(raw), Date.now, { passRows: 37, passAgeMs: 0 });
    let steps = 0;
    while (indexer.step()) {
      steps++;
      await check();
    }
    expect(steps).toBeGreaterThan(20);
    expect(indexed()).toEqual({ events: withSession, lines: 300, marks: [{ name: 'audit_events', upto: 600 }, { name: 'usage_records', upto: 300 }] });
    expect(raw.prepare('SELECT seq FROM audit_session_index WHERE session_id = ? ORDER BY seq').pluck().all(sessions[0]))
      .toEqual(events.flatMap((e, i) => (e.sessionId === sessions[0] ? [i + 1] : [])));
    raw.close();
    await store.close();
  });

  it('the writer thread commits without indexing, and indexes what waited once it is old enough', async () => {
    const path = tempPath();
    const store = new SqliteStore({ path });
    await store.migrate();
    const { ids: sessions } = await seed(store, 3);
    const started = Date.now();
    await store.appendEvents(Array.from({ length: 90 }, (_, n) => event(n, sessions[n % 3]!)));
    const raw = new Database(path, { readonly: true });
    const mark = () => (raw.prepare("SELECT upto FROM session_index_marks WHERE name = 'audit_events'").get() as { upto: number }).upto;
    // Fewer rows than a pass takes, and younger than its age: still waiting, yet found.
    if (Date.now() - started < PASS_AGE_MS / 2) expect(mark()).toBe(0);
    expect((await store.listEvents({ sessionId: sessions[1]!, limit: 100 })).map((e) => e.time)).toEqual(
      Array.from({ length: 30 }, (_, i) => 1_000 + 89 - 1 - 3 * i),
    );
    const deadline = Date.now() + PASS_AGE_MS + 5_000;
    while (mark() < 90 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(mark()).toBe(90);
    expect(Date.now() - started).toBeGreaterThanOrEqual(PASS_AGE_MS - 50);
    expect((raw.prepare('SELECT COUNT(*) AS n FROM audit_session_index').get() as { n: number }).n).toBe(90);
    expect((await store.listEvents({ sessionId: sessions[1]!, limit: 100 })).length).toBe(30);
    raw.close();
    await store.close();
  });

  it('upgrading a version-11 file indexes what it holds by session and drops the per-commit indexes', async () => {
    const path = tempPath();
    const old = new Database(path);
    old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const m of SQLITE_MIGRATIONS.filter((m) => m.version <= 11)) {
      old.exec(m.sql);
      old.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, 0);
    }
    const insert = old.prepare('INSERT INTO audit_events (id, time, type, actor, session_id, data) VALUES (?, ?, ?, ?, ?, ?)');
    for (let n = 0; n < 40; n++) insert.run(`evt_${n}`, n, 'tool.called', 'system', n % 4 === 0 ? null : `ses_${n % 3}`, '{}');
    old.close();

    const store = new SqliteStore({ path, writeThread: false });
    await store.migrate();
    expect((await store.listEvents({ sessionId: 'ses_2', limit: 100 })).map((e) => e.time)).toEqual([38, 35, 29, 26, 23, 17, 14, 11, 5, 2]);
    await store.close();
    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('audit_session', 'usage_session')").all()).toEqual([]);
    expect(db.prepare('SELECT name, upto FROM session_index_marks ORDER BY name').all()).toEqual([{ name: 'audit_events', upto: 40 }, { name: 'usage_records', upto: 0 }]);
    expect((db.prepare('SELECT COUNT(*) AS n FROM audit_session_index').get() as { n: number }).n).toBe(30);
    db.close();
  });
});
