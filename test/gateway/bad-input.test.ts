// Bad input gets a clear error in the provider's own shape and the right status, charges nothing
// it should not, and never leaks a stack trace.
import { SignJWT, importJWK, generateKeyPair, type JWK } from 'jose';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MasterKey } from '../../src/identity/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

type ApiError = InstanceType<typeof OpenAI.APIError>;

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway({ server: { body_limit_bytes: 4096 } });
});
afterAll(async () => {
  await gw.close();
});

async function post(path: string, body: string | object, headers: Record<string, string> = {}) {
  const res = await fetch(gw.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  expect(text).not.toMatch(/\n\s+at /); // never a stack trace
  return { status: res.status, body: JSON.parse(text), headers: res.headers };
}

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

describe('authentication', () => {
  it('401 without a token, in OpenAI shape', async () => {
    const res = await post('/v1/chat/completions', chat);
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ error: { type: 'invalid_request_error', code: 'unauthenticated' } });
  });

  it('401 for a malformed Authorization header or a non-JWT token', async () => {
    expect((await post('/v1/chat/completions', chat, { authorization: 'Bearer' })).status).toBe(401);
    expect((await post('/v1/chat/completions', chat, { authorization: 'Basic abc' })).status).toBe(401);
    const res = await post('/v1/chat/completions', chat, { authorization: 'Bearer not.a.jwt' });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_token');
  });

  it('401 for a token signed by another key, and for alg none', async () => {
    const { token } = await gw.openSession();
    const [header, payload] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const kid = JSON.parse(Buffer.from(header!, 'base64url').toString()).kid;
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid }).sign(privateKey);
    expect((await post('/v1/chat/completions', chat, { authorization: `Bearer ${forged}` })).body.error.code).toBe('invalid_token');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid })).toString('base64url')}.${payload}.`;
    expect((await post('/v1/chat/completions', chat, { authorization: `Bearer ${none}` })).status).toBe(401);
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, sid: 'ses_other' })).toString('base64url')}.${token.split('.')[2]}`;
    expect((await post('/v1/chat/completions', chat, { authorization: `Bearer ${tampered}` })).status).toBe(401);
  });

  it('401 for a token signed by the right key but for another audience or type', async () => {
    const { token } = await gw.openSession();
    const [header, payload] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const kid = JSON.parse(Buffer.from(header!, 'base64url').toString()).kid;
    const stored = (await gw.gateway.store.listSigningKeys()).find((k) => k.kid === kid)!;
    const key = await importJWK(JSON.parse(MasterKey.fromEnvOrDataDir(gw.dataDir, {}).decrypt(stored.privateJwk)) as JWK, 'EdDSA');
    const wrongAud = await new SignJWT({ ...claims, aud: 'someone-else' }).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid }).sign(key);
    const res = await post('/v1/chat/completions', chat, { authorization: `Bearer ${wrongAud}` });
    expect(res.status).toBe(401);
    expect(res.body.error.message).toContain('aud');
    const wrongType = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid }).sign(key);
    expect((await post('/v1/chat/completions', chat, { authorization: `Bearer ${wrongType}` })).status).toBe(401);
  });

  it('the admin token is refused on the data plane and a session token on the admin plane', async () => {
    const res = await post('/v1/chat/completions', chat, { authorization: 'Bearer tga_test-admin-token-0123456789' });
    expect(res.status).toBe(401);
    const { token } = await gw.openSession();
    expect((await gw.admin('GET', '/admin/v1/teams', undefined, token)).status).toBe(401);
  });
});

describe('expiry', () => {
  it('401 token_expired once the token passes its exp, even though it verified before', async () => {
    let shift = 0;
    const timed = await startGateway({ tokens: { ttl_seconds: 60 } }, {}, () => Date.now() + shift);
    try {
      const { token } = await timed.openSession();
      const openai = new OpenAI({ apiKey: token, baseURL: `${timed.url}/v1`, maxRetries: 0 });
      await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
      // Same process, clock moved past exp: the verified-token cache must honour exp.
      shift = 61_000;
      const err = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
      expect((err as ApiError).status).toBe(401);
      expect((err as ApiError).code).toBe('token_expired');
    } finally {
      await timed.close();
    }
  });
});

describe('request ids', () => {
  it('names the request on every answer, not only the APIs\'', async () => {
    for (const path of ['/healthz', '/readyz', '/.well-known/jwks.json', '/.well-known/oauth-authorization-server', '/', '/nowhere', '/v1/nowhere']) {
      const res = await fetch(gw.url + path, { redirect: 'manual' });
      await res.arrayBuffer();
      expect(res.headers.get('x-request-id'), path).toMatch(/^req_/);
    }
  });
});

describe('malformed requests', () => {
  let auth: Record<string, string>;
  beforeAll(async () => {
    auth = { authorization: `Bearer ${(await gw.openSession()).token}` };
  });

  it('400 invalid_json for a body that is not JSON, in each API\'s own shape', async () => {
    const openai = await post('/v1/chat/completions', '{"model": ', auth);
    expect(openai.status).toBe(400);
    expect(openai.body).toMatchObject({ error: { code: 'invalid_json', type: 'invalid_request_error' } });
    const anthropic = await post('/v1/messages', 'nope', auth);
    expect(anthropic.status).toBe(400);
    expect(anthropic.body).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
  });

  it('415 for a compressed body (read as JSON it would be garbage), in each API\'s own shape', async () => {
    const { gzipSync } = await import('node:zlib');
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { ...auth, 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify(chat)),
    });
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ error: { code: 'unsupported_media_type', message: expect.stringContaining('send the body uncompressed') } });
    const anthropic = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST', headers: { ...auth, 'content-type': 'application/json', 'content-encoding': 'br' }, body: 'xx',
    });
    expect(anthropic.status).toBe(415);
    expect(await anthropic.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', code: 'unsupported_media_type' } });
    // identity is no encoding at all.
    expect((await post('/v1/chat/completions', chat, { ...auth, 'content-encoding': 'identity' })).status).toBe(200);
  });

  it('400 naming the field for wrong types and missing fields', async () => {
    const res = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: 'hello' }, auth);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_request', param: 'messages' });
    expect((await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }] }, auth)).body.error.param).toBe('model');
    expect((await post('/v1/chat/completions', { ...chat, max_tokens: -5 }, auth)).body.error.param).toBe('max_tokens');
    expect((await post('/v1/chat/completions', [1, 2], auth)).status).toBe(400);
    const noMax = await post('/v1/messages', { model: 'claude-3-5-haiku-latest', messages: [{ role: 'user', content: 'x' }] }, auth);
    expect(noMax.status).toBe(400);
    expect(noMax.body.error.message).toContain('max_tokens');
  });

  it('413 for a body over the configured limit, declared or not', async () => {
    const big = { ...chat, messages: [{ role: 'user', content: 'x'.repeat(10_000) }] };
    const res = await post('/v1/chat/completions', big, auth);
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('body_too_large');
    const anthropic = await post('/v1/messages', { ...big, max_tokens: 5, model: 'claude-3-5-haiku-latest' }, auth);
    expect(anthropic.body).toMatchObject({ type: 'error', error: { type: 'request_too_large' } });
  });

  it('404 for an unknown model and an unknown route, 405 for a wrong method', async () => {
    expect((await post('/v1/chat/completions', { ...chat, model: 'GPT-4o-mini' }, auth)).body.error.code).toBe('model_not_found');
    expect((await post('/v1/chat/completions', { ...chat, model: ' gpt-4o-mini' }, auth)).status).toBe(404);
    expect((await post('/v1/nope', chat, auth)).status).toBe(404);
    const res = await fetch(`${gw.url}/v1/chat/completions`, { headers: auth });
    expect(res.status).toBe(405);
  });
});

/** A gateway whose only provider is an OpenAI-compatible upstream at `baseUrl`. */
function gatewayOn(baseUrl: string): Promise<TestGateway> {
  return startGateway({
    providers: [{ name: 'upstream', type: 'openai', base_url: baseUrl, api_key_env: 'K' }],
    models: [{ name: 'gpt-4o-mini', provider: 'upstream', price: { input: 1, output: 1 } }],
    profiles: [{ name: 'assistant', models: ['gpt-4o-mini'] }],
  }, { K: 'sk-x' });
}

/** One non-streamed call through the official client, in a fresh session: the error it ends with. */
async function failedCall(g: TestGateway): Promise<{ err: ApiError; sessionId: string }> {
  const { token, sessionId } = await g.openSession();
  const openai = new OpenAI({ apiKey: token, baseURL: `${g.url}/v1`, maxRetries: 0 });
  const err = (await openai.chat.completions.create(chat as OpenAI.ChatCompletionCreateParamsNonStreaming).catch((e: unknown) => e)) as ApiError;
  return { err, sessionId };
}

describe('upstream failures', () => {
  it('502 when the upstream is unreachable, and nothing charged', async () => {
    const down = await gatewayOn('http://127.0.0.1:1/v1');
    try {
      const { err, sessionId } = await failedCall(down);
      expect(err.status).toBe(502);
      expect(err.code).toBe('upstream_unavailable');
      const s = await down.session(sessionId);
      expect(s.spent.usd).toBe(0);
      expect(s.remaining.usd).toBe(s.budget.usd); // the hold was released
      const [line] = (await down.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
      expect(line).toMatchObject({ outcome: 'upstream_error', cost_usd: 0, http_status: 502 });
    } finally {
      await down.close();
    }
  });

  it('504 when the upstream does not answer in time, and nothing charged', async () => {
    const slow = await startGateway({ providers: [{ name: 'sim', type: 'simulated', timeout_ms: 300 }] });
    try {
      const { token, sessionId } = await slow.openSession();
      const openai = new OpenAI({ apiKey: token, baseURL: `${slow.url}/v1`, maxRetries: 0 });
      const err = (await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: '[[sim:stall]]' }] }).catch((e: unknown) => e)) as ApiError;
      expect(err.status).toBe(504);
      expect(err.code).toBe('upstream_timeout');
      expect((await slow.session(sessionId)).spent.usd).toBe(0);
    } finally {
      await slow.close();
    }
  });

  it('502 when a non-streamed answer breaks off mid-body, charged its prompt (the upstream had begun answering), estimated', async () => {
    // An upstream that sends its headers and part of the body, then drops the connection.
    const upstream: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '400' });
        res.write('{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hel');
        setTimeout(() => res.socket?.destroy(), 20);
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const cut = await gatewayOn(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`);
    try {
      const { err, sessionId } = await failedCall(cut);
      expect(err.status).toBe(502);
      const s = await cut.session(sessionId);
      const [line] = (await cut.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
      expect(line).toMatchObject({ outcome: 'upstream_error', http_status: 502, estimated: true, output_tokens: 0 });
      expect(line.input_tokens).toBeGreaterThan(0);
      expect(line.cost_usd).toBeGreaterThan(0);
      // What the line says is what the session paid.
      expect(s.spent).toMatchObject({ requests: 1, input_tokens: line.input_tokens, output_tokens: 0 });
      expect(s.spent.usd).toBeCloseTo(line.cost_usd, 12);
    } finally {
      await cut.close();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });

  it('relays at most 64 KiB of an upstream error body, whether its length is declared or not', async () => {
    const big = `{"error":{"message":"${'x'.repeat(200_000)}"}}`;
    let calls = 0;
    const upstream: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        // The first answer declares its length; the second does not (chunked).
        const headers = calls++ === 0 ? { 'content-type': 'application/json', 'content-length': String(big.length) } : { 'content-type': 'application/json' };
        res.writeHead(500, headers);
        res.end(big);
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const noisy = await gatewayOn(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`);
    try {
      const { token, sessionId } = await noisy.openSession();
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${noisy.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chat), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
        expect(res.status).toBe(500);
        const body = await res.text();
        expect(body.length).toBe(64 * 1024);
        expect(big.startsWith(body)).toBe(true);
      }
      expect(calls).toBe(2);
      expect((await noisy.session(sessionId)).spent.usd).toBe(0);
      const lines = (await noisy.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
      expect(lines.map((l: { outcome: string; http_status: number }) => [l.outcome, l.http_status])).toEqual([['upstream_error', 500], ['upstream_error', 500]]);
    } finally {
      await noisy.close();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });

  it('relays an upstream error status in the provider shape, with Retry-After on 429, charging nothing', async () => {
    const { token, sessionId } = await gw.openSession();
    const auth = { authorization: `Bearer ${token}` };
    const failed = await post('/v1/chat/completions', { ...chat, messages: [{ role: 'user', content: '[[sim:error=500]]' }] }, auth);
    expect(failed.status).toBe(500);
    expect(failed.body.error).toBeDefined();
    const limited = await post('/v1/chat/completions', { ...chat, messages: [{ role: 'user', content: '[[sim:error=429]]' }] }, auth);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBeTruthy();
    const s = await gw.session(sessionId);
    expect(s.spent.usd).toBe(0);
    expect(s.spent.requests).toBe(2); // both attempts are on the record
  });
});
