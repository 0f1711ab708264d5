// Request-time policy through the real gateway: model calls judged with the session's context,
// session open and delegation judged too, every decision on the audit log, policy files that
// stop the start when wrong and reload when edited.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gateway } from '../../src/server/index.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';
import { delegate } from '../helpers/oauth.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-policy-gw-'));
const policyPath = join(dir, 'ops.cedar');
writeFileSync(
  policyPath,
  `// Operators' rules for the test.
@id("no-o3-for-summaries")
@reason("summaries use the small models")
forbid (principal, action == Tollgate::Action::"call_model", resource == Tollgate::Model::"o3-mini")
when { context.intended_action == "summarize" };

@id("no-grandchildren")
forbid (principal, action == Tollgate::Action::"delegate", resource)
when { context.delegation_depth >= 2 };

@id("gated-model-needs-a-human")
@approval("required")
forbid (principal, action == Tollgate::Action::"call_model", resource == Tollgate::Model::"gated-model")
when { context.estimated_cost_usd_micros >= 0 };

@id("restricted-sessions-need-owner")
forbid (principal, action == Tollgate::Action::"open_session", resource)
when { context.data_sensitivity == "restricted" && principal.owner == "" };
`,
);

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway({
    policy: { files: [policyPath] },
    providers: [
      { name: 'sim', type: 'simulated', approved_data_sensitivity: 'restricted' },
      { name: 'cheap', type: 'simulated', approved_data_sensitivity: 'internal' },
    ],
    models: [
      { name: 'gpt-4o-mini', provider: 'sim', price: { input: 0.15, output: 0.6 } },
      { name: 'o3-mini', provider: 'sim', price: { input: 1.1, output: 4.4 } },
      { name: 'cheap-model', provider: 'cheap', price: { input: 0.01, output: 0.02 } },
      { name: 'gated-model', provider: 'sim', price: { input: 0.01, output: 0.02 } },
    ],
    profiles: [{ name: 'assistant', models: ['*'], session_budget: { default: { usd: 1 } } }],
    agents: [
      { name: 'demo-agent', team: 'demo', profile: 'assistant', owner: 'ana@example.com', environment: 'dev' },
      { name: 'ownerless', team: 'demo', profile: 'assistant', environment: 'dev' },
    ],
  });
}, 30_000);
afterAll(async () => {
  await gw.close();
  rmSync(dir, { recursive: true, force: true });
});

const openai = (token: string) => new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
const ask = (token: string, model: string) => openai(token).chat.completions.create({ model, messages: [{ role: 'user', content: 'hello' }] });
const events = async (type: string, session?: string) =>
  (await gw.admin('GET', `/admin/v1/audit/events?type=${type}${session ? `&session=${session}` : ''}&limit=1000`)).body.data as any[];

describe('request-time policy', () => {
  it('resolves model globs in a profile and judges every call, recording each decision', async () => {
    const { token, sessionId } = await gw.openSession();
    expect((await gw.session(sessionId)).models.sort()).toEqual(['cheap-model', 'gated-model', 'gpt-4o-mini', 'o3-mini']);
    const answer = await ask(token, 'gpt-4o-mini');
    // An allowed call's decision rides on its one chained event, beside what it used and cost.
    const calls = await events('model.call', sessionId);
    expect(calls).toHaveLength(1);
    expect(calls[0].data).toMatchObject({
      model: 'gpt-4o-mini', outcome: 'ok', input_tokens: answer.usage!.prompt_tokens, output_tokens: answer.usage!.completion_tokens,
      policy: { effect: 'allow', policies: ['tollgate.baseline'] },
    });
    const [line] = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
    expect(calls[0].data).toMatchObject({ usage_line: line.id, cost_usd_nano: Math.round(line.cost_usd * 1e9) });
    expect(await events('policy.decision', sessionId)).toHaveLength(0); // no second event for the same allow
  });

  it('refuses a restricted session a model whose provider is not approved for restricted data', async () => {
    const { token, sessionId } = await gw.openSession({ context: { data_sensitivity: 'restricted' } });
    const err = await ask(token, 'cheap-model').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('policy_denied');
    expect((err as Error).message).toMatch(/not approved for this session's data sensitivity/);
    expect((await ask(token, 'gpt-4o-mini')).choices[0]!.message.content).toBeTruthy(); // approved provider: fine
    const session = await gw.session(sessionId);
    expect(session.spent.requests).toBe(1); // the refused call ran nothing and cost nothing
    const denied = (await events('policy.decision', sessionId)).find((e) => e.data.effect === 'deny');
    expect(denied.data).toMatchObject({ resource: 'Model::cheap-model', policies: ['tollgate.data-sensitivity'], context: { data_sensitivity: 'restricted' } });
  });

  it('never lets a session declare its data less sensitive than its profile says', async () => {
    const lower = await gw.admin('POST', '/admin/v1/sessions', { agent: 'demo-agent', task: 't', context: { data_sensitivity: 'public' } });
    expect(lower.status).toBe(400);
    expect(lower.body.error.message).toMatch(/may not be below the profile's \(internal\)/);
    const defaulted = await gw.openSession();
    expect((await gw.session(defaulted.sessionId)).context.data_sensitivity).toBe('internal');
  });

  it('judges by intended action: an operator policy keeps summaries off o3-mini', async () => {
    const summarize = await gw.openSession({ context: { intended_action: 'summarize' } });
    await expect(ask(summarize.token, 'o3-mini')).rejects.toThrow(/summaries use the small models/);
    const research = await gw.openSession({ context: { intended_action: 'research' } });
    expect((await ask(research.token, 'o3-mini')).model).toBe('o3-mini');
  });

  it('records an @approval forbid on a model call as the deny it is, with the context the policies read', async () => {
    const s = await gw.openSession({ context: { intended_action: 'research' } });
    const err = (await ask(s.token, 'gated-model').catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(err.status).toBe(403);
    expect(err.code).toBe('policy_denied');
    const [decision] = await events('policy.decision', s.sessionId);
    expect(decision.data).toMatchObject({ action: 'call_model', effect: 'deny', policies: ['gated-model-needs-a-human'] });
    expect(decision.data.context).toMatchObject({ intended_action: 'research', estimated_cost_usd_micros: expect.any(Number), hour: expect.any(Number), weekday: expect.any(Number), source: expect.any(String) });
    // No approval was raised for it: nobody could grant one.
    expect((await gw.admin('GET', `/admin/v1/approvals?session=${s.sessionId}`)).body.data).toEqual([]);
  });

  it('judges opening a session (an agent without an owner may not open a restricted one)', async () => {
    const refused = await gw.admin('POST', '/admin/v1/sessions', { agent: 'ownerless', task: 't', context: { data_sensitivity: 'restricted' } });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('policy_denied');
    expect((await gw.admin('POST', '/admin/v1/sessions', { agent: 'ownerless', task: 't' })).status).toBe(201);
    expect((await gw.admin('POST', '/admin/v1/sessions', { agent: 'demo-agent', task: 't', context: { data_sensitivity: 'restricted' } })).status).toBe(201);
  });

  it('judges delegation by depth, and children inherit context without relaxing it', async () => {
    const root = await gw.openSession({ context: { data_sensitivity: 'confidential', intended_action: 'research' } });
    const lower = await delegate(gw.url, root.token, { task: 'child', data_sensitivity: 'internal' });
    expect(lower.status).toBe(400);
    expect(lower.body.error_description).toMatch(/may not lower data_sensitivity/);
    const otherAction = await delegate(gw.url, root.token, { task: 'child', intended_action: 'deploy' });
    expect(otherAction.status).toBe(400);
    const child = await delegate(gw.url, root.token, { task: 'child', data_sensitivity: 'restricted' });
    expect(child.status).toBe(200);
    const childSession = await gw.session(child.body.session_id);
    expect(childSession.context).toMatchObject({ environment: 'dev', data_sensitivity: 'restricted', intended_action: 'research', delegation_depth: 1 });
    // The child's restricted label now binds its model calls.
    await expect(ask(child.body.access_token, 'cheap-model')).rejects.toThrow(/not approved/);
    const grandchild = await delegate(gw.url, child.body.access_token, { task: 'grandchild' });
    expect(grandchild.status).toBe(400);
    expect(grandchild.body).toMatchObject({ error: 'unauthorized_client', error_description: expect.stringMatching(/Denied by policy/) });
    const denied = (await events('policy.decision')).find((e) => e.data.action === 'delegate' && e.data.effect === 'deny');
    expect(denied.data).toMatchObject({ policies: ['no-grandchildren'], context: { delegation_depth: 2 } });
  });

  it('reloads an edited policy file without a restart', async () => {
    const { token } = await gw.openSession();
    expect((await ask(token, 'gpt-4o-mini')).model).toBe('gpt-4o-mini');
    const original = (await import('node:fs')).readFileSync(policyPath, 'utf8');
    writeFileSync(policyPath, `${original}\n@id("freeze-mini")\nforbid (principal, action, resource == Tollgate::Model::"gpt-4o-mini");\n`);
    try {
      await expect.poll(async () => (await ask(token, 'gpt-4o-mini').then(() => 'allowed', (e: Error) => e.message)), { timeout: 6000, interval: 200 }).toMatch(/freeze-mini|Denied by policy/);
      expect((await events('policy.reloaded')).length).toBeGreaterThanOrEqual(1);
    } finally {
      writeFileSync(policyPath, original);
    }
    await expect.poll(async () => (await ask(token, 'gpt-4o-mini').then(() => 'allowed', (e: Error) => e.message)), { timeout: 6000, interval: 200 }).toBe('allowed');
  });
});

describe('policy files at start', () => {
  it('stop the start with Cedar\'s message, the file and the line', async () => {
    const bad = join(dir, 'bad.cedar');
    writeFileSync(bad, 'permit (principal, action, resource);\nforbid (principal, action, resource)\n  when { context.data_sensitivty == "restricted" };\n');
    const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-policy-start-'));
    try {
      const config = testConfig({ policy: { files: [bad] } });
      await expect(Gateway.create({ config, dataDir, env: { TOLLGATE_ADMIN_TOKEN: 'tga_x-0123456789012345678901' } })).rejects.toThrow(/bad\.cedar:3:\d+: .*data_sensitivty.*did you mean `data_sensitivity`/s);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
