// The access review over time (an injected clock): what is fine today becomes a finding once
// unused for `unused_days`, and applying by severity revokes and suspends exactly those; with
// workload federation configured, static secrets are flagged — harder where an issuer already
// maps a workload to the agent.
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { tokenRequest } from '../helpers/oauth.js';

const DAY = 86_400_000;
let shift = 0;
let gw: TestGateway;
let workerSecret: { id: string; client_id: string; client_secret: string };
let deployerSecret: { id: string };

const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });

beforeAll(async () => {
  const ci = await generateKeyPair('RS256');
  gw = await startGateway(
    {
      teams: [{ name: 'ops' }],
      profiles: [{ name: 'runner', models: ['gpt-4o-mini'] }],
      agents: [
        { name: 'worker', team: 'ops', profile: 'runner', owner: 'wu@example.com' },
        { name: 'deployer', team: 'ops', profile: 'runner', owner: 'dee@example.com' },
      ],
      federation: {
        issuers: [{ name: 'ci', kind: 'oidc', issuer: 'https://ci.test', jwks: { keys: [{ ...(await exportJWK(ci.publicKey)), kid: 'ci-1', alg: 'RS256' }] }, subjects: [{ match: 'repo:acme/app:ref:refs/heads/main', agent: 'deployer' }] }],
      },
    },
    {},
    () => Date.now() + shift,
  );
  workerSecret = (await gw.admin('POST', '/admin/v1/agents/worker/secrets', {})).body;
  deployerSecret = (await gw.admin('POST', '/admin/v1/agents/deployer/secrets', {})).body;
  expect((await tokenRequest(gw.url, { grant_type: 'client_credentials', task: 'nightly' }, basic(workerSecret.client_id, workerSecret.client_secret))).status).toBe(200);
});
afterAll(async () => {
  await gw?.close();
});

const findings = async () => {
  const { body } = await gw.admin('GET', '/admin/v1/access-review');
  return new Map<string, any>(body.findings.map((f: { id: string }) => [f.id, f]));
};

describe('access review over time', () => {
  it('today: static secrets flagged where federation could replace them; nothing unused yet', async () => {
    const f = await findings();
    expect(f.get(`static_secret:${deployerSecret.id}`)).toMatchObject({ severity: 'warning', owasp: 'NHI7', remedy: { action: 'use_federation', automatic: false } });
    expect(f.get(`static_secret:${workerSecret.id}`)).toMatchObject({ severity: 'info' });
    expect(f.get(`credential_never_used:${deployerSecret.id}`)).toMatchObject({ severity: 'info' });
    expect([...f.keys()].filter((id) => /^(credential_unused|agent_inactive|credential_long_lived):/.test(id))).toEqual([]);
    const agents = (await gw.admin('GET', '/admin/v1/access-review')).body.agents;
    expect(agents.find((a: { name: string }) => a.name === 'deployer').federated).toBe(true);
    expect(agents.find((a: { name: string }) => a.name === 'worker').federated).toBe(false);
  });

  it('31 days later: the unused secrets and idle agents are warnings, and applying by severity revokes and suspends exactly those', async () => {
    shift = 31 * DAY;
    const f = await findings();
    const worker = (await gw.admin('GET', '/admin/v1/agents/worker')).body.id;
    const deployer = (await gw.admin('GET', '/admin/v1/agents/deployer')).body.id;
    expect(f.get(`credential_unused:${workerSecret.id}`)).toMatchObject({ severity: 'warning', summary: expect.stringContaining('31 day(s)') });
    expect(f.get(`credential_never_used:${deployerSecret.id}`)).toMatchObject({ severity: 'warning' });
    expect(f.get(`agent_inactive:${worker}`)).toMatchObject({ summary: expect.stringContaining('opened no session for 31 day(s)') });
    expect(f.get(`agent_inactive:${deployer}`)).toMatchObject({ summary: expect.stringContaining('never opened a session') });

    const res = await gw.admin('POST', '/admin/v1/access-review/apply', { reason: 'monthly review' });
    expect(res.status).toBe(200);
    expect(res.body.applied.map((a: { finding: string; ok: boolean }) => `${a.finding} ${a.ok}`).sort()).toEqual([
      `agent_inactive:${deployer} true`, `agent_inactive:${worker} true`, `credential_never_used:${deployerSecret.id} true`, `credential_unused:${workerSecret.id} true`,
    ].sort());
    expect(res.body.skipped.map((s: { finding: string }) => s.finding)).toEqual([`static_secret:${deployerSecret.id}`]);
    for (const name of ['worker', 'deployer']) expect((await gw.admin('GET', `/admin/v1/agents/${name}`)).body.status).toBe('suspended');
    const denied = await tokenRequest(gw.url, { grant_type: 'client_credentials', task: 'again' }, basic(workerSecret.client_id, workerSecret.client_secret));
    expect(denied.status).toBe(401);
    const suspended = (await gw.admin('GET', '/admin/v1/audit/events?type=agent.suspended')).body.data;
    expect(suspended.map((e: { data: { reason: string; finding: string } }) => e.data.reason)).toEqual(['monthly review', 'monthly review']);
    // Revoked secrets and suspended agents leave nothing to review (a suspended agent is contained).
    expect([...(await findings()).keys()]).toEqual([]);
  });
});
