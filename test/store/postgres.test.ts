// The Store contract against a real PostgreSQL, plus what only a shared, networked store must get
// right: replicas migrating at once, concurrent batches on one session, statement timeouts.
// Every store gets a fresh random schema (dropped at the end), so tests never see each other's data.
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent, Session, Spend, Store, UsageRecord } from '../../src/store/index.js';
import { POSTGRES_MIGRATIONS, POSTGRES_ONLY, PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres/index.js';
import { SQLITE_MIGRATIONS, SQLITE_ONLY } from '../../src/store/sqlite/migrations.js';
import { storeContract } from './contract.js';
import { PG_URL, postgresProblem } from '../helpers/postgres.js';

const url = PG_URL;
const problem = await postgresProblem('the postgres Store contract suite');

const q = (identifier: string) => pg.escapeIdentifier(identifier);

function usage(sessionId: string, over: Partial<UsageRecord> = {}): UsageRecord {
  return {
    id: `use_${randomBytes(8).toString('hex')}`,
    requestId: 'req_1', sessionId, agentId: 'a', teamId: 't', profileId: 'p', model: 'm1', provider: 'sim', api: 'openai.chat',
    stream: false, inputTokens: 10, outputTokens: 5, cachedInputTokens: 2, cacheWriteTokens: 0, reasoningTokens: 1,
    costUsdNano: 1234, estimated: false, outcome: 'ok', httpStatus: 200, latencyMs: 1.5, createdAt: Date.now(), chain: [sessionId], ...over,
  };
}

/** What a session should have spent after `records`. */
function spendOf(records: readonly UsageRecord[]): Spend {
  const sum = (f: (u: UsageRecord) => number) => records.reduce((n, u) => n + f(u), 0);
  return {
    inputTokens: sum((u) => u.inputTokens),
    outputTokens: sum((u) => u.outputTokens),
    cachedInputTokens: sum((u) => u.cachedInputTokens),
    cacheWriteTokens: sum((u) => u.cacheWriteTokens),
    reasoningTokens: sum((u) => u.reasoningTokens),
    usdNano: sum((u) => u.costUsdNano),
    requests: records.length,
  };
}

/** A team, profile and agent, and `count` sessions of that agent. */
async function seed(store: Store, count = 1): Promise<Session[]> {
  const team = await store.putTeam({ name: 'support' }, 'error');
  const profile = await store.putProfile({
    name: 'bot', models: ['m1'],
    sessionBudget: { default: { tokens: null, usdNano: 1_000_000_000 }, max: { tokens: null, usdNano: 5_000_000_000 } },
    sessionTtlSeconds: { default: 60, max: 600 }, requireActorToken: false, agentBudget: null, enforcement: { mode: 'hard', threshold: 0.8, holdSeconds: 0 },
  }, 'error');
  const agent = await store.putAgent({ name: 'triage-1', teamId: team.id, profileId: profile.id, environment: 'prod' }, 'error');
  const sessions: Session[] = [];
  for (let i = 0; i < count; i++) {
    const id = `ses_${randomBytes(8).toString('hex')}`;
    sessions.push(await store.createSession({
      id, agentId: agent.id, teamId: team.id, profileId: profile.id, parentId: null, task: 'triage',
      budget: { tokens: null, usdNano: 5_000_000_000 }, models: ['m1'], context: {}, expiresAt: Date.now() + 60_000, chain: [id],
    }));
  }
  return sessions;
}

(problem === null ? describe : describe.skip)('PostgresStore', () => {
  const schemas: string[] = [];
  const admin = new pg.Pool({ connectionString: url, max: 4 });
  const opened: { close(): Promise<void> }[] = [];

  function freshSchema(): string {
    const schema = `tollgate_test_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    return schema;
  }

  /** A store on a fresh schema (or the one given), closed after the test. */
  function open(options: PostgresStoreOptions = {}): PostgresStore {
    const store = new PostgresStore({ connectionString: url, schema: freshSchema(), ...options });
    opened.push(store);
    return store;
  }

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  afterAll(async () => {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
    await admin.end();
  });

  storeContract('postgres', async () => new PostgresStore({ connectionString: url, schema: freshSchema() }));

  describe('PostgreSQL specifics', () => {
    it('waits for another replica\'s migration past the statement timeout (the client\'s read timeout is per statement, not for migrations)', { timeout: 30_000 }, async () => {
      const schema = freshSchema();
      const holder = await admin.connect();
      try {
        // Another replica's migration in progress: it holds the migration lock for 3 s.
        await holder.query(`SELECT pg_advisory_lock(hashtextextended('tollgate.migrate:' || $1::text, 0))`, [schema]);
        const store = open({ schema, statementTimeoutMs: 500 });
        const started = Date.now();
        setTimeout(() => void holder.query('SELECT pg_advisory_unlock_all()'), 3_000);
        const applied = await store.migrate();
        expect(Date.now() - started).toBeGreaterThanOrEqual(2_900);
        expect(applied.length).toBe(POSTGRES_MIGRATIONS.length);
        // Everyday statements keep their limit.
        await expect(store.query('SELECT pg_sleep(3)')).rejects.toThrow();
      } finally {
        holder.release();
      }
    });

    it('mirrors the SQLite schema: same versions, tables, columns and indexes', async () => {
      expect(POSTGRES_MIGRATIONS.map((m) => [m.version, m.name])).toEqual(SQLITE_MIGRATIONS.map((m) => [m.version, m.name]));
      const db = new Database(':memory:');
      for (const m of SQLITE_MIGRATIONS) db.exec(m.sql);
      const sqliteTables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[])
        .filter(({ name }) => !(SQLITE_ONLY.tables as readonly string[]).includes(name));
      const sqlite = {
        columns: sqliteTables.flatMap(({ name }) => (db.prepare(`PRAGMA table_info(${name})`).all() as { name: string }[]).map((c) => `${name}.${c.name}`)).sort(),
        // Named indexes only: primary keys and UNIQUE constraints are implicit in both; none of a table only SQLite has.
        indexes: (db.prepare("SELECT tbl_name AS t, tbl_name || '.' || name AS i FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").all() as { t: string; i: string }[])
          .filter((r) => !(SQLITE_ONLY.tables as readonly string[]).includes(r.t)).map((r) => r.i).sort(),
      };
      db.close();

      const schema = freshSchema();
      await open({ schema }).migrate();
      const columns = await admin.query(
        "SELECT table_name || '.' || column_name AS c FROM information_schema.columns WHERE table_schema = $1 AND table_name <> 'schema_migrations'", [schema]);
      const indexes = await admin.query(
        `SELECT i.tablename || '.' || i.indexname AS i FROM pg_indexes i
         WHERE i.schemaname = $1 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.connamespace = $1::regnamespace)`, [schema]);
      // Less what only a shared store needs (migration 9) and the session indexes SQLite keeps in
      // bulk as tables (migration 12), and only those.
      const only = (list: readonly string[]) => (name: string) => !list.includes(name);
      expect(columns.rows.map((r) => r.c).filter((c) => POSTGRES_ONLY.columns.includes(c)).sort()).toEqual([...POSTGRES_ONLY.columns].sort());
      expect(columns.rows.map((r) => r.c).filter(only(POSTGRES_ONLY.columns)).sort()).toEqual(sqlite.columns);
      expect(indexes.rows.map((r) => r.i).filter(only(POSTGRES_ONLY.indexes)).sort()).toEqual(sqlite.indexes);
    });

    it('applies each migration once when several replicas migrate at once', async () => {
      const schema = freshSchema();
      // The schema does not exist yet: creating it races too.
      const replicas = Array.from({ length: 4 }, () => open({ schema, max: 2 }));
      await Promise.all(replicas.map((s) => s.migrate()));
      await Promise.all(replicas.map((s) => s.migrate()));
      const { rows } = await admin.query(`SELECT version, count(*)::int AS n FROM ${q(schema)}.schema_migrations GROUP BY version ORDER BY version`);
      expect(rows).toEqual(POSTGRES_MIGRATIONS.map((m) => ({ version: m.version, n: 1 })));
      expect(await replicas[3]!.listTeams()).toEqual([]);
    });

    it('adds 20 concurrent batches on one session exactly, and charges a replayed record nothing', async () => {
      const store = open({ max: 20 });
      await store.migrate();
      const [session] = await seed(store);
      const batches = Array.from({ length: 20 }, (_, i) =>
        Array.from({ length: 1 + (i % 3) }, (_, j) => usage(session!.id, { inputTokens: 100 * i + j, outputTokens: i, costUsdNano: 1_000_003 * i + j })));
      const all = batches.flat();
      await Promise.all(batches.map((b) => store.recordUsage(b)));
      expect((await store.getSession(session!.id))!.spent).toEqual(spendOf(all));

      // Every batch again, concurrently; then one mixing an old record with a new one.
      await Promise.all(batches.map((b) => store.recordUsage(b)));
      expect((await store.getSession(session!.id))!.spent).toEqual(spendOf(all));
      const fresh = usage(session!.id, { inputTokens: 7 });
      await store.recordUsage([all[0]!, fresh]);
      expect((await store.getSession(session!.id))!.spent).toEqual(spendOf([...all, fresh]));
      expect(await store.listUsage({ sessionId: session!.id, limit: 1000 })).toHaveLength(all.length + 1);
    });

    it('does not deadlock batches that touch the same sessions and records in opposite orders', async () => {
      const store = open({ max: 20 });
      await store.migrate();
      const [a, b] = await seed(store, 2);
      // Batches sent twice at once (a retry racing the original) in opposite orders, so that
      // without a fixed lock order each would wait for the other, on records and on sessions.
      // Large batches make the two overlap.
      for (let round = 0; round < 5; round++) {
        const batch = Array.from({ length: 300 }, (_, i) => usage(i % 2 ? a!.id : b!.id));
        await Promise.all([store.recordUsage(batch), store.recordUsage([...batch].reverse())]);
      }
      expect((await store.getSession(a!.id))!.spent.requests).toBe(750);
      expect((await store.getSession(b!.id))!.spent.requests).toBe(750);
      // Ending overlapping sets of sessions, in opposite orders, at once: each ends exactly once.
      const ended = await Promise.all(Array.from({ length: 10 }, (_, i) => store.endSessions(i % 2 ? [a!.id, b!.id] : [b!.id, a!.id], 'closed')));
      expect(ended.flat().sort()).toEqual([a!.id, b!.id].sort());
    });

    it('cancels a statement that waits longer than statementTimeoutMs, on a pool it was given', async () => {
      const schema = freshSchema();
      const pool = new pg.Pool({ connectionString: url, max: 2 });
      // An idle connection the store did not open: it must get the store's settings all the same.
      await pool.query('SELECT 1');
      const store = new PostgresStore({ pool, schema, statementTimeoutMs: 100 });
      const locker = await admin.connect();
      try {
        await store.migrate();
        const [session] = await seed(store);
        await locker.query('BEGIN');
        await locker.query(`SELECT 1 FROM ${q(schema)}.sessions WHERE id = $1 FOR UPDATE`, [session!.id]);
        const started = Date.now();
        await expect(store.recordUsage([usage(session!.id)])).rejects.toMatchObject({ code: '57014' }); // query_canceled
        expect(Date.now() - started).toBeLessThan(3_000);
        await locker.query('ROLLBACK');
        // The connection outlives the cancel, and the cancelled batch charged nothing.
        expect((await store.getSession(session!.id))!.spent).toMatchObject({ requests: 0, usdNano: 0 });
        await store.close();
        // close() leaves a pool the store was given open.
        expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      } finally {
        locker.release();
        await store.close();
        await pool.end();
      }
    });

    it('reads BIGINT as numbers without changing pg’s global parsers', async () => {
      const store = open();
      await store.migrate();
      const [session] = await seed(store);
      const big = 2 ** 52 + 1;
      await store.recordUsage([usage(session!.id, { costUsdNano: big, createdAt: big })]);
      expect((await store.getSession(session!.id))!.spent.usdNano).toBe(big);
      expect((await store.listUsage({ sessionId: session!.id }))[0]).toMatchObject({ costUsdNano: big, createdAt: big });
      expect((await admin.query('SELECT 2::bigint AS n')).rows[0].n).toBe('2');
    });

    it('keeps audit events in the order appended, across concurrent appends', async () => {
      const store = open({ max: 8 });
      await store.migrate();
      const event = (batch: number, i: number): AuditEvent => ({
        id: `evt_${batch}_${i}`, time: 1000 + i, type: 'test.event', actor: 'system', requestId: null, agentId: null, sessionId: `s${batch}`,
        teamId: null, chain: batch % 2 ? null : [`s${batch}`], data: { i, text: 'nul \u0000 and lone \ud800 survive JSON columns' },
      });
      const batches = Array.from({ length: 8 }, (_, b) => Array.from({ length: 25 }, (_, i) => event(b, i)));
      await Promise.all(batches.map((batch) => store.appendEvents(batch)));
      for (const [b, batch] of batches.entries()) {
        // Newest first: the batch reversed.
        expect(await store.listEvents({ sessionId: `s${b}` })).toEqual([...batch].reverse());
      }
    });
  });
});
