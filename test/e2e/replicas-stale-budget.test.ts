// Two real gateway processes on one PostgreSQL schema, driven with the official OpenAI client:
// when one replica spends on a session, the other's copy of the session's account is stale. A call
// there must still be capped to what the store's budget can pay for (never refused 402 on the
// stale copy while a smaller call fits), a real exhaustion must still answer 402 budget_exceeded,
// and the admin views of the session (one and the list) must show the store's numbers on either
// replica.
import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PG_URL, postgresProblem, schemaPool } from '../helpers/postgres.js';
import { cliRunner, type ServeProcess } from '../helpers/process.js';
import { replicaDir, replicaHarness, writeReplicaConfig, type ReplicaSetUp } from '../helpers/replicas.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const problem = await postgresProblem('the stale-budget replica tests');
const schemas = schemaPool('tollgate_stale');
const ADMIN = 'tga_stale-budget-test';
// gpt-4o-mini as configured below: $0.15 / $0.60 per million tokens, in nano-USD per token.
const OUTPUT_NANO = 600;

/** Heartbeats every 5 s: a replica stays live through the tests' pauses. */
const setUp = (url: string, schema: string, replicaId?: string): ReplicaSetUp => ({
  url, schema, replicaTimeoutSeconds: 15, resyncSeconds: 60, poolSize: 4, postgres: replicaId ? `, replica_id: ${replicaId}` : '',
});
const { serve, admin, client } = replicaHarness(ADMIN);

interface Answer {
  status: number;
  code?: string;
  outputTokens?: number;
  cap?: number;
  remainingNano?: number;
}

const nanoOf = (usd: string | null | undefined) => (usd ? Math.round(Number(usd) * 1e9) : undefined);

/** One chat call through the official client; its status, and the caps and figures it was given. */
async function chat(c: OpenAI, content: string, maxTokens?: number): Promise<Answer> {
  try {
    const { data, response } = await c.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }) })
      .withResponse();
    const cap = response.headers.get('x-tollgate-max-output-tokens');
    return { status: 200, outputTokens: data.usage?.completion_tokens, cap: cap === null ? undefined : Number(cap), remainingNano: nanoOf(response.headers.get('x-tollgate-budget-remaining-usd')) };
  } catch (err) {
    if (err instanceof OpenAI.APIError) return { status: err.status ?? 0, code: String(err.code), remainingNano: nanoOf(err.headers?.get('x-tollgate-budget-remaining-usd')) };
    throw err;
  }
}

/** The session's account as the database has it (nano-USD). */
async function accountOf(schema: string, sessionId: string): Promise<{ budget: number; spent: number; reserved: number }> {
  const db = new pg.Client({ connectionString: PG_URL });
  await db.connect();
  try {
    const { rows } = await db.query(`SELECT budget_usd_nano::float8 AS budget, spent_usd_nano::float8 AS spent, reserved_usd_nano::float8 AS reserved FROM ${pg.escapeIdentifier(schema)}.budget_accounts WHERE key = $1`, [sessionId]);
    return rows[0] as { budget: number; spent: number; reserved: number };
  } finally {
    await db.end();
  }
}

/** When replica `id` last beat (a beat is three round trips: counted apart from a call's). */
async function heartbeatOf(schema: string, id: string): Promise<number> {
  const db = new pg.Client({ connectionString: PG_URL });
  await db.connect();
  try {
    const { rows } = await db.query(`SELECT heartbeat_at::float8 AS at FROM ${pg.escapeIdentifier(schema)}.replicas WHERE id = $1`, [id]);
    return (rows[0] as { at: number }).at;
  } finally {
    await db.end();
  }
}
const BEAT_TRIPS = 3;

/** Both replicas' queued writes committed: an answer may leave before its line (storage.answer_after: hold). */
const settled = (...replicas: ServeProcess[]) => Promise.all(replicas.map((p) => admin(p.url, 'GET', '/admin/v1/whoami')));

(problem === null ? describe : describe.skip)('a replica whose copy of a session budget is stale (PostgreSQL)', () => {
  const running: ServeProcess[] = [];
  afterAll(async () => {
    await Promise.all(running.map((p) => p.stop('SIGKILL')));
    await schemas.dropAll();
  });

  it('caps a call to what the store has left after another replica spent, refuses only a real exhaustion (402), and shows the store\'s numbers on every replica', { timeout: 90_000 }, async () => {
    const schema = schemas.fresh();
    const dir = replicaDir(setUp(PG_URL, schema));
    const a = await serve(dir);
    running.push(a);
    const b = await serve(dir);
    running.push(b);

    const budgetNano = 1_000_000; // $0.001
    const opened = await admin(a.url, 'POST', '/admin/v1/sessions', { agent: 'a', task: 'stale copy', budget: { usd: budgetNano / 1e9 } });
    const id = opened.session.id as string;
    const token = opened.token as string;
    const onA = client(a.url, token);
    const onB = client(b.url, token);

    // A loads the account and spends a little; then B spends most of the budget.
    expect(await chat(onA, 'hello [[sim:tokens=5]]', 20)).toMatchObject({ status: 200 });
    expect(await chat(onB, 'spend most [[sim:tokens=1400]]', 1400)).toMatchObject({ status: 200, outputTokens: 1400 });
    await settled(a, b);
    const afterB = await accountOf(schema, id);
    expect(afterB.reserved).toBe(0);
    const left = budgetNano - afterB.spent;
    expect(left).toBeGreaterThan(100 * OUTPUT_NANO); // room for a capped call of 100+ tokens
    expect(left).toBeLessThan(400 * OUTPUT_NANO);

    // No max_tokens, on A: capped from what the store has left — served, not refused.
    const capped = await chat(onA, 'now write as much as you can [[sim:tokens=3000]]');
    console.log(`after B spent $${(afterB.spent / 1e9).toFixed(9)}: A answered ${capped.status}, cap ${capped.cap} tokens, remaining header $${((capped.remainingNano ?? 0) / 1e9).toFixed(9)} (store: $${(left / 1e9).toFixed(9)})`);
    expect(capped.status).toBe(200);
    expect(capped.remainingNano).toBe(left);
    expect(capped.cap).toBeGreaterThan(0);
    expect(capped.cap! * OUTPUT_NANO).toBeLessThanOrEqual(left);
    expect(capped.outputTokens).toBe(capped.cap);

    // The budget is now spent down to less than a few output tokens.
    await settled(a, b);
    const afterA = await accountOf(schema, id);
    expect(afterA.spent).toBeLessThanOrEqual(budgetNano); // never an overspend
    expect(budgetNano - afterA.spent).toBeLessThan(OUTPUT_NANO * 3);
    // The admin views on B (which has not served the session since A spent) show the store's numbers.
    const leftNow = budgetNano - afterA.spent;
    const shownOnB = await admin(b.url, 'GET', `/admin/v1/sessions/${id}`);
    expect(nanoOf(String(shownOnB.spent.usd))).toBe(afterA.spent);
    expect(nanoOf(String(shownOnB.remaining.usd))).toBe(leftNow);
    const listedOnB = (await admin(b.url, 'GET', '/admin/v1/sessions')).data.find((s: { id: string }) => s.id === id);
    expect(nanoOf(String(listedOnB.spent.usd))).toBe(afterA.spent);
    expect(nanoOf(String(listedOnB.remaining.usd))).toBe(leftNow);
    const cli = cliRunner(b.url, dir, { TOLLGATE_ADMIN_TOKEN: ADMIN });
    const shownByCli = JSON.parse((await cli('session', 'show', id, '--json')).stdout);
    expect(nanoOf(String(shownByCli.remaining.usd))).toBe(leftNow);

    // B's copy still has room for ~250 tokens; the store has none: a real exhaustion, 402 budget_exceeded (never 429).
    const refused = await chat(onB, 'now write as much as you can [[sim:tokens=3000]]');
    expect(refused).toMatchObject({ status: 402, code: 'budget_exceeded' });
    const again = await chat(onA, 'once more [[sim:tokens=3000]]');
    expect(again).toMatchObject({ status: 402, code: 'budget_exceeded' });

    // Both replicas' views agree with the store and with each other.
    await settled(a, b);
    const final = await accountOf(schema, id);
    for (const p of [a, b]) {
      const shown = await admin(p.url, 'GET', `/admin/v1/sessions/${id}`);
      const listed = (await admin(p.url, 'GET', '/admin/v1/sessions')).data.find((s: { id: string }) => s.id === id);
      for (const view of [shown, listed]) {
        expect(nanoOf(String(view.spent.usd))).toBe(final.spent);
        expect(nanoOf(String(view.reserved.usd))).toBe(0);
        expect(nanoOf(String(view.remaining.usd))).toBe(budgetNano - final.spent);
      }
    }
  });

  it('adds no database round trip to a call no other replica touched, one reservation to a call the database refused on a stale copy, and serves capped calls back to back', { timeout: 90_000 }, async () => {
    const schema = schemas.fresh();
    const dir = replicaDir(setUp(PG_URL, schema));
    // A reaches the database through a counting proxy, B directly (B starts first: it creates
    // the master key in the directory both share).
    const proxy = await TcpProxy.start(new URL(PG_URL));
    const b = await serve(dir);
    running.push(b);
    writeReplicaConfig(dir, setUp(proxy.via(PG_URL), schema, 'rep-a'));
    const aProxied = await serve(dir);
    running.push(aProxied);

    const opened = await admin(aProxied.url, 'POST', '/admin/v1/sessions', { agent: 'a', task: 'round trips', budget: { usd: 0.02 } });
    const id = opened.session.id as string;
    const onA = client(aProxied.url, opened.token as string);
    const onB = client(b.url, opened.token as string);
    expect(await chat(onA, 'warm [[sim:tokens=5]]', 20)).toMatchObject({ status: 200 });
    await settled(aProxied);
    // Round trips of what A sent since `mark()`, once the last answer's line is committed — less
    // A's heartbeat if it beat meanwhile.
    let from = 0;
    let beatAt = 0;
    const mark = async () => {
      beatAt = await heartbeatOf(schema, 'rep-a');
      from = proxy.roundTrips;
    };
    const tripsSince = async () => {
      await new Promise((r) => setTimeout(r, 300));
      const trips = proxy.roundTrips - from;
      return (await heartbeatOf(schema, 'rep-a')) === beatAt ? trips : trips - BEAT_TRIPS;
    };

    // Calls no other replica touched, with room to spare: the round trips of a call.
    const n = 30;
    await mark();
    for (let i = 0; i < n; i++) expect({ i, ...(await chat(onA, `alone ${i} [[sim:tokens=5]]`, i % 2 ? 20 : undefined)) }).toMatchObject({ i, status: 200 });
    const perCall = (await tripsSince()) / n;
    console.log(`A alone: ${perCall.toFixed(2)} database round trips per call`);
    expect(perCall).toBeLessThanOrEqual(3.2); // reserve, spend line (with its settle), audit event

    // After a small call on B, a call on A that fits its copy: the reference (A's audit append
    // then also finds the shared chain moved on: a retry, counted in both).
    expect(await chat(onB, 'small [[sim:tokens=5]]', 20)).toMatchObject({ status: 200 });
    await settled(b);
    await mark();
    expect(await chat(onA, 'fits [[sim:tokens=5]]', 20)).toMatchObject({ status: 200 });
    const refTrips = await tripsSince();

    // B spends most of it; A's next call, priced on its stale copy, is refused by the database,
    // priced again from the refusal's answer and reserved once more: served, capped — at the
    // cost of that one reservation more, and no read.
    const account = await accountOf(schema, id);
    const toSpend = Math.floor((account.budget - account.spent - 3_000 * OUTPUT_NANO) / OUTPUT_NANO);
    expect(await chat(onB, `spend [[sim:tokens=${toSpend}]]`, toSpend)).toMatchObject({ status: 200, outputTokens: toSpend });
    await settled(b);
    await mark();
    const capped = await chat(onA, 'as much as you can [[sim:tokens=5]]');
    const staleTrips = await tripsSince();
    console.log(`A after B's small call: ${refTrips} round trips; on a copy B's spend made stale: ${staleTrips} (cap ${capped.cap} tokens)`);
    expect(capped.status).toBe(200);
    expect(capped.cap).toBeLessThanOrEqual(3_000);
    expect(staleTrips).toBeLessThanOrEqual(refTrips + 1);

    // Calls without max_tokens in what is left: each is capped to all of it, and the next one
    // reserves while the last one's line may still be on its way — A's own copy is then ahead
    // of the database. Every one is served.
    await mark();
    const back = [];
    for (let i = 0; i < 10; i++) back.push(await chat(onA, `back to back ${i} [[sim:tokens=5]]`));
    const backTrips = (await tripsSince()) / 10;
    console.log(`A back to back, each capped to all that is left: ${backTrips.toFixed(2)} round trips per call; caps ${back.map((r) => r.cap).join(' ')}`);
    expect(back.map((r) => r.status)).toEqual(Array(10).fill(200));
    proxy.cut();
  });
});
