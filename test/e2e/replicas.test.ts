// Three real gateway processes on one PostgreSQL schema, driven with the official OpenAI client:
// one session budget is exact across them, a revocation on one is honoured by the others within a
// second, a replica killed mid-stream leaves a ledger that balances, and a cut database makes the
// data plane fail closed (503 store_unavailable) and recover on its own.
import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { POSTGRES_MIGRATIONS } from '../../src/store/postgres/index.js';
import { PG_URL, postgresProblem, schemaPool } from '../helpers/postgres.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CLI, cleanEnv, type ServeProcess } from '../helpers/process.js';
import { replicaDir, replicaHarness } from '../helpers/replicas.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const problem = await postgresProblem('the replica tests');
const schemas = schemaPool('tollgate_replicas');
const ADMIN = 'tga_replicas-test';
const execFileAsync = promisify(execFile);

/** A directory with a config on `url` and `schema` (more `storage.postgres` keys in `postgres`). */
const gatewayDir = (url: string, schema: string, postgres = '') => replicaDir({
  url, schema, replicaTimeoutSeconds: 2, resyncSeconds: 5, poolSize: 8, postgres,
  profiles: ['{ name: soft, models: [gpt-4o-mini], session_budget: { max: { usd: 10 } }, enforcement: { mode: soft, soft_threshold: 0.01, approval_hold_seconds: 20 } }'],
  agents: ['{ name: s, team: t, profile: soft }'],
});
const { serve, admin, client } = replicaHarness(ADMIN);

/** The first replica starts alone (it creates the master key in the shared data dir), the others at once. */
async function replicas(dir: string, n: number): Promise<ServeProcess[]> {
  const first = await serve(dir);
  return [first, ...(await Promise.all(Array.from({ length: n - 1 }, () => serve(dir))))];
}

/**
 * Once the database is back: calls until one is served (for at most `ms`), then checks that the
 * outage lost and doubled nothing — the refused calls left no hold and no line.
 */
async function servedAgainAndSettled(gw: ServeProcess, c: OpenAI, schema: string, sessionId: string, ms: number) {
  const back = Date.now();
  let r = await call(c, 'after [[sim:tokens=5]]');
  while (r.status !== 200 && Date.now() - back < ms) {
    await new Promise((res) => setTimeout(res, 200));
    r = await call(c, 'after [[sim:tokens=5]]');
  }
  expect(r.status).toBe(200);
  // An admin read first: the last answer's line commits after it (storage.answer_after: hold).
  await admin(gw.url, 'GET', '/admin/v1/whoami');
  const ledger = await ledgerOf(schema, sessionId);
  expect(ledger.holds).toBe(0);
  expect(ledger.account).toEqual({ spent: ledger.lines.usd, reserved: 0 });
  return ledger;
}

/** One call; its HTTP status (200, or the refusal's). */
async function call(c: OpenAI, content: string, maxTokens = 50): Promise<{ status: number; code?: string }> {
  try {
    await c.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: maxTokens, messages: [{ role: 'user', content }] });
    return { status: 200 };
  } catch (err) {
    if (err instanceof OpenAI.APIError) return { status: err.status ?? 0, code: String(err.code) };
    throw err;
  }
}

async function ledgerOf(schema: string, sessionId: string) {
  const db = new pg.Client({ connectionString: PG_URL });
  await db.connect();
  try {
    // One snapshot for all four reads: calls still settling must not land between two of them.
    await db.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const s = pg.escapeIdentifier(schema);
    const account = (await db.query(`SELECT spent_usd_nano::float8 AS spent, reserved_usd_nano::float8 AS reserved FROM ${s}.budget_accounts WHERE key = $1`, [sessionId])).rows[0] as { spent: number; reserved: number };
    const lines = (await db.query(`SELECT count(*)::int AS n, coalesce(sum(cost_usd_nano), 0)::float8 AS usd, count(*) FILTER (WHERE outcome = 'reconciled')::int AS reconciled, count(DISTINCT request_id)::int AS requests FROM ${s}.usage_records WHERE session_id = $1`, [sessionId])).rows[0] as { n: number; usd: number; reconciled: number; requests: number };
    const session = (await db.query(`SELECT spent_usd_nano::float8 AS usd, spent_requests::int AS requests FROM ${s}.sessions WHERE id = $1`, [sessionId])).rows[0] as { usd: number; requests: number };
    const holds = (await db.query(`SELECT count(*)::int AS n FROM ${s}.reservations`)).rows[0] as { n: number };
    await db.query('COMMIT');
    return { account, lines, session, holds: holds.n };
  } finally {
    await db.end();
  }
}

(problem === null ? describe : describe.skip)('several replicas on one PostgreSQL', () => {
  const running: ServeProcess[] = [];
  afterAll(async () => {
    await Promise.all(running.map((p) => p.stop('SIGKILL')));
    await schemas.dropAll();
  });

  it('tollgate migrate applies each version once when run twice at once, then reports up to date', { timeout: 60_000 }, async () => {
    const schema = schemas.fresh();
    const dir = gatewayDir(PG_URL, schema);
    const migrate = () => execFileAsync(process.execPath, [CLI, 'migrate', '--config', 'tollgate.yaml'], { cwd: dir, env: cleanEnv() });
    const [one, two] = await Promise.all([migrate(), migrate()]);
    // One applied everything (it took the lock first); the other, waiting on the lock, found nothing left.
    const outs = [one.stdout, two.stdout];
    const all = POSTGRES_MIGRATIONS.map((m) => m.version);
    expect(outs.filter((o) => o.endsWith(`applied ${all.join(', ')}\n`))).toHaveLength(1);
    expect(outs.filter((o) => /up to date\n$/.test(o))).toHaveLength(1);
    const db = new pg.Client({ connectionString: PG_URL });
    await db.connect();
    const versions = (await db.query(`SELECT version FROM ${pg.escapeIdentifier(schema)}.schema_migrations ORDER BY version`)).rows.map((r: { version: number }) => r.version);
    await db.end();
    expect(versions).toEqual(all);
    expect((await migrate()).stdout).toMatch(/up to date/);
  });

  it('keeps one session budget exact across three replicas, honours a revocation on all within a second, and balances after a kill -9', { timeout: 120_000 }, async () => {
    const schema = schemas.fresh();
    const dir = gatewayDir(PG_URL, schema);
    const [a, b, c] = await replicas(dir, 3);
    running.push(a!, b!, c!);

    // 330 calls, 110 per replica, against one session that can pay for about 220: 30, then 300 at once.
    // Each asks for exactly the output the simulator writes, so a hold is close to the charge.
    const budgetUsd = 0.0135;
    const opened = await admin(a!.url, 'POST', '/admin/v1/sessions', { agent: 'a', task: 'replicas', budget: { usd: budgetUsd } });
    const token = opened.token as string;
    const clients = [a!, b!, c!].map((p) => client(p.url, token));
    const burst = (from: number, n: number) => Promise.all(Array.from({ length: n }, (_, k) => call(clients[(from + k) % 3]!, `call ${from + k} [[sim:tokens=100]]`, 100)));
    // The first 30 (10 per replica, well inside the budget) must all be served: every replica
    // spends from the one account. (In one burst of 330, a replica still opening its database
    // connections could find the budget already spent by the other two.)
    const opening = await burst(0, 30);
    expect(opening.map((r) => r.status)).toEqual(Array(30).fill(200));
    const results = [...opening, ...(await burst(30, 300))];
    const ok = results.filter((r) => r.status === 200).length;
    const refused = results.filter((r) => r.status === 402);
    expect(ok + refused.length).toBe(330); // nothing else: no 5xx, no 429
    expect(refused.every((r) => r.code === 'budget_exceeded')).toBe(true);
    // An answer may leave before its line commits (storage.answer_after: hold): an admin request
    // to each replica first lets its queued writes commit.
    await Promise.all([a!, b!, c!].map((p) => admin(p.url, 'GET', '/admin/v1/whoami')));
    const ledger = await ledgerOf(schema, opened.session.id);
    const budgetNano = budgetUsd * 1e9;
    console.log(`330 calls over 3 replicas: ${ok} served, ${refused.length} refused (402); charged ${(100 * ledger.lines.usd / budgetNano).toFixed(1)} % of the budget`);
    expect(ledger.lines.usd).toBeLessThanOrEqual(budgetNano); // no overspend across replicas
    expect(ledger.lines.usd).toBeGreaterThanOrEqual(0.9 * budgetNano); // and the budget was used
    expect(ledger.lines.n).toBe(ok);
    expect(ledger.account).toEqual({ spent: ledger.lines.usd, reserved: 0 });
    expect(ledger.session.usd).toBe(ledger.lines.usd);

    // Revocation: B and C have the session cached (they just served it); A revokes it.
    const second = await admin(a!.url, 'POST', '/admin/v1/sessions', { agent: 'a', task: 'to revoke', budget: { usd: 1 } });
    const [onB, onC] = [b!, c!].map((p) => client(p.url, second.token as string));
    expect((await call(onB!, 'warm [[sim:tokens=5]]')).status).toBe(200);
    expect((await call(onC!, 'warm [[sim:tokens=5]]')).status).toBe(200);
    // A stream of that session in flight on B: the revocation on A cuts it too (the change feed).
    const onBStream = await fetch(`${b!.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${second.token as string}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, max_tokens: 300, messages: [{ role: 'user', content: 'slow [[sim:tokens=300]] [[sim:tokens_per_second=50]]' }] }),
    });
    expect(onBStream.status).toBe(200);
    const reader = onBStream.body!.getReader();
    let streamed = new TextDecoder().decode((await reader.read()).value); // the stream is running
    const streamOnB = (async () => {
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) streamed += new TextDecoder().decode(chunk.value);
      return { text: streamed, endedAt: performance.now() };
    })();
    const revokedAt = performance.now();
    await admin(a!.url, 'POST', `/admin/v1/sessions/${second.session.id}/revoke`, { reason: 'test' });
    const cut = await streamOnB;
    expect(cut.text).toContain('chat.completion.chunk');
    expect(cut.endedAt - revokedAt).toBeLessThan(2_000);
    expect(cut.text).toContain('session_inactive');
    expect(cut.text).not.toContain('[DONE]');
    const refusedWithin = async (c2: OpenAI) => {
      for (;;) {
        const r = await call(c2, 'after revoke [[sim:tokens=5]]');
        if (r.status !== 200) {
          expect(r.status).toBe(401);
          return performance.now() - revokedAt;
        }
        if (performance.now() - revokedAt > 5_000) throw new Error('still served 5 s after the revocation');
      }
    };
    const delays = await Promise.all([refusedWithin(onB!), refusedWithin(onC!)]);
    console.log(`revocation on A refused on B after ${delays[0].toFixed(0)} ms, on C after ${delays[1].toFixed(0)} ms`);
    for (const d of delays) expect(d).toBeLessThan(1_000);

    // kill -9 one replica with slow streams in flight on it; the others keep serving.
    const third = await admin(a!.url, 'POST', '/admin/v1/sessions', { agent: 'a', task: 'crash', budget: { usd: 1 } });
    const streamOn = (p: ServeProcess, i: number) => fetch(`${p.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${third.token as string}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, max_tokens: 300, messages: [{ role: 'user', content: `slow ${i} [[sim:tokens=300]] [[sim:tokens_per_second=50]]` }] }),
    }).then(async (res) => {
      const reader = res.body!.getReader();
      for (;;) if ((await reader.read()).done) break;
      return 'done';
    }).catch(() => 'cut');
    const onC3 = Array.from({ length: 8 }, (_, i) => streamOn(c!, i));
    const onAB = Array.from({ length: 6 }, (_, i) => streamOn(i % 2 ? a! : b!, 100 + i));
    await new Promise((r) => setTimeout(r, 1_000));
    await c!.stop('SIGKILL');
    expect(await Promise.all(onC3)).toContain('cut');
    expect(new Set(await Promise.all(onAB))).toEqual(new Set(['done'])); // the survivors finished theirs
    // A survivor settles C's holds once C has missed its heartbeats (replica_timeout_seconds: 2).
    const deadline = Date.now() + 15_000;
    let after = await ledgerOf(schema, third.session.id);
    while (after.holds > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      after = await ledgerOf(schema, third.session.id);
    }
    expect(after.holds).toBe(0);
    expect(after.lines.reconciled).toBeGreaterThan(0);
    expect(after.lines.requests).toBe(after.lines.n); // one line per call: nothing charged twice
    expect(after.account).toEqual({ spent: after.lines.usd, reserved: 0 }); // the ledger balances
    expect(after.session).toEqual({ usd: after.lines.usd, requests: after.lines.n });
    // C restarts: nothing more is charged, and the one audit chain of all replicas verifies.
    const restarted = await serve(dir);
    running.push(restarted);
    await new Promise((r) => setTimeout(r, 500));
    expect(await ledgerOf(schema, third.session.id)).toEqual(after);
    const verified = await admin(restarted.url, 'GET', '/admin/v1/audit/verify');
    expect(verified).toMatchObject({ ok: true });
  });

  it('wakes a call held for a human on one replica when another decides', { timeout: 60_000 }, async () => {
    const dir = gatewayDir(PG_URL, schemas.fresh());
    const [a, b] = await replicas(dir, 2);
    running.push(a!, b!);
    const opened = await admin(a!.url, 'POST', '/admin/v1/sessions', { agent: 's', task: 'soft', budget: { usd: 0.01 } });
    // Held on B: the first call already crosses the 1 % threshold (its worst case is ~2.5 %).
    const held = call(client(b!.url, opened.token as string), 'please [[sim:tokens=400]]', 400);
    let pending: { id: string }[] = [];
    for (let i = 0; i < 50 && pending.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      pending = (await admin(a!.url, 'GET', '/admin/v1/approvals?status=pending')).data;
    }
    expect(pending).toHaveLength(1);
    const decidedAt = performance.now();
    await admin(a!.url, 'POST', `/admin/v1/approvals/${pending[0]!.id}/approve`, { reason: 'fine' });
    expect(await held).toEqual({ status: 200 });
    expect(performance.now() - decidedAt).toBeLessThan(2_000); // woken, not timed out (20 s)
    // B's gate follows the decision: the next call needs no approval either.
    expect(await call(client(b!.url, opened.token as string), 'again [[sim:tokens=20]]', 20)).toEqual({ status: 200 });
  });

  it('never refuses or cuts a call on a stale copy of the budget: another replica\'s settled hold no longer counts', { timeout: 60_000 }, async () => {
    const dir = gatewayDir(PG_URL, schemas.fresh());
    const [a, b] = await replicas(dir, 2);
    running.push(a!, b!);
    const opened = await admin(a!.url, 'POST', '/admin/v1/sessions', { agent: 'a', task: 'stale', budget: { tokens: 400 } });
    const token = opened.token as string;
    // A holds most of the budget while it is upstream; B reserves meanwhile, and its copy of the
    // account learns of A's hold from the database's answer.
    const slow = call(client(a!.url, token), 'slow [[sim:latency_ms=1500]] [[sim:tokens=20]]', 250);
    await new Promise((r) => setTimeout(r, 500));
    expect(await call(client(b!.url, token), 'quick [[sim:tokens=5]]', 30)).toEqual({ status: 200 });
    expect(await slow).toEqual({ status: 200 });
    await admin(a!.url, 'GET', '/admin/v1/whoami');
    // A's hold is settled in the database: B shows it so, and serves a call that only fits without it, uncut.
    const shown = await admin(b!.url, 'GET', `/admin/v1/sessions/${opened.session.id}`);
    expect(shown.reserved.tokens).toBe(0);
    const res = await fetch(`${b!.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 200, messages: [{ role: 'user', content: 'after [[sim:tokens=5]]' }] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tollgate-output-clamped')).toBeNull();
    await res.arrayBuffer();
  });

  it('fails closed with 503 store_unavailable while the database is cut, and recovers by itself', { timeout: 60_000 }, async () => {
    const schema = schemas.fresh();
    const proxy = await TcpProxy.start(new URL(PG_URL));
    const dir = gatewayDir(proxy.via(PG_URL), schema);
    const gw = await serve(dir);
    running.push(gw);
    const opened = await admin(gw.url, 'POST', '/admin/v1/sessions', { agent: 'a', task: 'outage', budget: { usd: 1 } });
    const c = client(gw.url, opened.token as string);
    expect((await call(c, 'before [[sim:tokens=5]]')).status).toBe(200);

    proxy.cut();
    const during = await call(c, 'during [[sim:tokens=5]]');
    expect(during).toEqual({ status: 503, code: 'store_unavailable' });
    await new Promise((r) => setTimeout(r, 500));
    expect(await call(c, 'still down [[sim:tokens=5]]')).toEqual({ status: 503, code: 'store_unavailable' });

    await proxy.resume();
    const ledger = await servedAgainAndSettled(gw, c, schema, opened.session.id, 15_000);
    expect(ledger.lines.n).toBeGreaterThanOrEqual(2);
    await gw.stop();
    proxy.cut();
  });

  it('fails closed within its statement timeout when the database stops answering without closing, and recovers', { timeout: 90_000 }, async () => {
    const schema = schemas.fresh();
    const proxy = await TcpProxy.start(new URL(PG_URL));
    const gw = await serve(gatewayDir(proxy.via(PG_URL), schema, ', statement_timeout_ms: 1000'));
    running.push(gw);
    const opened = await admin(gw.url, 'POST', '/admin/v1/sessions', { agent: 'a', task: 'paused', budget: { usd: 1 } });
    const c = client(gw.url, opened.token as string);
    expect((await call(c, 'before [[sim:tokens=5]]')).status).toBe(200);

    // The server neither answers nor closes: only the client's own timeout can end the wait.
    proxy.pause();
    const asked = Date.now();
    expect(await call(c, 'during [[sim:tokens=5]]')).toEqual({ status: 503, code: 'store_unavailable' });
    expect(Date.now() - asked).toBeLessThan(15_000);

    proxy.unpause();
    // The reservation the pause left unanswered held nothing once it was released.
    await servedAgainAndSettled(gw, c, schema, opened.session.id, 20_000);
    await gw.stop();
    proxy.cut();
  });
});
