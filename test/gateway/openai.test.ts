// The data plane through the official `openai` client, against the simulated provider.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countPromptTokens } from '../../src/providers/prompt-tokens.js';
import { countTokens } from '../../src/providers/tokenizer.js';
import { expectedUsd, startGateway, type TestGateway } from '../helpers/gateway.js';

type ApiError = InstanceType<typeof OpenAI.APIError>;

const PRICE = { input: 0.15, output: 0.6, cached_input: 0.075 }; // gpt-4o-mini in config/default.yaml

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => {
  await gw.close();
});

async function client(input: Record<string, unknown> = {}) {
  const { token, sessionId } = await gw.openSession(input);
  return { openai: new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 }), sessionId };
}

describe('OpenAI chat completions through the gateway', () => {
  it('lists the session\'s models and retrieves one (models.list, models.retrieve); another is 404 in the caller\'s shape', async () => {
    const { openai } = await client({ models: ['gpt-4o-mini'] });
    expect((await openai.models.list()).data.map((m) => m.id)).toEqual(['gpt-4o-mini']);
    expect(await openai.models.retrieve('gpt-4o-mini')).toMatchObject({ id: 'gpt-4o-mini', object: 'model', owned_by: 'sim' });
    const err = await openai.models.retrieve('gpt-4o').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('model_not_found');
    const { token } = await gw.openSession({ models: ['claude-3-5-haiku-latest'] });
    const anthropic = new Anthropic({ apiKey: token, baseURL: gw.url, maxRetries: 0 });
    expect(await anthropic.models.retrieve('claude-3-5-haiku-latest')).toMatchObject({ type: 'model', id: 'claude-3-5-haiku-latest' });
    const missing = await anthropic.models.retrieve('gpt-4o-mini').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(Anthropic.NotFoundError);
    // An Anthropic route the gateway does not serve answers in Anthropic's shape.
    const batches = await anthropic.messages.batches.list().catch((e: unknown) => e);
    expect(batches).toBeInstanceOf(Anthropic.NotFoundError);
    expect((batches as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });

  it('forwards a plain call and charges exactly the usage the upstream reported', async () => {
    const { openai, sessionId } = await client();
    const messages = [{ role: 'user' as const, content: 'Say something about budgets.' }];
    const { data: completion, response } = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
    expect(response.headers.get('x-tollgate-session')).toBe(sessionId);
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    const usage = completion.usage!;
    expect(usage.prompt_tokens).toBe(countPromptTokens({ messages }));
    expect(usage.completion_tokens).toBe(countTokens(completion.choices[0]!.message.content!));

    const session = await gw.session(sessionId);
    expect(session.spent).toMatchObject({ input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens, requests: 1 });
    expect(session.spent.usd).toBeCloseTo(expectedUsd({ input: usage.prompt_tokens, output: usage.completion_tokens }, PRICE), 9);
    expect(session.agent.name).toBe('demo-agent');
    expect(session.team.name).toBe('demo');

    const lines = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ model: 'gpt-4o-mini', provider: 'sim', stream: false, estimated: false, outcome: 'ok', input_tokens: usage.prompt_tokens });
  });

  it('serves an API whatever query parameters its client adds (Azure\'s api-version, defaultQuery, ?beta=true)', async () => {
    const { token, sessionId } = await gw.openSession({ models: ['gpt-4o-mini', 'claude-3-5-haiku-latest'] });
    const azureStyle = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0, defaultQuery: { 'api-version': '2024-10-21' } });
    const completion = await azureStyle.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    expect(completion.object).toBe('chat.completion');
    const messages = await fetch(`${gw.url}/v1/messages?beta=true`, {
      method: 'POST',
      headers: { 'x-api-key': token, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(messages.status).toBe(200);
    expect(await messages.json()).toMatchObject({ type: 'message', role: 'assistant' });
    const counted = await fetch(`${gw.url}/v1/messages/count_tokens?beta=true`, {
      method: 'POST',
      headers: { 'x-api-key': token, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-3-5-haiku-latest', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(counted.status).toBe(200);
    expect((await gw.session(sessionId)).spent.requests).toBe(2);
  });

  it('sends the upstream the provider key, never the agent token', async () => {
    const sim = await import('../../src/providers/simulated/index.js');
    const upstream = await sim.createSimulatedProvider({ apiKey: 'sk-provider-secret' });
    const keyed = await startGateway(
      {
        providers: [{ name: 'real', type: 'openai', base_url: `${upstream.url}/v1`, api_key_env: 'TEST_PROVIDER_KEY' }],
        models: [{ name: 'gpt-4o-mini', provider: 'real', upstream_model: 'gpt-4o-mini-2024-07-18', price: PRICE }],
        profiles: [{ name: 'assistant', models: ['gpt-4o-mini'] }],
      },
      { TEST_PROVIDER_KEY: 'sk-provider-secret' },
    );
    try {
      const { token } = await keyed.openSession();
      const openai = new OpenAI({ apiKey: token, baseURL: `${keyed.url}/v1`, maxRetries: 0 });
      const res = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
      expect(res.choices[0]!.message.content).toBeTruthy();
      const seen = upstream.requests.at(-1)!;
      expect(seen.headers.authorization).toBe('Bearer sk-provider-secret');
      expect(JSON.stringify(seen.headers)).not.toContain(token);
      expect((seen.body as { model: string }).model).toBe('gpt-4o-mini-2024-07-18');
    } finally {
      await keyed.close();
      await upstream.close();
    }
  });

  it('streams chunk by chunk, strips the usage chunk the client did not ask for, and charges the reported usage', async () => {
    const { openai, sessionId } = await client();
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o-mini', stream: true, max_completion_tokens: 20,
      messages: [{ role: 'user', content: 'Stream please [[sim:tokens=12]]' }],
    });
    let text = '';
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      expect(chunk.choices.length).toBeGreaterThan(0); // no usage-only chunk reached us
      expect(chunk).not.toHaveProperty('usage'); // nor the `usage: null` that asking for it adds
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(chunks).toBeGreaterThanOrEqual(12);
    const session = await gw.session(sessionId);
    expect(session.spent.output_tokens).toBe(12);
    expect(session.spent.output_tokens).toBe(countTokens(text));
    const [line] = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
    expect(line).toMatchObject({ stream: true, estimated: false, outcome: 'ok', output_tokens: 12 });
  });

  it('passes the usage chunk through when the client asked for it', async () => {
    const { openai, sessionId } = await client();
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'with usage [[sim:tokens=7]]' }],
    });
    let usage: OpenAI.CompletionUsage | null | undefined;
    const shapes = new Set<string>();
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      else shapes.add(JSON.stringify(chunk.usage)); // OpenAI's `usage: null` on every other chunk
    }
    expect(usage?.completion_tokens).toBe(7);
    expect([...shapes]).toEqual(['null']);
    expect((await gw.session(sessionId)).spent.output_tokens).toBe(7);
  });

  it('charges a stream cut half-way for what was delivered, marked estimated', async () => {
    const { openai, sessionId } = await client();
    const messages = [{ role: 'user' as const, content: 'cut me [[sim:cut_after=9]]' }];
    const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', stream: true, max_tokens: 50, messages });
    let text = '';
    await expect(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      })(),
    ).rejects.toThrow();
    const delivered = countTokens(text);
    expect(delivered).toBe(9);
    const session = await gw.session(sessionId);
    expect(session.spent.output_tokens).toBe(delivered);
    expect(session.spent.input_tokens).toBe(countPromptTokens({ messages }));
    expect(session.spent.usd).toBeCloseTo(expectedUsd({ input: countPromptTokens({ messages }), output: delivered }, PRICE), 9);
    const [line] = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
    expect(line).toMatchObject({ estimated: true, outcome: 'stream_cut' });
  });

  it('charges what was delivered when the upstream reports an error mid-stream', async () => {
    const { openai, sessionId } = await client();
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'fail midway [[sim:stream_error_after=5]]' }],
    });
    let text = '';
    const err = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(countTokens(text)).toBe(5);
    const s = await gw.session(sessionId);
    expect(s.spent.output_tokens).toBe(5);
    const [line] = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
    expect(line).toMatchObject({ estimated: true, outcome: 'stream_cut' });
  });

  it('charges a client that disconnects mid-stream for what it received, and releases the rest of the hold', async () => {
    const { token, sessionId } = await gw.openSession({ budget: { usd: 0.5 } });
    const controller = new AbortController();
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', signal: controller.signal,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, max_tokens: 400, messages: [{ role: 'user', content: 'long [[sim:tokens=400]] [[sim:tokens_per_second=200]]' }] }),
    });
    const reader = res.body!.getReader();
    let received = '';
    while (!received.includes('"content":" ') || received.split('"content"').length < 6) received += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    let s = await gw.session(sessionId);
    for (let i = 0; i < 50 && s.spent.requests === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      s = await gw.session(sessionId);
    }
    expect(s.spent.requests).toBe(1);
    expect(s.spent.output_tokens).toBeGreaterThan(0);
    expect(s.spent.output_tokens).toBeLessThan(400);
    expect(s.remaining.usd).toBeCloseTo(0.5 - s.spent.usd, 9); // nothing still held
    const [line] = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
    expect(line).toMatchObject({ estimated: true, outcome: 'client_aborted' });
  });

  it('records a call whose client left before any answer as client_aborted with status 499, charged its prompt (the upstream had it), estimated', async () => {
    const { token, sessionId } = await gw.openSession({ budget: { usd: 0.5 } });
    const controller = new AbortController();
    const sent = fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', signal: controller.signal,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user', content: 'slow [[sim:latency_ms=2000]]' }] }),
    }).catch(() => 'aborted');
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    expect(await sent).toBe('aborted');
    let lines: { outcome: string; http_status: number; cost_usd: number; input_tokens: number; output_tokens: number; estimated: boolean }[] = [];
    for (let i = 0; i < 100 && lines.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      lines = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
    }
    expect(lines).toHaveLength(1);
    const promptTokens = countPromptTokens({ messages: [{ role: 'user', content: 'slow [[sim:latency_ms=2000]]' }] });
    expect(lines[0]).toMatchObject({ outcome: 'client_aborted', http_status: 499, estimated: true, input_tokens: promptTokens, output_tokens: 0 });
    expect(lines[0]!.cost_usd).toBeCloseTo(expectedUsd({ input: promptTokens, output: 0 }, PRICE), 12);
    // The session paid it, and holds nothing more.
    const s = await gw.session(sessionId);
    expect(s.spent.input_tokens).toBe(promptTokens);
    expect(s.remaining.usd).toBeCloseTo(0.5 - s.spent.usd, 9);
  });

  it('charges nothing for a call whose client left before its request went upstream (it waited for a connection)', async () => {
    // One connection to the provider: a slow call holds it, the next waits for it, and its client leaves meanwhile.
    const narrow = await startGateway({ providers: [{ name: 'sim', type: 'simulated', max_connections: 1 }] });
    try {
      const { token, sessionId } = await narrow.openSession({ budget: { usd: 0.5 } });
      const post = (content: string, signal?: AbortSignal) => fetch(`${narrow.url}/v1/chat/completions`, {
        method: 'POST', signal,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user', content }] }),
      });
      const holding = post('hold the connection [[sim:latency_ms=1500]]');
      await new Promise((r) => setTimeout(r, 200));
      const controller = new AbortController();
      const waiting = post('never sent', controller.signal).catch(() => 'aborted');
      await new Promise((r) => setTimeout(r, 300));
      controller.abort();
      expect(await waiting).toBe('aborted');
      expect((await holding).status).toBe(200);
      let lines: { outcome: string; cost_usd: number; input_tokens: number; estimated: boolean }[] = [];
      for (let i = 0; i < 100 && lines.length < 2; i++) {
        await new Promise((r) => setTimeout(r, 20));
        lines = (await narrow.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
      }
      const aborted = lines.find((l) => l.outcome === 'client_aborted');
      expect(aborted).toMatchObject({ cost_usd: 0, input_tokens: 0, estimated: false });
    } finally {
      await narrow.close();
    }
  });

  it('prices cached and reasoning tokens from the catalog', async () => {
    const cached = await startGateway({ providers: [{ name: 'sim', type: 'simulated', simulated: { cached_prompt_share: 0.5 } }] });
    try {
      const { token, sessionId } = await cached.openSession();
      const openai = new OpenAI({ apiKey: token, baseURL: `${cached.url}/v1`, maxRetries: 0 });
      const res = await openai.chat.completions.create({ model: 'o3-mini', messages: [{ role: 'user', content: 'think hard about a long prompt with many words in it' }] });
      const u = res.usage!;
      expect(u.prompt_tokens_details!.cached_tokens).toBeGreaterThan(0);
      expect(u.completion_tokens_details!.reasoning_tokens).toBeGreaterThan(0);
      const s = await cached.session(sessionId);
      expect(s.spent).toMatchObject({ cached_input_tokens: u.prompt_tokens_details!.cached_tokens, reasoning_tokens: u.completion_tokens_details!.reasoning_tokens });
      const price = { input: 1.1, output: 4.4, cached_input: 0.55 };
      expect(s.spent.usd).toBeCloseTo(expectedUsd({ input: u.prompt_tokens, cached: u.prompt_tokens_details!.cached_tokens!, output: u.completion_tokens }, price), 9);
    } finally {
      await cached.close();
    }
  });

  it('serves embeddings and charges input tokens only', async () => {
    const { openai, sessionId } = await client();
    const res = await openai.embeddings.create({ model: 'text-embedding-3-small', input: ['first text', 'second text here'] });
    expect(res.data).toHaveLength(2);
    expect(res.data[0]!.embedding.length).toBeGreaterThan(0);
    const s = await gw.session(sessionId);
    expect(s.spent.input_tokens).toBe(res.usage.prompt_tokens);
    expect(s.spent.output_tokens).toBe(0);
    expect(s.spent.usd).toBeCloseTo(expectedUsd({ input: res.usage.prompt_tokens, output: 0 }, { input: 0.02, output: 0 }), 9);
  });

  it('lists only the models the session may use', async () => {
    const { openai } = await client({ models: ['gpt-4o-mini', 'claude-3-5-haiku-latest'] });
    const ids = [];
    for await (const m of openai.models.list()) ids.push(m.id);
    expect(ids.sort()).toEqual(['claude-3-5-haiku-latest', 'gpt-4o-mini']);
  });

  it('refuses a model outside the session scope with 403 model_not_allowed, charging nothing', async () => {
    const { openai, sessionId } = await client({ models: ['gpt-4o-mini'] });
    const err = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((err as ApiError).status).toBe(403);
    expect((err as ApiError).code).toBe('model_not_allowed');
    expect((await gw.session(sessionId)).spent.requests).toBe(0);
  });

  it('reserves for every choice when a call asks for n completions', async () => {
    const { openai } = await client({ budget: { tokens: 300 } });
    const messages = [{ role: 'user' as const, content: 'three answers' }];
    const { response } = await openai.chat.completions.create({ model: 'gpt-4o-mini', n: 3, messages }).withResponse();
    const cap = Number(response.headers.get('x-tollgate-max-output-tokens'));
    expect(cap).toBeGreaterThan(0);
    expect(countPromptTokens({ messages }) + 3 * cap).toBeLessThanOrEqual(300);
  });

  it('clamps the output to what a small budget can pay for, and refuses with 402 once it is spent', async () => {
    const { openai, sessionId } = await client({ budget: { tokens: 200 } });
    const first = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi [[sim:tokens=500]]' }] }).withResponse();
    const cap = Number(first.response.headers.get('x-tollgate-max-output-tokens'));
    expect(cap).toBeGreaterThan(0);
    expect(cap).toBeLessThanOrEqual(200);
    expect(first.data.usage!.total_tokens).toBeLessThanOrEqual(200);
    let refused: unknown;
    for (let i = 0; i < 20 && !refused; i++) {
      refused = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'more [[sim:tokens=500]]' }] }).then(() => undefined, (e: unknown) => e);
    }
    expect((refused as ApiError).status).toBe(402);
    expect((refused as ApiError).code).toBe('budget_exceeded');
    const s = await gw.session(sessionId);
    expect(s.spent.total_tokens).toBeLessThanOrEqual(200);
  });
});
