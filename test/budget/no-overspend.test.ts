// No overspend, by construction: many concurrent streamed and plain calls from the official
// client against small budgets at every level. Total charged never exceeds a budget, and the
// budget is still used (refusing everything is not a pass).
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { delegate } from '../helpers/oauth.js';

type ApiError = InstanceType<typeof OpenAI.APIError>;
let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway({
    teams: [{ name: 'demo' }, { name: 'capped', budget: { usd: 0.0004, period: 'day' } }],
    profiles: [
      { name: 'assistant', models: ['gpt-4o-mini'], session_budget: { max: { usd: 10 } } },
      { name: 'capped-agent', models: ['gpt-4o-mini'], agent_budget: { usd: 0.0003, period: 'lifetime' }, session_budget: { max: { usd: 10 } } },
    ],
    agents: [
      { name: 'demo-agent', team: 'demo', profile: 'assistant' },
      { name: 'helper', team: 'demo', profile: 'assistant' },
      { name: 'limited', team: 'demo', profile: 'capped-agent' },
      { name: 'team-a', team: 'capped', profile: 'assistant' },
      { name: 'team-b', team: 'capped', profile: 'assistant' },
    ],
  });
});
afterAll(async () => {
  await gw.close();
});

/** One call, streamed or not; resolves to 'ok' or the HTTP status of the refusal. */
async function call(token: string, i: number): Promise<'ok' | number> {
  const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  const messages = [{ role: 'user' as const, content: `call ${i} [[sim:tokens=20]]` }];
  try {
    if (i % 2 === 0) {
      const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', stream: true, max_tokens: 20, messages });
      for await (const _chunk of stream) void _chunk;
    } else {
      await openai.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 20, messages });
    }
    return 'ok';
  } catch (err) {
    return (err as ApiError).status ?? -1;
  }
}

/** Fires `first` calls at once, then waves of 40 until a whole wave is refused. */
async function drain(tokens: string[], first = 240): Promise<{ ok: number; refused: number[] }> {
  let i = 0;
  const results: ('ok' | number)[] = [];
  for (let wave = first; ; wave = 40) {
    const batch = await Promise.all(Array.from({ length: wave }, () => { const n = i++; return call(tokens[n % tokens.length]!, n); }));
    results.push(...batch);
    if (batch.every((r) => r !== 'ok') || i > 2000) break;
  }
  return { ok: results.filter((r) => r === 'ok').length, refused: results.filter((r): r is number => r !== 'ok') };
}

async function usageSum(query: string): Promise<{ usd: number; lines: number }> {
  const lines = (await gw.admin('GET', `/admin/v1/usage?${query}&limit=1000`)).body.data as { cost_usd: number }[];
  return { usd: lines.reduce((s, l) => s + l.cost_usd, 0), lines: lines.length };
}

describe('no overspend under concurrency', () => {
  it('one session: 240 concurrent calls, then waves until refused — never above the budget, at least 90% used', async () => {
    const budget = 0.001;
    const { token, sessionId } = await gw.openSession({ budget: { usd: budget } });
    const { ok, refused } = await drain([token]);
    expect(ok).toBeGreaterThan(50);
    expect(new Set(refused)).toEqual(new Set([402])); // budget refusals only, never 429
    const session = await gw.session(sessionId);
    const charged = await usageSum(`session=${sessionId}`);
    expect(charged.usd).toBeCloseTo(session.spent.usd, 12); // the ledger balances against the lines
    expect(session.spent.usd).toBeLessThanOrEqual(budget);
    expect(session.spent.usd).toBeGreaterThanOrEqual(0.9 * budget);
  });

  it('a delegation tree: children\'s concurrent spend counts against the parent', async () => {
    const budget = 0.0006;
    const root = await gw.openSession({ budget: { usd: budget } });
    const a = (await delegate(gw.url, root.token, { agent: 'helper', task: 'a', budget_usd: '0.0002' })).body;
    const b = (await delegate(gw.url, root.token, { agent: 'helper', task: 'b', budget_usd: '0.0002' })).body;
    await drain([root.token, a.access_token, b.access_token], 120);
    const view = await gw.session(root.sessionId);
    expect(view.spent_with_children.usd).toBeLessThanOrEqual(budget);
    expect((await gw.session(a.session_id)).spent.usd).toBeLessThanOrEqual(0.0002);
    expect((await gw.session(b.session_id)).spent.usd).toBeLessThanOrEqual(0.0002);
    expect(view.spent_with_children.usd).toBeGreaterThanOrEqual(0.9 * budget);
  });

  it('the agent level: three sessions of one agent share its budget', async () => {
    const sessions = await Promise.all([1, 2, 3].map(() => gw.openSession({ agent: 'limited', budget: { usd: 1 } })));
    const { refused } = await drain(sessions.map((s) => s.token), 150);
    expect(new Set(refused)).toEqual(new Set([402]));
    const agent = (await gw.admin('GET', '/admin/v1/agents/limited')).body;
    const charged = await usageSum(`agent=${agent.id}`);
    expect(charged.usd).toBeLessThanOrEqual(0.0003);
    expect(charged.usd).toBeGreaterThanOrEqual(0.9 * 0.0003);
    const err = await new OpenAI({ apiKey: sessions[0]!.token, baseURL: `${gw.url}/v1`, maxRetries: 0 }).chat.completions
      .create({ model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user', content: 'x' }] }).catch((e: ApiError) => e);
    expect((err as ApiError).error).toMatchObject({ code: 'budget_exceeded', level: 'agent' });
    expect((err as ApiError).headers?.get('x-tollgate-budget-binding-level')).toBe('agent');
    expect(Number((err as ApiError).headers?.get('x-tollgate-budget-remaining-usd'))).toBeLessThan(0.00002);
  });

  it('says what is left to the nano-dollar: $0.0000004 is not shown as 0', async () => {
    const { token } = await gw.openSession({ budget: { usd: 0.0000004 } });
    const err = await new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 }).chat.completions
      .create({ model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user', content: 'x' }] }).catch((e: ApiError) => e);
    expect((err as ApiError).status).toBe(402);
    expect((err as ApiError).headers?.get('x-tollgate-budget-remaining-usd')).toBe('0.000000400');
  });

  it('the team level: two agents of one team share its daily budget', async () => {
    const sessions = await Promise.all(['team-a', 'team-b'].map((agent) => gw.openSession({ agent, budget: { usd: 1 } })));
    await drain(sessions.map((s) => s.token), 150);
    const team = (await gw.admin('GET', '/admin/v1/teams/capped')).body;
    const charged = await usageSum(`team=${team.id}`);
    expect(charged.usd).toBeLessThanOrEqual(0.0004);
    expect(charged.usd).toBeGreaterThanOrEqual(0.9 * 0.0004);
  });
});
