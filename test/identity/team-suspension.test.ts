// A suspended team across a delegation chain: a child working for another team, delegated from a
// session of the suspended team, is refused too (it spends that team's slice), and calls again
// once the team is resumed; a team other than the chain's is unaffected.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { delegate } from '../helpers/oauth.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway({
    teams: [{ name: 'platform' }, { name: 'contractors' }, { name: 'bystanders' }],
    profiles: [{ name: 'worker', models: ['gpt-4o-mini'], session_budget: { default: { usd: 1 }, max: { usd: 5 } } }],
    agents: [
      { name: 'lead', team: 'platform', profile: 'worker' },
      { name: 'contractor', team: 'contractors', profile: 'worker' },
      { name: 'bystander', team: 'bystanders', profile: 'worker' },
    ],
    delegation: { max_depth: 2, allow_cross_team: true },
  });
});
afterAll(async () => {
  await gw.close();
});

const call = (token: string) =>
  new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 }).chat.completions
    .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi [[sim:tokens=2]]' }] })
    .then(() => 'ok', (e: InstanceType<typeof OpenAI.APIError>) => e.code);

describe('team suspension across a delegation chain', () => {
  it('a child of another team is refused while the team it was delegated from is suspended', async () => {
    const root = await gw.openSession({ agent: 'lead', task: 'migrate' });
    const child = await delegate(gw.url, root.token, { agent: 'contractor', task: 'port the tests', budget_usd: '0.2' });
    expect(child.status).toBe(200);
    const other = await gw.openSession({ agent: 'bystander', task: 'unrelated' });
    expect(await call(child.body.access_token)).toBe('ok');

    expect((await gw.admin('POST', '/admin/v1/teams/platform/suspend', { reason: 'audit' })).status).toBe(200);
    expect(await call(root.token)).toBe('team_suspended');
    expect(await call(child.body.access_token)).toBe('team_suspended');
    expect(await call(other.token)).toBe('ok');
    // Its own team is not suspended, yet it gets no token either while it works for one that is.
    const grandchild = await delegate(gw.url, child.body.access_token, { agent: 'contractor', task: 'a part', budget_usd: '0.05' });
    expect([grandchild.status, grandchild.body.error]).toEqual([400, 'invalid_grant']);

    expect((await gw.admin('POST', '/admin/v1/teams/platform/resume', {})).status).toBe(200);
    expect(await call(child.body.access_token)).toBe('ok');
    expect(await call(root.token)).toBe('ok');
    expect((await gw.admin('GET', '/admin/v1/teams/platform')).body.status).toBe('active');
  });
});
