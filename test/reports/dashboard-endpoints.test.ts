// The admin endpoints the dashboard added: spend over time (reports/spend/series), budget
// burn-down with a forecast (budgets), and sessions showing what is reserved and left — over
// real calls through the gateway with the official `openai` client, on a controlled clock.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const T0 = Date.UTC(2026, 2, 10, 12, 0, 0);
let clock = T0;
let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway({
    teams: [{ name: 'ops', budget: { usd: 1, period: 'day' } }],
    profiles: [
      { name: 'worker', models: ['gpt-4o'], session_budget: { default: { usd: 0.5 }, max: { usd: 1 } }, agent_budget: { tokens: 100_000, period: 'month' } },
    ],
    agents: [{ name: 'cruncher', team: 'ops', profile: 'worker' }],
  }, {}, () => clock);
});
afterAll(async () => {
  await gw.close();
});

const call = (token: string, tokens: number) =>
  new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `work [[sim:tokens=${tokens}]]` }] });

describe('dashboard endpoints', () => {
  it('answers spend per time bucket that adds up to the spend report, and refuses too many buckets', async () => {
    const { token } = await gw.openSession({ agent: 'cruncher', task: 'series' });
    await call(token, 40);
    clock = T0 + 10 * 60_000;
    await call(token, 60);
    await call(token, 20);
    const series = await gw.admin('GET', `/admin/v1/reports/spend/series?group_by=agent&interval=300&since=${T0 - 3_600_000}&until=${T0 + 3_600_000}`);
    expect(series.status).toBe(200);
    expect(series.body.interval_seconds).toBe(300);
    expect(series.body.rows.map((r: any) => [r.bucket, r.name, r.requests])).toEqual([
      [new Date(T0).toISOString(), 'cruncher', 1],
      [new Date(T0 + 10 * 60_000).toISOString(), 'cruncher', 2],
    ]);
    const total = await gw.admin('GET', '/admin/v1/reports/spend?group_by=agent');
    expect(series.body.total.usd_nano).toBe(total.body.total.usd_nano);
    expect(series.body.rows.reduce((n: number, r: any) => n + r.usd_nano, 0)).toBe(total.body.total.usd_nano);
    // Defaults: the last 24 hours to now, in about 60 buckets.
    const fallback = await gw.admin('GET', '/admin/v1/reports/spend/series?group_by=model');
    expect(fallback.status).toBe(200);
    expect(fallback.body.until).toBe(new Date(clock).toISOString());
    expect(fallback.body.interval_seconds).toBe(1440);
    const tooMany = await gw.admin('GET', `/admin/v1/reports/spend/series?group_by=agent&interval=1&since=0&until=${T0}`);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.param).toBe('interval');
    expect((await gw.admin('GET', `/admin/v1/reports/spend/series?group_by=agent&since=${T0}&until=${T0}`)).status).toBe(400);
    expect((await gw.admin('GET', '/admin/v1/reports/spend/series?group_by=nope')).status).toBe(400);
  });

  it('lists team and agent budgets of the period with spend, burn rate and the forecast exhaustion', async () => {
    const res = await gw.admin('GET', '/admin/v1/budgets');
    expect(res.status).toBe(200);
    const team = res.body.data.find((b: any) => b.level === 'team');
    const agent = res.body.data.find((b: any) => b.level === 'agent');
    const usage = (await gw.admin('GET', '/admin/v1/usage?limit=100')).body.data as { cost_usd: number; input_tokens: number; output_tokens: number }[];
    const spentUsd = usage.reduce((n, u) => n + u.cost_usd, 0);
    const spentTokens = usage.reduce((n, u) => n + u.input_tokens + u.output_tokens, 0);
    expect(team).toMatchObject({ name: 'ops', period: 'day', period_start: '2026-03-10T00:00:00.000Z', period_end: '2026-03-11T00:00:00.000Z', budget: { usd: 1, tokens: null } });
    expect(team.spent.usd).toBeCloseTo(spentUsd, 9);
    expect(team.reserved.usd).toBe(0);
    expect(team.remaining.usd).toBeCloseTo(1 - spentUsd, 9);
    // All spend fell within the last hour: the rate is the spend per hour.
    expect(team.burn_rate_per_hour.usd).toBeCloseTo(spentUsd, 6);
    const hoursLeft = (1 - spentUsd) / spentUsd;
    if (hoursLeft * 3_600_000 < Date.UTC(2026, 2, 11) - clock) {
      expect(Date.parse(team.forecast_exhausted_at)).toBeCloseTo(clock + hoursLeft * 3_600_000, -4);
    } else {
      expect(team.forecast_exhausted_at).toBeNull();
    }
    expect(agent).toMatchObject({ name: 'cruncher', period: 'month', budget: { tokens: 100_000, usd: null } });
    expect(agent.spent.tokens).toBe(spentTokens);
    expect(agent.burn_rate_per_hour.tokens).toBe(spentTokens);
    // A quiet hour later the rate is zero and no exhaustion is forecast.
    clock += 2 * 3_600_000;
    const later = (await gw.admin('GET', '/admin/v1/budgets')).body.data.find((b: any) => b.level === 'team');
    expect(later.burn_rate_per_hour.usd).toBe(0);
    expect(later.forecast_exhausted_at).toBeNull();
  });

  it('forecasts exhaustion within the period when the burn is fast', async () => {
    const { token } = await gw.openSession({ agent: 'cruncher', task: 'burn', budget: { usd: 1 } });
    // gpt-4o at $10 per 1M output tokens: 4,000 tokens is $0.04 a call.
    for (let i = 0; i < 5; i++) await call(token, 4000);
    const team = (await gw.admin('GET', '/admin/v1/budgets')).body.data.find((b: any) => b.level === 'team');
    expect(team.burn_rate_per_hour.usd).toBeGreaterThan(0.2);
    const at = Date.parse(team.forecast_exhausted_at);
    expect(at).toBeGreaterThan(clock);
    expect(at).toBeLessThan(Date.UTC(2026, 2, 11));
    expect(at).toBeCloseTo(clock + (team.remaining.usd / team.burn_rate_per_hour.usd) * 3_600_000, -4);
  });

  it('shows a live session\'s reserved and remaining budget in the list and on its own', async () => {
    const { sessionId } = await gw.openSession({ agent: 'cruncher', task: 'bars', budget: { usd: 0.3 } });
    const one = await gw.session(sessionId);
    expect(one.reserved).toEqual({ tokens: 0, usd: 0 });
    expect(one.remaining.usd).toBeCloseTo(0.3, 9);
    const list = await gw.admin('GET', '/admin/v1/sessions?status=active');
    const row = list.body.data.find((s: any) => s.id === sessionId);
    expect(row.reserved).toEqual({ tokens: 0, usd: 0 });
    expect(row.remaining.usd).toBeCloseTo(0.3, 9);
  });
});
