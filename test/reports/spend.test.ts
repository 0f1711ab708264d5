// Chargeback over real calls through the gateway: an orchestrator's session delegates to a
// researcher of another team, both call models with the official `openai` client, and the spend
// report must reconcile with the ledger (the sessions' spend) to the nano-USD, under every
// grouping; delegated spend rolls up to the root session's team; tags are inherited.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startGateway, type TestGateway } from '../helpers/gateway.js';
import { delegate, tokenRequest } from '../helpers/oauth.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway({
    teams: [{ name: 'platform' }, { name: 'research' }],
    profiles: [{ name: 'worker', models: ['gpt-4o-mini', 'gpt-4o'], session_budget: { default: { usd: 1 }, max: { usd: 5 } } }],
    agents: [
      { name: 'orchestrator', team: 'platform', profile: 'worker' },
      { name: 'researcher', team: 'research', profile: 'worker' },
    ],
    delegation: { max_depth: 3, allow_cross_team: true },
  });
});
afterAll(async () => {
  await gw.close();
});

const call = (token: string, model: string, content: string) =>
  new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 }).chat.completions.create({ model, messages: [{ role: 'user', content }] });

interface Row { key: string | null; name?: string | null; executing_team?: string; usd: number; usd_nano: number; input_tokens: number; output_tokens: number; requests: number }
interface Report { group_by: string; since: string | null; until: string | null; rows: Row[]; total: { usd: number; usd_nano: number; input_tokens: number; output_tokens: number; requests: number } }

const report = async (query: string): Promise<Report> => {
  const res = await gw.admin<Report>('GET', `/admin/v1/reports/spend?${query}`);
  expect(res.status).toBe(200);
  return res.body;
};

async function scenario() {
  const root = await gw.openSession({ agent: 'orchestrator', task: 'quarterly review', tags: { cost_center: 'cc-100', ticket: 'T-1' } });
  const child = await delegate(gw.url, root.token, { agent: 'researcher', task: 'dig', budget_usd: '0.4', 'tag.customer': 'acme' });
  expect(child.status).toBe(200);
  const childToken = child.body.access_token as string;
  const childId = child.body.session_id as string;
  await call(root.token, 'gpt-4o-mini', 'plan the review [[sim:tokens=37]]');
  await call(root.token, 'gpt-4o', 'check the plan [[sim:tokens=11]]');
  await call(childToken, 'gpt-4o-mini', 'find numbers [[sim:tokens=53]]');
  await call(childToken, 'gpt-4o', 'summarise numbers [[sim:tokens=29]]');
  return { root: root.sessionId, child: childId };
}

describe('spend reports', () => {
  it('reconciles exactly with the ledger under every grouping, delegated spend under the root\'s team', async () => {
    const { root, child } = await scenario();
    const sessions = await Promise.all([root, child].map((id) => gw.admin('GET', `/admin/v1/sessions/${id}`)));
    const spentNano = sessions.map((s) => Math.round((s.body as { spent: { usd: number } }).spent.usd * 1e9));
    const ledger = sessions.reduce((n, s) => n + (s.body as { spent: { requests: number } }).spent.requests, 0);
    expect(ledger).toBe(4);
    // The usage lines, summed independently of the report.
    const lines = (await gw.admin<{ data: { session_id: string; cost_usd: number; input_tokens: number; output_tokens: number }[] }>('GET', '/admin/v1/usage?limit=1000')).body.data;
    expect(lines).toHaveLength(4);
    const linesNano = lines.reduce((n, l) => n + Math.round(l.cost_usd * 1e9), 0);
    expect(linesNano).toBe(spentNano[0]! + spentNano[1]!);
    expect(linesNano).toBeGreaterThan(0);

    for (const g of ['team', 'agent', 'profile', 'session', 'model', 'day', 'tag:cost_center', 'tag:customer']) {
      const r = await report(`group_by=${g}`);
      expect(r.group_by).toBe(g);
      expect(r.total.usd_nano).toBe(linesNano);
      expect(r.rows.reduce((n, row) => n + row.usd_nano, 0)).toBe(linesNano);
      expect(r.total.requests).toBe(4);
      expect(r.total.input_tokens).toBe(lines.reduce((n, l) => n + l.input_tokens, 0));
      expect(r.total.output_tokens).toBe(lines.reduce((n, l) => n + l.output_tokens, 0));
    }

    // Per session: each row is exactly that session's spend in the ledger.
    const bySession = await report('group_by=session');
    expect(bySession.rows.map((r) => [r.key, r.usd_nano]).sort()).toEqual([[root, spentNano[0]], [child, spentNano[1]]].sort());

    // Team: everything is the platform team's (the root session's), the researcher's share shown
    // as executed by the research team.
    const [platform, research] = await Promise.all(['platform', 'research'].map(async (t) => (await gw.admin('GET', `/admin/v1/teams/${t}`)).body.id as string));
    const byTeam = await report('group_by=team');
    expect(byTeam.rows.every((r) => r.key === platform && r.name === 'platform')).toBe(true);
    const own = byTeam.rows.find((r) => r.executing_team === platform)!;
    const delegated = byTeam.rows.find((r) => r.executing_team === research)!;
    expect(own.usd_nano).toBe(spentNano[0]);
    expect(delegated).toMatchObject({ usd_nano: spentNano[1], requests: 2, executing_team_name: 'research' });

    // Agent: each executing agent its own spend.
    const byAgent = await report('group_by=agent');
    expect(Object.fromEntries(byAgent.rows.map((r) => [r.name, r.usd_nano]))).toEqual({ orchestrator: spentNano[0], researcher: spentNano[1] });

    // Tags: the child inherited cost_center and added customer; the root has no customer.
    const byCostCenter = await report('group_by=tag:cost_center');
    expect(byCostCenter.rows.map((r) => [r.key, r.usd_nano])).toEqual([['cc-100', linesNano]]);
    const byCustomer = await report('group_by=tag:customer');
    expect(byCustomer.rows.map((r) => [r.key, r.usd_nano])).toEqual([[null, spentNano[0]], ['acme', spentNano[1]]]);

    // Model rows match the lines per model.
    const byModel = await report('group_by=model');
    expect(byModel.rows.map((r) => r.key)).toEqual(['gpt-4o', 'gpt-4o-mini']);
    expect(byModel.rows.every((r) => r.requests === 2)).toBe(true);
  });

  it('limits a report to [since, until) and refuses a bad grouping or time', async () => {
    const later = Date.now() + 60_000;
    expect((await report(`group_by=day&since=${later}`)).rows).toEqual([]);
    const today = new Date().toISOString().slice(0, 10);
    const r = await report(`group_by=day&since=${today}&until=${new Date(later).toISOString()}`);
    expect(r.rows.map((row) => row.key)).toEqual([today]);
    expect(r.since).toBe(`${today}T00:00:00.000Z`);
    expect((await report(`group_by=day&until=${today}`)).rows).toEqual([]);
    for (const bad of ['group_by=planet', 'group_by=tag:Bad Key', 'group_by=day&since=yesterday', 'group_by=day&since=2026-02-01&until=2026-01-01', 'group_by=team&format=xml']) {
      const res = await gw.admin('GET', `/admin/v1/reports/spend?${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
  });

  it('answers CSV with a header row, the same rows as JSON', async () => {
    const json = await report('group_by=agent');
    const res = await fetch(`${gw.url}/admin/v1/reports/spend?group_by=agent&format=csv`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await res.text()).trimEnd().split('\r\n');
    expect(lines[0]).toBe('key,name,usd,usd_nano,input_tokens,output_tokens,requests');
    expect(lines.slice(1)).toEqual(json.rows.map((r) => [r.key, r.name, r.usd.toFixed(9), r.usd_nano, r.input_tokens, r.output_tokens, r.requests].join(',')));
    const team = await fetch(`${gw.url}/admin/v1/reports/spend?group_by=team&format=csv`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect((await team.text()).split('\r\n')[0]).toBe('key,name,executing_team,executing_team_name,usd,usd_nano,input_tokens,output_tokens,requests');
  });
});

describe('session tags', () => {
  it('keeps tags on the session, inherits them, lets a child add but never change one', async () => {
    const root = await gw.openSession({ agent: 'orchestrator', task: 't', tags: { cost_center: 'cc-7' } });
    expect((await gw.session(root.sessionId)).tags).toEqual({ cost_center: 'cc-7' });
    const changed = await delegate(gw.url, root.token, { agent: 'researcher', task: 'c', 'tag.cost_center': 'cc-8' });
    expect(changed.status).toBe(400);
    expect(changed.body.error).toBe('invalid_request');
    const same = await delegate(gw.url, root.token, { agent: 'researcher', task: 'c', 'tag.cost_center': 'cc-7', 'tag.ticket': 'T-2' });
    expect(same.status).toBe(200);
    expect((await gw.session(same.body.session_id as string)).tags).toEqual({ cost_center: 'cc-7', ticket: 'T-2' });
    const plain = await delegate(gw.url, root.token, { agent: 'researcher', task: 'c' });
    expect((await gw.session(plain.body.session_id as string)).tags).toEqual({ cost_center: 'cc-7' });
  });

  it('takes tag.KEY parameters on client_credentials, and refuses them on a refresh', async () => {
    const secret = (await gw.admin('POST', '/admin/v1/agents/orchestrator/secrets', {})).body as { client_id: string; client_secret: string };
    const opened = await tokenRequest(gw.url, { grant_type: 'client_credentials', client_id: secret.client_id, client_secret: secret.client_secret, task: 'own', 'tag.customer': 'globex' });
    expect(opened.status).toBe(200);
    expect((await gw.session(opened.body.session_id as string)).tags).toEqual({ customer: 'globex' });
    const bad = await tokenRequest(gw.url, { grant_type: 'client_credentials', client_id: secret.client_id, client_secret: secret.client_secret, task: 'own', 'tag.Not Ok': 'x' });
    expect(bad.status).toBe(400);
    const refresh = await delegate(gw.url, opened.body.access_token as string, { 'tag.customer': 'globex' });
    expect(refresh.status).toBe(400);
    expect(refresh.body.error_description).toMatch(/Tags/);
  });

  it('refuses bad tags', async () => {
    const tooMany = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    for (const tags of [{ 'Bad Key': 'x' }, { k: 'x'.repeat(257) }, tooMany, { k: 5 }]) {
      const res = await gw.admin('POST', '/admin/v1/sessions', { agent: 'orchestrator', task: 't', tags });
      expect(res.status, JSON.stringify(tags).slice(0, 40)).toBe(400);
    }
    const sixteen = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, 'v']));
    expect((await gw.admin('POST', '/admin/v1/sessions', { agent: 'orchestrator', task: 't', tags: sixteen })).status).toBe(201);
  });
});
