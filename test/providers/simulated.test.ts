// The simulated provider against the official openai and @anthropic-ai/sdk clients, and raw
// fetch where the wire format itself is the point. Nothing is mocked: every test talks HTTP to a
// real server on an ephemeral port.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countPromptTokens } from '../../src/providers/prompt-tokens.js';
import { countTokens } from '../../src/providers/tokenizer.js';
import { createSimulatedProvider } from '../../src/providers/simulated/index.js';
import type { SimulatedProvider } from '../../src/providers/simulated/index.js';
import { VOCABULARY } from '../../src/providers/simulated/text.js';

const API_KEY = 'sk-sim-test';
const TOOLS = [
  { type: 'function' as const, function: { name: 'lookup', parameters: { type: 'object', properties: {} } } },
];

let sim: SimulatedProvider;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  sim = await createSimulatedProvider({ apiKey: API_KEY });
  openai = new OpenAI({ apiKey: API_KEY, baseURL: `${sim.url}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: API_KEY, baseURL: sim.url, maxRetries: 0 });
});

afterAll(async () => {
  await sim.close();
});

function user(content: string): ChatCompletionMessageParam[] {
  return [{ role: 'user', content }];
}

async function chat(content: string, extra: Partial<ChatCompletionCreateParamsNonStreaming> = {}) {
  return openai.chat.completions.create({ model: 'gpt-4o', messages: user(content), ...extra });
}

/** POSTs JSON with the test key and returns status, headers and the raw body. */
async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${sim.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** Splits an SSE body into events: the `event:` name (or null) and the parsed/raw data. */
function sse(text: string): { event: string | null; data: string }[] {
  return text
    .split('\n\n')
    .filter((block) => block.length > 0)
    .map((block) => {
      let event: string | null = null;
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data = line.slice(6);
      }
      return { event, data };
    });
}

/** Parsed JSON for assertions: `any` so tests can walk it; the assertions check its shape. */
function json(text: string): any {
  return JSON.parse(text);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

describe('answer text', () => {
  it('uses a vocabulary of words that are each exactly one o200k token, bare and after a space', () => {
    expect(VOCABULARY).toHaveLength(256);
    for (const word of VOCABULARY) {
      expect(countTokens(word), word).toBe(1);
      expect(countTokens(` ${word}`), word).toBe(1);
    }
  });

  it('is deterministic: the same request twice gives the same text, another prompt another text', async () => {
    const a = await chat('Tell me about tolls.');
    const b = await chat('Tell me about tolls.');
    const c = await chat('Tell me about bridges.');
    expect(a.choices[0]!.message.content).toBe(b.choices[0]!.message.content);
    expect(c.choices[0]!.message.content).not.toBe(a.choices[0]!.message.content);
    expect(a.id).not.toBe(b.id);

    // Same model and messages through another wire format: same text.
    const viaAnthropic = await anthropic.messages.create({
      model: 'gpt-4o',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Tell me about tolls.' }],
    });
    expect(viaAnthropic.content[0]).toEqual({ type: 'text', text: a.choices[0]!.message.content });
  });

  it('gives the same text on every provider instance (seeded by model and prompt only)', async () => {
    const other = await createSimulatedProvider();
    try {
      const client = new OpenAI({ apiKey: 'x', baseURL: `${other.url}/v1`, maxRetries: 0 });
      const here = await chat('Same everywhere?');
      const there = await client.chat.completions.create({ model: 'gpt-4o', messages: user('Same everywhere?') });
      expect(there.choices[0]!.message.content).toBe(here.choices[0]!.message.content);
    } finally {
      await other.close();
    }
  });
});

describe('OpenAI chat completions', () => {
  it('answers a plain completion with exact usage', async () => {
    const messages: ChatCompletionMessageParam[] = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Explain keep-alive in one paragraph.' },
    ];
    const res = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    const text = res.choices[0]!.message.content!;
    expect(res.id).toMatch(/^chatcmpl-/);
    expect(res.object).toBe('chat.completion');
    expect(res.model).toBe('gpt-4o-mini');
    expect(typeof res.created).toBe('number');
    expect(res.system_fingerprint).toBeTruthy();
    expect(res.choices[0]!.message.role).toBe('assistant');
    expect(res.choices[0]!.message.refusal).toBeNull();
    expect(res.choices[0]!.finish_reason).toBe('stop');
    expect(countTokens(text)).toBe(32); // defaultOutputTokens
    const prompt = countPromptTokens({ messages });
    expect(res.usage).toEqual({
      prompt_tokens: prompt,
      completion_tokens: countTokens(text),
      total_tokens: prompt + countTokens(text),
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    });
  });

  it('counts offered tools in the prompt tokens', async () => {
    const res = await chat('Which tools?', { tools: TOOLS });
    expect(res.usage!.prompt_tokens).toBe(countPromptTokens({ messages: user('Which tools?'), tools: TOOLS }));
    expect(res.usage!.prompt_tokens).toBeGreaterThan(countPromptTokens({ messages: user('Which tools?') }));
  });

  it('honours max_tokens and max_completion_tokens with finish_reason length, as a prefix of the full answer', async () => {
    const full = await chat('Cap me.');
    const capped = await chat('Cap me.', { max_tokens: 5 });
    const cappedNew = await chat('Cap me.', { max_completion_tokens: 4 });
    const roomy = await chat('Cap me.', { max_tokens: 100 });
    expect(capped.choices[0]!.finish_reason).toBe('length');
    expect(capped.usage!.completion_tokens).toBe(5);
    expect(countTokens(capped.choices[0]!.message.content!)).toBe(5);
    expect(full.choices[0]!.message.content!.startsWith(capped.choices[0]!.message.content!)).toBe(true);
    expect(cappedNew.usage!.completion_tokens).toBe(4);
    expect(cappedNew.choices[0]!.finish_reason).toBe('length');
    expect(roomy.choices[0]!.finish_reason).toBe('stop');
    expect(roomy.usage!.completion_tokens).toBe(32);
  });

  it('streams one token per delta without usage when include_usage is not set', async () => {
    const stream = await openai.chat.completions.create({ model: 'gpt-4o', messages: user('Stream me.'), stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const plain = await chat('Stream me.');

    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '', refusal: null });
    const deltas = chunks.slice(1, -1).map((c) => c.choices[0]!.delta.content!);
    expect(deltas).toHaveLength(32);
    for (const delta of deltas) expect(countTokens(delta)).toBe(1);
    expect(deltas.join('')).toBe(plain.choices[0]!.message.content);
    const last = chunks.at(-1)!;
    expect(last.choices[0]!.delta).toEqual({});
    expect(last.choices[0]!.finish_reason).toBe('stop');
    for (const chunk of chunks) {
      expect(chunk.object).toBe('chat.completion.chunk');
      expect(chunk.id).toBe(chunks[0]!.id);
      expect('usage' in chunk).toBe(false);
    }
  });

  it('streams usage in one extra chunk with no choices before [DONE] when include_usage is true', async () => {
    const body = {
      model: 'gpt-4o',
      messages: user('Usage please. [[sim:tokens=6]]'),
      stream: true as const,
      stream_options: { include_usage: true },
    };
    const raw = await post('/v1/chat/completions', body);
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(raw.text.endsWith('data: [DONE]\n\n')).toBe(true);
    const events = sse(raw.text);
    expect(events.at(-1)!.data).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e): unknown => json(e.data)) as { usage: unknown; choices: unknown[] }[];
    expect(chunks).toHaveLength(1 + 6 + 1 + 1); // role, tokens, finish, usage
    for (const chunk of chunks.slice(0, -1)) expect(chunk.usage).toBeNull();
    const usageChunk = chunks.at(-1)!;
    expect(usageChunk.choices).toEqual([]);
    const prompt = countPromptTokens({ messages: body.messages });
    expect(usageChunk.usage).toMatchObject({ prompt_tokens: prompt, completion_tokens: 6, total_tokens: prompt + 6 });

    // The SDK's stream helper folds the same usage into the final completion.
    const helper = openai.chat.completions.stream({ ...body, stream_options: { include_usage: true } });
    const final = await helper.finalChatCompletion();
    expect(final.usage).toEqual(usageChunk.usage);
    expect(countTokens(final.choices[0]!.message.content!)).toBe(6);
    expect(final.choices[0]!.finish_reason).toBe('stop');
  });

  it('reports reasoning tokens for o-series and reasoning models, inside completion_tokens', async () => {
    const o3 = await openai.chat.completions.create({ model: 'o3-mini', messages: user('Think.') });
    expect(o3.usage!.completion_tokens).toBe(32);
    expect(o3.usage!.completion_tokens_details!.reasoning_tokens).toBe(8);
    expect(countTokens(o3.choices[0]!.message.content!)).toBe(32 - 8);

    const named = await openai.chat.completions.create({
      model: 'sim-reasoning-large',
      messages: user('Think. [[sim:tokens=12]]'),
    });
    expect(named.usage!.completion_tokens_details!.reasoning_tokens).toBe(3);
    expect(countTokens(named.choices[0]!.message.content!) + 3).toBe(named.usage!.completion_tokens);

    const capped = await openai.chat.completions.create({
      model: 'o3-mini',
      messages: user('Think.'),
      max_completion_tokens: 10,
    });
    expect(capped.usage!.completion_tokens).toBe(10);
    expect(capped.usage!.completion_tokens_details!.reasoning_tokens).toBe(2);
    expect(capped.choices[0]!.finish_reason).toBe('length');

    const plain = await chat('Think.');
    expect(plain.usage!.completion_tokens_details!.reasoning_tokens).toBe(0);
  });

  it('answers [[sim:tool_call=NAME]] with a tool call when tools are offered, plain and streamed', async () => {
    const prompt = 'Look it up. [[sim:tool_call=lookup]]';
    const res = await chat(prompt, { tools: TOOLS });
    const call = res.choices[0]!.message.tool_calls![0]!;
    expect(res.choices[0]!.finish_reason).toBe('tool_calls');
    expect(res.choices[0]!.message.content).toBeNull();
    expect(call.type).toBe('function');
    expect(call.id).toMatch(/^call_/);
    expect(call.type === 'function' && call.function).toEqual({ name: 'lookup', arguments: '{}' });
    expect(res.usage!.completion_tokens).toBe(countTokens('lookup') + countTokens('{}'));

    const stream = openai.chat.completions.stream({ model: 'gpt-4o', messages: user(prompt), tools: TOOLS });
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
    expect(final.choices[0]!.message.tool_calls![0]).toMatchObject({ function: { name: 'lookup', arguments: '{}' } });

    // Without tools on offer the directive is ignored.
    const noTools = await chat(prompt);
    expect(noTools.choices[0]!.finish_reason).toBe('stop');
    expect(noTools.choices[0]!.message.tool_calls).toBeUndefined();
  });

  it('answers [[sim:tool_call=A,B]] with several tool calls, plain and streamed, each opened by its own chunk', async () => {
    const tools = [...TOOLS, { type: 'function' as const, function: { name: 'fetch_page', parameters: { type: 'object', properties: {} } } }];
    const prompt = 'Both please. [[sim:tool_call=lookup,fetch_page]]';
    const res = await chat(prompt, { tools });
    const calls = res.choices[0]!.message.tool_calls!;
    expect(calls.map((c) => c.type === 'function' && c.function)).toEqual([{ name: 'lookup', arguments: '{}' }, { name: 'fetch_page', arguments: '{}' }]);
    expect(new Set(calls.map((c) => c.id)).size).toBe(2);
    expect(res.usage!.completion_tokens).toBe(countTokens('lookup') + countTokens('fetch_page') + 2 * countTokens('{}'));

    const final = await openai.chat.completions.stream({ model: 'gpt-4o', messages: user(prompt), tools }).finalChatCompletion();
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
    expect(final.choices[0]!.message.tool_calls!.map((c) => c.type === 'function' && c.function)).toEqual([
      { name: 'lookup', arguments: '{}' },
      { name: 'fetch_page', arguments: '{}' },
    ]);

    // On the wire: a call's name is only in its first delta (with index and id), never in argument deltas.
    const raw = await post('/v1/chat/completions', { model: 'gpt-4o', stream: true, messages: user(prompt), tools });
    const deltas = sse(raw.text).filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data).choices[0].delta);
    const openings = deltas.flatMap((d) => d.tool_calls ?? []).filter((c: any) => c.function.name !== undefined);
    expect(openings.map((c: any) => [c.index, c.function.name, c.function.arguments])).toEqual([[0, 'lookup', ''], [1, 'fetch_page', '']]);
    expect(openings.every((c: any) => /^call_/.test(c.id) && c.type === 'function')).toBe(true);
  });

  it('answers the deprecated `functions` with a function_call, plain and streamed', async () => {
    const functions = [{ name: 'lookup', parameters: { type: 'object', properties: {} } }];
    const prompt = 'Old style. [[sim:tool_call=lookup]]';
    const res = await chat(prompt, { functions });
    expect(res.choices[0]!.finish_reason).toBe('function_call');
    expect(res.choices[0]!.message.function_call).toEqual({ name: 'lookup', arguments: '{}' });
    expect(res.choices[0]!.message.tool_calls).toBeUndefined();
    expect(res.usage!.prompt_tokens).toBe(countPromptTokens({ messages: user(prompt), tools: functions }));
    const final = await openai.chat.completions.stream({ model: 'gpt-4o', messages: user(prompt), functions }).finalChatCompletion();
    expect(final.choices[0]!.finish_reason).toBe('function_call');
    expect(final.choices[0]!.message.function_call).toEqual({ name: 'lookup', arguments: '{}' });
  });

  it('rejects a request without messages with a 400 in OpenAI shape', async () => {
    const raw = await post('/v1/chat/completions', { model: 'gpt-4o' });
    expect(raw.status).toBe(400);
    expect(json(raw.text)).toEqual({
      error: { message: expect.any(String), type: 'invalid_request_error', param: 'messages', code: null },
    });
  });
});

describe('OpenAI embeddings and models', () => {
  it("decodes the SDK's default base64 path to 8 float32 numbers per input, with exact usage", async () => {
    const res = await openai.embeddings.create({ model: 'text-embedding-3-small', input: ['first text', 'second'] });
    expect(res.object).toBe('list');
    expect(res.model).toBe('text-embedding-3-small');
    expect(res.data.map((d) => d.index)).toEqual([0, 1]);
    for (const { embedding } of res.data) {
      expect(embedding).toHaveLength(8);
      expect(embedding.every((v) => typeof v === 'number' && Number.isFinite(v))).toBe(true);
      expect(Math.hypot(...embedding)).toBeCloseTo(1, 5);
    }
    const tokens = countTokens('first text') + countTokens('second');
    expect(res.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
    expect((sim.requests.at(-1)!.body as { encoding_format?: string }).encoding_format).toBe('base64');

    const floats = await openai.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['first text', 'second'],
      encoding_format: 'float',
    });
    expect(floats.data[0]!.embedding).toEqual(res.data[0]!.embedding);
    expect(floats.data[1]!.embedding).not.toEqual(res.data[0]!.embedding);
  });

  it('honours dimensions and counts token-array inputs by length', async () => {
    const res = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'hello', dimensions: 16 });
    expect(res.data[0]!.embedding).toHaveLength(16);
    const tokens = await openai.embeddings.create({ model: 'text-embedding-3-small', input: [[1, 2, 3], [4, 5]] });
    expect(tokens.usage.prompt_tokens).toBe(5);
    expect(tokens.data).toHaveLength(2);
  });

  it('lists and retrieves models in OpenAI shape, and in Anthropic shape for the Anthropic SDK', async () => {
    const models = [];
    for await (const model of openai.models.list()) models.push(model);
    expect(models.map((m) => m.id)).toEqual(expect.arrayContaining(['gpt-4o', 'o3-mini', 'claude-sonnet-4-6']));
    for (const model of models) {
      expect(model).toEqual({ id: model.id, object: 'model', created: expect.any(Number), owned_by: 'tollgate-simulated' });
    }
    expect((await openai.models.retrieve('o3-mini')).id).toBe('o3-mini');
    const missing = await rejection(openai.models.retrieve('no-such-model'));
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);

    const claude = [];
    for await (const model of anthropic.models.list()) claude.push(model);
    expect(claude.map((m) => m.id)).toContain('claude-sonnet-4-6');
    expect(claude[0]!.type).toBe('model');
  });
});

describe('Anthropic messages', () => {
  it('answers messages.create with input tokens that add up to countPromptTokens', async () => {
    const system = [{ type: 'text' as const, text: 'You are a gateway.' }];
    const messages = [{ role: 'user' as const, content: 'Say something.' }];
    const res = await anthropic.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 100, system, messages });
    expect(res.id).toMatch(/^msg_/);
    expect(res.type).toBe('message');
    expect(res.role).toBe('assistant');
    expect(res.model).toBe('claude-sonnet-4-6');
    expect(res.stop_reason).toBe('end_turn');
    expect(res.stop_sequence).toBeNull();
    const block = res.content[0]!;
    expect(block.type).toBe('text');
    const text = block.type === 'text' ? block.text : '';
    expect(res.usage).toMatchObject({
      input_tokens: countPromptTokens({ system, messages }),
      output_tokens: countTokens(text),
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    });
    expect(countTokens(text)).toBe(32);

    const stringSystem = await anthropic.messages.create({
      model: 'claude-sonnet-4-6',
      max_tokens: 100,
      system: 'You are a gateway.',
      messages,
    });
    expect(stringSystem.usage.input_tokens).toBe(countPromptTokens({ system: 'You are a gateway.', messages }));
  });

  it('stops at max_tokens with stop_reason max_tokens', async () => {
    const res = await anthropic.messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 3,
      messages: [{ role: 'user', content: 'Long answer please.' }],
    });
    expect(res.stop_reason).toBe('max_tokens');
    expect(res.usage.output_tokens).toBe(3);
  });

  it('requires max_tokens: 400 invalid_request_error in Anthropic shape with a request-id', async () => {
    const raw = await post('/v1/messages', { model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'hi' }] });
    expect(raw.status).toBe(400);
    expect(raw.headers.get('request-id')).toMatch(/^req_/);
    expect(json(raw.text)).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: expect.stringContaining('max_tokens') },
    });
  });

  it('streams the exact event sequence, and messages.stream().finalMessage() carries the usage', async () => {
    const body = {
      model: 'claude-haiku-4-5',
      max_tokens: 50,
      stream: true,
      messages: [{ role: 'user', content: 'Stream it. [[sim:tokens=4]]' }],
    };
    const raw = await post('/v1/messages', body, { 'anthropic-version': '2023-06-01' });
    const events = sse(raw.text);
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    for (const e of events) expect(json(e.data).type).toBe(e.event);
    const start = json(events[0]!.data);
    const prompt = countPromptTokens({ messages: body.messages });
    expect(start.message.content).toEqual([]);
    expect(start.message.usage).toEqual({
      input_tokens: prompt,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      output_tokens: 1,
    });
    for (const e of events.filter((x) => x.event === 'content_block_delta')) {
      const { delta } = json(e.data);
      expect(delta.type).toBe('text_delta');
      expect(countTokens(delta.text)).toBe(1);
    }
    const delta = json(events[8]!.data);
    expect(delta).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: 4 },
    });

    const { stream: _stream, ...params } = body;
    const final = await anthropic.messages
      .stream({ ...params, messages: [{ role: 'user', content: 'Stream it. [[sim:tokens=4]]' }] })
      .finalMessage();
    expect(final.usage.input_tokens).toBe(prompt);
    expect(final.usage.output_tokens).toBe(4);
    expect(final.stop_reason).toBe('end_turn');
    const text = final.content[0]!.type === 'text' ? final.content[0]!.text : '';
    expect(countTokens(text)).toBe(4);
  });

  it('answers [[sim:tool_call=NAME]] with a tool_use block, plain and streamed', async () => {
    const tools = [{ name: 'search', input_schema: { type: 'object' as const, properties: {} } }];
    const messages = [{ role: 'user' as const, content: 'Find it. [[sim:tool_call=search]]' }];
    const res = await anthropic.messages.create({ model: 'claude-haiku-4-5', max_tokens: 100, tools, messages });
    expect(res.stop_reason).toBe('tool_use');
    expect(res.content[0]).toEqual({ type: 'tool_use', id: expect.stringMatching(/^toolu_/), name: 'search', input: {} });
    expect(res.usage.input_tokens).toBe(countPromptTokens({ messages, tools }));

    const final = await anthropic.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 100, tools, messages }).finalMessage();
    expect(final.stop_reason).toBe('tool_use');
    expect(final.content[0]).toMatchObject({ type: 'tool_use', name: 'search', input: {} });
  });

  it('answers [[sim:tool_call=A,B]] with one tool_use block per call, plain and streamed', async () => {
    const tools = [
      { name: 'search', input_schema: { type: 'object' as const, properties: {} } },
      { name: 'fetch_page', input_schema: { type: 'object' as const, properties: {} } },
    ];
    const messages = [{ role: 'user' as const, content: 'Both. [[sim:tool_call=search,fetch_page]]' }];
    const res = await anthropic.messages.create({ model: 'claude-haiku-4-5', max_tokens: 100, tools, messages });
    expect(res.content.map((b) => b.type === 'tool_use' && b.name)).toEqual(['search', 'fetch_page']);
    expect(res.usage.output_tokens).toBe(countTokens('search') + countTokens('fetch_page') + 2 * countTokens('{}'));

    const final = await anthropic.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 100, tools, messages }).finalMessage();
    expect(final.content.map((b) => b.type === 'tool_use' && [b.name, b.input])).toEqual([['search', {}], ['fetch_page', {}]]);

    // On the wire: start, input delta and stop per block, indexes in order.
    const raw = await post('/v1/messages', { model: 'claude-haiku-4-5', max_tokens: 100, stream: true, tools, messages }, { 'x-api-key': API_KEY });
    const blocks = sse(raw.text)
      .filter((e) => e.event?.startsWith('content_block'))
      .map((e) => [e.event, (JSON.parse(e.data) as { index: number }).index]);
    expect(blocks).toEqual([
      ['content_block_start', 0], ['content_block_delta', 0], ['content_block_stop', 0],
      ['content_block_start', 1], ['content_block_delta', 1], ['content_block_stop', 1],
    ]);
  });
});

describe('OpenAI Responses API', () => {
  it('answers a plain response with exact usage', async () => {
    const res = await openai.responses.create({ model: 'gpt-4o', instructions: 'Be brief.', input: 'Hello responses.' });
    expect(res.id).toMatch(/^resp_/);
    expect(res.object).toBe('response');
    expect(res.status).toBe('completed');
    expect(countTokens(res.output_text)).toBe(32);
    const prompt = countPromptTokens({ system: 'Be brief.', messages: [{ role: 'user', content: 'Hello responses.' }] });
    expect(res.usage).toEqual({
      input_tokens: prompt,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 32,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: prompt + 32,
    });
  });

  it('marks a response cut by max_output_tokens incomplete', async () => {
    const res = await openai.responses.create({ model: 'gpt-4o', input: 'Cut me.', max_output_tokens: 16 });
    expect(res.status).toBe('incomplete');
    expect(res.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(res.usage!.output_tokens).toBe(16);
    expect(countTokens(res.output_text)).toBe(16);
  });

  it('streams deltas of one token and ends with response.completed carrying the usage', async () => {
    const stream = openai.responses.stream({ model: 'o3-mini', input: 'Stream a response. [[sim:tokens=8]]' });
    const types: string[] = [];
    const deltas: string[] = [];
    stream.on('event', (event) => types.push(event.type));
    stream.on('response.output_text.delta', (event) => deltas.push(event.delta));
    const final = await stream.finalResponse();
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    expect(types).toContain('response.output_item.done');
    expect(deltas).toHaveLength(6); // 8 tokens, 2 of them reasoning
    for (const delta of deltas) expect(countTokens(delta)).toBe(1);
    expect(final.output_text).toBe(deltas.join(''));
    expect(final.usage).toMatchObject({ output_tokens: 8, output_tokens_details: { reasoning_tokens: 2 } });
    expect(final.usage!.input_tokens).toBe(
      countPromptTokens({ messages: [{ role: 'user', content: 'Stream a response. [[sim:tokens=8]]' }] }),
    );
  });

  it('answers [[sim:tool_call=NAME]] with a function_call item', async () => {
    const tools = [{ type: 'function' as const, name: 'lookup', parameters: {}, strict: false }];
    const res = await openai.responses.create({ model: 'gpt-4o', input: 'Call it. [[sim:tool_call=lookup]]', tools });
    expect(res.output[0]).toMatchObject({ type: 'function_call', name: 'lookup', arguments: '{}', status: 'completed' });
    const final = await openai.responses
      .stream({ model: 'gpt-4o', input: 'Call it. [[sim:tool_call=lookup]]', tools })
      .finalResponse();
    expect(final.output[0]).toMatchObject({ type: 'function_call', name: 'lookup', arguments: '{}' });
  });

  it('answers [[sim:tool_call=A,B]] with one function_call item per call, sequence numbers in order', async () => {
    const tools = ['lookup', 'fetch_page'].map((name) => ({ type: 'function' as const, name, parameters: {}, strict: false }));
    const input = 'Both. [[sim:tool_call=lookup,fetch_page]]';
    const res = await openai.responses.create({ model: 'gpt-4o', input, tools });
    expect(res.output.map((o) => o.type === 'function_call' && o.name)).toEqual(['lookup', 'fetch_page']);
    const final = await openai.responses.stream({ model: 'gpt-4o', input, tools }).finalResponse();
    expect(final.output.map((o) => o.type === 'function_call' && [o.name, o.arguments, o.status])).toEqual([
      ['lookup', '{}', 'completed'],
      ['fetch_page', '{}', 'completed'],
    ]);
    const raw = await post('/v1/responses', { model: 'gpt-4o', input, tools, stream: true });
    const seqs = sse(raw.text).map((e) => (JSON.parse(e.data) as { sequence_number: number }).sequence_number);
    expect(seqs).toEqual(seqs.map((_, i) => i));
  });
});

describe('directives', () => {
  it('[[sim:tokens=N]] sets the answer length, still capped by the limit', async () => {
    expect((await chat('x [[sim:tokens=7]]')).usage!.completion_tokens).toBe(7);
    const capped = await chat('x [[sim:tokens=70]]', { max_tokens: 9 });
    expect(capped.usage!.completion_tokens).toBe(9);
    expect(capped.choices[0]!.finish_reason).toBe('length');
    const none = await chat('x [[sim:tokens=0]]');
    expect(none.choices[0]!.message.content).toBe('');
    expect(none.usage!.completion_tokens).toBe(0);
  });

  it('[[sim:cut_after=N]] drops an OpenAI stream after N tokens, without usage or [DONE]', async () => {
    const messages = user('Cut. [[sim:cut_after=3]]');
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    const received: string[] = [];
    const error = await rejection(
      (async () => {
        for await (const chunk of stream) {
          const content = chunk.choices[0]?.delta.content;
          if (content) received.push(content);
          expect(chunk.usage ?? null).toBeNull();
        }
      })(),
    );
    expect(error).toBeInstanceOf(Error);
    expect(received).toHaveLength(3);
    const full = await chat('Cut. [[sim:tokens=32]]'); // directives do not change the seed
    expect(full.choices[0]!.message.content!.startsWith(received.join(''))).toBe(true);

    const raw = await fetch(`${sim.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify({ model: 'gpt-4o', messages, stream: true }),
    });
    expect(raw.status).toBe(200);
    expect(await rejection(raw.text())).toBeInstanceOf(Error); // truncated chunked body
  });

  it('[[sim:cut_after=N]] drops a non-stream request before any answer', async () => {
    const error = await rejection(chat('Cut. [[sim:cut_after=0]]'));
    expect(error).toBeInstanceOf(OpenAI.APIConnectionError);
  });

  it('[[sim:cut_after=N]] makes the Anthropic stream end early without message_stop', async () => {
    const stream = anthropic.messages.stream({
      model: 'claude-haiku-4-5',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Cut. [[sim:cut_after=2]]' }],
    });
    const texts: string[] = [];
    stream.on('text', (delta) => texts.push(delta));
    expect(await rejection(stream.finalMessage())).toBeInstanceOf(Error);
    expect(texts).toHaveLength(2);
  });

  it('[[sim:error=STATUS]] answers the status in each provider shape', async () => {
    const e500 = await rejection(chat('Fail. [[sim:error=500]]'));
    expect(e500).toBeInstanceOf(OpenAI.InternalServerError);
    expect((e500 as InstanceType<typeof OpenAI.APIError>).status).toBe(500);
    expect((e500 as InstanceType<typeof OpenAI.APIError>).type).toBe('server_error');

    const e429 = await rejection(chat('Slow down. [[sim:error=429]]'));
    expect(e429).toBeInstanceOf(OpenAI.RateLimitError);
    expect((e429 as InstanceType<typeof OpenAI.APIError>).headers?.get('retry-after')).toBe('1');

    const e503 = await rejection(
      anthropic.messages.create({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: '[[sim:error=503]]' }] }),
    );
    expect(e503).toBeInstanceOf(Anthropic.APIError);
    expect((e503 as InstanceType<typeof Anthropic.APIError>).status).toBe(503);
    const raw = await post('/v1/messages', {
      model: 'claude-haiku-4-5',
      max_tokens: 10,
      messages: [{ role: 'user', content: '[[sim:error=529]]' }],
    });
    expect(raw.status).toBe(529);
    expect(json(raw.text)).toEqual({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    expect(raw.headers.get('request-id')).toMatch(/^req_/);
  });

  it('[[sim:stream_error_after=N]] sends the provider error event after N tokens and ends cleanly', async () => {
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o',
      messages: user('Err. [[sim:stream_error_after=2]]'),
      stream: true,
    });
    const received: string[] = [];
    const error = await rejection(
      (async () => {
        for await (const chunk of stream) if (chunk.choices[0]?.delta.content) received.push(chunk.choices[0].delta.content);
      })(),
    );
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(received).toHaveLength(2);

    const raw = await post('/v1/chat/completions', {
      model: 'gpt-4o',
      messages: user('Err. [[sim:stream_error_after=2]]'),
      stream: true,
    });
    const last = sse(raw.text).at(-1)!;
    expect(json(last.data).error.type).toBe('server_error');
    expect(raw.text).not.toContain('[DONE]');

    const anthropicStream = anthropic.messages.stream({
      model: 'claude-haiku-4-5',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Err. [[sim:stream_error_after=1]]' }],
    });
    const anthropicError = await rejection(anthropicStream.finalMessage());
    expect(anthropicError).toBeInstanceOf(Anthropic.APIError);
    expect((anthropicError as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: 'error',
      error: { type: 'overloaded_error' },
    });

    const responses = await openai.responses.create({
      model: 'gpt-4o',
      input: 'Err. [[sim:stream_error_after=3]]',
      stream: true,
    });
    const events = [];
    for await (const event of responses) events.push(event);
    expect(events.filter((e) => e.type === 'response.output_text.delta')).toHaveLength(3);
    const failed = events.at(-1)!;
    expect(failed.type).toBe('response.failed');
    expect(failed.type === 'response.failed' && failed.response.error?.code).toBe('server_error');
  });

  it('[[sim:latency_ms=N]] delays the answer', async () => {
    const start = performance.now();
    await chat('Wait. [[sim:latency_ms=150]]');
    expect(performance.now() - start).toBeGreaterThanOrEqual(140);
  });

  it('[[sim:tokens_per_second=N]] paces the stream token by token', async () => {
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o',
      messages: user('Pace. [[sim:tokens=5]] [[sim:tokens_per_second=40]]'),
      stream: true,
    });
    const arrivals: number[] = [];
    for await (const chunk of stream) if (chunk.choices[0]?.delta.content) arrivals.push(performance.now());
    expect(arrivals).toHaveLength(5);
    // Five tokens at 40/s: the first at once, the last 100 ms later.
    expect(arrivals[4]! - arrivals[0]!).toBeGreaterThanOrEqual(80);
  });

  it('[[sim:stall]] never answers; the client gives up and the provider keeps serving', async () => {
    const start = performance.now();
    const error = await rejection(
      openai.chat.completions.create({ model: 'gpt-4o', messages: user('Hang. [[sim:stall]]') }, { timeout: 300 }),
    );
    expect(error).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect(performance.now() - start).toBeGreaterThanOrEqual(280);
    expect((await chat('Still there?')).choices[0]!.finish_reason).toBe('stop');
  });
});

describe('provider', () => {
  it('enforces the API key: 401 in each provider shape', async () => {
    const wrongOpenAI = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${sim.url}/v1`, maxRetries: 0 });
    const error = await rejection(wrongOpenAI.chat.completions.create({ model: 'gpt-4o', messages: user('hi') }));
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('invalid_api_key');

    const wrongAnthropic = new Anthropic({ apiKey: 'sk-wrong', baseURL: sim.url, maxRetries: 0 });
    const anthropicError = await rejection(
      wrongAnthropic.messages.create({ model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect(anthropicError).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((anthropicError as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: 'error',
      error: { type: 'authentication_error' },
    });

    // Anthropic endpoints also take the key as a Bearer token; OpenAI endpoints only as Bearer.
    const bearer = await post('/v1/messages', {
      model: 'claude-haiku-4-5',
      max_tokens: 5,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(bearer.status).toBe(200);
    const xApiKey = await post('/v1/chat/completions', { model: 'gpt-4o', messages: user('hi') }, {
      authorization: '',
      'x-api-key': API_KEY,
    });
    expect(xApiKey.status).toBe(401);
  });

  it('fails every round(1/failureRate)-th model request with a 500', async () => {
    const flaky = await createSimulatedProvider({ failureRate: 0.5 });
    try {
      const statuses = [];
      for (let i = 0; i < 6; i++) {
        const res = await fetch(`${flaky.url}/v1/chat/completions`, {
          method: 'POST',
          body: JSON.stringify({ model: 'gpt-4o', messages: user('hi') }),
        });
        statuses.push(res.status);
        const body = (await res.json()) as { error: { type: string } };
        if (res.status === 500) expect(body.error.type).toBe('server_error');
      }
      expect(statuses).toEqual([200, 500, 200, 500, 200, 500]);
    } finally {
      await flaky.close();
    }
  });

  it('reports cachedPromptShare of the prompt as cached in every format', async () => {
    const cached = await createSimulatedProvider({ cachedPromptShare: 0.5, defaultOutputTokens: 4 });
    try {
      const oa = new OpenAI({ apiKey: 'x', baseURL: `${cached.url}/v1`, maxRetries: 0 });
      const an = new Anthropic({ apiKey: 'x', baseURL: cached.url, maxRetries: 0 });
      const messages = [
        { role: 'user' as const, content: 'A prompt long enough to have a few tokens cached by the simulated provider.' },
      ];
      const prompt = countPromptTokens({ messages });
      const share = Math.floor(prompt * 0.5);

      const completion = await oa.chat.completions.create({ model: 'gpt-4o', messages });
      expect(completion.usage!.prompt_tokens).toBe(prompt);
      expect(completion.usage!.prompt_tokens_details!.cached_tokens).toBe(share);
      expect(completion.usage!.completion_tokens).toBe(4);

      const message = await an.messages.create({ model: 'claude-haiku-4-5', max_tokens: 100, messages });
      expect(message.usage.cache_read_input_tokens).toBe(share);
      expect(message.usage.input_tokens).toBe(prompt - share);
      expect(
        message.usage.input_tokens + message.usage.cache_read_input_tokens! + message.usage.cache_creation_input_tokens!,
      ).toBe(prompt);
      const streamed = await an.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 100, messages }).finalMessage();
      expect(streamed.usage.cache_read_input_tokens).toBe(share);
      expect(streamed.usage.input_tokens).toBe(prompt - share);

      const response = await oa.responses.create({ model: 'gpt-4o', input: messages });
      expect(response.usage!.input_tokens).toBe(prompt);
      expect(response.usage!.input_tokens_details.cached_tokens).toBe(share);
    } finally {
      await cached.close();
    }
  });

  it('answers malformed JSON with 400 and unknown paths with 404, in the provider shape of the path', async () => {
    const bad = await post('/v1/chat/completions', '{"model":');
    expect(bad.status).toBe(400);
    expect(json(bad.text).error.type).toBe('invalid_request_error');
    const badAnthropic = await post('/v1/messages', 'not json');
    expect(badAnthropic.status).toBe(400);
    expect(json(badAnthropic.text)).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    const unknown = await post('/v1/unknown', {});
    expect(unknown.status).toBe(404);
    expect(json(unknown.text).error.message).toContain('/v1/unknown');
  });

  it('logs the last 100 requests with lowercased headers and parsed bodies', async () => {
    const logged = await createSimulatedProvider();
    try {
      await fetch(`${logged.url}/v1/chat/completions?x=1`, {
        method: 'POST',
        headers: { 'X-Trace-Id': 'abc', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', messages: user('log me') }),
      });
      expect(logged.requests).toHaveLength(1);
      const entry = logged.requests[0]!;
      expect(entry.method).toBe('POST');
      expect(entry.path).toBe('/v1/chat/completions');
      expect(entry.headers['x-trace-id']).toBe('abc');
      expect(entry.body).toEqual({ model: 'gpt-4o', messages: user('log me') });
      for (let i = 0; i < 105; i++) await (await fetch(`${logged.url}/v1/models`)).arrayBuffer();
      expect(logged.requests).toHaveLength(100);
      expect(logged.requests.every((r) => r.path === '/v1/models' && r.body === undefined)).toBe(true);
    } finally {
      await logged.close();
    }
  });

  it('close() resolves with a stalled request and a paced stream still open', async () => {
    const busy = await createSimulatedProvider({ tokensPerSecond: 1 });
    const client = new OpenAI({ apiKey: 'x', baseURL: `${busy.url}/v1`, maxRetries: 0 });
    const stalled = rejection(client.chat.completions.create({ model: 'gpt-4o', messages: user('[[sim:stall]]') }));
    const slow = await client.chat.completions.create({ model: 'gpt-4o', messages: user('slow'), stream: true });
    const reading = rejection(
      (async () => {
        for await (const _chunk of slow) {
          // drain
        }
      })(),
    );
    while (busy.requests.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    await busy.close();
    expect(await stalled).toBeInstanceOf(Error);
    expect(await reading).toBeInstanceOf(Error);
  });

  it('validates its options', async () => {
    await expect(createSimulatedProvider({ failureRate: 2 })).rejects.toThrow(RangeError);
    await expect(createSimulatedProvider({ latencyMs: -1 })).rejects.toThrow(RangeError);
  });
});
