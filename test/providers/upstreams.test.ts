// OpenAI-compatible upstreams configured by type alone — Azure OpenAI, Gemini's OpenAI endpoint,
// vLLM, Ollama, llama.cpp server, OpenRouter — each replayed from fixtures in its own wire shape
// (test/fixtures/upstreams: Azure's content-filter chunks, Gemini's usage on the finish chunk,
// OpenRouter's `: OPENROUTER PROCESSING` comments, llama.cpp's timings…). For each, plain and
// streamed through the official `openai` client: the exact URL, headers and body the gateway
// sent, and the usage and price charged against numbers worked out by hand below.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startReplay, type ReplayServer } from '../helpers/replay.js';

type ApiError = InstanceType<typeof OpenAI.APIError>;

const KEY = 'sk-upstream-secret-4242';
const messages = [{ role: 'user' as const, content: 'Say hello' }];

interface Case {
  name: string;
  /** Provider config, without name and base_url. */
  provider: Record<string, unknown>;
  /** Path under the replay server's origin that base_url points at. */
  basePath: string;
  /** The model as configured (agent-facing name, upstream model, price overrides). */
  model: Record<string, unknown> & { name: string };
  upstreamModel: string;
  /** The URL (path and query) the upstream must see. */
  url: string;
  /** Headers the upstream must see (beyond content-type and x-request-id). */
  headers: Record<string, string>;
  /** Headers it must not see. */
  absent: string[];
  /** The price source `tollgate models` must show. */
  source: string;
  plain: { fixture: string; input: number; cached: number; output: number; nano: number };
  stream: { fixture: string; input: number; cached: number; output: number; nano: number; text: string };
}

// Costs in nano-USD = Σ tokens × USD-per-1M × 1000, worked out by hand from the rates named.
const CASES: Case[] = [
  {
    // Catalog (azure, as gpt-4o): input 2.5, cached 1.25, output 10.
    name: 'Azure OpenAI',
    provider: { type: 'azure_openai', api_key_env: 'UPSTREAM_KEY', api_version: '2024-10-21' },
    basePath: '',
    model: { name: 'gpt-4o', upstream_model: 'gpt4o-prod', catalog_model: 'gpt-4o' },
    upstreamModel: 'gpt4o-prod',
    url: '/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21',
    headers: { 'api-key': KEY },
    absent: ['authorization'],
    source: 'catalog v0.1.8',
    // 176 uncached × 2.5 + 1024 cached × 1.25 + 10 × 10 = 440 + 1280 + 100 = 1820 → 1,820,000
    plain: { fixture: 'azure-chat.json', input: 1200, cached: 1024, output: 10, nano: 1_820_000 },
    // 9 × 2.5 + 3 × 10 = 52.5 → 52,500
    stream: { fixture: 'azure-chat.sse', input: 9, cached: 0, output: 3, nano: 52_500, text: 'Hello there!' },
  },
  {
    // Catalog (google): input 0.3, output 2.5.
    name: 'Gemini (OpenAI-compatible endpoint)',
    provider: { type: 'gemini', api_key_env: 'UPSTREAM_KEY' },
    basePath: '/v1beta/openai',
    model: { name: 'gemini-2.5-flash' },
    upstreamModel: 'gemini-2.5-flash',
    url: '/v1beta/openai/chat/completions',
    headers: { authorization: `Bearer ${KEY}` },
    absent: ['api-key'],
    source: 'catalog v0.1.8',
    // 4 × 0.3 + 9 × 2.5 = 1.2 + 22.5 = 23.7 → 23,700 (streamed: usage on the finish chunk)
    plain: { fixture: 'gemini-chat.json', input: 4, cached: 0, output: 9, nano: 23_700 },
    stream: { fixture: 'gemini-chat.sse', input: 4, cached: 0, output: 9, nano: 23_700, text: 'Hello! How can I help you today?' },
  },
  {
    // Local: no catalog price; the operator's: input 0.05, output 0.10.
    name: 'vLLM',
    provider: { type: 'openai_compatible', api_key_env: 'UPSTREAM_KEY' },
    basePath: '/v1',
    model: { name: 'llama-8b', upstream_model: 'meta-llama/Llama-3.1-8B-Instruct', price: { input: 0.05, output: 0.1 } },
    upstreamModel: 'meta-llama/Llama-3.1-8B-Instruct',
    url: '/v1/chat/completions',
    headers: { authorization: `Bearer ${KEY}` },
    absent: ['api-key'],
    source: 'config',
    // 37 × 0.05 + 10 × 0.1 = 1.85 + 1 = 2.85 → 2,850
    plain: { fixture: 'vllm-chat.json', input: 37, cached: 0, output: 10, nano: 2_850 },
    // 37 × 0.05 + 2 × 0.1 = 2.05 → 2,050
    stream: { fixture: 'vllm-chat.sse', input: 37, cached: 0, output: 2, nano: 2_050, text: 'Hello!' },
  },
  {
    // Local, keyless, priced by the operator as free (explicitly: never silently).
    name: 'llama.cpp server',
    provider: { type: 'openai_compatible' },
    basePath: '/v1',
    model: { name: 'qwen-local', upstream_model: 'qwen2.5-7b-instruct-q4_k_m.gguf', price: { input: 0, output: 0 } },
    upstreamModel: 'qwen2.5-7b-instruct-q4_k_m.gguf',
    url: '/v1/chat/completions',
    headers: {},
    absent: ['authorization', 'api-key'],
    source: 'config',
    plain: { fixture: 'llamacpp-chat.json', input: 11, cached: 0, output: 7, nano: 0 },
    stream: { fixture: 'llamacpp-chat.sse', input: 11, cached: 0, output: 2, nano: 0, text: 'Hello!' },
  },
  {
    // Catalog (openrouter, anthropic/claude-sonnet-4): input 3, cached 0.3, output 15.
    name: 'OpenRouter',
    provider: { type: 'openrouter', api_key_env: 'UPSTREAM_KEY', headers: { 'HTTP-Referer': 'https://tollgate.example', 'X-Title': 'Tollgate' } },
    basePath: '/api/v1',
    model: { name: 'sonnet', upstream_model: 'anthropic/claude-sonnet-4' },
    upstreamModel: 'anthropic/claude-sonnet-4',
    url: '/api/v1/chat/completions',
    headers: { authorization: `Bearer ${KEY}`, 'http-referer': 'https://tollgate.example', 'x-title': 'Tollgate' },
    absent: ['api-key'],
    source: 'catalog v0.1.8',
    // 10 uncached × 3 + 2000 cached × 0.3 + 12 × 15 = 30 + 600 + 180 = 810 → 810,000
    plain: { fixture: 'openrouter-chat.json', input: 2010, cached: 2000, output: 12, nano: 810_000 },
    // 9 × 3 + 4 × 15 = 87 → 87,000
    stream: { fixture: 'openrouter-chat.sse', input: 9, cached: 0, output: 4, nano: 87_000, text: 'Hello!' },
  },
];

let replay: ReplayServer;
let gw: TestGateway;

beforeAll(async () => {
  replay = await startReplay();
  gw = await startGateway(
    {
      providers: [
        ...CASES.map((c, i) => ({ name: `p${i}`, base_url: `${replay.url}${c.basePath}`, ...c.provider })),
        { name: 'ollama', type: 'openai_compatible', base_url: `${replay.url}/v1` },
      ],
      models: [...CASES.map((c, i) => ({ ...c.model, provider: `p${i}` })), { name: 'llama3.1:8b', provider: 'ollama' }],
      profiles: [{ name: 'assistant', models: [...CASES.map((c) => c.model.name), 'llama3.1:8b'] }],
    },
    { UPSTREAM_KEY: KEY },
  );
});

afterAll(async () => {
  await gw.close();
  await replay.close();
});

async function client(input: Record<string, unknown> = {}) {
  const { token, sessionId } = await gw.openSession(input);
  return { token, sessionId, openai: new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 }) };
}

async function lastLine(sessionId: string) {
  return ((await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data as any[])[0];
}

describe.each(CASES)('$name', (c) => {
  it('plain: exact URL, headers and body upstream; usage and price as worked out by hand', async () => {
    const { openai, sessionId, token } = await client();
    replay.next(c.plain.fixture);
    const res = await openai.chat.completions.create({ model: c.model.name, messages });
    expect(res.usage?.prompt_tokens).toBe(c.plain.input);

    const seen = replay.requests.at(-1)!;
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe(c.url);
    expect(seen.body).toEqual({ model: c.upstreamModel, messages });
    for (const [name, value] of Object.entries(c.headers)) expect(seen.headers[name]).toBe(value);
    for (const name of c.absent) expect(seen.headers[name]).toBeUndefined();
    expect(seen.headers['content-type']).toBe('application/json');
    expect(JSON.stringify(seen.headers)).not.toContain(token);

    const line = await lastLine(sessionId);
    expect(line).toMatchObject({ model: c.model.name, outcome: 'ok', estimated: false, input_tokens: c.plain.input, cached_input_tokens: c.plain.cached, output_tokens: c.plain.output });
    expect(Math.round(line.cost_usd * 1e9)).toBe(c.plain.nano);
  });

  it('streamed: usage requested upstream, chunks relayed, usage and price as worked out by hand', async () => {
    const { openai, sessionId } = await client();
    replay.next(c.stream.fixture);
    const stream = await openai.chat.completions.create({ model: c.model.name, messages, stream: true });
    let text = '';
    let sawUsage = false;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) sawUsage = true;
    }
    expect(text).toBe(c.stream.text);
    // The gateway asked for usage on the client's behalf and kept the usage-only chunk to itself.
    const seen = replay.requests.at(-1)!;
    expect(seen.url).toBe(c.url);
    expect(seen.body).toEqual({ model: c.upstreamModel, messages, stream: true, stream_options: { include_usage: true } });
    expect(seen.headers.accept).toBe('text/event-stream');
    if (c.name !== 'Gemini (OpenAI-compatible endpoint)' && c.name !== 'llama.cpp server') expect(sawUsage).toBe(false);

    const line = await lastLine(sessionId);
    expect(line).toMatchObject({ stream: true, outcome: 'ok', estimated: false, input_tokens: c.stream.input, cached_input_tokens: c.stream.cached, output_tokens: c.stream.output });
    expect(Math.round(line.cost_usd * 1e9)).toBe(c.stream.nano);
  });

  it(`lists its price source (${c.source})`, async () => {
    const models = (await gw.admin('GET', '/admin/v1/models')).body.data as any[];
    expect(models.find((m) => m.name === c.model.name)).toMatchObject({ price_source: c.source, upstream_model: c.upstreamModel });
  });
});

describe('Ollama, a model nobody priced', () => {
  it('is refused for a USD budget with a clear 403 (never charged as free), before anything goes upstream', async () => {
    const { openai } = await client({ budget: { usd: 1 } });
    const before = replay.requests.length;
    const err = (await openai.chat.completions.create({ model: 'llama3.1:8b', messages }).catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(403);
    expect(err.code).toBe('model_unpriced');
    expect(err.message).toContain('llama3.1:8b');
    expect(replay.requests.length).toBe(before);
  });

  it('runs under a token budget, metered in tokens, plain and streamed, keyless', async () => {
    const { openai, sessionId } = await client({ budget: { tokens: 10_000 } });
    replay.next('ollama-chat.json');
    const res = await openai.chat.completions.create({ model: 'llama3.1:8b', messages, max_tokens: 100 });
    expect(res.choices[0]!.message.content).toBe('Hello! How are you today?');
    const seen = replay.requests.at(-1)!;
    expect(seen.url).toBe('/v1/chat/completions');
    expect(seen.headers.authorization).toBeUndefined();
    expect(await lastLine(sessionId)).toMatchObject({ input_tokens: 12, output_tokens: 8, cost_usd: 0 });

    replay.next('ollama-chat.sse');
    const stream = await openai.chat.completions.create({ model: 'llama3.1:8b', messages, max_tokens: 100, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Hello!');
    const session = await gw.session(sessionId);
    expect(session.spent).toMatchObject({ input_tokens: 24, output_tokens: 10 });
    const models = (await gw.admin('GET', '/admin/v1/models')).body.data as any[];
    expect(models.find((m) => m.name === 'llama3.1:8b')).toMatchObject({ price_source: 'none', price_per_million: null });
  });
});
