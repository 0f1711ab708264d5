// Every model call refused after authentication leaves a `model.refused` event, durable before
// the refusal is answered — over budget, rate-limited, a body too large, not JSON, an unknown
// model; the same refusal of one session within a second is folded into the next event.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

let clock = Date.now();
let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway({
    profiles: [
      { name: 'assistant', models: ['gpt-4o-mini'] },
      { name: 'limited', models: ['gpt-4o-mini'], rate_limits: { session: { requests_per_minute: 1 } } },
    ],
    agents: [{ name: 'demo-agent', team: 'demo', profile: 'assistant' }, { name: 'limited-agent', team: 'demo', profile: 'limited' }],
    server: { body_limit_bytes: 4096 },
  }, {}, () => clock);
});
afterAll(async () => gw?.close());

const refusals = async (sessionId: string) =>
  ((await gw.admin('GET', `/admin/v1/audit?session=${sessionId}&type=model.refused&order=asc`)).body.data as { request_id: string; data: Record<string, any> }[]);

async function raw(token: string, body: string) {
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
  return { status: res.status, requestId: res.headers.get('x-request-id'), body: (await res.json()) as { error: { code: string } } };
}

describe('model.refused', () => {
  it('records refusals of an authenticated call that never went upstream, each before its answer', async () => {
    const { token, sessionId } = await gw.openSession({ budget: { tokens: 10 } });
    const answers = [
      await raw(token, JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'a long enough question to pass ten tokens of budget' }] })),
      await raw(token, '{"model": "gpt-4o-mini", "messages": ['),
      await raw(token, JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(5000) }] })),
      await raw(token, JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] })),
    ];
    expect(answers.map((a) => `${a.status} ${a.body.error.code}`)).toEqual(['402 budget_exceeded', '400 invalid_json', '413 body_too_large', '404 model_not_found']);
    // Read right after each answer: the events were durable before it.
    const events = await refusals(sessionId);
    expect(events.map((e) => [e.request_id, e.data.code, e.data.status])).toEqual(answers.map((a) => [a.requestId, a.body.error.code, a.status]));
    expect(events[0]!.data).toMatchObject({ model: 'gpt-4o-mini', api: 'openai.chat', details: { level: 'session', unit: 'tokens' } });
  });

  it('folds the same refusal of one session within a second into the next event (repeats)', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'limited-agent' });
    const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const ask = () => openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi [[sim:tokens=2]]' }] }).then(() => 200, (e: InstanceType<typeof OpenAI.APIError>) => e.status);
    expect(await ask()).toBe(200);
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push(await ask());
    expect(statuses).toEqual([429, 429, 429, 429, 429]);
    expect(await refusals(sessionId)).toHaveLength(1);
    clock += 1500;
    expect(await ask()).toBe(429);
    const events = await refusals(sessionId);
    expect(events.map((e) => [e.data.code, e.data.repeats])).toEqual([['rate_limited', undefined], ['rate_limited', 4]]);
    // Folded refusals with no later one to carry them are written out on their own.
    for (let i = 0; i < 3; i++) expect(await ask()).toBe(429);
    clock += 1500;
    gw.gateway['pipeline'].refusals.writeFolded(clock - 1000);
    const last = (await refusals(sessionId)).at(-1)!;
    expect([last.request_id, last.data.code, last.data.repeats]).toEqual([null, 'rate_limited', 3]);
  });

  it('folds only refusals of the same API, model and code: another model\'s or API\'s gets its own event', async () => {
    const { token, sessionId } = await gw.openSession({ budget: { tokens: 10 } });
    const prompt = 'a long enough question to pass ten tokens of budget';
    const chat = (model: string) => raw(token, JSON.stringify({ model, messages: [{ role: 'user', content: prompt }] }));
    const responses = await fetch(`${gw.url}/v1/responses`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', input: prompt }) });
    expect(responses.status).toBe(402);
    expect((await chat('gpt-4o-mini')).status).toBe(402);
    expect((await chat('gpt-4o-mini')).status).toBe(402);
    expect((await chat('no-such-model')).status).toBe(404);
    const events = await refusals(sessionId);
    expect(events.map((e) => [e.data.api, e.data.model, e.data.code])).toEqual([
      ['openai.responses', 'gpt-4o-mini', 'budget_exceeded'],
      ['openai.chat', 'gpt-4o-mini', 'budget_exceeded'],
      ['openai.chat', 'no-such-model', 'model_not_found'],
    ]);
    // Names no route knows fold together: a new made-up name per call writes no new event.
    for (let i = 0; i < 5; i++) expect((await chat(`made-up-${i}`)).status).toBe(404);
    expect(await refusals(sessionId)).toHaveLength(3);
  });
});
