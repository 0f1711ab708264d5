// Model aliases and fallbacks: an agent-facing name mapped to an upstream model, with ordered
// fallbacks on upstream 5xx and timeouts. Each attempt is its own spend line and `model.call`
// event; the fallback is reserved at its own price (never past the budget); no fallback after a
// stream started. Two simulated upstreams in their own servers: a failing primary and a backup.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countPromptTokens } from '../../src/providers/prompt-tokens.js';
import { createSimulatedProvider, type SimulatedProvider } from '../../src/providers/simulated/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

type ApiError = InstanceType<typeof OpenAI.APIError>;

const PRIMARY = { input: 2.5, output: 10 };
const BACKUP = { input: 0.15, output: 0.6 };

let down: SimulatedProvider; // answers every model request with a 500
let slow: SimulatedProvider; // answers after 5 s: past the provider's 300 ms timeout
let backup: SimulatedProvider;
let gw: TestGateway;

beforeAll(async () => {
  [down, slow, backup] = await Promise.all([
    createSimulatedProvider({ failureRate: 1 }),
    createSimulatedProvider({ latencyMs: 5000 }),
    createSimulatedProvider(),
  ]);
  gw = await startGateway({
    providers: [
      { name: 'down', type: 'openai_compatible', base_url: `${down.url}/v1` },
      { name: 'slow', type: 'openai_compatible', base_url: `${slow.url}/v1`, timeout_ms: 300 },
      { name: 'backup', type: 'openai_compatible', base_url: `${backup.url}/v1` },
    ],
    models: [
      { name: 'smart', provider: 'down', upstream_model: 'big-model-2025', price: PRIMARY, fallbacks: ['slow-smart', 'backup-smart'] },
      { name: 'slow-smart', provider: 'slow', upstream_model: 'big-model-2025', price: PRIMARY },
      { name: 'backup-smart', provider: 'backup', upstream_model: 'small-model', price: BACKUP },
      { name: 'fragile', provider: 'down', price: BACKUP, fallbacks: ['slow-smart'] },
      // A healthy primary whose fallbacks must never be reached.
      { name: 'steady', provider: 'backup', price: BACKUP, fallbacks: ['slow-smart', 'smart'] },
    ],
    // Agents are granted the alias only: the fallbacks are the operator's routing.
    profiles: [{ name: 'assistant', models: ['smart', 'fragile', 'steady'] }],
  });
});

afterAll(async () => {
  await gw.close();
  await Promise.all([down.close(), slow.close(), backup.close()]);
});

async function client(input: Record<string, unknown> = {}) {
  const { token, sessionId } = await gw.openSession(input);
  return { openai: new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 }), sessionId };
}

async function lines(sessionId: string): Promise<any[]> {
  return ((await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data as any[]).sort((a, b) => a.created_at.localeCompare(b.created_at));
}

async function callEvents(sessionId: string): Promise<any[]> {
  const events = (await gw.admin('GET', `/admin/v1/audit?session=${sessionId}&type=model.call`)).body.data as any[];
  return events.map((e) => e.data).sort((a, b) => a.attempt - b.attempt);
}

describe('fallbacks', () => {
  it('falls back past a 5xx and a timeout, in order, metering and auditing each attempt', async () => {
    const { openai, sessionId } = await client();
    const messages = [{ role: 'user' as const, content: 'route me [[sim:tokens=7]]' }];
    const before = { down: down.requests.length, slow: slow.requests.length };
    const { data, response } = await openai.chat.completions.create({ model: 'smart', messages }).withResponse();
    expect(data.choices[0]!.message.content!.split(' ')).toHaveLength(7);
    expect(response.headers.get('x-tollgate-fallback-model')).toBe('backup-smart');
    // Each upstream got the request once, with its own upstream model name.
    expect(down.requests.length - before.down).toBe(1);
    expect(slow.requests.length - before.slow).toBe(1);
    expect((backup.requests.at(-1)!.body as { model: string }).model).toBe('small-model');

    const [first, second, third] = await lines(sessionId);
    expect(first).toMatchObject({ model: 'smart', outcome: 'upstream_error', http_status: 500, cost_usd: 0 });
    expect(second).toMatchObject({ model: 'slow-smart', outcome: 'upstream_error', http_status: 504, cost_usd: 0 });
    const prompt = countPromptTokens({ messages });
    expect(third).toMatchObject({ model: 'backup-smart', outcome: 'ok', input_tokens: prompt, output_tokens: 7 });
    // Priced at the backup's own rates: (prompt × 0.15 + 7 × 0.6) / 1e6 USD.
    expect(Math.round(third.cost_usd * 1e9)).toBe(Math.ceil((prompt * 0.15 + 7 * 0.6) * 1000 - 1e-6));

    const events = await callEvents(sessionId);
    expect(events.map((e) => [e.attempt, e.model, e.outcome, e.requested_model])).toEqual([
      [1, 'smart', 'upstream_error', 'smart'],
      [2, 'slow-smart', 'upstream_error', 'smart'],
      [3, 'backup-smart', 'ok', 'smart'],
    ]);
    const session = await gw.session(sessionId);
    expect(session.spent.requests).toBe(3);
    expect(session.reserved?.usd ?? 0).toBe(0);
  });

  it('streams from the fallback when the primary fails before answering', async () => {
    const { openai, sessionId } = await client();
    const stream = await openai.chat.completions.create({ model: 'smart', stream: true, messages: [{ role: 'user', content: 'stream [[sim:tokens=5]]' }] });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text.split(' ')).toHaveLength(5);
    const all = await lines(sessionId);
    expect(all.map((l) => [l.model, l.outcome])).toEqual([['smart', 'upstream_error'], ['slow-smart', 'upstream_error'], ['backup-smart', 'ok']]);
  });

  it('never tries a fallback the budget cannot cover: the client gets the upstream failure', async () => {
    // $0.00001 = 10,000 nano-USD: fragile's worst case (8 prompt tokens × 150 + 1 × 600) fits,
    // slow-smart's (8 × 2,500 + 1 × 10,000) does not.
    const { openai, sessionId } = await client({ budget: { usd: 0.00001 } });
    const before = slow.requests.length;
    const err = (await openai.chat.completions.create({ model: 'fragile', max_tokens: 1, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(500);
    expect(slow.requests.length).toBe(before);
    const all = await lines(sessionId);
    expect(all.map((l) => [l.model, l.outcome])).toEqual([['fragile', 'upstream_error']]);
    const session = await gw.session(sessionId);
    expect(session.spent.usd).toBe(0);
  });

  /** Requests the fallbacks of `steady` received so far. */
  const fallbackRequests = () => slow.requests.length + down.requests.length;

  it('does not fall back on a 4xx (the request is at fault, not the upstream)', async () => {
    const { openai, sessionId } = await client();
    const before = fallbackRequests();
    const bad = (await openai.chat.completions.create({ model: 'steady', messages: [{ role: 'user', content: 'x [[sim:error=400]]' }] }).catch((e: unknown) => e)) as ApiError;
    expect(bad.status).toBe(400);
    expect(fallbackRequests()).toBe(before);
    expect((await lines(sessionId)).map((l) => [l.model, l.outcome])).toEqual([['steady', 'upstream_error']]);
  });

  it('does not fall back once a stream has started: a cut stream is charged for what was delivered', async () => {
    const { openai, sessionId } = await client();
    const before = fallbackRequests();
    const stream = await openai.chat.completions.create({ model: 'steady', stream: true, messages: [{ role: 'user', content: 'cut [[sim:tokens=20]] [[sim:cut_after=4]]' }] });
    await expect(async () => {
      for await (const chunk of stream) void chunk;
    }).rejects.toThrow();
    expect(fallbackRequests()).toBe(before);
    // 4 tokens delivered; `steady` is of no known tokenizer family, so they are counted with the
    // documented estimate: ceil(4 × 1.25) = 5.
    expect((await lines(sessionId)).map((l) => [l.model, l.outcome, l.estimated, l.output_tokens])).toEqual([['steady', 'stream_cut', true, 5]]);
  });
});
