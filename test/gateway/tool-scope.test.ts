// Tool scope inside model calls, through the official `openai` and `@anthropic-ai/sdk` clients:
// tools offered outside the session's scope refuse the call or are stripped (profile
// `tool_scope`), and tool calls a model returns outside the scope are blocked — plain and
// streamed — while the model's work is still charged. The upstream is a simulated provider in
// its own server, so the test sees exactly what reached it.
import Anthropic from '@anthropic-ai/sdk';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anthropicMessages, openAiChat } from '../../src/providers/apis/index.js';
import { createSimulatedProvider, type SimulatedProvider } from '../../src/providers/simulated/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const KEY = 'sk-tool-scope-upstream';
const GPT = 'gpt-4o-mini';
const CLAUDE = 'claude-3-5-haiku-latest';
const SCOPE = ['*', '!danger_*'];

let sim: SimulatedProvider;
let gw: TestGateway;

beforeAll(async () => {
  sim = await createSimulatedProvider({ apiKey: KEY });
  gw = await startGateway(
    {
      providers: [
        { name: 'oai', type: 'openai', base_url: `${sim.url}/v1`, api_key_env: 'TOOL_SCOPE_KEY' },
        { name: 'ant', type: 'anthropic', base_url: sim.url, api_key_env: 'TOOL_SCOPE_KEY' },
      ],
      models: [
        { name: GPT, provider: 'oai', price: { input: 0.15, output: 0.6 } },
        { name: CLAUDE, provider: 'ant', price: { input: 0.8, output: 4 } },
      ],
      profiles: [
        { name: 'assistant', models: [GPT, CLAUDE], tools: SCOPE },
        { name: 'stripper', models: [GPT, CLAUDE], tools: SCOPE, tool_scope: 'strip' },
      ],
      agents: [
        { name: 'demo-agent', team: 'demo', profile: 'assistant', owner: 'you@example.com', environment: 'dev' },
        { name: 'strip-agent', team: 'demo', profile: 'stripper', owner: 'you@example.com', environment: 'dev' },
      ],
    },
    { TOOL_SCOPE_KEY: KEY },
  );
});

afterAll(async () => {
  await gw.close();
  await sim.close();
});

// --- helpers ----------------------------------------------------------------------------------

const fn = (name: string) => ({ type: 'function' as const, function: { name, parameters: { type: 'object', properties: {} } } });
const tool = (name: string) => ({ name, input_schema: { type: 'object' as const, properties: {} } });
const user = (content: string) => [{ role: 'user' as const, content }];

async function openai(input: Record<string, unknown> = {}) {
  const { token, sessionId } = await gw.openSession(input);
  return { client: new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 }), sessionId };
}

async function anthropic(input: Record<string, unknown> = {}) {
  const { token, sessionId } = await gw.openSession(input);
  return { client: new Anthropic({ apiKey: token, baseURL: gw.url, maxRetries: 0 }), sessionId };
}

async function usageLines(sessionId: string): Promise<any[]> {
  return (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
}

/** The session's `tool.denied` events (written asynchronously: polled briefly). */
async function denials(sessionId: string, expected: number): Promise<any[]> {
  let events: any[] = [];
  for (let i = 0; i < 50; i++) {
    events = (await gw.admin('GET', `/admin/v1/audit/events?type=tool.denied&session=${sessionId}`)).body.data;
    if (events.length >= expected) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return events;
}

/** Runs `fn`, which must throw; returns the error. */
async function rejection(fn: () => Promise<unknown>): Promise<any> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

const upstreamCount = () => sim.requests.length;
const lastUpstreamBody = () => sim.requests.at(-1)!.body as Record<string, any>;

async function expectNothingCharged(sessionId: string): Promise<void> {
  const session = await gw.session(sessionId);
  expect(session.spent.usd).toBe(0);
  expect(session.spent.input_tokens).toBe(0);
  expect(await usageLines(sessionId)).toHaveLength(0);
}

/** The model's blocked call was still paid for: spend above zero and one line marked `tool_blocked`. */
async function expectChargedAsBlocked(sessionId: string, extra: Record<string, unknown> = {}): Promise<any> {
  const session = await gw.session(sessionId);
  expect(session.spent.usd).toBeGreaterThan(0);
  expect(session.spent.input_tokens).toBeGreaterThan(0);
  const lines = await usageLines(sessionId);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ outcome: 'tool_blocked', ...extra });
  expect(lines[0].cost_usd).toBeCloseTo(session.spent.usd, 12);
  return lines[0];
}

// --- offered tools ----------------------------------------------------------------------------

describe('tools offered in a model call', () => {
  it('OpenAI: a tool outside the scope refuses the call with 403 tool_not_allowed; nothing forwarded, nothing charged, an audit event', async () => {
    const { client, sessionId } = await openai();
    const before = upstreamCount();
    const err = await rejection(() =>
      client.chat.completions.create({ model: GPT, messages: user('Weather?'), tools: [fn('get_weather'), fn('danger_delete')] }),
    );
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(err.status).toBe(403);
    expect(err.code).toBe('tool_not_allowed');
    expect(err.param).toBe('tools');
    expect(err.error.tools).toEqual(['danger_delete']);
    expect(err.message).toContain('danger_delete');
    expect(upstreamCount()).toBe(before);
    await expectNothingCharged(sessionId);
    const events = await denials(sessionId, 1);
    expect(events).toHaveLength(1);
    expect(events[0].data).toMatchObject({ tool: 'danger_delete', phase: 'offered', code: 'tool_not_allowed' });
  });

  it('OpenAI: the deprecated `functions` are checked too', async () => {
    const { client, sessionId } = await openai();
    const err = await rejection(() =>
      client.chat.completions.create({ model: GPT, messages: user('Old style'), functions: [{ name: 'danger_wipe', parameters: {} }] }),
    );
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(err.error.tools).toEqual(['danger_wipe']);
    await expectNothingCharged(sessionId);
  });

  it('a deny pattern wins over `*`; allowed tools go upstream untouched', async () => {
    const { client, sessionId } = await openai();
    const res = await client.chat.completions.create({ model: GPT, messages: user('Weather?'), tools: [fn('get_weather'), fn('dangerous_but_fine')] }).withResponse();
    expect(res.response.status).toBe(200);
    expect(res.response.headers.get('x-tollgate-tools-stripped')).toBeNull();
    expect(lastUpstreamBody().tools).toEqual([fn('get_weather'), fn('dangerous_but_fine')]);
    expect((await usageLines(sessionId))[0]).toMatchObject({ outcome: 'ok' });
    // `danger_*` is denied even though `*` allows everything.
    const err = await rejection(() => client.chat.completions.create({ model: GPT, messages: user('x'), tools: [fn('danger_zone')] }));
    expect(err.code).toBe('tool_not_allowed');
  });

  it('a session narrows its profile\'s tool scope', async () => {
    const { client, sessionId } = await openai({ tools: ['get_weather'] });
    await client.chat.completions.create({ model: GPT, messages: user('ok'), tools: [fn('get_weather')] });
    // `search_docs` is in the profile's scope (`*`), not in the session's.
    const err = await rejection(() => client.chat.completions.create({ model: GPT, messages: user('no'), tools: [fn('get_weather'), fn('search_docs')] }));
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(err.error.tools).toEqual(['search_docs']);
    expect(await usageLines(sessionId)).toHaveLength(1);
  });

  it('Anthropic: a tool outside the scope refuses the call with 403 in Anthropic\'s shape; server tools are checked by name', async () => {
    const { client, sessionId } = await anthropic({ tools: ['get_weather'] });
    const before = upstreamCount();
    const webSearch = { type: 'web_search_20250305' as const, name: 'web_search' as const };
    const err = await rejection(() =>
      client.messages.create({ model: CLAUDE, max_tokens: 50, messages: user('Search'), tools: [tool('get_weather'), webSearch] }),
    );
    expect(err).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect(err.status).toBe(403);
    expect(err.error.error).toMatchObject({ type: 'permission_error', code: 'tool_not_allowed', tools: ['web_search'] });
    expect(upstreamCount()).toBe(before);
    await expectNothingCharged(sessionId);
    const events = await denials(sessionId, 1);
    expect(events.map((e) => e.data.tool)).toEqual(['web_search']);
  });
});

describe('tool_scope: strip', () => {
  it('OpenAI: out-of-scope tools are removed from the upstream request and named in a header', async () => {
    const { client, sessionId } = await openai({ agent: 'strip-agent' });
    const { data, response } = await client.chat.completions
      .create({ model: GPT, messages: user('Weather?'), tools: [fn('danger_delete'), fn('get_weather'), fn('danger_drop')], tool_choice: 'auto' })
      .withResponse();
    expect(response.status).toBe(200);
    expect(response.headers.get('x-tollgate-tools-stripped')).toBe('danger_delete,danger_drop');
    expect(data.choices[0]!.message.content).toBeTruthy();
    const sent = lastUpstreamBody();
    expect(sent.tools.map((t: any) => t.function.name)).toEqual(['get_weather']);
    expect(sent.tool_choice).toBe('auto');
    expect((await usageLines(sessionId))[0]).toMatchObject({ outcome: 'ok' });
    const events = await denials(sessionId, 2);
    expect(events.map((e) => e.data.tool).sort()).toEqual(['danger_delete', 'danger_drop']);
    expect(events.every((e) => e.data.phase === 'offered')).toBe(true);
  });

  it('OpenAI: with no tool left, tools, tool_choice and parallel_tool_calls are not sent at all', async () => {
    const { client } = await openai({ agent: 'strip-agent' });
    const { response } = await client.chat.completions
      .create({ model: GPT, messages: user('x'), tools: [fn('danger_delete')], tool_choice: 'required', parallel_tool_calls: false })
      .withResponse();
    expect(response.headers.get('x-tollgate-tools-stripped')).toBe('danger_delete');
    const sent = lastUpstreamBody();
    expect(sent).not.toHaveProperty('tools');
    expect(sent).not.toHaveProperty('tool_choice');
    expect(sent).not.toHaveProperty('parallel_tool_calls');
    expect(sent.messages).toEqual(user('x'));
  });

  it('OpenAI: the deprecated functions are stripped too', async () => {
    const { client } = await openai({ agent: 'strip-agent' });
    await client.chat.completions.create({
      model: GPT, messages: user('x'), functions: [{ name: 'get_weather', parameters: {} }, { name: 'danger_wipe', parameters: {} }], function_call: 'auto',
    });
    const sent = lastUpstreamBody();
    expect(sent.functions).toEqual([{ name: 'get_weather', parameters: {} }]);
    expect(sent.function_call).toBe('auto');
  });

  it('a tool_choice forcing a stripped tool refuses the call (403, param tool_choice), nothing forwarded', async () => {
    const { client, sessionId } = await openai({ agent: 'strip-agent' });
    const before = upstreamCount();
    const err = await rejection(() =>
      client.chat.completions.create({
        model: GPT, messages: user('x'), tools: [fn('get_weather'), fn('danger_delete')], tool_choice: { type: 'function', function: { name: 'danger_delete' } },
      }),
    );
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(err.param).toBe('tool_choice');
    expect(upstreamCount()).toBe(before);
    await expectNothingCharged(sessionId);

    const { client: claude } = await anthropic({ agent: 'strip-agent' });
    const err2 = await rejection(() =>
      claude.messages.create({ model: CLAUDE, max_tokens: 20, messages: user('x'), tools: [tool('get_weather'), tool('danger_delete')], tool_choice: { type: 'tool', name: 'danger_delete' } }),
    );
    expect(err2).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect(upstreamCount()).toBe(before);
  });

  it('Anthropic: out-of-scope tools (server tools included) are removed; none left removes tools and tool_choice', async () => {
    const { client } = await anthropic({ agent: 'strip-agent', tools: ['get_weather'] });
    const webSearch = { type: 'web_search_20250305' as const, name: 'web_search' as const };
    const { response } = await client.messages
      .create({ model: CLAUDE, max_tokens: 20, messages: user('x'), tools: [webSearch, tool('get_weather'), tool('danger_delete')], tool_choice: { type: 'auto' } })
      .withResponse();
    expect(response.headers.get('x-tollgate-tools-stripped')).toBe('web_search,danger_delete');
    expect(lastUpstreamBody().tools).toEqual([tool('get_weather')]);
    expect(lastUpstreamBody().tool_choice).toEqual({ type: 'auto' });

    await client.messages.create({ model: CLAUDE, max_tokens: 20, messages: user('x'), tools: [webSearch], tool_choice: { type: 'any' } });
    expect(lastUpstreamBody()).not.toHaveProperty('tools');
    expect(lastUpstreamBody()).not.toHaveProperty('tool_choice');
  });
});

// --- tool calls the model returns -------------------------------------------------------------

describe('tool calls a model returns', () => {
  it('OpenAI plain: a call outside the scope replaces the answer with 403; the usage is still charged', async () => {
    const { client, sessionId } = await openai();
    const err = await rejection(() =>
      client.chat.completions.create({ model: GPT, messages: user('Do it [[sim:tool_call=danger_delete]]'), tools: [fn('get_weather')] }),
    );
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(err.code).toBe('tool_not_allowed');
    expect(err.error).toMatchObject({ tool: 'danger_delete', blocked: 'returned_tool_call' });
    const line = await expectChargedAsBlocked(sessionId, { estimated: false, http_status: 403 });
    expect(line.output_tokens).toBeGreaterThan(0);
    const events = await denials(sessionId, 1);
    expect(events[0].data).toMatchObject({ tool: 'danger_delete', phase: 'returned', arguments: {} });
  });

  it('OpenAI plain: one forbidden call among allowed ones blocks the whole answer; the deprecated function_call too', async () => {
    const { client, sessionId } = await openai();
    const err = await rejection(() =>
      client.chat.completions.create({ model: GPT, messages: user('[[sim:tool_call=get_weather,danger_drop]]'), tools: [fn('get_weather')] }),
    );
    expect(err.error).toMatchObject({ code: 'tool_not_allowed', tool: 'danger_drop' });
    await expectChargedAsBlocked(sessionId);

    const legacy = await openai();
    const err2 = await rejection(() =>
      legacy.client.chat.completions.create({ model: GPT, messages: user('[[sim:tool_call=danger_drop]]'), functions: [{ name: 'get_weather', parameters: {} }] }),
    );
    expect(err2.error).toMatchObject({ code: 'tool_not_allowed', tool: 'danger_drop' });
    await expectChargedAsBlocked(legacy.sessionId);
  });

  it('OpenAI streamed: the chunk naming the tool is not relayed, an error event ends the stream, the usage is charged', async () => {
    const { client, sessionId } = await openai();
    const stream = await client.chat.completions.create({
      model: GPT, stream: true, messages: user('[[sim:tool_call=get_weather,danger_delete]]'), tools: [fn('get_weather')],
    });
    const named: string[] = [];
    const err = await rejection(async () => {
      for await (const chunk of stream) for (const c of chunk.choices[0]?.delta.tool_calls ?? []) if (c.function?.name) named.push(c.function.name);
    });
    expect(named).toEqual(['get_weather']); // the allowed call before it passed
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.code).toBe('tool_not_allowed');
    expect(err.type).toBe('invalid_request_error');
    expect(err.error).toMatchObject({ tool: 'danger_delete', blocked: 'returned_tool_call' });
    await expectChargedAsBlocked(sessionId, { stream: true });
    expect((await denials(sessionId, 1))[0].data).toMatchObject({ tool: 'danger_delete', phase: 'returned' });
  });

  it('OpenAI streamed, paced: blocked before the upstream reported usage, the delivered part is charged as estimated', async () => {
    const { client, sessionId } = await openai();
    const stream = await client.chat.completions.create({
      model: GPT, stream: true, messages: user('[[sim:tool_call=get_weather,danger_delete]] [[sim:tokens_per_second=5]]'), tools: [fn('get_weather')],
    });
    const err = await rejection(async () => {
      for await (const _ of stream) void _;
    });
    expect(err.code).toBe('tool_not_allowed');
    await expectChargedAsBlocked(sessionId, { estimated: true });
  });

  it('OpenAI streamed: the upstream stream is aborted at the blocked call', async () => {
    // A hand-made upstream: one chunk calling a forbidden tool, then it keeps the stream open.
    let closedEarly: () => void;
    const aborted = new Promise<void>((r) => (closedEarly = r));
    const upstream: Server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const opening = { index: 0, id: 'call_1', type: 'function', function: { name: 'danger_delete', arguments: '' } };
      res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: GPT, choices: [{ index: 0, delta: { role: 'assistant', tool_calls: [opening] }, finish_reason: null }] })}\n\n`);
      res.on('close', () => closedEarly());
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as AddressInfo).port;
    const own = await startGateway(
      {
        providers: [{ name: 'slow', type: 'openai', base_url: `http://127.0.0.1:${port}/v1`, api_key_env: 'TOOL_SCOPE_KEY' }],
        models: [{ name: GPT, provider: 'slow', price: { input: 0.15, output: 0.6 } }],
        profiles: [{ name: 'assistant', models: [GPT], tools: SCOPE }],
      },
      { TOOL_SCOPE_KEY: KEY },
    );
    try {
      const { token, sessionId } = await own.openSession();
      const client = new OpenAI({ apiKey: token, baseURL: `${own.url}/v1`, maxRetries: 0, timeout: 5000 });
      const stream = await client.chat.completions.create({ model: GPT, stream: true, messages: user('x'), tools: [fn('get_weather')] });
      const err = await rejection(async () => {
        for await (const _ of stream) void _;
      });
      expect(err.code).toBe('tool_not_allowed');
      // The upstream saw its response closed (it never ends it itself).
      const timeout = new Promise<string>((r) => setTimeout(() => r('still open'), 3000));
      expect(await Promise.race([aborted.then(() => 'closed'), timeout])).toBe('closed');
      const line = (await own.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data[0];
      expect(line).toMatchObject({ outcome: 'tool_blocked', estimated: true });
      expect(line.input_tokens).toBeGreaterThan(0);
    } finally {
      await own.close();
      await new Promise<void>((r) => upstream.close(() => r()));
    }
  });

  it('OpenAI: an allowed call passes untouched, plain and streamed', async () => {
    const { client, sessionId } = await openai();
    const res = await client.chat.completions.create({ model: GPT, messages: user('[[sim:tool_call=get_weather]]'), tools: [fn('get_weather')] });
    expect(res.choices[0]!.finish_reason).toBe('tool_calls');
    const call = res.choices[0]!.message.tool_calls![0]!;
    expect(call.type === 'function' && call.function).toEqual({ name: 'get_weather', arguments: '{}' });
    const final = await client.chat.completions
      .stream({ model: GPT, messages: user('[[sim:tool_call=get_weather]]'), tools: [fn('get_weather')] })
      .finalChatCompletion();
    expect(final.choices[0]!.message.tool_calls!.map((c) => c.type === 'function' && c.function.name)).toEqual(['get_weather']);
    expect((await usageLines(sessionId)).map((l) => l.outcome)).toEqual(['ok', 'ok']);
    expect(await denials(sessionId, 0)).toHaveLength(0);
  });

  it('Anthropic plain: a tool_use block outside the scope becomes a 403; the usage is charged', async () => {
    const { client, sessionId } = await anthropic();
    const err = await rejection(() =>
      client.messages.create({ model: CLAUDE, max_tokens: 50, messages: user('[[sim:tool_call=danger_delete]]'), tools: [tool('get_weather')] }),
    );
    expect(err).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect(err.error.error).toMatchObject({ type: 'permission_error', code: 'tool_not_allowed', tool: 'danger_delete', blocked: 'returned_tool_call' });
    await expectChargedAsBlocked(sessionId, { estimated: false, http_status: 403 });
    expect((await denials(sessionId, 1))[0].data).toMatchObject({ tool: 'danger_delete', phase: 'returned' });
  });

  it('Anthropic streamed: the content_block_start naming the tool is not relayed; an error event ends the stream', async () => {
    const { client, sessionId } = await anthropic();
    const stream = client.messages.stream({ model: CLAUDE, max_tokens: 50, messages: user('[[sim:tool_call=get_weather,danger_delete]]'), tools: [tool('get_weather')] });
    const started: string[] = [];
    const err = await rejection(async () => {
      for await (const ev of stream) if (ev.type === 'content_block_start' && ev.content_block.type === 'tool_use') started.push(ev.content_block.name);
    });
    expect(started).toEqual(['get_weather']);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err.error.error).toMatchObject({ type: 'permission_error', code: 'tool_not_allowed', tool: 'danger_delete' });
    await expectChargedAsBlocked(sessionId, { stream: true });
  });

  it('Anthropic streamed, paced: the input the upstream reported is charged, the output estimated', async () => {
    const { client, sessionId } = await anthropic();
    const messages = user('[[sim:tool_call=get_weather,danger_delete]] [[sim:tokens_per_second=5]]');
    const stream = client.messages.stream({ model: CLAUDE, max_tokens: 50, messages, tools: [tool('get_weather')] });
    const err = await rejection(async () => {
      for await (const _ of stream) void _;
    });
    expect(err.error.error.code).toBe('tool_not_allowed');
    await expectChargedAsBlocked(sessionId, { estimated: true });
  });

  it('Anthropic: an allowed tool_use passes untouched, plain and streamed', async () => {
    const { client, sessionId } = await anthropic();
    const res = await client.messages.create({ model: CLAUDE, max_tokens: 50, messages: user('[[sim:tool_call=get_weather]]'), tools: [tool('get_weather')] });
    expect(res.stop_reason).toBe('tool_use');
    expect(res.content[0]).toMatchObject({ type: 'tool_use', name: 'get_weather', input: {} });
    const final = await client.messages
      .stream({ model: CLAUDE, max_tokens: 50, messages: user('[[sim:tool_call=get_weather]]'), tools: [tool('get_weather')] })
      .finalMessage();
    expect(final.content[0]).toMatchObject({ type: 'tool_use', name: 'get_weather' });
    expect((await usageLines(sessionId)).map((l) => l.outcome)).toEqual(['ok', 'ok']);
  });
});

// --- the adapters' tool knowledge, directly -------------------------------------------------------

describe('adapters: where tools live', () => {
  const ev = (data: string, event?: string) => ({ raw: `${event ? `event: ${event}\n` : ''}data: ${data}`, event, data });

  it('OpenAI stream: only a delta naming a call is parsed; text mentioning tool_calls is not a call', () => {
    const meter = openAiChat.createStreamMeter({});
    expect(meter.toolCalls(ev('{"choices":[{"delta":{"content":"the \\"tool_calls\\" and \\"name\\" keys"}}]}'))).toEqual([]);
    expect(meter.toolCalls(ev('{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"name\\":1}"}}]}}]}'))).toEqual([]);
    expect(meter.toolCalls(ev('{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"c","type":"function","function":{"name":"x","arguments":""}}]}}]}'))).toEqual([{ name: 'x' }]);
    expect(meter.toolCalls(ev('{"choices":[{"delta":{"function_call":{"name":"y","arguments":""}}}]}'))).toEqual([{ name: 'y' }]);
  });

  it('Anthropic stream: tool_use and server_tool_use blocks, nothing else', () => {
    const meter = anthropicMessages.createStreamMeter({});
    expect(meter.toolCalls(ev('{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"tool_use\\""}}', 'content_block_start'))).toEqual([]);
    expect(meter.toolCalls(ev('{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"a","input":{}}}', 'content_block_start'))).toEqual([{ name: 'a' }]);
    expect(meter.toolCalls(ev('{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"s","name":"web_search","input":{}}}', 'content_block_start'))).toEqual([{ name: 'web_search' }]);
  });

  it('plain answers: every choice, with arguments', () => {
    expect(
      openAiChat.toolCallsInResponse({
        choices: [
          { message: { tool_calls: [{ type: 'function', function: { name: 'a', arguments: '{"q":1}' } }] } },
          { message: { function_call: { name: 'b', arguments: 'not json' } } },
        ],
      }),
    ).toEqual([{ name: 'a', arguments: { q: 1 } }, { name: 'b', arguments: 'not json' }]);
    expect(anthropicMessages.toolCallsInResponse({ content: [{ type: 'text', text: 'hi' }, { type: 'tool_use', name: 'c', input: { z: 2 } }] })).toEqual([
      { name: 'c', arguments: { z: 2 } },
    ]);
  });

  it('OpenAI strip: an allowed_tools choice is narrowed, and forces when required and emptied', () => {
    const body: Record<string, unknown> = {
      tools: [fn('a'), fn('b')],
      tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [{ type: 'function', function: { name: 'a' } }, { type: 'function', function: { name: 'b' } }] } },
    };
    expect(openAiChat.stripTools(body, new Set(['b']))).toBeNull();
    expect(body.tools).toEqual([fn('a')]);
    expect((body.tool_choice as any).allowed_tools.tools).toEqual([{ type: 'function', function: { name: 'a' } }]);
    const required = { tools: [fn('a'), fn('b')], tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'required', tools: [{ type: 'function', function: { name: 'b' } }] } } };
    expect(openAiChat.stripTools(required, new Set(['b']))).toBe('b');
  });
});

describe('review findings: tools that slip past a naive check', () => {
  const ev = (data: string, event?: string) => ({ raw: `${event ? `event: ${event}\n` : ''}data: ${data}`, event, data });

  it('OpenAI stream: a tool name split across deltas is checked whole', () => {
    const meter = openAiChat.createStreamMeter({});
    expect(meter.toolCalls(ev('{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","type":"function","function":{"name":"dang","arguments":""}}]}}]}'))).toEqual([{ name: 'dang' }]);
    expect(meter.toolCalls(ev('{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"er_zone"}}]}}]}'))).toEqual([{ name: 'danger_zone' }]);
    // Another call index starts its own name.
    expect(meter.toolCalls(ev('{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"name":"ok"}}]}}]}'))).toEqual([{ name: 'ok' }]);
  });

  it('Anthropic: an MCP connector block (mcp_tool_use) is a tool call named server/tool', () => {
    const meter = anthropicMessages.createStreamMeter({});
    expect(meter.toolCalls(ev('{"type":"content_block_start","index":0,"content_block":{"type":"mcp_tool_use","id":"m","name":"drop_db","server_name":"evil","input":{}}}', 'content_block_start'))).toEqual([{ name: 'evil/drop_db' }]);
    expect(anthropicMessages.toolCallsInResponse({ content: [{ type: 'mcp_tool_use', name: 'drop_db', server_name: 'evil', input: {} }] })).toEqual([{ name: 'evil/drop_db', arguments: {} }]);
  });

  it('Anthropic: a request naming remote MCP servers is refused before anything is forwarded', async () => {
    const { sessionId, token } = await gw.openSession();
    const res = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': token, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'mcp-client-2025-04-04', 'content-type': 'application/json' },
      body: JSON.stringify({ model: CLAUDE, max_tokens: 32, messages: user('hi'), mcp_servers: [{ type: 'url', url: 'https://evil.example/mcp', name: 'evil' }] }),
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as any).error).toMatchObject({ type: 'permission_error', code: 'tool_not_allowed' });
    expect((await gw.session(sessionId)).spent.requests).toBe(0);
  });

  it('OpenAI: web_search_options is a tool (web_search) under the session\'s scope', async () => {
    const { client } = await openai({ tools: ['get_weather'] });
    const err = await client.chat.completions.create({ model: GPT, messages: user('hi'), web_search_options: {} } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((err as Error).message).toMatch(/web_search/);
    expect(openAiChat.parse({ model: GPT, messages: user('hi'), web_search_options: {} }).tools).toEqual(['web_search']);
  });
});
