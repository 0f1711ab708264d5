// The Anthropic Messages API through the official `@anthropic-ai/sdk` client.
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anthropicMessages } from '../../src/providers/apis/index.js';
import { countPromptTokens } from '../../src/providers/prompt-tokens.js';
import { countTokens } from '../../src/providers/tokenizer.js';
import { expectedUsd, startGateway, type TestGateway } from '../helpers/gateway.js';

const PRICE = { input: 0.8, output: 4, cached_input: 0.08, cache_write: 1 }; // claude-3-5-haiku-latest
const MODEL = 'claude-3-5-haiku-latest';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway({ providers: [{ name: 'sim', type: 'simulated', simulated: { cached_prompt_share: 0.25 } }] });
});
afterAll(async () => {
  await gw.close();
});

async function client(useBearer = false) {
  const { token, sessionId } = await gw.openSession();
  const anthropic = useBearer
    ? new Anthropic({ authToken: token, apiKey: null, baseURL: gw.url, maxRetries: 0 })
    : new Anthropic({ apiKey: token, baseURL: gw.url, maxRetries: 0 });
  return { anthropic, sessionId };
}

describe('Anthropic messages through the gateway', () => {
  it('charges a plain call with cache reads priced as cache reads (input_tokens excludes them)', async () => {
    const { anthropic, sessionId } = await client();
    const system = 'You are terse.';
    const messages = [{ role: 'user' as const, content: 'Explain budgets to me in some detail please, with examples.' }];
    const msg = await anthropic.messages.create({ model: MODEL, max_tokens: 40, system, messages });
    const u = msg.usage;
    const totalInput = u.input_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0);
    expect(totalInput).toBe(countPromptTokens({ system, messages }));
    expect(u.cache_read_input_tokens).toBeGreaterThan(0);
    const s = await gw.session(sessionId);
    expect(s.spent).toMatchObject({ input_tokens: totalInput, cached_input_tokens: u.cache_read_input_tokens, output_tokens: u.output_tokens });
    expect(s.spent.usd).toBeCloseTo(expectedUsd({ input: totalInput, cached: u.cache_read_input_tokens!, output: u.output_tokens }, PRICE), 9);
  });

  it('gives Anthropic\'s clients the request id where they read it (`request-id`), on answers and on errors', async () => {
    const { anthropic } = await client();
    const { response, request_id } = await anthropic.messages.create({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect(request_id).toMatch(/^req_/);
    expect(request_id).toBe(response.headers.get('x-request-id'));
    const err = await anthropic.messages.create({ model: 'no-such-model', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect((err as InstanceType<typeof Anthropic.APIError>).requestID).toMatch(/^req_/);
  });

  it('extended thinking under a budget: the thinking budget is cut with the output limit, and a call that cannot afford its minimum is refused (402)', async () => {
    const body = { model: MODEL, max_tokens: 16_000, thinking: { type: 'enabled', budget_tokens: 10_000 }, messages: [{ role: 'user', content: 'think' }] };
    const call = anthropicMessages.parse(structuredClone(body));
    expect(call.minOutputTokens).toBe(1025);
    const cut = structuredClone(body) as Record<string, any>;
    anthropicMessages.rewrite(cut, call, { upstreamModel: MODEL, maxOutputTokens: 3331 });
    expect([cut.max_tokens, cut.thinking.budget_tokens]).toEqual([3331, 2498]);
    const least = structuredClone(body) as Record<string, any>;
    anthropicMessages.rewrite(least, call, { upstreamModel: MODEL, maxOutputTokens: 1025 });
    expect([least.max_tokens, least.thinking.budget_tokens]).toEqual([1025, 1024]);
    const roomy = structuredClone(body) as Record<string, any>;
    anthropicMessages.rewrite(roomy, call, { upstreamModel: MODEL, maxOutputTokens: 12_000 });
    expect([roomy.max_tokens, roomy.thinking.budget_tokens]).toEqual([12_000, 10_000]);
    expect(anthropicMessages.parse({ ...body, thinking: { type: 'disabled' } }).minOutputTokens).toBeUndefined();

    // $4 per 1M output tokens: $0.003 pays for ~740 tokens of output, under thinking's 1,025.
    const { token, sessionId } = await gw.openSession({ budget: { usd: 0.003 } });
    const anthropic = new Anthropic({ apiKey: token, baseURL: gw.url, maxRetries: 0 });
    const err = await anthropic.messages.create({ model: MODEL, max_tokens: 16_000, thinking: { type: 'enabled', budget_tokens: 10_000 }, messages: [{ role: 'user', content: 'think' }] })
      .catch((e: unknown) => e);
    expect((err as InstanceType<typeof Anthropic.APIError>).status).toBe(402);
    // Without thinking, the same budget runs the call with its output cut to fit.
    const ok = await anthropic.messages.create({ model: MODEL, max_tokens: 16_000, messages: [{ role: 'user', content: 'plain [[sim:tokens=5]]' }] }).withResponse();
    expect(Number(ok.response.headers.get('x-tollgate-max-output-tokens'))).toBeLessThan(1025);
    expect((await gw.session(sessionId)).spent.requests).toBe(1);
  });

  it('accepts the token as a Bearer token too', async () => {
    const { anthropic, sessionId } = await client(true);
    await anthropic.messages.create({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    expect((await gw.session(sessionId)).spent.requests).toBe(1);
  });

  it('streams events as they come and charges the final cumulative usage', async () => {
    const { anthropic, sessionId } = await client();
    const stream = anthropic.messages.stream({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'stream [[sim:tokens=15]]' }] });
    const types: string[] = [];
    stream.on('streamEvent', (e) => types.push(e.type));
    const final = await stream.finalMessage();
    expect(types[0]).toBe('message_start');
    expect(types.at(-1)).toBe('message_stop');
    expect(types.filter((t) => t === 'content_block_delta')).toHaveLength(15);
    expect(final.usage.output_tokens).toBe(15);
    const s = await gw.session(sessionId);
    expect(s.spent.output_tokens).toBe(15);
    const [line] = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
    expect(line).toMatchObject({ api: 'anthropic.messages', stream: true, estimated: false, outcome: 'ok' });
  });

  it('charges a cut stream: reported input from message_start, delivered output counted', async () => {
    const { anthropic, sessionId } = await client();
    const messages = [{ role: 'user' as const, content: 'cut [[sim:cut_after=6]]' }];
    const stream = anthropic.messages.stream({ model: MODEL, max_tokens: 64, messages });
    let text = '';
    stream.on('text', (t) => (text += t));
    await expect(stream.finalMessage()).rejects.toThrow();
    expect(countTokens(text)).toBe(6);
    const s = await gw.session(sessionId);
    // Claude's tokenizer is not public: delivered text is counted with the documented estimate,
    // ceil(o200k × 1.25) = ceil(6 × 1.25) = 8 (docs/providers.md#token-counting).
    expect(s.spent.output_tokens).toBe(8);
    expect(s.spent.input_tokens).toBe(countPromptTokens({ messages }));
    const [line] = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
    expect(line).toMatchObject({ estimated: true, outcome: 'stream_cut' });
  });

  it('lists the session\'s models in Anthropic\'s shape for the Anthropic SDK', async () => {
    const { token } = await gw.openSession({ models: [MODEL] });
    const anthropic = new Anthropic({ apiKey: token, baseURL: gw.url, maxRetries: 0 });
    const ids: string[] = [];
    for await (const m of anthropic.models.list()) ids.push(m.id);
    expect(ids).toEqual([MODEL]);
  });

  it('answers errors in Anthropic\'s shape', async () => {
    const { anthropic } = await client();
    const err = (await anthropic.messages.create({ model: 'gpt-4o-nope', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e)) as InstanceType<typeof Anthropic.APIError>;
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    const bad = new Anthropic({ apiKey: 'not-a-token', baseURL: gw.url, maxRetries: 0 });
    const unauth = await bad.messages.create({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(unauth).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((unauth as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
  });
});
