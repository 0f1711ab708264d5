// Token counting through the gateway with the official clients: Anthropic's
// `messages.countTokens` (`POST /v1/messages/count_tokens`) and OpenAI's
// `responses.inputTokens.count` (`POST /v1/responses/input_tokens`). The provider's own count comes
// back (the same the call would be billed), nothing is charged, the request is recorded; scope,
// authentication and the provider's errors hold as for a model call.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulatedProvider } from '../../src/providers/simulated/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const CLAUDE = 'claude-3-5-haiku-latest';
let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway({
    profiles: [
      { name: 'assistant', models: ['gpt-4o-mini', CLAUDE], tools: ['*'] }, { name: 'gpt-only', models: ['gpt-4o-mini'] },
      { name: 'limited', models: ['gpt-4o-mini', CLAUDE], rate_limits: { session: { requests_per_minute: 3 } } },
    ],
    agents: [
      { name: 'demo-agent', team: 'demo', profile: 'assistant' }, { name: 'gpt-agent', team: 'demo', profile: 'gpt-only' },
      { name: 'limited-agent', team: 'demo', profile: 'limited' },
    ],
  });
});
afterAll(async () => {
  await gw.close();
});

const events = async (sessionId: string, type: string) => (await gw.admin('GET', `/admin/v1/audit/events?session=${sessionId}&type=${type}`)).body.data;
const usageLines = async (sessionId: string) => (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;

describe('token counting', () => {
  it('Anthropic: messages.countTokens answers the provider\'s count, the same the call is billed; nothing charged, the count recorded', async () => {
    const { token, sessionId } = await gw.openSession();
    const anthropic = new Anthropic({ apiKey: token, baseURL: gw.url, maxRetries: 0 });
    const request = {
      model: CLAUDE, system: 'You are terse.',
      messages: [{ role: 'user' as const, content: 'How many tokens is this prompt, counted by the provider itself?' }],
      tools: [{ name: 'lookup', description: 'Look a word up', input_schema: { type: 'object' as const, properties: { word: { type: 'string' } } } }],
    };
    const { data: counted, request_id } = await anthropic.messages.countTokens(request).withResponse();
    expect(counted.input_tokens).toBeGreaterThan(20);
    expect(request_id).toMatch(/^req_/);
    expect(await usageLines(sessionId)).toEqual([]);
    expect((await gw.session(sessionId)).spent).toMatchObject({ usd: 0, input_tokens: 0 });
    const [event] = await events(sessionId, 'model.tokens_counted');
    expect(event.data).toMatchObject({ model: CLAUDE, api: 'anthropic.messages', status: 200, input_tokens: counted.input_tokens, policy: { effect: 'allow' } });
    // The call of the same prompt is billed that many input tokens.
    const msg = await anthropic.messages.create({ ...request, max_tokens: 5 });
    expect(msg.usage.input_tokens + (msg.usage.cache_read_input_tokens ?? 0) + (msg.usage.cache_creation_input_tokens ?? 0)).toBe(counted.input_tokens);
    expect(await usageLines(sessionId)).toHaveLength(1);
  });

  it('OpenAI: responses.inputTokens.count answers the provider\'s count, the same the response is billed', async () => {
    const { token, sessionId } = await gw.openSession();
    const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const request = { model: 'gpt-4o-mini', instructions: 'Be brief.', input: 'Count the tokens of this input, please, as the provider would.' };
    const counted = await openai.responses.inputTokens.count(request);
    expect(counted).toMatchObject({ object: 'response.input_tokens', input_tokens: expect.any(Number) });
    const res = await openai.responses.create(request);
    expect(res.usage?.input_tokens).toBe(counted.input_tokens);
    const [event] = await events(sessionId, 'model.tokens_counted');
    expect(event.data).toMatchObject({ model: 'gpt-4o-mini', api: 'openai.responses', input_tokens: counted.input_tokens });
  });

  it('refuses what a model call would refuse, in the API\'s own error shape, before anything goes upstream', async () => {
    const gptOnly = await gw.openSession({ agent: 'gpt-agent' });
    const anthropic = new Anthropic({ apiKey: gptOnly.token, baseURL: gw.url, maxRetries: 0 });
    const outOfScope = await anthropic.messages.countTokens({ model: CLAUDE, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(outOfScope).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect((outOfScope as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'permission_error' } });
    const [refused] = await events(gptOnly.sessionId, 'model.refused');
    expect(refused.data).toMatchObject({ code: 'model_not_allowed', model: CLAUDE });
    expect(await events(gptOnly.sessionId, 'model.tokens_counted')).toEqual([]);
    const { token } = await gw.openSession();
    const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const unknown = await openai.responses.inputTokens.count({ model: 'no-such-model', input: 'hi' }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect((unknown as InstanceType<typeof OpenAI.APIError>).code).toBe('model_not_found');
    const noModel = await openai.responses.inputTokens.count({ input: 'hi' }).catch((e: unknown) => e);
    expect(noModel).toBeInstanceOf(OpenAI.BadRequestError);
    expect((noModel as InstanceType<typeof OpenAI.APIError>).param).toBe('model');
    // No credential, or a revoked session's: 401.
    const anonymous = await new Anthropic({ apiKey: 'not-a-token', baseURL: gw.url, maxRetries: 0 }).messages.countTokens({ model: CLAUDE, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(anonymous).toBeInstanceOf(Anthropic.AuthenticationError);
    const revoked = await gw.openSession();
    await gw.admin('POST', `/admin/v1/sessions/${revoked.sessionId}/revoke`, {});
    const afterRevoke = await new Anthropic({ apiKey: revoked.token, baseURL: gw.url, maxRetries: 0 }).messages.countTokens({ model: CLAUDE, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(afterRevoke).toBeInstanceOf(Anthropic.AuthenticationError);
  });

  it('relays the provider\'s own error as it sent it, and records the request with its status', async () => {
    const { token, sessionId } = await gw.openSession();
    const res = await fetch(`${gw.url}/v1/messages/count_tokens`, {
      method: 'POST', headers: { 'x-api-key': token, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: CLAUDE, messages: [] }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('messages') } });
    const [event] = await events(sessionId, 'model.tokens_counted');
    expect(event.data).toMatchObject({ status: 400, input_tokens: null });
    // Not JSON, or not POST: the gateway's own errors, in Anthropic's shape.
    const garbled = await fetch(`${gw.url}/v1/messages/count_tokens`, { method: 'POST', headers: { 'x-api-key': token, 'content-type': 'application/json' }, body: '{"model":' });
    expect(garbled.status).toBe(400);
    expect(await garbled.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    const get = await fetch(`${gw.url}/v1/messages/count_tokens`, { headers: { 'x-api-key': token } });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  it('counts against the session\'s requests per minute, with model calls: 429 with Retry-After past the limit, recorded', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'limited-agent' });
    const anthropic = new Anthropic({ apiKey: token, baseURL: gw.url, maxRetries: 0 });
    const count = () => anthropic.messages.countTokens({ model: CLAUDE, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    const first = await count();
    expect(first.response.headers.get('x-ratelimit-limit-requests')).toBe('3');
    expect(first.response.headers.get('x-ratelimit-remaining-requests')).toBe('2');
    await count();
    await anthropic.messages.create({ model: CLAUDE, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    const limited = await count().catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(Anthropic.RateLimitError);
    expect(Number((limited as InstanceType<typeof Anthropic.APIError>).headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((limited as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    expect(await events(sessionId, 'model.tokens_counted')).toHaveLength(2);
    const [refused] = await events(sessionId, 'model.refused');
    expect(refused.data).toMatchObject({ code: 'rate_limited', model: CLAUDE, api: 'anthropic.messages' });
  });

  it('the provider refusing the gateway\'s own key is a 502, never relayed (its message may quote the key)', async () => {
    const upstream = await createSimulatedProvider({ apiKey: 'sk-the-right-key' });
    const wrong = await startGateway({
      providers: [{ name: 'picky', type: 'openai', base_url: `${upstream.url}/v1`, api_key_env: 'K' }],
      models: [{ name: 'gpt-4o-mini', provider: 'picky', price: { input: 1, output: 1 } }],
      profiles: [{ name: 'assistant', models: ['gpt-4o-mini'] }],
    }, { K: 'sk-wrong-key-0123456789' });
    try {
      const { token, sessionId } = await wrong.openSession();
      const openai = new OpenAI({ apiKey: token, baseURL: `${wrong.url}/v1`, maxRetries: 0 });
      const err = await openai.responses.inputTokens.count({ model: 'gpt-4o-mini', input: 'hi' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.InternalServerError);
      expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
      expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('upstream_unavailable');
      // Retrying cannot fix the gateway's key: the SDKs are told not to.
      expect((err as InstanceType<typeof OpenAI.APIError>).headers?.get('x-should-retry')).toBe('false');
      expect(JSON.stringify((err as InstanceType<typeof OpenAI.APIError>).error)).not.toContain('sk-wrong');
      const [event] = (await wrong.admin('GET', `/admin/v1/audit/events?session=${sessionId}&type=model.tokens_counted`)).body.data;
      expect(event.data).toMatchObject({ status: 502, error: 'upstream_unavailable', input_tokens: null });
    } finally {
      await wrong.close();
      await upstream.close();
    }
  });
});
