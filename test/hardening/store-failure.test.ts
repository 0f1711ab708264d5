// A store that fails its writes (here SQLite's own SQLITE_FULL, the file held at its size with
// max_page_count — what a full disk does): no call goes upstream whose hold may not land. Calls
// are refused with 503 store_unavailable in the provider's shape, /readyz says so, one call a
// second tests the store (going upstream only once its hold is on disk), and once writes land
// again calls are served and billed as before.
import OpenAI from 'openai';
import type Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSimulatedProvider, type SimulatedProvider } from '../../src/providers/simulated/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const KEY = 'sk-store-failure-upstream';
let sim: SimulatedProvider;
let gw: TestGateway;
let db: Database.Database;
let client: OpenAI;
let sessionId: string;

beforeAll(async () => {
  sim = await createSimulatedProvider({ apiKey: KEY });
  gw = await startGateway({
    providers: [{ name: 'oai', type: 'openai', base_url: `${sim.url}/v1`, api_key_env: 'STORE_FAILURE_KEY' }],
    models: [{ name: 'gpt-4o-mini', provider: 'oai', price: { input: 0.15, output: 0.6 } }],
    mcp_servers: [],
    profiles: [{ name: 'assistant', models: ['gpt-4o-mini'] }],
    // The gateway's own connection commits, so the test can limit it (the writer thread's commits
    // go through the same write queue).
    storage: { sqlite: { write_thread: false } },
  }, { STORE_FAILURE_KEY: KEY });
  db = (gw.gateway.store as unknown as { db: Database.Database }).db;
  const session = await gw.openSession();
  sessionId = session.sessionId;
  client = new OpenAI({ apiKey: session.token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  db?.pragma('max_page_count = 1073741823');
  await gw?.close();
  await sim?.close();
});

const upstreamCalls = () => sim.requests.filter((r) => r.method === 'POST').length;
const call = async (): Promise<{ status: number; code?: string }> => {
  try {
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello [[sim:tokens=4]]' }] });
    return { status: 200 };
  } catch (err) {
    if (err instanceof OpenAI.APIError) return { status: err.status ?? 0, code: err.code ?? undefined };
    throw err;
  }
};
const ready = async () => (await fetch(`${gw.url}/readyz`)).status;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('keeps what it could not write, refuses new calls before they go upstream, and carries on once writes land', { timeout: 60_000 }, async () => {
  expect(await call()).toEqual({ status: 200 });
  // Hold the file at its size: the next write that needs a page fails with SQLITE_FULL.
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
  const answered: Promise<{ status: number; code?: string }>[] = [];
  let stuck: Promise<{ status: number; code?: string }> | null = null;
  let refusedFirst = false;
  for (let i = 0; i < 300 && !stuck && !refusedFirst; i++) {
    const p = call();
    answered.push(p);
    const answer = await Promise.race([p, sleep(400).then(() => null)]);
    // The first write that needs a page fails. If it held a call's hold, that call waits for it,
    // kept and retried; if it held an answered call's spend line and event (which write comes
    // first depends on the file's layout), the next call is refused before it goes upstream.
    if (answer === null) stuck = p;
    else if (answer.status !== 200) {
      expect(answer).toEqual({ status: 503, code: 'store_unavailable' });
      refusedFirst = true;
    }
  }
  expect(stuck !== null || refusedFirst).toBe(true);
  expect(await ready()).toBe(503);

  // Meanwhile nothing goes upstream: calls are refused at once, in the provider's shape.
  const before = upstreamCalls();
  const refused: { status: number; code?: string }[] = [];
  for (const until = Date.now() + 2_500; Date.now() < until; ) refused.push(await call());
  expect(refused.length).toBeGreaterThan(3);
  expect(new Set(refused.map((r) => `${r.status} ${r.code}`))).toEqual(new Set(['503 store_unavailable']));
  expect(upstreamCalls()).toBe(before);
  // Other refusals are answered at once too: their events wait in memory for the store, not the client.
  const asked = Date.now();
  const unauthenticated = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer not-a-token', 'content-type': 'application/json' }, body: '{}' });
  expect(unauthenticated.status).toBe(401);
  const unknownModel = await client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }).catch((e: InstanceType<typeof OpenAI.APIError>) => e.status);
  expect(unknownModel).toBe(404);
  expect(Date.now() - asked).toBeLessThan(2_000);

  // Room again: the kept writes land, the waiting call is answered, new calls are served.
  db.pragma('max_page_count = 1073741823');
  if (stuck) expect(await stuck).toEqual({ status: 200 });
  // Without a waiting call, the kept batch is tried again on its own; calls are admitted once it lands.
  for (const until = Date.now() + 10_000; (await ready()) !== 200 && Date.now() < until; ) await sleep(100);
  expect(await call()).toEqual({ status: 200 });
  expect(await ready()).toBe(200);
  const served = (await Promise.all(answered)).filter((r) => r.status === 200).length + 2;
  // Every answered call has its spend line and its model.call event: nothing was dropped.
  const lines = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}&limit=1000`)).body.data as { outcome: string }[];
  expect(lines.filter((l) => l.outcome === 'ok')).toHaveLength(served);
  const events = (await gw.admin('GET', `/admin/v1/audit?session=${sessionId}&type=model.call&limit=1000`)).body.data as unknown[];
  expect(events).toHaveLength(served);
  expect((await gw.admin('GET', '/admin/v1/audit/verify')).body).toMatchObject({ ok: true });
});
