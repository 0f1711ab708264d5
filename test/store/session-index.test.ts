// SQLite's indexes by session and by agent, kept in bulk off the hot path
// (src/store/sqlite/session-index.ts): queries by session or agent answer the same before a pass,
// during one and after it, and the writer thread's passes run on their own.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore, type AuditEvent, type UsageRecord } from '../../src/store/index.js';
import { PreparedStatements } from '../../src/store/sqlite/batch-writer.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { eventsByIndexQuery, SessionIndexer, usageByIndexQuery } from '../../src/store/sqlite/session-index.js';
import { spendSinceQuery } from '../../src/store/sqlite/spend-buckets.js';

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

/** A database file as a release at `version` of the schema left it, open for the test to fill. */
function fileAtVersion(path: string, version: number): Database.Database {
  const db = new Database(path);
  db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  for (const m of SQLITE_MIGRATIONS.filter((m) => m.version <= version)) {
    db.exec(m.sql);
    db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, 0);
  }
  return db;
}

/**
 * Migrates the file at `path` with passes off (what was left above the mark stays there), checks
 * that the per-commit indexes `dropped` are gone, and opens the file read-only beside the store.
 */
async function upgrade(path: string, dropped: string[]): Promise<{ store: SqliteStore; db: Database.Database }> {
  const store = new SqliteStore({ path, writeThread: false, sessionIndex: { passRows: 1e9, passAgeMs: 1e9 } });
  await store.migrate();
  const db = new Database(path, { readonly: true });
  const left = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND name IN (SELECT value FROM json_each(?))`).all(JSON.stringify(dropped));
  expect(left).toEqual([]);
  return { store, db };
}

const event = (n: number, sessionId: string | null, agentId: string | null = null): AuditEvent => ({
  id: `evt_${String(n).padStart(5, '0')}`, time: 1_000 + n, type: n % 3 === 0 ? 'model.call' : 'tool.called', actor: 'system',
  requestId: null, agentId, sessionId, teamId: null, chain: null, data: { n },
});

describe('SQLite indexes kept in bulk', () => {
  it('answers by session, agent and type the same with rows above the mark, at every step of a pass, and after it', async () => {
    const path = tempPath();
    // Passes only when forced: the test steps them itself.
    const store = new SqliteStore({ path, writeThread: false, sessionIndex: { passRows: 1e9, passAgeMs: 1e9 } });
    await store.migrate();
    const { ids: sessions, agentId, teamId, profileId } = await seed(store, 12);
    // Sessions in an order that is not their ids' (a pass sorts them), some events with none.
    const sessionOf = (n: number) => (n % 17 === 0 ? null : sessions[(n * 7) % sessions.length]!);
    // Agents likewise (the audit events' agents need not be the sessions': only the index is tested).
    const agents = ['agt_d', 'agt_a', 'agt_c', 'agt_b'];
    const agentOf = (n: number) => (n % 11 === 0 ? null : agents[(n * 3) % agents.length]!);
    const events = Array.from({ length: 600 }, (_, n) => event(n, sessionOf(n), agentOf(n)));
    for (let i = 0; i < events.length; i += 50) await store.appendEvents(events.slice(i, i + 50));
    const lines: UsageRecord[] = Array.from({ length: 300 }, (_, n) => ({
      // Lines of three agents and two teams.
      id: `use_${String(n).padStart(5, '0')}`, requestId: `req_${n}`, sessionId: sessions[(n * 5) % sessions.length]!,
      agentId: n % 3 === 0 ? agentId : n % 3 === 1 ? 'agt_y' : 'agt_x', teamId: n % 5 === 0 ? 'team_other' : teamId, profileId,
      model: 'm', provider: 'p', api: 'openai.chat', stream: false, inputTokens: 1, outputTokens: 1, cachedInputTokens: 0, cacheWriteTokens: 0,
      reasoningTokens: 0, costUsdNano: 1 + n, estimated: false, outcome: 'ok', httpStatus: 200, latencyMs: 1,
      // Two lines at each time: the listing breaks ties by id.
      createdAt: 5_000 - Math.floor(n / 2), chain: [],
    }));
    for (let i = 0; i < lines.length; i += 30) await store.recordUsage(lines.slice(i, i + 30));

    const expectedEvents = (wanted: string[]) => events.filter((e) => e.sessionId !== null && wanted.includes(e.sessionId)).map((e) => e.id).reverse();
    const newestLines = (match: (l: UsageRecord) => boolean) => lines.filter(match).sort((a, b) => b.createdAt - a.createdAt || a.id.localeCompare(b.id)).map((l) => l.id);
    const expectedLines = (s: string) => newestLines((l) => l.sessionId === s);
    const spentBy = (match: (l: UsageRecord) => boolean, since: number) => lines.filter((l) => match(l) && l.createdAt >= since)
      .reduce((t, l) => ({ tokens: t.tokens + l.inputTokens + l.outputTokens, usdNano: t.usdNano + l.costUsdNano }), { tokens: 0, usdNano: 0 });
    const check = async () => {
      for (const s of sessions.slice(0, 5)) {
        expect((await store.listEvents({ sessionId: s, limit: 1_000 })).map((e) => e.id)).toEqual(expectedEvents([s]));
        expect((await store.listEvents({ sessionId: s, type: 'model.call', limit: 1_000 })).map((e) => e.id))
          .toEqual(events.filter((e) => e.sessionId === s && e.type === 'model.call').map((e) => e.id).reverse());
        expect((await store.listUsage({ sessionId: s, limit: 1_000 })).map((l) => l.id)).toEqual(expectedLines(s));
        expect((await store.listUsage({ sessionId: s, limit: 3 })).map((l) => l.id)).toEqual(expectedLines(s).slice(0, 3));
        expect((await store.listUsage({ sessionId: s, since: 4_950, agentId, limit: 1_000 })).map((l) => l.id))
          .toEqual(newestLines((l) => l.sessionId === s && l.agentId === agentId && l.createdAt >= 4_950));
      }
      // Spend lines by agent and by team (their indexes kept in bulk too), and the spend sums
      // (from quarter hours kept beside the lines; since 4,900: the lines, through the index).
      for (const a of [agentId, 'agt_x']) {
        expect((await store.listUsage({ agentId: a, limit: 1_000 })).map((l) => l.id)).toEqual(newestLines((l) => l.agentId === a));
        expect((await store.listUsage({ agentId: a, limit: 4 })).map((l) => l.id)).toEqual(newestLines((l) => l.agentId === a).slice(0, 4));
        expect((await store.listUsage({ agentId: a, teamId, since: 4_920, limit: 1_000 })).map((l) => l.id))
          .toEqual(newestLines((l) => l.agentId === a && l.teamId === teamId && l.createdAt >= 4_920));
        for (const since of [0, 4_900]) expect(await store.spendSince({ agentId: a }, since)).toEqual(spentBy((l) => l.agentId === a, since));
      }
      expect((await store.listUsage({ teamId, limit: 1_000 })).map((l) => l.id)).toEqual(newestLines((l) => l.teamId === teamId));
      for (const since of [0, 4_900]) expect(await store.spendSince({ teamId }, since)).toEqual(spentBy((l) => l.teamId === teamId, since));
      const pair = [sessions[1]!, sessions[8]!];
      expect((await store.listEvents({ sessionIds: pair, order: 'asc', limit: 1_000 })).map((e) => e.id)).toEqual(expectedEvents(pair).reverse());
      const newest = expectedEvents([sessions[3]!]);
      expect((await store.listEvents({ sessionId: sessions[3]!, limit: 4 })).map((e) => e.id)).toEqual(newest.slice(0, 4));
      // A page before a cursor, and after one in ascending order.
      const cursor = (await store.searchEvents({ sessionId: sessions[3]!, limit: 10 })).at(-1)!.seq;
      expect((await store.searchEvents({ sessionId: sessions[3]!, beforeSeq: cursor, limit: 5 })).map((e) => e.id)).toEqual(newest.slice(10, 15));
      expect((await store.searchEvents({ sessionId: sessions[3]!, afterSeq: cursor, order: 'asc', limit: 3 })).map((e) => e.id)).toEqual(newest.slice(6, 9).reverse());
      // By agent: alone, with a type, with a session too (the session's index then drives), paged.
      for (const a of agents.slice(0, 2)) {
        const ofAgent = events.filter((e) => e.agentId === a).map((e) => e.id).reverse();
        expect((await store.listEvents({ agentId: a, limit: 1_000 })).map((e) => e.id)).toEqual(ofAgent);
        expect((await store.listEvents({ agentId: a, limit: 7 })).map((e) => e.id)).toEqual(ofAgent.slice(0, 7));
        expect((await store.listEvents({ agentId: a, type: 'model.call', limit: 1_000 })).map((e) => e.id))
          .toEqual(events.filter((e) => e.agentId === a && e.type === 'model.call').map((e) => e.id).reverse());
        expect((await store.listEvents({ agentId: a, sessionId: sessions[2]!, limit: 1_000 })).map((e) => e.id))
          .toEqual(events.filter((e) => e.agentId === a && e.sessionId === sessions[2]).map((e) => e.id).reverse());
        const at = (await store.searchEvents({ agentId: a, limit: 20 })).at(-1)!.seq;
        expect((await store.searchEvents({ agentId: a, beforeSeq: at, limit: 5 })).map((e) => e.id)).toEqual(ofAgent.slice(20, 25));
        expect((await store.searchEvents({ agentId: a, afterSeq: at, order: 'asc', limit: 4 })).map((e) => e.id)).toEqual(ofAgent.slice(15, 19).reverse());
      }
      // By an exact type alone (a prefix is no key: searched by position), paged both ways.
      const calls = events.filter((e) => e.type === 'model.call').map((e) => e.id).reverse();
      expect((await store.listEvents({ type: 'model.call', limit: 1_000 })).map((e) => e.id)).toEqual(calls);
      expect((await store.listEvents({ type: 'model.call', since: 1_300, limit: 1_000 })).map((e) => e.id))
        .toEqual(events.filter((e) => e.type === 'model.call' && e.time >= 1_300).map((e) => e.id).reverse());
      const atCall = (await store.searchEvents({ type: 'model.call', limit: 30 })).at(-1)!.seq;
      expect((await store.searchEvents({ type: 'model.call', beforeSeq: atCall, limit: 6 })).map((e) => e.id)).toEqual(calls.slice(30, 36));
      expect((await store.searchEvents({ type: 'model.call', afterSeq: atCall, order: 'asc', limit: 2 })).map((e) => e.id)).toEqual(calls.slice(27, 29).reverse());
      expect((await store.listEvents({ type: 'tool.*', limit: 5 })).map((e) => e.id)).toEqual(events.filter((e) => e.type === 'tool.called').map((e) => e.id).reverse().slice(0, 5));
    };

    const raw = new Database(path);
    const indexed = () => ({
      events: (raw.prepare('SELECT COUNT(*) AS n FROM audit_session_index').get() as { n: number }).n,
      byAgent: (raw.prepare('SELECT COUNT(*) AS n FROM audit_agent_index').get() as { n: number }).n,
      byType: (raw.prepare('SELECT COUNT(*) AS n FROM audit_type_index').get() as { n: number }).n,
      lines: (raw.prepare('SELECT COUNT(*) AS n FROM usage_session_index').get() as { n: number }).n,
      linesByAgent: (raw.prepare('SELECT COUNT(*) AS n FROM usage_agent_index').get() as { n: number }).n,
      linesByTeam: (raw.prepare('SELECT COUNT(*) AS n FROM usage_team_index').get() as { n: number }).n,
      marks: raw.prepare('SELECT name, upto FROM session_index_marks ORDER BY name').all(),
    });
    // Nothing indexed yet: every row is above the marks, found by the scan (and counted as waiting).
    expect(indexed()).toEqual({ events: 0, byAgent: 0, byType: 0, lines: 0, linesByAgent: 0, linesByTeam: 0, marks: [{ name: 'audit_events', upto: 0 }, { name: 'usage_records', upto: 0 }] });
    expect(await store.sessionIndexBacklog()).toEqual({ audit_events: 600, usage_records: 300 });
    await check();

    // Passes of 150 rows, staged 40 rows and moved 25 entries at a time: after every step — rows
    // staged, entries above the mark already moved — the answers are as they were.
    const indexer = new SessionIndexer(raw, new PreparedStatements(raw), Date.now, { passRows: 150, passAgeMs: 0, stageRows: 40, moveRows: 25 });
    let steps = 0;
    while (indexer.step()) {
      steps++;
      await check();
    }
    expect(steps).toBeGreaterThan(40);
    const withSession = events.filter((e) => e.sessionId !== null).length;
    const withAgent = events.filter((e) => e.agentId !== null).length;
    const all = { events: withSession, byAgent: withAgent, byType: 600, lines: 300, linesByAgent: 300, linesByTeam: 300, marks: [{ name: 'audit_events', upto: 600 }, { name: 'usage_records', upto: 300 }] };
    expect(indexed()).toEqual(all);
    expect(await store.sessionIndexBacklog()).toEqual({ audit_events: 0, usage_records: 0 });
    expect(raw.prepare('SELECT seq FROM audit_session_index WHERE session_id = ? ORDER BY seq').pluck().all(sessions[0]))
      .toEqual(events.flatMap((e, i) => (e.sessionId === sessions[0] ? [i + 1] : [])));
    await check();

    // A pass cut short (a crash: the staging table is gone, entries above the mark stay): redone
    // from the mark by a drain — which goes on past one pass's worth of rows — and nothing is twice.
    raw.exec(`UPDATE session_index_marks SET upto = 100 WHERE name = 'audit_events'; UPDATE session_index_marks SET upto = 40 WHERE name = 'usage_records';
      DELETE FROM audit_session_index WHERE seq > 100 AND seq % 2 = 0; DELETE FROM audit_agent_index WHERE seq > 100 AND seq % 3 = 0; DELETE FROM audit_type_index WHERE seq > 150;
      DELETE FROM usage_agent_index WHERE row > 40 AND row % 2 = 0; DELETE FROM usage_team_index WHERE row > 200;`);
    await check();
    new SessionIndexer(raw, new PreparedStatements(raw), Date.now, { passRows: 64, passAgeMs: 1e9, stageRows: 64, moveRows: 64 }).drain();
    expect(indexed()).toEqual(all);
    await check();
    raw.close();
    await store.close();
  });

  it('a pass that fails does not fail the write before it, is told, and is tried again', async () => {
    const path = tempPath();
    const store = new SqliteStore({ path, writeThread: false, sessionIndex: { passRows: 10, passAgeMs: 0 } });
    await store.migrate();
    const { ids: sessions } = await seed(store, 2);
    const raw = new Database(path);
    raw.exec("CREATE TRIGGER no_index BEFORE INSERT ON audit_session_index BEGIN SELECT RAISE(ABORT, 'index unavailable'); END;");
    const mark = () => (raw.prepare("SELECT upto FROM session_index_marks WHERE name = 'audit_events'").get() as { upto: number }).upto;
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
    await expect(store.appendEvents(Array.from({ length: 30 }, (_, n) => event(n, sessions[n % 2]!)))).resolves.toHaveLength(30);
    // The pass runs after the write, fails, and says so; the rows are found all the same.
    expect((await warned).message).toMatch(/session index pass failed.*index unavailable/);
    expect(mark()).toBe(0);
    expect((await store.listEvents({ sessionId: sessions[0]!, limit: 100 })).length).toBe(15);
    raw.exec('DROP TRIGGER no_index');
    await store.appendEvents([event(30, sessions[0]!)]);
    for (const until = Date.now() + 5_000; mark() < 31 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
    expect(mark()).toBe(31);
    expect((await store.listEvents({ sessionId: sessions[0]!, limit: 100 })).length).toBe(16);
    raw.close();
    await store.close();
  });

  it('the writer thread commits without indexing, and indexes what waited once it is old enough', async () => {
    const path = tempPath();
    const ageMs = 600;
    const store = new SqliteStore({ path, sessionIndex: { passAgeMs: ageMs, stageRows: 16, moveRows: 8 } });
    await store.migrate();
    const { ids: sessions } = await seed(store, 3);
    const started = Date.now();
    await store.appendEvents(Array.from({ length: 90 }, (_, n) => event(n, sessions[n % 3]!)));
    const raw = new Database(path, { readonly: true });
    const mark = () => (raw.prepare("SELECT upto FROM session_index_marks WHERE name = 'audit_events'").get() as { upto: number }).upto;
    // Fewer rows than a pass takes, and younger than its age: still waiting, yet found.
    if (Date.now() - started < ageMs / 2) expect(mark()).toBe(0);
    expect((await store.listEvents({ sessionId: sessions[1]!, limit: 100 })).map((e) => e.time)).toEqual(
      Array.from({ length: 30 }, (_, i) => 1_000 + 89 - 1 - 3 * i),
    );
    const deadline = Date.now() + ageMs + 10_000;
    while (mark() < 90 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(mark()).toBe(90);
    expect(Date.now() - started).toBeGreaterThanOrEqual(ageMs - 50);
    expect((raw.prepare('SELECT COUNT(*) AS n FROM audit_session_index').get() as { n: number }).n).toBe(90);
    expect((await store.listEvents({ sessionId: sessions[1]!, limit: 100 })).length).toBe(30);
    raw.close();
    await store.close();
  });

  it('the writer thread adds its batches\' new lines to the quarter hours of spend once, replayed or not', async () => {
    const store = new SqliteStore({ path: tempPath(), sessionIndex: { passAgeMs: 1e9 } });
    await store.migrate();
    const { ids: sessions, agentId, teamId, profileId } = await seed(store, 2);
    const line = (n: number, createdAt: number): UsageRecord => ({
      id: `use_w${n}`, requestId: `req_${n}`, sessionId: sessions[n % 2]!, agentId, teamId, profileId, model: 'm', provider: 'p', api: 'openai.chat',
      stream: false, inputTokens: n, outputTokens: 1, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, costUsdNano: 10 * n,
      estimated: false, outcome: 'ok', httpStatus: 200, latencyMs: 1, createdAt, chain: [],
    });
    const lines = Array.from({ length: 20 }, (_, n) => line(n, 900_000 * 10 + 100_000 * n));
    await store.writeBatch({ events: [], records: lines.slice(0, 12), reservations: [] });
    await store.writeBatch({ events: [], records: lines.slice(8), reservations: [] });
    const sum = (since: number) => lines.filter((l) => l.createdAt >= since).reduce((t, l) => ({ tokens: t.tokens + l.inputTokens + 1, usdNano: t.usdNano + l.costUsdNano }), { tokens: 0, usdNano: 0 });
    for (const since of [0, 9_000_000, 9_950_000, 10_800_000]) {
      expect(await store.spendSince({ agentId }, since)).toEqual(sum(since));
      expect(await store.spendSince({ teamId }, since)).toEqual(sum(since));
    }
    await store.close();
  });

  it('queries by session or agent walk the index up to their limit: no scan of the table, no sort of a whole session', async () => {
    const path = tempPath();
    const store = new SqliteStore({ path, writeThread: false });
    await store.migrate();
    await store.close();
    const db = new Database(path, { readonly: true });
    const plan = (q: { sql: string; params: unknown[] }) => (db.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all(...q.params) as { detail: string }[]).map((r) => r.detail);
    const filters = [{ sessionId: 's' }, { sessionId: 's', type: 'model.*', beforeSeq: 10 }, { sessionId: 's', agentId: 'a', order: 'asc' as const, afterSeq: 3 }, { sessionIds: ['s', 't'], teamId: 't' }];
    for (const filter of filters) {
      const steps = plan(eventsByIndexQuery(filter, 100)!);
      // The index, from the session on; the rows above the mark by position; never a whole table.
      expect(steps.some((s) => s.startsWith('SEARCH k USING PRIMARY KEY (session_id=?'))).toBe(true);
      expect(steps.some((s) => s.startsWith('SEARCH audit_events USING INTEGER PRIMARY KEY (rowid>?'))).toBe(true);
      expect(steps.filter((s) => /^SCAN (audit_events|e)$/.test(s) || /USING INDEX/.test(s))).toEqual([]);
    }
    for (const filter of [{ type: 'audit.head_moved', afterSeq: 4, order: 'asc' as const }, { type: 'model.call', since: 5, teamId: 't' }]) {
      const steps = plan(eventsByIndexQuery(filter, 100)!);
      expect(steps.some((s) => s.startsWith('SEARCH k USING PRIMARY KEY (type=?'))).toBe(true);
      expect(steps.some((s) => s.startsWith('SEARCH audit_events USING INTEGER PRIMARY KEY (rowid>?'))).toBe(true);
      expect(steps.filter((s) => /^SCAN (audit_events|e)$/.test(s) || /USING INDEX/.test(s))).toEqual([]);
    }
    for (const filter of [{ agentId: 'a' }, { agentId: 'a', type: 'model.call', beforeSeq: 10 }, { agentId: 'a', type: 'model.*', order: 'asc' as const, since: 5 }]) {
      const steps = plan(eventsByIndexQuery(filter, 100)!);
      expect(steps.some((s) => s.startsWith('SEARCH k USING PRIMARY KEY (agent_id=?'))).toBe(true);
      expect(steps.some((s) => s.startsWith('SEARCH audit_events USING INTEGER PRIMARY KEY (rowid>?'))).toBe(true);
      expect(steps.filter((s) => /^SCAN (audit_events|e)$/.test(s) || /USING INDEX/.test(s))).toEqual([]);
    }
    for (const [filter, key] of [[{ sessionId: 's', agentId: 'a', since: 5, limit: 10 }, 'session_id'], [{ agentId: 'a', teamId: 't' }, 'agent_id'], [{ teamId: 't', since: 5 }, 'team_id']] as const) {
      const usage = plan(usageByIndexQuery(filter)!);
      expect(usage.some((s) => s.startsWith(`SEARCH k USING PRIMARY KEY (${key}=?`))).toBe(true);
      expect(usage.some((s) => s.startsWith('SEARCH usage_records USING INTEGER PRIMARY KEY (rowid>?'))).toBe(true);
      expect(usage.filter((s) => /^SCAN (usage_records|u)$/.test(s) || /USING INDEX (?!sqlite_autoindex_usage_records_1 \(id=\?\))/.test(s))).toEqual([]);
    }
    // A period's spend: its quarter hours, and the lines of the part before the first whole one.
    for (const [filter, key] of [[{ agentId: 'a' }, 'agent_id'], [{ teamId: 't' }, 'team_id']] as const) {
      const spend = plan(spendSinceQuery(filter, 1_234_567));
      expect(spend.some((s) => s.startsWith('SEARCH spend_buckets USING INDEX spend_buckets_subject (level=? AND subject=? AND start>?'))).toBe(true);
      expect(spend.some((s) => s.startsWith(`SEARCH k USING PRIMARY KEY (${key}=? AND created_at>? AND created_at<?`))).toBe(true);
      expect(spend.filter((s) => /^SCAN (?!\(subquery)/.test(s) || /USING INDEX (?!sqlite_autoindex_usage_records_1 \(id=\?\)|spend_buckets_subject)/.test(s))).toEqual([]);
      expect(plan(spendSinceQuery(filter, 900_000)).filter((s) => /usage_records|\bk\b/.test(s))).toEqual([]);
    }
    db.close();
  });

  it('upgrading a version-11 file indexes what it holds by session and drops the per-commit indexes', async () => {
    const path = tempPath();
    const old = fileAtVersion(path, 11);
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

  it('upgrading a version-12 file indexes its events by agent and type up to the mark and drops the per-commit indexes', async () => {
    const path = tempPath();
    const old = fileAtVersion(path, 12);
    const insert = old.prepare('INSERT INTO audit_events (id, time, type, actor, agent_id, session_id, data) VALUES (?, ?, ?, ?, ?, ?, ?)');
    for (let n = 0; n < 40; n++) insert.run(`evt_${n}`, n, 'tool.called', 'system', n % 5 === 0 ? null : `agt_${n % 2}`, null, '{}');
    // A pass had indexed the first 25 events when the file was left.
    old.exec("UPDATE session_index_marks SET upto = 25 WHERE name = 'audit_events'");
    old.close();

    const { store, db } = await upgrade(path, ['audit_agent', 'audit_type']);
    // Up to the mark in the index; above it, found by the scan until a pass takes them.
    expect(db.prepare('SELECT seq FROM audit_agent_index WHERE agent_id = ? ORDER BY seq').pluck().all('agt_1')).toEqual([2, 4, 8, 10, 12, 14, 18, 20, 22, 24]);
    const expected = Array.from({ length: 40 }, (_, n) => n).filter((n) => n % 5 !== 0 && n % 2 === 1).reverse();
    expect((await store.listEvents({ agentId: 'agt_1', limit: 100 })).map((e) => e.time)).toEqual(expected);
    // By type likewise (migration 14): the 25 events up to the mark in the index, all 40 found.
    expect((db.prepare('SELECT COUNT(*) AS n FROM audit_type_index').get() as { n: number }).n).toBe(25);
    expect((await store.listEvents({ type: 'tool.called', limit: 100 })).length).toBe(40);
    await store.close();
    db.close();
  });

  it('upgrading a version-14 file sums its spend lines into quarter hours and indexes them by agent and team up to the mark', async () => {
    const path = tempPath();
    const old = fileAtVersion(path, 14);
    // The lines alone: their session, agents and teams are not what is tested.
    old.pragma('foreign_keys = OFF');
    const insert = old.prepare(`INSERT INTO usage_records (id, request_id, session_id, agent_id, team_id, profile_id, model, provider, api, stream, input_tokens, output_tokens,
      cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_usd_nano, estimated, outcome, http_status, latency_ms, created_at) VALUES (?, 'r', 'ses_1', ?, ?, 'prof_1', 'm', 'p', 'a', 0, ?, 1, 0, 0, 0, ?, 0, 'ok', 200, 1, ?)`);
    // 30 lines over three quarter hours, two agents and two teams.
    const lines = Array.from({ length: 30 }, (_, n) => ({ id: `use_${String(n).padStart(2, '0')}`, agent: `agt_${n % 2}`, team: n < 20 ? 'team_1' : 'team_2', input: n, usd: 100 * n, at: 450_000 * n }));
    for (const l of lines) insert.run(l.id, l.agent, l.team, l.input, l.usd, l.at);
    // A pass had indexed the first 18 lines when the file was left.
    old.exec("UPDATE session_index_marks SET upto = 18 WHERE name = 'usage_records'");
    old.close();

    const { store, db } = await upgrade(path, ['usage_agent', 'usage_team']);
    expect((db.prepare('SELECT COUNT(*) AS n FROM usage_agent_index').get() as { n: number }).n).toBe(18);
    expect((db.prepare('SELECT COUNT(*) AS n FROM usage_team_index').get() as { n: number }).n).toBe(18);
    const sum = (match: (l: (typeof lines)[number]) => boolean, since: number) => lines.filter((l) => match(l) && l.at >= since)
      .reduce((t, l) => ({ tokens: t.tokens + l.input + 1, usdNano: t.usdNano + l.usd }), { tokens: 0, usdNano: 0 });
    for (const since of [0, 450_000, 900_000, 5_000_000, 9_000_000]) {
      expect(await store.spendSince({ agentId: 'agt_1' }, since)).toEqual(sum((l) => l.agent === 'agt_1', since));
      expect(await store.spendSince({ teamId: 'team_2' }, since)).toEqual(sum((l) => l.team === 'team_2', since));
    }
    expect((await store.listUsage({ agentId: 'agt_0', limit: 100 })).map((l) => l.id)).toEqual(lines.filter((l) => l.agent === 'agt_0').map((l) => l.id).reverse());
    await store.close();
    db.close();
  });
});
