// Policy, approvals, cost and rate limits on MCP tool calls, through the SDK's client: a policy
// that denies by context, approvals bound to the exact call and used once, a call held for its
// approval, a per-tool price charged to the session, and a per-minute limit.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNotesServer, type NotesFixture } from '../fixtures/mcp/http-server.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { decodeJwt, delegate } from '../helpers/oauth.js';
import { events, mcpClient, rejection } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-mcp-policy-'));
const policyFile = join(dir, 'ops.cedar');
writeFileSync(
  policyFile,
  `@id("no-deploy-from-dev")
@reason("deployments run from prod sessions only")
forbid (principal, action == Tollgate::Action::"call_tool", resource == Tollgate::Tool::"notes/deploy")
when { context.environment == "dev" };

@id("prod-deploys-need-a-human")
@reason("a human approves every prod deployment")
@approval("required")
forbid (principal, action == Tollgate::Action::"call_tool", resource == Tollgate::Tool::"notes/deploy")
when { context.environment == "prod" };
`,
);

let notes: NotesFixture;
let gw: TestGateway;
beforeAll(async () => {
  notes = await startNotesServer();
  const profile = { models: ['gpt-4o-mini'], tools: ['notes/*'], resources: [], prompts: [] };
  gw = await startGateway({
    policy: { files: [policyFile] },
    mcp_servers: [{ name: 'notes', url: notes.url, timeout_ms: 5000, tools: { write_note: { cost_usd: 0.25 } } }],
    profiles: [
      { name: 'ops', ...profile, session_budget: { default: { usd: 1 } } },
      { name: 'ops-held', ...profile, enforcement: { approval_hold_seconds: 10 } },
      { name: 'careful', ...profile, tool_approvals: ['notes/write_*'] },
      { name: 'limited', ...profile, rate_limits: { session: { requests_per_minute: 2 } } },
      { name: 'soft', ...profile, session_budget: { default: { usd: 1 } }, enforcement: { mode: 'soft', soft_threshold: 0.5 } },
      { name: 'careful-poor', ...profile, tool_approvals: ['notes/write_*'], session_budget: { default: { usd: 0.2 } } },
    ],
    agents: [
      { name: 'dev-bot', team: 'demo', profile: 'ops', environment: 'dev' },
      { name: 'prod-bot', team: 'demo', profile: 'ops', environment: 'prod' },
      { name: 'prod-held', team: 'demo', profile: 'ops-held', environment: 'prod' },
      { name: 'careful-bot', team: 'demo', profile: 'careful', environment: 'dev' },
      { name: 'limited-bot', team: 'demo', profile: 'limited', environment: 'dev' },
      { name: 'soft-bot', team: 'demo', profile: 'soft', environment: 'dev' },
      { name: 'poor-bot', team: 'demo', profile: 'careful-poor', environment: 'dev' },
    ],
  });
});
afterAll(async () => {
  await gw?.close();
  await notes?.close();
  rmSync(dir, { recursive: true, force: true });
});

const deploys = () => notes.calls.filter((c) => c.tool === 'deploy');
const approve = (id: string) => gw.admin('POST', `/admin/v1/approvals/${id}/approve`, {});

describe('MCP tool calls under policy', () => {
  it('denies by context: a dev session may not deploy (policy), and nothing reaches the server', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'dev-bot' });
    const client = await mcpClient(gw, token);
    const before = deploys().length;
    const err = await rejection(client.callTool({ name: 'deploy', arguments: { env: 'prod' } }));
    expect(err.code).toBe(-32003);
    expect(err.data).toMatchObject({ code: 'policy_denied', policies: ['no-deploy-from-dev'] });
    expect(err.message).toMatch(/deployments run from prod sessions only/);
    expect(deploys().length).toBe(before);
    const [decision] = await events(gw, { type: 'policy.decision', session: sessionId }, 1, (e) => e.data.action === 'call_tool');
    expect(decision.data).toMatchObject({ resource: 'Tool::notes/deploy', effect: 'deny', policies: ['no-deploy-from-dev'], context: { environment: 'dev', phase: 'call' } });
    // Other tools stay usable for the same session.
    expect((await client.callTool({ name: 'list_notes', arguments: {} })).isError).toBeFalsy();
    await client.close();
  });

  it('holds a prod deployment for a human; the approval covers that exact call, once', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'prod-bot', task: 'ship 1.2' });
    const client = await mcpClient(gw, token);
    const before = deploys().length;
    const first = await rejection(client.callTool({ name: 'deploy', arguments: { env: 'prod' } }));
    expect(first.code).toBe(-32003);
    expect(first.data).toMatchObject({ code: 'tool_approval_required', approval_id: expect.stringMatching(/^apr_/), tool: 'notes/deploy' });
    const approvalId = first.data.approval_id as string;
    // The approver sees the agent, the session's chain, the task, the tool and the exact arguments.
    const shown = (await gw.admin('GET', `/admin/v1/approvals/${approvalId}`)).body;
    expect(shown).toMatchObject({ kind: 'tool', status: 'pending', session_id: sessionId, context: { tool: 'notes/deploy', arguments: { env: 'prod' }, agent: 'prod-bot', chain: [sessionId], task: 'ship 1.2' } });
    // Asking again before a decision joins the same pending approval.
    expect((await rejection(client.callTool({ name: 'deploy', arguments: { env: 'prod' } }))).data.approval_id).toBe(approvalId);
    expect(deploys().length).toBe(before);

    expect((await approve(approvalId)).status).toBe(200);
    // Other arguments are another call: the approval does not cover them.
    const other = await rejection(client.callTool({ name: 'deploy', arguments: { env: 'prod', force: true } }));
    expect(other.data.code).toBe('tool_approval_required');
    expect(other.data.approval_id).not.toBe(approvalId);
    // The approved call runs…
    const ran = await client.callTool({ name: 'deploy', arguments: { env: 'prod' } });
    expect(ran.content).toEqual([{ type: 'text', text: 'deployed to prod' }]);
    expect(deploys().length).toBe(before + 1);
    expect((await gw.admin('GET', `/admin/v1/approvals/${approvalId}`)).body.consumed_at).not.toBeNull();
    // …once: the same call again needs a new approval.
    const again = await rejection(client.callTool({ name: 'deploy', arguments: { env: 'prod' } }));
    expect(again.data.code).toBe('tool_approval_required');
    expect(again.data.approval_id).not.toBe(approvalId);
    expect(deploys().length).toBe(before + 1);
    // A denial refuses that exact call.
    expect((await gw.admin('POST', `/admin/v1/approvals/${again.data.approval_id}/deny`, { reason: 'not today' })).status).toBe(200);
    const denied = await rejection(client.callTool({ name: 'deploy', arguments: { env: 'prod' } }));
    expect(denied.data).toMatchObject({ code: 'tool_approval_denied', approval_id: again.data.approval_id });
    expect(deploys().length).toBe(before + 1);
    await client.close();
  });

  it('another session cannot use an approval granted to this one', async () => {
    const a = await gw.openSession({ agent: 'prod-bot' });
    const b = await gw.openSession({ agent: 'prod-bot' });
    const ca = await mcpClient(gw, a.token);
    const cb = await mcpClient(gw, b.token);
    const asked = await rejection(ca.callTool({ name: 'deploy', arguments: { env: 'canary' } }));
    await approve(asked.data.approval_id);
    const other = await rejection(cb.callTool({ name: 'deploy', arguments: { env: 'canary' } }));
    expect(other.data.code).toBe('tool_approval_required');
    expect((await ca.callTool({ name: 'deploy', arguments: { env: 'canary' } })).content).toEqual([{ type: 'text', text: 'deployed to canary' }]);
    await Promise.all([ca.close(), cb.close()]);
  });

  it('holds the call while a human decides, when the profile says so', async () => {
    const { token } = await gw.openSession({ agent: 'prod-held' });
    const client = await mcpClient(gw, token);
    const call = client.callTool({ name: 'deploy', arguments: { env: 'prod' } }, undefined, { timeout: 20_000 });
    let pending: any[] = [];
    for (let i = 0; i < 100 && pending.length === 0; i++) {
      pending = (await gw.admin('GET', '/admin/v1/approvals?status=pending&kind=tool')).body.data.filter((a: any) => a.context.agent === 'prod-held');
      if (pending.length === 0) await new Promise((r) => setTimeout(r, 50));
    }
    expect(pending).toHaveLength(1);
    await approve(pending[0].id);
    expect((await call).content).toEqual([{ type: 'text', text: 'deployed to prod' }]);
    await client.close();
  });

  it('a call held for a human is refused the moment its token is revoked, not when the hold runs out: nothing runs', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'prod-held' });
    const client = await mcpClient(gw, token);
    const before = deploys().length;
    const call = rejection(client.callTool({ name: 'deploy', arguments: { env: 'prod' } }, undefined, { timeout: 20_000 }));
    let pending: any[] = [];
    for (let i = 0; i < 100 && pending.length === 0; i++) {
      pending = (await gw.admin('GET', `/admin/v1/approvals?status=pending&kind=tool&session=${sessionId}`)).body.data;
      if (pending.length === 0) await new Promise((r) => setTimeout(r, 50));
    }
    expect(pending).toHaveLength(1);
    const { jti } = decodeJwt(token) as { jti: string };
    const revokedAt = Date.now();
    expect((await gw.admin('POST', `/admin/v1/tokens/${jti}/revoke`, { reason: 'leaked' })).status).toBe(200);
    const err = await call;
    // The profile holds calls for 10 s: the refusal came with the revocation instead.
    expect(Date.now() - revokedAt).toBeLessThan(3000);
    expect(err.data).toMatchObject({ code: 'token_revoked' });
    // Approved afterwards, the call it was raised for is gone: nothing runs.
    expect((await approve(pending[0].id)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    expect(deploys().length).toBe(before);
    const [denied] = await events(gw, { type: 'tool.denied', session: sessionId });
    expect(denied.data).toMatchObject({ tool: 'notes/deploy', code: 'token_revoked' });
    expect(await events(gw, { type: 'tool.called', session: sessionId })).toHaveLength(0);
    await client.close();
  });

  it('asks for approval of tools the profile lists under tool_approvals', async () => {
    const { token } = await gw.openSession({ agent: 'careful-bot' });
    const client = await mcpClient(gw, token);
    const err = await rejection(client.callTool({ name: 'write_note', arguments: { name: 'a', content: 'b' } }));
    expect(err.data.code).toBe('tool_approval_required');
    expect((await client.callTool({ name: 'read_note', arguments: { name: 'welcome' } })).isError).toBeFalsy();
    await client.close();
  });

  it('charges a priced tool to the session\'s budget and refuses it when the budget cannot pay', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'dev-bot', budget: { usd: 0.6 } });
    const client = await mcpClient(gw, token);
    await client.callTool({ name: 'write_note', arguments: { name: 'n1', content: 'x' } });
    // A call the tool fails (its arguments do not fit its schema) costs nothing; its line says so.
    const failed = await client.callTool({ name: 'write_note', arguments: { name: 'bad' } }).catch((e: unknown) => ({ isError: true, e }));
    expect(failed.isError).toBe(true);
    expect((await gw.session(sessionId)).spent.usd).toBeCloseTo(0.25, 9);
    await client.callTool({ name: 'write_note', arguments: { name: 'n2', content: 'x' } });
    const session = await gw.session(sessionId);
    expect(session.spent.usd).toBeCloseTo(0.5, 9);
    const lines = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
    expect(lines.map((l: any) => [l.model, l.api, l.outcome, l.cost_usd])).toEqual([
      ['notes/write_note', 'mcp.tools', 'ok', 0.25], ['notes/write_note', 'mcp.tools', 'upstream_error', 0], ['notes/write_note', 'mcp.tools', 'ok', 0.25],
    ]);
    const writesBefore = notes.calls.filter((c) => c.tool === 'write_note').length;
    const refused = await rejection(client.callTool({ name: 'write_note', arguments: { name: 'n3', content: 'x' } }));
    expect(refused.code).toBe(-32002);
    expect(refused.data.code).toBe('budget_exceeded');
    expect(notes.calls.filter((c) => c.tool === 'write_note').length).toBe(writesBefore);
    await client.close();
  });

  it('rate-limits tool calls per session (429-class JSON-RPC error with retry_after)', async () => {
    const { token } = await gw.openSession({ agent: 'limited-bot' });
    const client = await mcpClient(gw, token);
    await client.callTool({ name: 'list_notes', arguments: {} });
    await client.callTool({ name: 'list_notes', arguments: {} });
    const err = await rejection(client.callTool({ name: 'list_notes', arguments: {} }));
    expect(err.code).toBe(-32029);
    expect(err.data).toMatchObject({ code: 'rate_limited', retry_after: expect.any(Number) });
    await client.close();
  });

  it('keeps a parent\'s tool approvals for a child delegated to an agent whose profile has none', async () => {
    const parent = await gw.openSession({ agent: 'careful-bot' });
    const child = await delegate(gw.url, parent.token, { agent: 'dev-bot', task: 'write for me' });
    expect(child.status).toBe(200);
    const client = await mcpClient(gw, child.body.access_token as string);
    const err = await rejection(client.callTool({ name: 'write_note', arguments: { name: 'c', content: 'd' } }));
    expect(err.data.code).toBe('tool_approval_required');
    await client.close();
  });

  it('applies the soft-mode threshold to priced tools: past it, a human must approve', async () => {
    const { token } = await gw.openSession({ agent: 'soft-bot' });
    const client = await mcpClient(gw, token);
    await client.callTool({ name: 'write_note', arguments: { name: 's1', content: 'x' } });
    await client.callTool({ name: 'write_note', arguments: { name: 's2', content: 'x' } });
    const err = await rejection(client.callTool({ name: 'write_note', arguments: { name: 's3', content: 'x' } }));
    expect(err.code).toBe(-32002);
    expect(err.data).toMatchObject({ code: 'approval_required', approval_id: expect.stringMatching(/^apr_/) });
    expect((await gw.admin('GET', `/admin/v1/approvals/${err.data.approval_id}`)).body.kind).toBe('budget');
    await client.close();
  });

  it('checks the budget before asking a human: a call nobody can pay for raises no approval', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'poor-bot' });
    const client = await mcpClient(gw, token);
    const err = await rejection(client.callTool({ name: 'write_note', arguments: { name: 'p', content: 'x' } }));
    expect(err.data.code).toBe('budget_exceeded');
    expect((await gw.admin('GET', `/admin/v1/approvals?session=${sessionId}`)).body.data).toEqual([]);
    await client.close();
  });
});
