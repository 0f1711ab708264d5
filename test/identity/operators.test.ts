// Operator identities: named operators with roles, enforced per route from one table; every
// admin action attributed to its operator in the audit log; separation of duties on approvals.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROUTES } from '../../src/server/admin.js';
import { ROUTE_ROLES } from '../../src/server/admin-roles.js';
import { ADMIN_TOKEN, startGateway, type TestGateway } from '../helpers/gateway.js';
import { cliRunner } from '../helpers/process.js';

/** A profile whose sessions ask for a budget step-up after a few calls. */
const SOFT = {
  teams: [{ name: 'demo' }],
  profiles: [{ name: 'careful', models: ['gpt-4o-mini'], session_budget: { default: { usd: 0.0002 }, max: { usd: 1 } }, enforcement: { mode: 'soft', soft_threshold: 0.5 } }],
  agents: [
    { name: 'owned', team: 'demo', profile: 'careful', owner: 'Olive@example.com' },
    { name: 'other', team: 'demo', profile: 'careful', owner: 'someone@example.com' },
  ],
};

async function createOperator(gw: TestGateway, name: string, role: string): Promise<string> {
  const res = await gw.admin('POST', '/admin/v1/operators', { name, role });
  expect(res.status).toBe(201);
  return res.body.token as string;
}

/** Opens a session of `agent` and calls until its step-up approval is pending; answers the approval id. */
async function pendingStepUp(gw: TestGateway, agent: string): Promise<string> {
  const { token } = await gw.openSession({ agent });
  const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  for (let i = 0; i < 200; i++) {
    try {
      await openai.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user', content: 'x [[sim:tokens=20]]' }] });
    } catch (err) {
      expect((err as { status: number }).status).toBe(402);
      expect((err as { error: { code: string } }).error.code).toBe('approval_required');
      return (err as { error: { approval_id: string } }).error.approval_id;
    }
  }
  throw new Error('no step-up was asked for');
}

describe('operators and roles', () => {
  let gw: TestGateway;
  let viewer: string;
  let approver: string;
  let ops: string;
  beforeAll(async () => {
    gw = await startGateway(SOFT);
    viewer = await createOperator(gw, 'vera', 'viewer');
    approver = await createOperator(gw, 'alice', 'approver');
    ops = await createOperator(gw, 'oscar', 'operator');
  });
  afterAll(async () => {
    await gw.close();
  });

  it('answers the token once, in its own format, and never lists it', async () => {
    expect(viewer).toMatch(/^tgo_op_[a-z0-9]+\.[A-Za-z0-9_-]{43}$/);
    const listed = await gw.admin('GET', '/admin/v1/operators');
    expect(listed.body.data.map((o: { name: string; role: string }) => `${o.name}:${o.role}`)).toEqual(['alice:approver', 'oscar:operator', 'vera:viewer']);
    expect(JSON.stringify(listed.body)).not.toContain(viewer.split('.')[1]);
    const me = await gw.admin('GET', '/admin/v1/whoami', undefined, approver);
    expect(me.body).toMatchObject({ name: 'alice', role: 'approver', via: 'token' });
    expect((await gw.admin('POST', '/admin/v1/operators', { name: 'alice', role: 'admin' })).status).toBe(409);
  });

  it('lets a viewer read reports but not revoke, approve or read content (403)', async () => {
    expect((await gw.admin('GET', '/admin/v1/agents', undefined, viewer)).status).toBe(200);
    expect((await gw.admin('GET', '/admin/v1/access-review', undefined, viewer)).status).toBe(200);
    expect((await gw.admin('GET', '/admin/v1/reports/spend?group_by=team', undefined, viewer)).status).toBe(200);
    const { sessionId } = await gw.openSession({ agent: 'other' });
    const revoke = await gw.admin('POST', `/admin/v1/sessions/${sessionId}/revoke`, {}, viewer);
    expect(revoke.status).toBe(403);
    expect(revoke.body.error).toMatchObject({ code: 'forbidden', details: { role: 'viewer', required_role: 'operator' } });
    expect((await gw.session(sessionId)).status).toBe('active');
    const approvalId = await pendingStepUp(gw, 'other');
    expect((await gw.admin('POST', `/admin/v1/approvals/${approvalId}/approve`, {}, viewer)).status).toBe(403);
    expect((await gw.admin('GET', `/admin/v1/approvals/${approvalId}`)).body.status).toBe('pending');
    expect((await gw.admin('GET', '/admin/v1/audit/content?session=x', undefined, viewer)).status).toBe(403);
    expect((await gw.admin('POST', '/admin/v1/agents/other/suspend', {}, viewer)).status).toBe(403);
    // An approver decides approvals but cannot revoke; only an admin creates operators.
    expect((await gw.admin('POST', `/admin/v1/sessions/${sessionId}/revoke`, {}, approver)).status).toBe(403);
    expect((await gw.admin('POST', '/admin/v1/operators', { name: 'mallory', role: 'admin' }, ops)).status).toBe(403);
    expect((await gw.admin('POST', '/admin/v1/keys/rotate', {}, ops)).status).toBe(403);
  });

  it('names the approver in the approval and its audit event', async () => {
    const approvalId = await pendingStepUp(gw, 'other');
    const res = await gw.admin('POST', `/admin/v1/approvals/${approvalId}/approve`, { extra_budget: { usd: 0.01 }, reason: 'fine' }, approver);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'approved', decided_by: 'operator:alice' });
    const [event] = (await gw.admin('GET', '/admin/v1/audit/events?type=approval.approved&limit=10')).body.data.filter((e: { data: { approval: string } }) => e.data.approval === approvalId);
    expect(event).toMatchObject({ actor: 'operator:alice', data: { operator: { name: 'alice', role: 'approver' }, reason: 'fine' } });
  });

  it('attributes revocations to the operator, and the bootstrap token to admin', async () => {
    const { sessionId } = await gw.openSession({ agent: 'other' });
    expect((await gw.admin('POST', `/admin/v1/sessions/${sessionId}/revoke`, { reason: 'done' }, ops)).status).toBe(200);
    const secret = (await gw.admin('POST', '/admin/v1/agents/other/secrets', {}, ops)).body;
    expect((await gw.admin('POST', `/admin/v1/agents/other/secrets/${secret.id}/revoke`, {})).status).toBe(200);
    const revoked = (await gw.admin('GET', `/admin/v1/audit/events?type=session.revoked&session=${sessionId}`)).body.data[0];
    expect(revoked).toMatchObject({ actor: 'operator:oscar', data: { operator: { name: 'oscar', role: 'operator' }, reason: 'done' } });
    const events = (await gw.admin('GET', '/admin/v1/audit/events?type=credential.*&limit=20')).body.data.filter((e: { data: { credential: string } }) => e.data.credential === secret.id);
    expect(events.map((e: { type: string; actor: string; data: { operator: { name: string } } }) => `${e.type} ${e.actor} ${e.data.operator.name}`).sort()).toEqual(['credential.issued operator:oscar oscar', 'credential.revoked admin admin']);
  });

  it('refuses unknown, tampered and disabled operator tokens (401)', async () => {
    const temp = await createOperator(gw, 'temp', 'viewer');
    expect((await gw.admin('GET', '/admin/v1/agents', undefined, `${temp.slice(0, -2)}xx`)).status).toBe(401);
    expect((await gw.admin('GET', '/admin/v1/agents', undefined, 'tgo_op_0000.nothing')).status).toBe(401);
    expect((await gw.admin('POST', '/admin/v1/operators/temp/disable', { reason: 'left' })).body).toMatchObject({ name: 'temp', status: 'disabled' });
    expect((await gw.admin('GET', '/admin/v1/agents', undefined, temp)).status).toBe(401);
    const [disabled] = (await gw.admin('GET', '/admin/v1/audit/events?type=operator.disabled')).body.data;
    expect(disabled).toMatchObject({ actor: 'admin', data: { disabled: { name: 'temp' }, reason: 'left' } });
  });

  it('works from the CLI: `operator create` prints the token once, `whoami` names its holder, and a viewer\'s change is refused (403)', async () => {
    const cli = cliRunner(gw.url, gw.dataDir);
    const created = await cli('--admin-token', ADMIN_TOKEN, 'operator', 'create', 'cli-viewer', '--role', 'viewer');
    const token = /token:\s+(tgo_\S+)/.exec(created.stdout)![1]!;
    expect(created.stdout).toContain('shown only this once');
    expect((await cli('--admin-token', token, 'whoami')).stdout).toMatch(/name:\s+cli-viewer[\s\S]*role:\s+viewer/);
    const listed = await cli('--admin-token', ADMIN_TOKEN, 'operator', 'list');
    expect(listed.stdout).toContain('cli-viewer');
    expect(listed.stdout).not.toContain(token);
    const refused = await cli('--admin-token', token, 'agent', 'suspend', 'other').then(() => null, (err: { code: number; stderr: string }) => err);
    expect(refused?.code).toBe(1);
    expect(refused?.stderr).toContain('(HTTP 403, forbidden)');
    expect((await gw.admin('GET', '/admin/v1/agents/other')).body.status).toBe('active');
  });

  it('declares each role exception for a real route, and shows the role in the OpenAPI document', async () => {
    const routes = new Set(ADMIN_ROUTES.map((r) => `${r.method} ${r.path}`));
    for (const key of Object.keys(ROUTE_ROLES)) expect(routes, key).toContain(key);
    const doc = (await fetch(`${gw.url}/admin/v1/openapi.json`).then((r) => r.json())) as { paths: Record<string, Record<string, { 'x-tollgate-role': string }>> };
    expect(doc.paths['/admin/v1/approvals/{id}/approve']!.post!['x-tollgate-role']).toBe('approver');
    expect(doc.paths['/admin/v1/agents']!.get!['x-tollgate-role']).toBe('viewer');
    expect(doc.paths['/admin/v1/operators']!.post!['x-tollgate-role']).toBe('admin');
  });
});

describe('separation of duties', () => {
  it('stops the owner of an agent approving its step-up when on; another approver may', async () => {
    const gw = await startGateway({ ...SOFT, approvals: { separation_of_duties: true } });
    try {
      const owner = await createOperator(gw, 'olive@example.com', 'approver');
      const peer = await createOperator(gw, 'peter@example.com', 'approver');
      const approvalId = await pendingStepUp(gw, 'owned');
      const refused = await gw.admin('POST', `/admin/v1/approvals/${approvalId}/approve`, { extra_budget: { usd: 0.01 } }, owner);
      expect(refused.status).toBe(403);
      expect(refused.body.error).toMatchObject({ code: 'forbidden', details: { reason: 'separation_of_duties' } });
      expect((await gw.admin('GET', `/admin/v1/approvals/${approvalId}`)).body.status).toBe('pending');
      // The owner may still deny (stopping spend is never a conflict of interest) — but here a peer approves.
      const approved = await gw.admin('POST', `/admin/v1/approvals/${approvalId}/approve`, { extra_budget: { usd: 0.01 } }, peer);
      expect(approved.body).toMatchObject({ status: 'approved', decided_by: 'operator:peter@example.com' });
      // Another agent's step-up: the same operator approves it.
      const otherApproval = await pendingStepUp(gw, 'other');
      expect((await gw.admin('POST', `/admin/v1/approvals/${otherApproval}/approve`, {}, owner)).status).toBe(200);
    } finally {
      await gw.close();
    }
  });

  it('stops an operator who declared an agent (naming someone else its owner) approving for it, of any kind', async () => {
    const gw = await startGateway({ ...SOFT, approvals: { separation_of_duties: true } });
    try {
      const maker = await createOperator(gw, 'mallory@example.com', 'operator');
      const peer = await createOperator(gw, 'peter@example.com', 'approver');
      const made = await gw.admin('POST', '/admin/v1/agents', { name: 'puppet', team: 'demo', profile: 'careful', owner: 'nobody@example.com' }, maker);
      expect(made.status).toBe(201);
      const approvalId = await pendingStepUp(gw, 'puppet');
      const refused = await gw.admin('POST', `/admin/v1/approvals/${approvalId}/approve`, { extra_budget: { usd: 0.01 } }, maker);
      expect(refused.status).toBe(403);
      expect(refused.body.error).toMatchObject({ details: { reason: 'separation_of_duties' } });
      expect(refused.body.error.message).toContain('declared the agent');
      expect((await gw.admin('POST', `/admin/v1/approvals/${approvalId}/approve`, { extra_budget: { usd: 0.01 } }, peer)).status).toBe(200);
      // A resume approval of the owner's own agent: refused to the owner too.
      const owner = await createOperator(gw, 'olive@example.com', 'approver');
      const { sessionId } = await gw.openSession({ agent: 'owned' });
      const suspended = await gw.admin('POST', `/admin/v1/sessions/${sessionId}/suspend`, { reason: 'look' });
      const resumeId = suspended.body.approval_id as string;
      const resume = await gw.admin('POST', `/admin/v1/approvals/${resumeId}/approve`, {}, owner);
      expect(resume.status).toBe(403);
      expect(resume.body.error.message).toContain('may not approve its resume');
      expect((await gw.admin('POST', `/admin/v1/approvals/${resumeId}/approve`, {}, peer)).status).toBe(200);
    } finally {
      await gw.close();
    }
  });

  it('lets the owner approve when separation of duties is off (the default)', async () => {
    const gw = await startGateway(SOFT);
    try {
      const owner = await createOperator(gw, 'olive@example.com', 'approver');
      const approvalId = await pendingStepUp(gw, 'owned');
      expect((await gw.admin('POST', `/admin/v1/approvals/${approvalId}/approve`, {}, owner)).status).toBe(200);
    } finally {
      await gw.close();
    }
  });
});
