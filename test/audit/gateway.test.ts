// The audit chain inside a running gateway: events durable before the end of a response (even
// when the audit store is slow), the verify route, checkpoints on a timer and at shutdown, and
// the export sinks (JSON lines, webhook) carrying exactly the chained events.
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Gateway } from '../../src/server/index.js';
import { canonicalJson, SqliteStore, type AuditEvent, type ChainedEvent, type WriteSet } from '../../src/store/index.js';
import { ADMIN_TOKEN, testConfig } from '../helpers/gateway.js';

interface Started {
  gateway: Gateway;
  url: string;
  dataDir: string;
  /** The store under the gateway (reads are not delayed). */
  inner: SqliteStore;
  /** Delay of every audit append from now on. */
  setAppendDelay(ms: number): void;
  /** What each batch written so far carried (in order). */
  batches: { holds: string[]; lines: string[] }[];
  admin<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
}

const running: Gateway[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((g) => g.close(500)));
});

/** A gateway whose store can be made slow at appending audit events. */
async function start(patch: Record<string, unknown> = {}): Promise<Started> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-audit-gw-'));
  const inner = new SqliteStore({ path: join(dataDir, 'tollgate.db') });
  let delay = 0;
  const batches: Started['batches'] = [];
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      // Audit events reach the store alone or with the spend journal in one batch.
      if (prop === 'appendEvents') {
        return async (events: readonly AuditEvent[]): Promise<ChainedEvent[]> => {
          if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
          return target.appendEvents(events);
        };
      }
      if (prop === 'writeBatch') {
        return async (set: WriteSet): Promise<ChainedEvent[]> => {
          batches.push({ holds: set.reservations.map((r) => r.requestId), lines: set.records.map((r) => r.requestId) });
          if (delay > 0 && set.events.length > 0) await new Promise((resolve) => setTimeout(resolve, delay));
          return target.writeBatch(set);
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  const gateway = await Gateway.create({ config: testConfig(patch), dataDir, env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN }, store });
  running.push(gateway);
  const url = await gateway.listen(0, '127.0.0.1');
  return {
    gateway, url, dataDir, inner,
    setAppendDelay: (ms) => (delay = ms),
    batches,
    async admin(method, path, body) {
      const res = await fetch(url + path, {
        method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      // any: the caller names the body's type (T), as test/helpers/gateway.ts does.
      return { status: res.status, body: (await res.json()) as any };
    },
  };
}

async function openToken(gw: Started): Promise<string> {
  const res = await gw.admin<{ token: string }>('POST', '/admin/v1/sessions', { agent: 'demo-agent', task: 'audit test' });
  expect(res.status).toBe(201);
  return res.body.token;
}

const chat = (gw: Started, token: string, stream = false) =>
  fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', stream, messages: [{ role: 'user', content: 'hello' }] }),
  });

const eventsOf = async (store: SqliteStore, requestId: string) => (await store.listEvents({ limit: 1000 })).filter((e) => e.requestId === requestId).map((e) => e.type);

describe('audit events are durable before the end of a response (storage.answer_after: line)', () => {
  it('holds a plain answer, a streamed answer\'s end, and a refusal until the call\'s events are written', async () => {
    const gw = await start({ storage: { answer_after: 'line' } });
    const token = await openToken(gw);
    gw.setAppendDelay(400);

    const started = performance.now();
    const plain = await chat(gw, token);
    await plain.text();
    // Read at once: the call's event (its usage, cost and the policy decision) is on disk.
    expect(await eventsOf(gw.inner, plain.headers.get('x-request-id')!)).toEqual(['model.call']);
    expect(performance.now() - started).toBeGreaterThanOrEqual(350);

    const streamed = await chat(gw, token, true);
    const body = await streamed.text();
    expect(body).toContain('[DONE]');
    expect(await eventsOf(gw.inner, streamed.headers.get('x-request-id')!)).toEqual(['model.call']);

    const refused = await chat(gw, 'not-a-token');
    expect(refused.status).toBe(401);
    await refused.text();
    expect(await eventsOf(gw.inner, refused.headers.get('x-request-id')!)).toEqual(['auth.denied']);
  });
});

describe('storage.answer_after: hold (the default)', () => {
  it('releases an answer once its hold is on disk; its event commits next, before any admin read; a refusal still waits for its events', async () => {
    const gw = await start();
    const token = await openToken(gw);
    // Batches with audit events are slow; the hold's batch has none. Wide apart (a first call on a
    // loaded CI machine can take a few hundred ms), so that the bound tells one from the other.
    gw.setAppendDelay(1000);

    let started = performance.now();
    const plain = await chat(gw, token);
    await plain.text();
    expect(plain.status).toBe(200);
    expect(performance.now() - started).toBeLessThan(900);
    const requestId = plain.headers.get('x-request-id')!;
    // Covered before it was answered: its hold was on disk (the line has not replaced it yet).
    const holds = (await gw.inner.listReservations(Number.MAX_SAFE_INTEGER)).filter((r) => r.requestId === requestId);
    expect(holds).toHaveLength(1);
    expect(await eventsOf(gw.inner, requestId)).toEqual([]);
    // An admin read waits for what was queued: the call's event and line are there.
    const events = await gw.admin('GET', `/admin/v1/audit/events?type=model.call&limit=10`);
    expect(events.body.data.map((e: { request_id: string }) => e.request_id)).toContain(requestId);
    expect((await gw.inner.listReservations(Number.MAX_SAFE_INTEGER)).filter((r) => r.requestId === requestId)).toEqual([]);

    started = performance.now();
    const refused = await chat(gw, 'not-a-token');
    expect(refused.status).toBe(401);
    await refused.text();
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    expect(await eventsOf(gw.inner, refused.headers.get('x-request-id')!)).toEqual(['auth.denied']);
  });
});

describe('storage.settle_delay_ms: an answered call\'s writes wait to share a commit', () => {
  /** Four calls one after another; the request ids. */
  const calls = async (gw: Started, token: string) => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await chat(gw, token);
      await res.text();
      expect(res.status).toBe(200);
      ids.push(res.headers.get('x-request-id')!);
    }
    return ids;
  };
  const batchOf = (gw: Started, id: string) => gw.batches.findIndex((b) => b.lines.includes(id));

  it('a caller\'s calls back to back: each hold commits alone, their lines together once the delay is up, or with an admin read', async () => {
    // Long enough that every call comes before it is up, however slow the machine.
    const gw = await start({ storage: { settle_delay_ms: 1000 } });
    const token = await openToken(gw);
    const ids = await calls(gw, token);
    // No answer waited for another call's line: each hold went alone.
    for (const id of ids) expect(gw.batches.find((b) => b.holds.includes(id))).toEqual({ holds: [id], lines: [] });
    expect(ids.map((id) => batchOf(gw, id))).toEqual([-1, -1, -1, -1]);
    // Then the four lines (and their events) in one commit.
    await expect.poll(() => batchOf(gw, ids[3]!), { timeout: 3000, interval: 20 }).toBeGreaterThan(-1);
    expect(new Set(ids.map((id) => batchOf(gw, id))).size).toBe(1);
    // (The batch is recorded as it is sent: its commit follows.)
    await expect.poll(() => eventsOf(gw.inner, ids[0]!), { timeout: 3000, interval: 20 }).toEqual(['model.call']);
    // An admin read writes what waits first.
    const waiting = (await calls(gw, token)).at(-1)!;
    expect(batchOf(gw, waiting)).toBe(-1);
    const events = await gw.admin('GET', '/admin/v1/audit/events?type=model.call&limit=20');
    expect(events.body.data.map((e: { request_id: string }) => e.request_id)).toContain(waiting);
  });

  it('0 writes them at once: every line in a batch of its own after its answer', async () => {
    const gw = await start({ storage: { settle_delay_ms: 0 } });
    const token = await openToken(gw);
    const ids = await calls(gw, token);
    await expect.poll(() => ids.every((id) => batchOf(gw, id) > -1), { timeout: 1000, interval: 5 }).toBe(true);
    expect(new Set(ids.map((id) => batchOf(gw, id))).size).toBe(4);
  });
});

describe('GET /admin/v1/audit/verify', () => {
  it('verifies the gateway\'s chain, in slices, and names a tampered event', async () => {
    const gw = await start();
    const token = await openToken(gw);
    for (let i = 0; i < 5; i++) await (await chat(gw, token)).text();
    const whole = await gw.admin('GET', '/admin/v1/audit/verify');
    expect(whole.status).toBe(200);
    expect(whole.body).toMatchObject({ ok: true, chain: { first_seq: 1 } });
    const total = whole.body.events as number;
    expect(total).toBeGreaterThanOrEqual(6); // session.opened + 5 policy decisions
    expect(whole.body.chain.last_seq).toBe(total);

    const first = await gw.admin('GET', '/admin/v1/audit/verify?limit=3');
    expect(first.body).toMatchObject({ ok: true, events: 3, next: { seq: 3 } });
    const rest = await gw.admin('GET', `/admin/v1/audit/verify?after_seq=3&after_hash=${first.body.next.hash}`);
    expect(rest.body).toMatchObject({ ok: true, events: total - 3 });
    expect(rest.body.next).toBeUndefined();
    expect((await gw.admin('GET', '/admin/v1/audit/verify?after_seq=3')).status).toBe(400);

    const db = new Database(join(gw.dataDir, 'tollgate.db'));
    db.prepare("UPDATE audit_events SET actor = 'admin' WHERE seq = 4").run();
    db.close();
    expect((await gw.admin('GET', '/admin/v1/audit/verify')).body).toMatchObject({ ok: false, events: 3, first_broken: { seq: 4, reason: 'hash_mismatch' } });
  });
});

describe('checkpoints', () => {
  it('signs one every checkpoint_interval_seconds when there is something new, and one at shutdown', async () => {
    const gw = await start({ audit: { checkpoint_interval_seconds: 1 } });
    const token = await openToken(gw);
    await (await chat(gw, token)).text();
    // The answer may leave before its model.call event commits (answer_after: hold); an admin
    // request first lets queued writes commit, so the head read next is the call's whole record.
    await gw.admin('GET', '/admin/v1/audit/verify');
    const head = (await gw.inner.chainHead()).lastSeq;
    await expect.poll(async () => (await gw.inner.latestCheckpoint())?.lastSeq, { timeout: 3000 }).toBe(head);
    await (await chat(gw, token)).text();
    const before = (await gw.inner.chainHead()).lastSeq;
    await gw.gateway.close(500);
    const store = new SqliteStore({ path: join(gw.dataDir, 'tollgate.db') });
    try {
      const latest = await store.latestCheckpoint();
      expect(latest!.lastSeq).toBeGreaterThanOrEqual(before);
      expect(latest!.lastSeq).toBe((await store.chainHead()).lastSeq);
    } finally {
      await store.close();
    }
  });
});

/** docs/audit.md's canonical JSON, as a reader would write it from the description. */
const outsideCanonical = (v: unknown): string =>
  Array.isArray(v) ? `[${v.map(outsideCanonical).join(',')}]`
    : v && typeof v === 'object' ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${outsideCanonical((v as Record<string, unknown>)[k])}`).join(',')}}`
      : JSON.stringify(v);

describe('export sinks', () => {
  let receiver: Server | null = null;
  afterEach(async () => {
    if (receiver) await new Promise((resolve) => receiver!.close(resolve));
    receiver = null;
  });

  it('writes every durable event as one JSON line, and POSTs them to the webhook (retrying a failure)', async () => {
    const received: { status: number; events: { seq: number; hash: string }[] }[] = [];
    let calls = 0;
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        // The first delivery fails: it must be retried, not lost.
        const status = ++calls === 1 ? 503 : 200;
        received.push({ status, events: (JSON.parse(body) as { events: { seq: number; hash: string }[] }).events });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => receiver!.listen(0, '127.0.0.1', resolve));
    const webhook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/audit`;

    const gw = await start({ audit: { export: { jsonl_path: 'audit/events.jsonl', webhook_url: webhook, webhook_batch_size: 4 } } });
    const token = await openToken(gw);
    for (let i = 0; i < 6; i++) await (await chat(gw, token, i % 2 === 1)).text();
    await (await chat(gw, 'bad-token')).text();
    await gw.gateway.close(500);

    const store = new SqliteStore({ path: join(gw.dataDir, 'tollgate.db') });
    const stored = await store.readChain(0, 1000);
    await store.close();
    expect(stored.length).toBeGreaterThanOrEqual(8);

    const lines = readFileSync(join(gw.dataDir, 'audit/events.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.seq, l.id, l.type, l.prev_hash, l.hash])).toEqual(stored.map((r) => [r.seq, r.id, r.type, r.prevHash, r.hash]));
    // Each line holds the event itself: its data hashes as stored, its time is the stored ms.
    lines.forEach((l, i) => {
      expect(canonicalJson(l.data)).toBe(stored[i]!.dataJson);
      expect(Date.parse(l.time as string)).toBe(stored[i]!.time);
      expect(l.request_id).toBe(stored[i]!.requestId);
      // The check docs/audit.md gives for an exported line, written without Tollgate's code.
      const { hash, time, ...rest } = l;
      expect(createHash('sha256').update(outsideCanonical({ ...rest, time: Date.parse(time as string) })).digest('hex')).toBe(hash);
      if (i > 0) expect(l.prev_hash).toBe(lines[i - 1]!.hash);
    });

    expect(received[0]!.status).toBe(503);
    const delivered = received.filter((r) => r.status === 200).flatMap((r) => r.events);
    expect(delivered.map((e) => [e.seq, e.hash])).toEqual(stored.map((r) => [r.seq, r.hash]));
    expect(Math.max(...received.map((r) => r.events.length))).toBeLessThanOrEqual(4);
  });
});
