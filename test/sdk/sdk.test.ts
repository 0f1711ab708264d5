// `tollgate/sdk` (the built package, imported by its public name: run `npm run build` first)
// against a real `tollgate serve` process: sessions from a client secret, the official clients it
// builds, refresh, delegation, typed refusals, waiting for a human, closing (also on exit).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, type ServeProcess } from '../helpers/process.js';
import { startSdkGateway, type SdkGateway } from './helpers.js';

const sdk = await import('tollgate/sdk');
const { Tollgate, BudgetExceededError, SessionEndedError, SessionSuspendedError, ApprovalRequiredError, ApprovalDeniedError, toTollgateError } = sdk;

let server: ServeProcess;
let admin: SdkGateway['admin'];
let credentials: SdkGateway['credentials'];

beforeAll(async () => {
  ({ server, admin, credentials } = await startSdkGateway('tollgate-sdk-', (config) => {
    config.profiles.push({ name: 'careful', models: ['gpt-4o-mini'], session_budget: { default: { usd: 1 }, max: { usd: 2 } }, enforcement: { mode: 'soft', soft_threshold: 0.000001 } });
    // Every write to the notes MCP server needs a human's approval.
    config.profiles.push({ name: 'gated', models: ['gpt-4o-mini'], tools: ['notes/*'], tool_approvals: ['notes/write_*'] });
    config.agents.push({ name: 'careful-agent', team: 'demo', profile: 'careful' }, { name: 'helper-agent', team: 'demo', profile: 'assistant' }, { name: 'gated-agent', team: 'demo', profile: 'gated' });
  }, ['demo-agent', 'careful-agent', 'gated-agent']));
});
afterAll(async () => {
  await server.stop();
});

const tollgate = (agent = 'demo-agent', extra: Record<string, unknown> = {}) => new Tollgate({ baseUrl: server.url, ...credentials[agent], closeOnExit: false, ...extra });
const ask = (openai: any, content = 'hello'): Promise<any> => openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] });

describe('tollgate/sdk', () => {
  it('opens a session with a client secret; its openai and anthropic clients call through the gateway, charged to it', async () => {
    const session = await tollgate().openSession({ task: 'sdk smoke', budgetUsd: 0.5, models: ['gpt-4o-mini', 'claude-3-5-haiku-latest'], tags: { ticket: 'T-1' } });
    expect(session.id).toMatch(/^ses_/);
    const openai = await session.openai();
    const answer = await ask(openai);
    expect(answer.choices[0].message.content).toBeTruthy();
    const anthropic = await session.anthropic();
    const message = await anthropic.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 32, messages: [{ role: 'user', content: 'hi' }] });
    expect(message.usage.output_tokens).toBeGreaterThan(0);
    const view = (await admin('GET', `/admin/v1/sessions/${session.id}`)).body;
    expect(view).toMatchObject({ task: 'sdk smoke', agent: { name: 'demo-agent' }, spent: { requests: 2 } });
    expect(view.models).toEqual(['gpt-4o-mini', 'claude-3-5-haiku-latest']);
    await session.close();
    expect((await admin('GET', `/admin/v1/sessions/${session.id}`)).body.status).toBe('closed');
    // After close, a call is a typed SessionEndedError.
    const err = toTollgateError(await ask(openai).catch((e: unknown) => e));
    expect(err).toBeInstanceOf(SessionEndedError);
    expect(err!.code).toBe('session_inactive');
  });

  it('refreshes its token before expiry (refreshAt 1: every use) and keeps calling on the same session', async () => {
    const session = await tollgate('demo-agent', { refreshAt: 1 }).openSession({ task: 'refresh' });
    const first = await session.token();
    const second = await session.token();
    expect(second).not.toBe(first);
    const jti = (t: string) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()).jti;
    expect(jti(second)).not.toBe(jti(first));
    await ask(await session.openai());
    expect((await admin('GET', `/admin/v1/sessions/${session.id}`)).body.spent.requests).toBe(1);
    await session.close();
  });

  it('delegates to a sub-agent with a budget slice; closing the parent closes the child', async () => {
    const parent = await tollgate().openSession({ task: 'orchestrate', budgetUsd: 0.5 });
    const child = await parent.delegate({ agent: 'helper-agent', task: 'research', budgetUsd: 0.1, models: ['gpt-4o-mini'] });
    expect(child.agentId).not.toBe(parent.agentId);
    await ask(await child.openai());
    const tree = (await admin('GET', `/admin/v1/sessions/${parent.id}/tree`)).body;
    expect(tree.children).toHaveLength(1);
    expect(tree.children[0]).toMatchObject({ id: child.id, agent: { name: 'helper-agent' }, budget: { usd: 0.1 } });
    expect(tree.spent_with_children.requests).toBe(1);
    await parent.close();
    expect((await admin('GET', `/admin/v1/sessions/${child.id}`)).body.status).toBe('closed');
  });

  it('a spent budget is a BudgetExceededError naming the level', async () => {
    const session = await tollgate().openSession({ task: 'tiny', budgetUsd: 0.0000001 });
    const openai = await session.openai({ maxRetries: 0 });
    const err = await session.run(() => ask(openai)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BudgetExceededError);
    expect((err as InstanceType<typeof BudgetExceededError>).details.level).toBe('session');
    await session.close();
  });

  it('a step-up approval: run() waits for the human, and the call goes through once approved', async () => {
    const session = await tollgate('careful-agent').openSession({ task: 'needs a human' });
    const openai = await session.openai({ maxRetries: 0 });
    // The threshold is a millionth of the budget: the first call crosses it. Typed, with the approval to wait on.
    const refused = toTollgateError(await ask(openai).catch((e: unknown) => e));
    expect(refused).toBeInstanceOf(ApprovalRequiredError);
    const approvalId = (refused as InstanceType<typeof ApprovalRequiredError>).approvalId!;
    expect(approvalId).toMatch(/^apr_/);
    // The agent waits (long poll); a human approves a moment later.
    const running = session.run(() => ask(openai, 'again'));
    await new Promise((r) => setTimeout(r, 300));
    expect((await admin('POST', `/admin/v1/approvals/${approvalId}/approve`, { extra_budget: { usd: 0.5 } })).status).toBe(200);
    const answer = await running;
    expect(answer.choices[0].message.content).toBeTruthy();
    await session.close();
  });

  it('a suspended session: run() waits on the resume approval; denied, it is an ApprovalDeniedError', async () => {
    const session = await tollgate().openSession({ task: 'contained' });
    const openai = await session.openai({ maxRetries: 0 });
    const { approval_id } = (await admin('POST', `/admin/v1/sessions/${session.id}/suspend`, { reason: 'odd' })).body;
    expect(toTollgateError(await ask(openai).catch((e: unknown) => e))).toBeInstanceOf(SessionSuspendedError);
    const running = session.run(() => ask(openai)).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    await admin('POST', `/admin/v1/approvals/${approval_id}/deny`, { reason: 'looks compromised' });
    const err = await running;
    expect(err).toBeInstanceOf(sdk.ApprovalDeniedError);
    expect((err as Error).message).toContain('looks compromised');
    // Another session cannot see that approval.
    const other = await tollgate().openSession({ task: 'nosy' });
    await expect(other.waitForApproval(approval_id, { timeoutMs: 1000 })).rejects.toMatchObject({ status: 404 });
    await other.close();
  });

  it('a tool approval over MCP: the McpError is an ApprovalRequiredError; run() waits for the human and the call goes through once approved; denied, an ApprovalDeniedError', async () => {
    const session = await tollgate('gated-agent').openSession({ task: 'gated notes' });
    const mcp = new Client({ name: 'sdk-test', version: '1.0.0' });
    await mcp.connect(await session.mcpTransport('notes'));
    const write = (content: string): Promise<any> => mcp.callTool({ name: 'write_note', arguments: { name: 'plan', content } });
    const refused = await write('ship on friday').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(McpError);
    const typed = toTollgateError(refused) as InstanceType<typeof ApprovalRequiredError>;
    expect(typed).toBeInstanceOf(ApprovalRequiredError);
    expect(typed).toMatchObject({ code: 'tool_approval_required', status: 403, details: { tool: 'notes/write_note' } });
    expect(typed.approvalId).toMatch(/^apr_/);
    // run() waits on that approval (the same call joins it); a human approves a moment later.
    const running = session.run(() => write('ship on friday'));
    await new Promise((r) => setTimeout(r, 300));
    expect((await admin('POST', `/admin/v1/approvals/${typed.approvalId}/approve`, {})).status).toBe(200);
    expect((await running).isError).toBeFalsy();
    expect(((await mcp.callTool({ name: 'read_note', arguments: { name: 'plan' } })) as any).content[0].text).toContain('ship on friday');
    // Another write needs its own approval: denied, run() ends with an ApprovalDeniedError.
    const denied = session.run(() => write('ship on monday')).catch((e: unknown) => e);
    let pending: { id: string } | undefined;
    for (let i = 0; i < 50 && !pending; i++) {
      await new Promise((r) => setTimeout(r, 100));
      pending = (await admin('GET', `/admin/v1/approvals?status=pending&kind=tool&session=${session.id}`)).body.data[0];
    }
    expect((await admin('POST', `/admin/v1/approvals/${pending!.id}/deny`, { reason: 'not before the review' })).status).toBe(200);
    const err = await denied;
    expect(err).toBeInstanceOf(ApprovalDeniedError);
    expect(err).toMatchObject({ code: 'tool_approval_denied', status: 403 });
    expect((err as Error).message).toContain('not before the review');
    // The same call again: the gateway's own refusal, typed from the McpError.
    expect(toTollgateError(await write('ship on monday').catch((e: unknown) => e))).toMatchObject({ code: 'tool_approval_denied', details: { approval_id: pending!.id } });
    await session.close();
    // Closed: the gateway refuses the HTTP request itself (401); the transport's error is typed too.
    const ended = await write('too late').catch((e: unknown) => e);
    expect(ended).toBeInstanceOf(StreamableHTTPError);
    expect(toTollgateError(ended)).toMatchObject({ name: 'SessionEndedError', code: 'session_inactive', status: 401 });
    await mcp.close();
  });

  it('token-endpoint refusals are typed by their Tollgate code: a delegation over the parent\'s budget, a suspended agent opening a session', async () => {
    const parent = await tollgate().openSession({ task: 'frugal', budgetUsd: 0.1 });
    const tooMuch = await parent.delegate({ agent: 'helper-agent', task: 'greedy', budgetUsd: 0.5 }).catch((e: unknown) => e);
    expect(tooMuch).toBeInstanceOf(BudgetExceededError);
    expect(tooMuch).toMatchObject({ code: 'budget_exceeded', status: 400, details: { level: 'parent_session', oauth_error: 'invalid_target' } });
    await parent.close();
    expect((await admin('POST', '/admin/v1/agents/careful-agent/suspend', { reason: 'audit' })).status).toBe(200);
    try {
      const refused = await tollgate('careful-agent').openSession({ task: 'while suspended' }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(SessionEndedError);
      expect(refused).toMatchObject({ code: 'agent_inactive', details: { oauth_error: 'unauthorized_client' } });
    } finally {
      await admin('POST', '/admin/v1/agents/careful-agent/resume', {});
    }
    // A refusal it cannot tell keeps the OAuth code.
    const unknown = await tollgate().openSession({ task: 'x'.repeat(501) }).catch((e: unknown) => e);
    expect(unknown).toMatchObject({ name: 'TollgateError', code: 'invalid_request', details: { oauth_error: 'invalid_request' } });
  });

  it('closes its open sessions when the process exits', async () => {
    // Inside the repo, so that 'tollgate/sdk' resolves to this package (self-reference by name).
    mkdirSync(join(process.cwd(), 'test-artifacts', 'sdk'), { recursive: true });
    const script = join(process.cwd(), 'test-artifacts', 'sdk', 'agent-exit.mjs');
    writeFileSync(script, `
      import { Tollgate } from 'tollgate/sdk';
      const tg = new Tollgate({ baseUrl: process.env.TOLLGATE_URL });
      const s = await tg.openSession({ task: 'short-lived' });
      console.log(s.id);
    `);
    const { stdout } = await promisify(execFile)(process.execPath, [script], {
      cwd: process.cwd(), env: cleanEnv({ TOLLGATE_URL: server.url, TOLLGATE_CLIENT_ID: credentials['demo-agent']!.clientId, TOLLGATE_CLIENT_SECRET: credentials['demo-agent']!.clientSecret}),
    });
    const id = stdout.trim();
    expect((await admin('GET', `/admin/v1/sessions/${id}`)).body.status).toBe('closed');
  });
});

describe('toTollgateError', () => {
  it('reads both providers\' error shapes and ignores other errors', () => {
    const openaiShape = { status: 402, error: { message: 'Budget exhausted', type: 'insufficient_quota', code: 'budget_exceeded', param: null, level: 'team' } };
    const anthropicShape = { status: 403, error: { type: 'error', error: { type: 'permission_error', message: 'suspended', code: 'session_suspended', approval_id: 'apr_1' } } };
    const a = toTollgateError(openaiShape)!;
    expect(a).toBeInstanceOf(BudgetExceededError);
    expect(a.details).toEqual({ level: 'team' });
    const b = toTollgateError(anthropicShape) as InstanceType<typeof SessionSuspendedError>;
    expect(b).toBeInstanceOf(SessionSuspendedError);
    expect(b.approvalId).toBe('apr_1');
    expect(toTollgateError({ status: 500, error: { code: 'server_error' } })).toBeNull();
    expect(toTollgateError(new Error('boom'))).toBeNull();
  });
});
