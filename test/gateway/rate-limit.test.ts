// Rate limits through the official `openai` client: requests and tokens per minute, per session and
// per agent, answered 429 with Retry-After and OpenAI's x-ratelimit-* headers. The gateway runs on
// a clock the tests move, so windows are crossed instantly and results do not depend on timing.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countPromptTokens, promptTokensUpperBound } from '../../src/providers/prompt-tokens.js';
import { ADMIN_TOKEN, startGateway, type TestGateway } from '../helpers/gateway.js';

type ApiError = InstanceType<typeof OpenAI.APIError>;

const MODELS = ['gpt-4o-mini', 'claude-3-5-haiku-latest'];

// Tokens-per-minute test: the estimate is the prompt's upper bound + max_tokens; the real usage
// is the exact prompt + the 5 tokens the simulated model is told to write.
const TPM_MESSAGES = [{ role: 'user' as const, content: 'Count the tokens of this call. [[sim:tokens=5]]' }];
const TPM_MAX = 200;
const ESTIMATE = promptTokensUpperBound({ messages: TPM_MESSAGES }, { contextWindow: 1_000_000, maxImageTokens: 4096 }) + TPM_MAX;
const ACTUAL = countPromptTokens({ messages: TPM_MESSAGES }) + 5;
// Room for one estimate plus one real call, not two estimates: only refunds let a second call in.
const TPM = ESTIMATE + ACTUAL + 1;

let clock = Date.now();
let gw: TestGateway;

beforeAll(async () => {
  const profile = (name: string, rate_limits?: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ name, models: MODELS, ...(rate_limits ? { rate_limits } : {}), ...extra });
  const agent = (name: string, profileName: string) => ({ name, team: 'demo', profile: profileName });
  gw = await startGateway(
    {
      profiles: [
        profile('assistant'),
        profile('per-session', { session: { requests_per_minute: 2 } }),
        profile('per-agent', { session: { requests_per_minute: 10 }, agent: { requests_per_minute: 3 } }),
        profile('per-minute-tokens', { session: { tokens_per_minute: TPM } }),
        profile('burst', { session: { requests_per_minute: 10 } }),
        profile('burst-agent', { agent: { requests_per_minute: 10 } }),
        profile('retrying', { session: { requests_per_minute: 60 } }),
        profile('tiny-budget', { session: { requests_per_minute: 100 }, agent: { tokens_per_minute: 2 * ESTIMATE } }),
      ],
      agents: [
        agent('demo-agent', 'assistant'),
        agent('session-limited', 'per-session'),
        agent('agent-limited', 'per-agent'),
        agent('token-limited', 'per-minute-tokens'),
        agent('burst', 'burst'),
        agent('burst-agent', 'burst-agent'),
        agent('retrying', 'retrying'),
        agent('thrifty', 'tiny-budget'),
      ],
    },
    {},
    () => clock,
  );
});
afterAll(async () => {
  await gw.close();
});

async function client(agent: string, input: Record<string, unknown> = {}, options: ConstructorParameters<typeof OpenAI>[0] = {}) {
  const { token, sessionId } = await gw.openSession({ agent, ...input });
  return { openai: new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0, ...options }), sessionId, token };
}

const hi = [{ role: 'user' as const, content: 'hi [[sim:tokens=3]]' }];

function call(openai: OpenAI, extra: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming> = {}) {
  return openai.chat.completions.create({ model: 'gpt-4o-mini', messages: hi, ...extra }).withResponse();
}

async function refusal(p: Promise<unknown>): Promise<ApiError & { headers: Headers }> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(OpenAI.APIError);
  expect((err as ApiError).headers).toBeDefined();
  return err as ApiError & { headers: Headers };
}

const rateHeaders = (h: Headers) => Object.fromEntries([...h.entries()].filter(([k]) => k.startsWith('x-ratelimit-') || k === 'retry-after'));

describe('rate limits', () => {
  it('session requests per minute: 429 with Retry-After and headers; other sessions of the agent are unaffected', async () => {
    const { openai, sessionId } = await client('session-limited');
    const first = await call(openai);
    expect(rateHeaders(first.response.headers)).toEqual({
      'x-ratelimit-limit-requests': '2', 'x-ratelimit-remaining-requests': '1', 'x-ratelimit-reset-requests': '30s',
    });
    const second = await call(openai);
    expect(second.response.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(second.response.headers.get('x-ratelimit-reset-requests')).toBe('1m0s');

    const err = await refusal(call(openai));
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.status).toBe(429);
    expect(err.code).toBe('rate_limited');
    expect(err.type).toBe('rate_limit_error');
    expect(err.message).toContain('requests per minute');
    expect(err.error).toMatchObject({ level: 'session', session_id: sessionId, unit: 'requests', limit: 2, retry_after_seconds: 30 });
    expect(rateHeaders(err.headers)).toEqual({
      'retry-after': '30',
      'x-ratelimit-limit-requests': '2', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1m0s',
    });
    expect(err.headers.get('x-request-id')).toMatch(/^req_/);

    // The refused call was not forwarded, charged or recorded.
    const s = await gw.session(sessionId);
    expect(s.spent.requests).toBe(2);
    expect((await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data).toHaveLength(2);

    // Another session of the same agent has its own window.
    const other = await client('session-limited');
    expect((await call(other.openai)).response.status).toBe(200);

    // The window slides: 30 s later, one request fits again, and only one.
    clock += 30_000;
    expect((await call(openai)).response.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect((await refusal(call(openai))).headers.get('retry-after')).toBe('30');
  });

  it('agent requests per minute hold across the agent\'s sessions, and the tightest level is reported', async () => {
    const a = await client('agent-limited');
    const b = await client('agent-limited');
    const one = await call(a.openai);
    // Session: 9 of 10 left; agent: 2 of 3 left — the agent is the tighter.
    expect(rateHeaders(one.response.headers)).toEqual({
      'x-ratelimit-limit-requests': '3', 'x-ratelimit-remaining-requests': '2', 'x-ratelimit-reset-requests': '20s',
    });
    await call(a.openai);
    expect((await call(b.openai)).response.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    for (const s of [a, b]) {
      const err = await refusal(call(s.openai));
      expect(err.status).toBe(429);
      expect(err.error).toMatchObject({ level: 'agent', unit: 'requests', limit: 3 });
      expect(err.headers.get('retry-after')).toBe('20');
    }
    // Other agents are not touched.
    const demo = await client('demo-agent');
    const free = await call(demo.openai);
    expect(rateHeaders(free.response.headers)).toEqual({}); // no limit applies: no headers
    clock += 20_000;
    expect((await call(b.openai)).response.status).toBe(200);
    expect((await refusal(call(a.openai))).status).toBe(429);
  });

  it('tokens per minute are charged at the estimate and corrected to the real usage when the call ends', async () => {
    const { openai, sessionId } = await client('token-limited');
    const first = await call(openai, { messages: TPM_MESSAGES, max_tokens: TPM_MAX });
    expect(first.data.usage!.total_tokens).toBe(ACTUAL);
    expect(rateHeaders(first.response.headers)).toMatchObject({
      'x-ratelimit-limit-tokens': String(TPM),
      'x-ratelimit-remaining-tokens': String(TPM - ESTIMATE),
    });
    expect(first.response.headers.get('x-ratelimit-limit-requests')).toBeNull();

    // Two estimates do not fit in TPM, but the first call gave back what it did not use.
    const second = await call(openai, { messages: TPM_MESSAGES, max_tokens: TPM_MAX });
    expect(second.response.headers.get('x-ratelimit-remaining-tokens')).toBe(String(TPM - ACTUAL - ESTIMATE));

    // Now 2 × ACTUAL are used: one more estimate does not fit.
    const err = await refusal(call(openai, { messages: TPM_MESSAGES, max_tokens: TPM_MAX }));
    expect(err.status).toBe(429);
    expect(err.error).toMatchObject({ level: 'session', unit: 'tokens', limit: TPM });
    expect(err.message).toContain('tokens per minute');
    const over = 2 * ACTUAL + ESTIMATE - TPM;
    expect(err.headers.get('retry-after')).toBe(String(Math.ceil((over * 60) / TPM)));
    expect(err.headers.get('x-ratelimit-remaining-tokens')).toBe(String(TPM - 2 * ACTUAL));

    // A streamed call is corrected too, once its stream has ended.
    clock += 60_000;
    const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: TPM_MESSAGES, max_tokens: TPM_MAX, stream: true });
    for await (const _chunk of stream) { /* drain */ }
    const after = await call(openai, { messages: TPM_MESSAGES, max_tokens: TPM_MAX });
    expect(after.response.headers.get('x-ratelimit-remaining-tokens')).toBe(String(TPM - ACTUAL - ESTIMATE));
    expect((await gw.session(sessionId)).spent.requests).toBe(4);
  });

  it('50 concurrent calls against 10 requests per minute: exactly 10 are admitted', async () => {
    const { openai } = await client('burst');
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => call(openai)));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(10);
    expect(refused).toHaveLength(40);
    for (const r of refused) expect((r.reason as ApiError).status).toBe(429);

    // The same at the agent level, spread over five sessions.
    const sessions = await Promise.all(Array.from({ length: 5 }, () => client('burst-agent')));
    const spread = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => call(sessions[i % 5]!.openai)));
    expect(spread.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    for (const r of spread) if (r.status === 'rejected') expect((r.reason as ApiError).error).toMatchObject({ level: 'agent', unit: 'requests' });
  });

  it('the SDK with its default retries honours Retry-After and then succeeds', async () => {
    const seen: { status: number; retryAfter: string | null; at: number }[] = [];
    const watching: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      seen.push({ status: res.status, retryAfter: res.headers.get('retry-after'), at: performance.now() });
      // The gateway's clock moves on by what it asked the client to wait.
      if (res.status === 429) clock += Number(res.headers.get('retry-after')) * 1000;
      return res;
    };
    const { openai: quick, token } = await client('retrying');
    await Promise.all(Array.from({ length: 60 }, () => call(quick)));
    const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, fetch: watching }); // default maxRetries (2)
    const started = performance.now();
    const { data, response } = await call(openai);
    expect(data.choices[0]!.message.content).toBeTruthy();
    expect(response.status).toBe(200);
    expect(seen.map((s) => s.status)).toEqual([429, 200]);
    expect(seen[0]!.retryAfter).toBe('1');
    // It waited what Retry-After said before trying again (and not much longer).
    expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(990);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('never answers 429 for an exhausted budget: that is 402, and the held tokens are given back', async () => {
    const { openai: thrifty } = await client('thrifty', { budget: { tokens: 5 } }, { maxRetries: 2 });
    for (let i = 0; i < 4; i++) {
      const started = performance.now();
      const err = await refusal(call(thrifty, { messages: TPM_MESSAGES, max_tokens: TPM_MAX }));
      expect(err.status).toBe(402);
      expect(err.code).toBe('budget_exceeded');
      expect(err.headers.get('retry-after')).toBeNull();
      // Not retried: the SDK's two retries would wait ≥ 1.1 s (0.375–0.5 s, then 0.75–1 s of backoff).
      expect(performance.now() - started).toBeLessThan(1000);
    }
    // The agent's tokens per minute fit two estimates: the four refused calls held none of them.
    const { openai } = await client('thrifty');
    const ok = await call(openai, { messages: TPM_MESSAGES, max_tokens: TPM_MAX });
    expect(ok.response.headers.get('x-ratelimit-remaining-tokens')).toBe(String(2 * ESTIMATE - ESTIMATE));
  });

  it('speaks the Anthropic dialect on /v1/messages', async () => {
    const { token } = await gw.openSession({ agent: 'session-limited' });
    const send = () =>
      fetch(`${gw.url}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': token, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }),
      });
    expect((await send()).status).toBe(200);
    expect((await send()).status).toBe(200);
    const res = await send();
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('30');
    const body = await res.json();
    expect(body).toMatchObject({ type: 'error', error: { type: 'rate_limit_error', code: 'rate_limited', level: 'session', unit: 'requests' } });
  });

  it('profiles carry rate_limits through the admin API, validated', async () => {
    const shown = await gw.admin('GET', '/admin/v1/profiles/per-agent');
    expect(shown.body.rate_limits).toEqual({
      session: { requests_per_minute: 10, tokens_per_minute: null },
      agent: { requests_per_minute: 3, tokens_per_minute: null },
    });
    expect((await gw.admin('GET', '/admin/v1/profiles/assistant')).body.rate_limits).toEqual({ session: null, agent: null });

    const created = await gw.admin('POST', '/admin/v1/profiles', { name: 'limited-via-api', models: ['gpt-4o-mini'], rate_limits: { agent: { tokens_per_minute: 5000 } } });
    expect(created.status).toBe(201);
    expect(created.body.rate_limits).toEqual({ session: null, agent: { requests_per_minute: null, tokens_per_minute: 5000 } });
    for (const bad of [{ session: { requests_per_minute: 0 } }, { session: { rpm: 5 } }, { team: {} }, { agent: { tokens_per_minute: 1.5 } }]) {
      const res = await gw.admin('POST', '/admin/v1/profiles', { name: 'bad-limits', models: [], rate_limits: bad }, ADMIN_TOKEN);
      expect(res.status).toBe(400);
    }
  });
});
