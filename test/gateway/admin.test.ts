// The admin API: auth, CRUD with validation and conflicts, sessions, and the OpenAPI document.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROUTES } from '../../src/server/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => {
  await gw.close();
});

describe('admin API', () => {
  it('401 without the admin token or with a wrong one', async () => {
    expect((await fetch(`${gw.url}/admin/v1/teams`)).status).toBe(401);
    const res = await gw.admin('GET', '/admin/v1/teams', undefined, 'tga_wrong');
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: { code: 'unauthenticated', message: expect.any(String) } });
  });

  it('applied the teams, profiles and agents declared in the config file', async () => {
    expect((await gw.admin('GET', '/admin/v1/teams')).body.data.map((t: { name: string }) => t.name)).toEqual(['demo']);
    const agent = (await gw.admin('GET', '/admin/v1/agents/demo-agent')).body;
    expect(agent).toMatchObject({ name: 'demo-agent', team: { name: 'demo' }, profile: { name: 'assistant' }, status: 'active', owner: 'you@example.com' });
  });

  it('creates a team, profile and agent; 409 on a duplicate; 400 naming an unknown key', async () => {
    const team = await gw.admin('POST', '/admin/v1/teams', { name: 'support', owner: 'ana@example.com' });
    expect(team.status).toBe(201);
    expect(team.body.id).toMatch(/^team_/);
    expect((await gw.admin('POST', '/admin/v1/teams', { name: 'support' })).status).toBe(409);
    const typo = await gw.admin('POST', '/admin/v1/teams', { name: 'x', ownr: 'y' });
    expect(typo.status).toBe(400);
    expect(typo.body.error.message).toContain('ownr');
    const profile = await gw.admin('POST', '/admin/v1/profiles', { name: 'support-bot', models: ['gpt-4o-mini'], session_budget: { default: { usd: 0.5 }, max: { usd: 2 } } });
    expect(profile.status).toBe(201);
    expect(profile.body.session_budget).toEqual({ default: { usd: 0.5, tokens: null }, max: { usd: 2, tokens: null } });
    expect((await gw.admin('POST', '/admin/v1/profiles', { name: 'bad', models: ['no-such-model'] })).status).toBe(400);
    const agent = await gw.admin('POST', '/admin/v1/agents', { name: 'triage-1', team: 'support', profile: 'support-bot', owner: 'ana@example.com', environment: 'prod' });
    expect(agent.status).toBe(201);
    expect(agent.body).toMatchObject({ id: expect.stringMatching(/^agt_/), team: { name: 'support' }, environment: 'prod' });
    expect((await gw.admin('POST', '/admin/v1/agents', { name: 'orphan', team: 'nobody', profile: 'support-bot' })).status).toBe(400);
    expect((await gw.admin('GET', '/admin/v1/agents?team=support')).body.data).toHaveLength(1);
    expect((await gw.admin('GET', '/admin/v1/agents/agt_missing')).status).toBe(404);
    // Each change is an audit event with who made it; the start recorded the configuration it applied.
    const types = async (type: string) => (await gw.admin('GET', `/admin/v1/audit/events?type=${type}`)).body.data;
    expect((await types('team.created')).map((e: any) => [e.actor, e.data.name])).toEqual([['admin', 'support']]);
    expect((await types('profile.created')).map((e: any) => e.data.name)).toEqual(['support-bot']);
    expect((await types('agent.created'))[0]).toMatchObject({ actor: 'admin', agent_id: agent.body.id, data: { name: 'triage-1' } });
    const [applied] = await types('config.applied');
    expect(applied.data).toMatchObject({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/), agents: 1, policies: expect.arrayContaining(['tollgate.baseline']) });
  });

  it('opens a session within the profile: default budget, narrowed models, token that works', async () => {
    const res = await gw.admin('POST', '/admin/v1/sessions', { agent: 'triage-1', task: 'ticket 42', context: { data_sensitivity: 'internal' } });
    expect(res.status).toBe(201);
    const { session, token, expires_at } = res.body;
    expect(session).toMatchObject({ status: 'active', task: 'ticket 42', budget: { usd: 0.5 }, models: ['gpt-4o-mini'], agent: { name: 'triage-1' }, team: { name: 'support' } });
    expect(session.context).toEqual({ environment: 'prod', data_sensitivity: 'internal', intended_action: 'unspecified' });
    expect(Date.parse(expires_at)).toBeLessThanOrEqual(Date.parse(session.expires_at));
    const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const listed = (await gw.admin('GET', '/admin/v1/sessions?agent=triage-1')).body.data;
    expect(listed.map((s: { id: string }) => s.id)).toEqual([session.id]);
    expect(listed[0].spent.requests).toBe(1);
    // A list names agents and teams as one session does.
    expect(listed[0]).toMatchObject({ agent: { id: session.agent.id, name: 'triage-1' }, team: { name: 'support' } });
  });

  it('refuses sessions beyond the profile: budget, TTL, models, unknown agent', async () => {
    expect((await gw.admin('POST', '/admin/v1/sessions', { agent: 'triage-1', task: 't', budget: { usd: 3 } })).body.error.param).toBe('budget.usd');
    expect((await gw.admin('POST', '/admin/v1/sessions', { agent: 'triage-1', task: 't', ttl_seconds: 10 ** 6 })).body.error.param).toBe('ttl_seconds');
    expect((await gw.admin('POST', '/admin/v1/sessions', { agent: 'triage-1', task: 't', models: ['gpt-4o'] })).body.error.param).toBe('models');
    expect((await gw.admin('POST', '/admin/v1/sessions', { agent: 'ghost', task: 't' })).status).toBe(404);
    expect((await gw.admin('POST', '/admin/v1/sessions', { agent: 'triage-1' })).status).toBe(400);
    expect((await gw.admin('GET', '/admin/v1/sessions/ses_missing')).status).toBe(404);
  });

  it('serves an OpenAPI document that covers every route', async () => {
    const res = await fetch(`${gw.url}/admin/v1/openapi.json`);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    for (const r of ADMIN_ROUTES) expect(doc.paths[r.path]?.[r.method.toLowerCase()]).toBeDefined();
    const body = (doc.paths['/admin/v1/sessions']!.post as { requestBody: { content: { 'application/json': { schema: { properties: object } } } } }).requestBody;
    expect(Object.keys(body.content['application/json'].schema.properties)).toEqual(expect.arrayContaining(['agent', 'task', 'budget', 'ttl_seconds', 'models', 'context']));
  });

  it('serves health, readiness and the JWKS', async () => {
    expect(await (await fetch(`${gw.url}/healthz`)).json()).toMatchObject({ status: 'ok' });
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(200);
    const jwks = (await (await fetch(`${gw.url}/.well-known/jwks.json`)).json()) as { keys: { kty: string; crv: string; alg: string; d?: string }[] };
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    expect(jwks.keys[0]!.d).toBeUndefined(); // never the private part
  });
});

describe('per-stage timers (GET /admin/v1/debug/stages)', () => {
  it('times every stage of real calls, plain and streamed, and starts afresh on reset', async () => {
    await gw.admin('POST', '/admin/v1/debug/stages/reset');
    const { token } = await gw.openSession({ agent: 'demo-agent', task: 'stage timers' });
    const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'time me' }] });
    const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'time me too' }] });
    for await (const _ of stream) void _;
    const res = await gw.admin('GET', '/admin/v1/debug/stages');
    expect(res.status).toBe(200);
    const byStage = Object.fromEntries(res.body.stages.map((s: { stage: string; count: number; mean_us: number }) => [s.stage, s]));
    for (const stage of ['auth', 'resolve', 'parse', 'policy', 'rate_limit', 'reserve', 'forward', 'relay', 'meter', 'settle', 'audit', 'durable', 'respond']) {
      expect(byStage[stage].count, stage).toBe(2);
    }
    // Waiting for the upstream dwarfs authenticating a token.
    expect(byStage.forward.mean_us).toBeGreaterThan(byStage.rate_limit.mean_us);
    const reset = await gw.admin('POST', '/admin/v1/debug/stages/reset');
    expect(reset.body.stages.every((s: { count: number }) => s.count === 0)).toBe(true);
    expect((await gw.admin('GET', '/admin/v1/debug/stages', undefined, 'tga_wrong')).status).toBe(401);
  });
});
