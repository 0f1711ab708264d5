// The OpenAI Responses API (`POST /v1/responses`) through the gateway with the official `openai`
// client's `client.responses.create`, plain and streamed: usage from the response (streamed:
// `response.completed`), priced by hand here; tool scope on `tools` (function and built-in
// tools) and on the tool calls in its output items; errors in OpenAI's shape.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countPromptTokens } from '../../src/providers/prompt-tokens.js';
import { countTokens } from '../../src/providers/tokenizer.js';
import { createSimulatedProvider, type SimulatedProvider } from '../../src/providers/simulated/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

type ApiError = InstanceType<typeof OpenAI.APIError>;

const KEY = 'sk-responses-upstream';
// USD per 1M tokens, set here so the expected costs below are computed from numbers in this file.
const MINI = { input: 0.15, output: 0.6, cached_input: 0.075 };
const O3 = { input: 1.1, output: 4.4, cached_input: 0.55 };

let sim: SimulatedProvider;
let gw: TestGateway;

beforeAll(async () => {
  sim = await createSimulatedProvider({ apiKey: KEY, cachedPromptShare: 0.5 });
  gw = await startGateway(
    {
      providers: [{ name: 'oai', type: 'openai', base_url: `${sim.url}/v1`, api_key_env: 'RESPONSES_KEY' }],
      models: [
        { name: 'gpt-4o-mini', provider: 'oai', price: MINI },
        { name: 'o3-mini', provider: 'oai', price: O3 },
      ],
      profiles: [{ name: 'assistant', models: ['gpt-4o-mini', 'o3-mini'], tools: ['lookup_*', 'web_search'] }],
    },
    { RESPONSES_KEY: KEY },
  );
});

afterAll(async () => {
  await gw.close();
  await sim.close();
});

async function client(input: Record<string, unknown> = {}) {
  const { token, sessionId } = await gw.openSession(input);
  return { openai: new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 }), sessionId };
}

async function lines(sessionId: string) {
  return (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data as any[];
}

/** nano-USD, rounded up as the gateway rounds: uncached input, cached input and output at their rates. */
function nano(input: number, cached: number, output: number, p: { input: number; output: number; cached_input: number }): number {
  return Math.ceil(((input - cached) * p.input + cached * p.cached_input + output * p.output) * 1000 - 1e-6);
}

const fnTool = (name: string) => ({ type: 'function' as const, name, parameters: { type: 'object', properties: {} }, strict: false });

describe('POST /v1/responses', () => {
  it('forwards a plain call and charges the usage in the response, cached input at its rate', async () => {
    const { openai, sessionId } = await client();
    const input = 'Tell me about budgets [[sim:tokens=9]]';
    const res = await openai.responses.create({ model: 'gpt-4o-mini', instructions: 'Be brief.', input });
    expect(res.object).toBe('response');
    expect(res.status).toBe('completed');
    expect(res.output_text.split(' ')).toHaveLength(9);

    // The upstream saw the provider key and the request as sent (model, input, instructions).
    const seen = sim.requests.at(-1)!;
    expect(seen.path).toBe('/v1/responses');
    expect(seen.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(seen.body).toMatchObject({ model: 'gpt-4o-mini', input, instructions: 'Be brief.' });

    const prompt = countPromptTokens({ system: 'Be brief.', messages: [{ role: 'user', content: input }] });
    const cached = Math.floor(prompt * 0.5);
    expect(res.usage).toMatchObject({ input_tokens: prompt, output_tokens: 9, input_tokens_details: { cached_tokens: cached } });
    const [line] = await lines(sessionId);
    expect(line).toMatchObject({ api: 'openai.responses', model: 'gpt-4o-mini', stream: false, outcome: 'ok', estimated: false, input_tokens: prompt, cached_input_tokens: cached, output_tokens: 9 });
    expect(Math.round(line.cost_usd * 1e9)).toBe(nano(prompt, cached, 9, MINI));
  });

  it('streams response.created … output_text.delta … response.completed and charges its usage, reasoning as output', async () => {
    const { openai, sessionId } = await client();
    const stream = await openai.responses.create({ model: 'o3-mini', input: 'Think then answer [[sim:tokens=16]]', stream: true });
    const types: string[] = [];
    let text = '';
    let usage: OpenAI.Responses.ResponseUsage | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') usage = event.response.usage;
    }
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    expect(types.filter((t) => t === 'response.output_text.delta').length).toBe(countTokens(text));
    // o3-mini spends 25 % of its 16 tokens on reasoning: reported inside output_tokens.
    expect(usage!.output_tokens).toBe(16);
    expect(usage!.output_tokens_details.reasoning_tokens).toBe(4);
    const [line] = await lines(sessionId);
    expect(line).toMatchObject({ api: 'openai.responses', stream: true, outcome: 'ok', output_tokens: 16, reasoning_tokens: 4, estimated: false });
    // Reasoning tokens are output tokens, priced once, at the output rate.
    expect(Math.round(line.cost_usd * 1e9)).toBe(nano(usage!.input_tokens, usage!.input_tokens_details.cached_tokens, 16, O3));
  });

  it('caps the output to the budget (max_output_tokens) and meters an incomplete response', async () => {
    // 0.00003 USD: at most 50 output tokens at $0.60/M after the prompt.
    const { openai, sessionId } = await client({ budget: { usd: 0.00003 } });
    const res = await openai.responses.create({ model: 'gpt-4o-mini', input: 'Long answer please [[sim:tokens=500]]' });
    const sent = (sim.requests.at(-1)!.body as { max_output_tokens: number }).max_output_tokens;
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(50);
    expect(res.status).toBe('incomplete');
    expect(res.usage!.output_tokens).toBe(sent);
    const session = await gw.session(sessionId);
    expect(session.spent.usd).toBeLessThanOrEqual(0.00003);
  });

  it('charges a cut stream by counting what was delivered, marked estimated', async () => {
    const { openai, sessionId } = await client();
    const stream = await openai.responses.create({ model: 'gpt-4o-mini', input: 'cut me [[sim:tokens=20]] [[sim:cut_after=5]]', stream: true });
    let text = '';
    let last: any;
    for await (const event of stream) {
      last = event;
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    // No response.completed came: the gateway ends the stream with the Responses error event.
    expect(last).toMatchObject({ type: 'error', code: 'upstream_stream_cut' });
    const [line] = await lines(sessionId);
    expect(line).toMatchObject({ outcome: 'stream_cut', estimated: true, output_tokens: countTokens(text) });
    expect(line.output_tokens).toBe(5);
  });

  it('records a stream the provider ends with response.failed as cut (stream_cut), not ok', async () => {
    const { openai, sessionId } = await client();
    const stream = await openai.responses.create({ model: 'gpt-4o-mini', input: 'fail me [[sim:tokens=20]] [[sim:stream_error_after=5]]', stream: true });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types.at(-1)).toBe('response.failed');
    const [line] = await lines(sessionId);
    expect(line).toMatchObject({ outcome: 'stream_cut' });
  });
});

describe('tool scope on /v1/responses', () => {
  it('refuses a function tool outside the scope, naming it (403, OpenAI shape), before anything goes upstream', async () => {
    const { openai } = await client();
    const before = sim.requests.length;
    const err = (await openai.responses.create({ model: 'gpt-4o-mini', input: 'hi', tools: [fnTool('lookup_order'), fnTool('delete_order')] }).catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(403);
    expect(err.code).toBe('tool_not_allowed');
    expect(err.param).toBe('tools');
    expect(err.message).toContain('delete_order');
    expect(sim.requests.length).toBe(before);
  });

  it('scopes built-in tools by type: web_search (any version) is allowed here, file_search is not', async () => {
    const { openai } = await client();
    await expect(openai.responses.create({ model: 'gpt-4o-mini', input: 'hi', tools: [{ type: 'web_search_preview' }] })).resolves.toMatchObject({ status: 'completed' });
    const err = (await openai.responses.create({ model: 'gpt-4o-mini', input: 'hi', tools: [{ type: 'file_search', vector_store_ids: ['vs_1'] }] }).catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(403);
    expect(err.message).toContain('file_search');
  });

  it('refuses remote MCP tools, which would run out of the gateway\'s sight', async () => {
    const { openai } = await client();
    const err = (await openai.responses
      .create({ model: 'gpt-4o-mini', input: 'hi', tools: [{ type: 'mcp', server_label: 'x', server_url: 'https://example.com/mcp', require_approval: 'never' }] })
      .catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(403);
    expect(err.code).toBe('tool_not_allowed');
  });

  it('blocks a returned function call outside the scope (plain): 403, the work still charged', async () => {
    const { openai, sessionId } = await client();
    // `lookup_*` is offered; the model calls `wipe_db`, which it was never offered.
    const err = (await openai.responses.create({ model: 'gpt-4o-mini', input: 'go [[sim:tool_call=wipe_db]]', tools: [fnTool('lookup_order')] }).catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(403);
    expect(err.code).toBe('tool_not_allowed');
    expect((err.error as { tool?: string }).tool).toBe('wipe_db');
    const [line] = await lines(sessionId);
    expect(line.outcome).toBe('tool_blocked');
    expect(line.output_tokens).toBeGreaterThan(0);
    expect(line.cost_usd).toBeGreaterThan(0);
  });

  it('allows an in-scope returned call, and blocks an out-of-scope one mid-stream with the Responses error event', async () => {
    const { openai } = await client();
    const ok = await openai.responses.create({ model: 'gpt-4o-mini', input: 'go [[sim:tool_call=lookup_order]]', tools: [fnTool('lookup_order')] });
    expect(ok.output[0]).toMatchObject({ type: 'function_call', name: 'lookup_order' });

    const { openai: second, sessionId } = await client();
    const stream = await second.responses.create({ model: 'gpt-4o-mini', input: 'go [[sim:tool_call=lookup_order,wipe_db]]', tools: [fnTool('lookup_order')], stream: true });
    const seen: string[] = [];
    let last: any;
    for await (const event of stream) {
      last = event;
      if (event.type === 'response.output_item.added' && event.item.type === 'function_call') seen.push(event.item.name);
    }
    // The first call went through; the second was never relayed; the stream ends with an error event.
    expect(seen).toEqual(['lookup_order']);
    expect(last).toMatchObject({ type: 'error', code: 'tool_not_allowed', tool: 'wipe_db' });
    const [line] = await lines(sessionId);
    expect(line.outcome).toBe('tool_blocked');
  });
});

describe('bad input on /v1/responses', () => {
  it('answers 400 in OpenAI\'s shape naming the field', async () => {
    const { openai } = await client();
    const err = (await openai.responses.create({ model: 'gpt-4o-mini', input: 42 as unknown as string }).catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(400);
    expect(err.type).toBe('invalid_request_error');
    expect(err.param).toBe('input');
  });

  it('refuses background responses, whose usage the gateway could never meter', async () => {
    const { openai } = await client();
    const err = (await openai.responses.create({ model: 'gpt-4o-mini', input: 'hi', background: true }).catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(400);
    expect(err.param).toBe('background');
  });
});
