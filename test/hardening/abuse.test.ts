// Resource abuse: what one client (or one bad upstream) can make the gateway hold, and that every
// bound answers with a catalogued error, keeps the gateway serving others, and loses no charge.
// The limits are set tight here; their defaults are in docs/security.md#limits.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { HOSTILE_ENV, hostileConfig, startHostileUpstream, type HostileUpstream } from '../helpers/hostile-upstream.js';

let upstream: HostileUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startHostileUpstream();
  gw = await startGateway({
    ...hostileConfig(upstream.url, {
      body_limit_bytes: 64 * 1024, max_header_bytes: 4096, headers_timeout_ms: 1000, request_timeout_ms: 2000,
      // stream_max_seconds well past the upstream's 1.5 s timeout, which undici checks on a
      // ~0.5 s tick: a silent upstream must meet that timeout first, even on a loaded machine.
      stream_max_seconds: 3, max_concurrent_calls_per_session: 8, max_json_depth: 32,
    }),
    mcp_servers: [{ name: 'notes', builtin: 'notes' }],
  }, HOSTILE_ENV);
});
afterAll(async () => {
  await gw.close();
  await upstream.close();
});

const chatBody = (content: string, extra: Record<string, unknown> = {}) => JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content }], ...extra });

async function chat(token: string, body: string, signal?: AbortSignal) {
  return fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body, signal });
}

/** Writes raw bytes on a fresh connection; resolves with everything the server sent until it closed, and how long that took. */
function raw(send: (socket: Socket) => void): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const { port } = new URL(gw.url);
    const socket = connect(Number(port), '127.0.0.1', () => send(socket));
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('close', () => resolve({ text, ms: Date.now() - started }));
    socket.on('error', reject);
    socket.setTimeout(15_000, () => socket.destroy(new Error('the server never closed the connection')));
  });
}

const healthy = async () => (await fetch(`${gw.url}/healthz`)).status === 200;

/** The session once nothing is held and its spend lines stopped changing (a cut call settles as it unwinds). */
async function settledSession(id: string) {
  let last = '';
  for (let i = 0; i < 50; i++) {
    const s = await gw.session(id);
    const now = JSON.stringify(s.spent);
    if ((s.reserved?.usd ?? 0) === 0 && now === last) return s;
    last = now;
    await new Promise((r) => setTimeout(r, 100));
  }
  return gw.session(id);
}

describe('request size and shape', () => {
  it('413 for a huge body, declared or streamed in chunks, and the gateway keeps serving', async () => {
    const { token } = await gw.openSession();
    const huge = chatBody('x'.repeat(1024 * 1024));
    const declared = await chat(token, huge);
    expect(declared.status).toBe(413);
    expect(((await declared.json()) as any).error.code).toBe('body_too_large');
    // Chunked (no content-length): counted as it arrives.
    const chunked = new ReadableStream({
      start(c) {
        for (let i = 0; i < 64; i++) c.enqueue(new TextEncoder().encode('x'.repeat(16 * 1024)));
        c.close();
      },
    });
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: chunked, duplex: 'half',
    });
    expect(res.status).toBe(413);
    expect(await healthy()).toBe(true);
  });

  it('400 json_too_deep for deep nesting anywhere in the body, on every API and on MCP', async () => {
    const { token } = await gw.openSession();
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    const bodies = [
      `{"model":"gpt-4o-mini","messages":[{"role":"user","content":${deep(20_000)}}]}`,
      `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"metadata":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`,
    ];
    for (const body of bodies) {
      const res = await chat(token, body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as any).error.code).toBe('json_too_deep');
    }
    const anthropic = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST', headers: { 'x-api-key': token, 'content-type': 'application/json' },
      body: `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":${deep(20_000)}}]}`,
    });
    expect(anthropic.status).toBe(400);
    expect(await anthropic.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', code: 'json_too_deep' } });
    const mcp = await fetch(`${gw.url}/mcp/notes`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`,
    });
    expect(mcp.status).toBe(400);
    expect(await mcp.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32600, data: { code: 'json_too_deep' } } });
    // Nesting at the limit is fine; brackets inside strings do not count.
    const atLimit = await chat(token, `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"${'['.repeat(1000)}"}],"metadata":{"a":${deep(28)}}}`);
    expect(atLimit.status).toBe(200);
  });

  it('431 headers_too_large with a JSON body for headers past max_header_bytes', async () => {
    const { text } = await raw((s) => s.write(`GET /healthz HTTP/1.1\r\nhost: x\r\nx-filler: ${'a'.repeat(8000)}\r\n\r\n`));
    expect(text).toMatch(/^HTTP\/1\.1 431 /);
    expect(text).toContain('"code":"headers_too_large"');
    // A request id, as on every answer (the request's own could not be read).
    expect(text).toMatch(/\r\nx-request-id: req_[0-9a-f]+\r\n/);
  });

  it('431 in the error shape of the API the path names', async () => {
    const filler = `x-filler: ${'a'.repeat(8000)}\r\n\r\n`;
    const body = (text: string) => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, any>;
    const anthropic = body((await raw((s) => s.write(`POST /v1/messages HTTP/1.1\r\nhost: x\r\n${filler}`))).text);
    const anthropicText = (await raw((s) => s.write(`POST /v1/messages HTTP/1.1\r\nhost: x\r\n${filler}`))).text;
    expect(body(anthropicText)).toMatchObject({ type: 'error', error: { type: 'request_too_large', code: 'headers_too_large' }, request_id: expect.stringMatching(/^req_/) });
    expect(anthropicText).toMatch(/\r\nrequest-id: req_/);
    expect(anthropic).toMatchObject({ type: 'error', error: { type: 'request_too_large', code: 'headers_too_large' } });
    const openai = body((await raw((s) => s.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n${filler}`))).text);
    expect(openai).toMatchObject({ error: { type: 'invalid_request_error', code: 'headers_too_large', message: expect.any(String) } });
    const admin = body((await raw((s) => s.write(`GET /admin/v1/agents HTTP/1.1\r\nhost: x\r\n${filler}`))).text);
    expect(admin).toEqual({ error: { code: 'headers_too_large', message: expect.any(String) } });
  });

  it('400 bad_request with a JSON body for bytes that are not HTTP', async () => {
    const { text } = await raw((s) => s.write('\x16\x03\x01 this is not http\r\n\r\n'));
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(text).toContain('"code":"bad_request"');
    expect(text).toMatch(/\r\nx-request-id: req_[0-9a-f]+\r\n/);
  });

  it('a body cut short of its Content-Length is told so, in the shape of the API the request named', async () => {
    const { token } = await gw.openSession();
    const body = chatBody('cut');
    const head = (path: string, length: number) => `POST ${path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\nx-api-key: ${token}\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n\r\n`;
    const answer = (text: string) => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, any>;
    const openai = await raw((s) => s.end(head('/v1/chat/completions', body.length + 40) + body));
    expect(openai.text).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer(openai.text)).toMatchObject({ error: { type: 'invalid_request_error', code: 'bad_request', message: expect.stringMatching(/ended before its body did.*Content-Length/) } });
    const anthropic = await raw((s) => s.end(head('/v1/messages', body.length + 40) + body));
    expect(answer(anthropic.text)).toMatchObject({ type: 'error', error: { code: 'bad_request' }, request_id: expect.stringMatching(/^req_/) });
    // Bytes the parser refuses say what was wrong with them.
    const chunked = await raw((s) => s.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`));
    expect(answer(chunked.text).error.message).toMatch(/^The request is not valid HTTP: .*chunk size/);
    // The gateway serves the session's next call.
    expect((await chat(token, chatBody('after'))).status).toBe(200);
  });
});

describe('slow clients', () => {
  it('a slowloris client sending headers a byte at a time is cut with 408 after headers_timeout_ms', async () => {
    const { text, ms } = await raw((s) => {
      s.write('POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n');
      const timer = setInterval(() => (s.destroyed ? clearInterval(timer) : s.write('x')), 100);
      s.on('close', () => clearInterval(timer));
    });
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    expect(text).toContain('"code":"request_timeout"');
    expect(ms).toBeLessThan(4000); // headers_timeout_ms 1000 + the 1 s check interval, with slack
  });

  it('a client dribbling its body is cut after request_timeout_ms, and nothing is held', async () => {
    const { token, sessionId } = await gw.openSession();
    const { text, ms } = await raw((s) => {
      s.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{`);
      const timer = setInterval(() => (s.destroyed ? clearInterval(timer) : s.write(' ')), 100);
      s.on('close', () => clearInterval(timer));
    });
    expect(ms).toBeLessThan(5000);
    expect(text, text).toMatch(/^HTTP\/1\.1 408 /);
    const s = await settledSession(sessionId);
    expect(s.spent.requests).toBe(0);
    expect(s.reserved?.usd ?? 0).toBe(0);
  });
});

describe('streams', () => {
  it('refuses calls past max_concurrent_calls_per_session with 429 (not 402), and others keep working', async () => {
    const { token, sessionId } = await gw.openSession();
    const other = await gw.openSession();
    // A controller per wave: fetch allows 1,500 listeners on one signal, and warns past them.
    const aborts: AbortController[] = [];
    // 2000 endless streams from one session, in waves of 500 started at once (more at once would
    // overflow the listen backlog, an OS matter): 8 are admitted and stay open, the rest are refused.
    // (Admitted streams are cut after stream_max_seconds, which frees their slots: what must hold
    // is that no more than 8 are ever open upstream at once.)
    const attempts: Response[] = [];
    let mostOpen = 0;
    const sampler = setInterval(() => (mostOpen = Math.max(mostOpen, upstream.open())), 5);
    for (let wave = 0; wave < 4; wave++) {
      const abort = new AbortController();
      aborts.push(abort);
      // Distinct prompts: the same one 2000 times is a retry loop, which a detector would contain.
      attempts.push(...(await Promise.all(Array.from({ length: 500 }, (_, i) => chat(token, chatBody(`[[hostile:endless-sse]] ${wave}.${i}`, { stream: true }), abort.signal)))));
    }
    clearInterval(sampler);
    const admitted = attempts.filter((r) => r.status === 200);
    const refused = attempts.filter((r) => r.status === 429);
    expect(mostOpen).toBe(8);
    expect(admitted.length).toBeGreaterThanOrEqual(8);
    const statuses: Record<number, number> = {};
    for (const r of attempts) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    expect(admitted.length + refused.length, JSON.stringify(statuses)).toBe(2000);
    expect(refused.length).toBeGreaterThan(1900);
    const body = (await refused[0]!.json()) as any;
    expect(body.error).toMatchObject({ code: 'too_many_concurrent_calls', type: 'rate_limit_error' });
    expect(refused[0]!.headers.get('retry-after')).toBe('1');
    await Promise.all(refused.slice(1).map((r) => r.text()));
    // Another session is not affected, and neither is the gateway.
    expect((await chat(other.token, chatBody('hello'))).status).toBe(200);
    expect(await healthy()).toBe(true);
    for (const abort of aborts) abort.abort();
    const s = await settledSession(sessionId);
    expect(s.spent.requests).toBe(admitted.length); // only admitted calls reached the upstream and were recorded
    expect(s.reserved?.usd ?? 0).toBe(0);
    // The slots are free again.
    expect((await chat(token, chatBody('after'))).status).toBe(200);
  });

  it('a client that disconnects mid-stream: the upstream is aborted, the hold released, delivered tokens charged', async () => {
    const { token, sessionId } = await gw.openSession();
    const abort = new AbortController();
    const res = await chat(token, chatBody('[[hostile:endless-sse]]', { stream: true, max_tokens: 1000 }), abort.signal);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let received = '';
    while ((received.match(/more/g) ?? []).length < 10) received += new TextDecoder().decode((await reader.read()).value);
    const openBefore = upstream.open();
    abort.abort();
    const s = await settledSession(sessionId);
    expect(s.reserved?.usd ?? 0).toBe(0);
    const [line] = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
    expect(line).toMatchObject({ outcome: 'client_aborted', estimated: true });
    expect(line.output_tokens).toBeGreaterThanOrEqual(10); // what the client received is charged
    expect(line.cost_usd).toBeGreaterThan(0);
    for (let i = 0; i < 50 && upstream.open() >= openBefore; i++) await new Promise((r) => setTimeout(r, 50));
    expect(upstream.open()).toBeLessThan(openBefore); // the upstream request was aborted too
  });
});

describe('hostile upstreams', () => {
  it('an upstream that never answers: 504 after its timeout, nothing charged', async () => {
    const { token, sessionId } = await gw.openSession();
    const res = await chat(token, chatBody('[[hostile:never]]'));
    expect(res.status).toBe(504);
    expect(((await res.json()) as any).error.code).toBe('upstream_timeout');
    const s = await settledSession(sessionId);
    expect(s.spent.usd).toBe(0);
  });

  it('an upstream answering garbage JSON with 200: 502 upstream_bad_response, charged its prompt only (it did the work), estimated', async () => {
    const { token, sessionId } = await gw.openSession();
    const res = await chat(token, chatBody('[[hostile:garbage-json]]'));
    expect(res.status).toBe(502);
    expect(((await res.json()) as any).error.code).toBe('upstream_bad_response');
    const s = await settledSession(sessionId);
    expect(s.spent.requests).toBe(1);
    expect(s.spent.input_tokens).toBeGreaterThan(0);
    expect(s.spent.output_tokens).toBe(0);
    const [line] = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
    expect(line).toMatchObject({ outcome: 'upstream_error', http_status: 502, estimated: true });
  });

  it('an upstream streaming garbage: the stream ends with an error event, recorded as stream_cut', async () => {
    const { token, sessionId } = await gw.openSession();
    const res = await chat(token, chatBody('[[hostile:garbage-sse]]', { stream: true }));
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('"error"');
    expect(text).not.toContain('[DONE]');
    const s = await settledSession(sessionId);
    const [line] = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
    expect(line.outcome).toBe('stream_cut');
    expect(s.spent.usd).toBeCloseTo(line.cost_usd, 9);
  });

  it('an endless stream is cut at stream_max_seconds with a stream_too_long error event; what was delivered is charged', async () => {
    const { token, sessionId } = await gw.openSession();
    const started = Date.now();
    const res = await chat(token, chatBody('[[hostile:endless-sse]]', { stream: true, max_tokens: 5000 }));
    const text = await res.text();
    const ms = Date.now() - started;
    expect(ms).toBeGreaterThanOrEqual(2900);
    expect(ms).toBeLessThan(7000);
    expect(text).toContain('"code":"stream_too_long"');
    const s = await settledSession(sessionId);
    const [line] = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
    expect(line).toMatchObject({ outcome: 'stream_cut', estimated: true });
    expect(line.output_tokens).toBeGreaterThan(10);
    expect(s.spent.usd).toBeCloseTo(line.cost_usd, 9);
    expect(s.reserved?.usd ?? 0).toBe(0);
  });

  it('a plain answer dribbled forever is cut at stream_max_seconds: 504 stream_too_long, charged its prompt only (the upstream had begun answering)', async () => {
    const { token, sessionId } = await gw.openSession();
    const res = await chat(token, chatBody('[[hostile:dribble-json]]'));
    expect(res.status).toBe(504);
    expect(((await res.json()) as any).error.code).toBe('stream_too_long');
    const s = await settledSession(sessionId);
    expect(s.spent.input_tokens).toBeGreaterThan(0);
    expect(s.spent.output_tokens).toBe(0);
    expect(s.reserved?.usd ?? 0).toBe(0);
    const [line] = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
    expect(line).toMatchObject({ outcome: 'stream_cut', http_status: 504, estimated: true, input_tokens: s.spent.input_tokens });
  });
});
