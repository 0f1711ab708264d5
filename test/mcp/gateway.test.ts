// The MCP gateway with the SDK's own client against a real MCP server over Streamable HTTP:
// scope filtering of lists, allowed and denied calls, deny patterns, delegation narrowing a
// child, resources and prompts, progress, and the gateway's credential (never the agent's) upstream.
import { EmptyResultSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNotesServer, type NotesFixture } from '../fixtures/mcp/http-server.js';
import { WELCOME } from '../fixtures/mcp/notes.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { STATELESS_REVISION } from '../../src/mcp/methods.js';
import { decodeJwt, delegate } from '../helpers/oauth.js';
import { bearer, events, mcpClient, notesConfig, post, rejection } from './helpers.js';

const UPSTREAM_CREDENTIAL = 'Bearer gateway-own-notes-credential';
let notes: NotesFixture;
let gw: TestGateway;

beforeAll(async () => {
  notes = await startNotesServer();
  gw = await startGateway(
    notesConfig([{ name: 'notes', url: notes.url, headers: { 'x-notes-client': 'tollgate' }, headers_env: { authorization: 'NOTES_CREDENTIAL' }, timeout_ms: 5000 }]),
    { NOTES_CREDENTIAL: UPSTREAM_CREDENTIAL },
  );
});
afterAll(async () => {
  await gw?.close();
  await notes?.close();
});

const names = (list: { name: string }[]) => list.map((t) => t.name).sort();

describe('MCP gateway: tools', () => {
  it('lists only the tools in the session\'s scope (a deny pattern hides delete_note)', async () => {
    const full = await gw.openSession({ agent: 'notes-agent' });
    const narrow = await gw.openSession({ agent: 'notes-agent', tools: ['notes/read_*', 'notes/list_*'] });
    const fullClient = await mcpClient(gw, full.token);
    const narrowClient = await mcpClient(gw, narrow.token);
    expect(names((await fullClient.listTools()).tools)).toEqual(['crash', 'deploy', 'environment', 'list_notes', 'read_note', 'slow', 'write_note']);
    expect(names((await narrowClient.listTools()).tools)).toEqual(['list_notes', 'read_note']);
    // The server itself lists delete_note: the gateway hid it.
    const admin = await mcpClient(gw, (await gw.openSession({ agent: 'notes-admin' })).token);
    expect(names((await admin.listTools()).tools)).toContain('delete_note');
    await Promise.all([fullClient.close(), narrowClient.close(), admin.close()]);
  });

  it('forwards an allowed call with the gateway\'s credential, never the agent\'s token, and audits it with arguments and result size', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'notes-agent', tools: ['notes/read_*'] });
    const client = await mcpClient(gw, token);
    const seenBefore = notes.requests.length;
    const result = await client.callTool({ name: 'read_note', arguments: { name: 'welcome' } });
    expect(result.content).toEqual([{ type: 'text', text: WELCOME }]);
    expect(notes.calls.at(-1)).toEqual({ tool: 'read_note', args: { name: 'welcome' } });

    // Every request the server saw carried the gateway's credential; none carried the agent's token.
    expect(notes.requests.length).toBeGreaterThan(seenBefore);
    for (const headers of notes.requests) {
      expect(headers.authorization).toBe(UPSTREAM_CREDENTIAL);
      expect(headers['x-notes-client']).toBe('tollgate');
      expect(JSON.stringify(headers)).not.toContain(token);
    }

    const [called] = await events(gw, { type: 'tool.called', session: sessionId });
    expect(called).toMatchObject({ session_id: sessionId, data: { tool: 'notes/read_note', ok: true, arguments: { name: 'welcome' } } });
    expect(called.data.arguments_bytes).toBe(Buffer.byteLength(JSON.stringify({ name: 'welcome' })));
    // The result carries the whole note, JSON-escaped, plus a little framing.
    expect(called.data.result_bytes).toBeGreaterThan(WELCOME.length);
    expect(called.data.result_bytes).toBeLessThan(WELCOME.length + 100);
    await client.close();
  });

  it('refuses a call outside the scope with -32003 and the Tollgate code; nothing reaches the server; the refusal is audited', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'notes-agent', tools: ['notes/read_*'] });
    const client = await mcpClient(gw, token);
    const callsBefore = notes.calls.length;
    const err = await rejection(client.callTool({ name: 'deploy', arguments: { env: 'prod' } }));
    expect(err).toBeInstanceOf(McpError);
    expect(err.code).toBe(-32003);
    expect(err.message).toContain('notes/deploy');
    expect(err.data).toMatchObject({ code: 'tool_not_allowed', request_id: expect.stringMatching(/\S/) });
    expect(notes.calls.length).toBe(callsBefore);
    const [denied] = await events(gw, { type: 'tool.denied', session: sessionId });
    expect(denied.data).toMatchObject({ tool: 'notes/deploy', code: 'tool_not_allowed', arguments: { env: 'prod' } });
    await client.close();
  });

  it('answers a method the server does not offer, or no MCP method, with -32601 in the shape of every refusal', async () => {
    const { token } = await gw.openSession({ agent: 'notes-agent' });
    const client = await mcpClient(gw, token);
    for (const method of ['completion/complete', 'no/such_method']) {
      const err = await rejection(client.request({ method }, EmptyResultSchema));
      expect(err).toBeInstanceOf(McpError);
      expect(err.code).toBe(-32601);
      expect(err.data).toMatchObject({ code: 'not_found', request_id: expect.stringMatching(/^req_/) });
    }
    await client.close();
  });

  it('a deny pattern wins over an allow, even when the session asks for the tool by name', async () => {
    const { token } = await gw.openSession({ agent: 'notes-agent', tools: ['notes/delete_note'] });
    const client = await mcpClient(gw, token);
    expect((await client.listTools()).tools).toEqual([]);
    const err = await rejection(client.callTool({ name: 'delete_note', arguments: { name: 'todo' } }));
    expect(err.code).toBe(-32003);
    expect(err.data.code).toBe('tool_not_allowed');
    expect(notes.calls.some((c) => c.tool === 'delete_note')).toBe(false);
    await client.close();
  });

  it('a child session narrowed by delegation sees and calls less than its parent', async () => {
    const parent = await gw.openSession({ agent: 'notes-agent', budget: { usd: 0.5 } });
    const child = await delegate(gw.url, parent.token, { agent: 'note-helper', task: 'read only', budget_usd: '0.1', scope: 'tool:notes/read_*' });
    expect(child.status).toBe(200);
    const parentClient = await mcpClient(gw, parent.token);
    const childClient = await mcpClient(gw, child.body.access_token);
    expect(names((await childClient.listTools()).tools)).toEqual(['read_note']);
    expect((await childClient.callTool({ name: 'read_note', arguments: { name: 'todo' } })).content).toEqual([{ type: 'text', text: 'buy milk' }]);
    const err = await rejection(childClient.callTool({ name: 'deploy', arguments: { env: 'staging' } }));
    expect(err.code).toBe(-32003);
    // The parent still may.
    expect((await parentClient.callTool({ name: 'deploy', arguments: { env: 'staging' } })).content).toEqual([{ type: 'text', text: 'deployed to staging' }]);
    const [denied] = await events(gw, { type: 'tool.denied', session: child.body.session_id });
    expect(denied).toMatchObject({ chain: [parent.sessionId, child.body.session_id], data: { tool: 'notes/deploy' } });
    await Promise.all([parentClient.close(), childClient.close()]);
  });

  it('a destructive tool on restricted data needs an approval: -32003 with the approval id', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'notes-admin', context: { data_sensitivity: 'restricted' } });
    const client = await mcpClient(gw, token);
    const err = await rejection(client.callTool({ name: 'delete_note', arguments: { name: 'todo' } }));
    expect(err.code).toBe(-32003);
    expect(err.data).toMatchObject({ code: 'tool_approval_required', approval_id: expect.stringMatching(/\S/) });
    expect(notes.calls.some((c) => c.tool === 'delete_note')).toBe(false);
    // A tool the server does not mark destructive runs.
    expect((await client.callTool({ name: 'list_notes', arguments: {} })).isError).toBeFalsy();
    const approvals = (await gw.admin('GET', `/admin/v1/approvals?session=${sessionId}`)).body.data;
    expect(approvals.map((a: any) => a.id)).toContain(err.data.approval_id);
    await client.close();
  });

  it('forwards progress notifications of a tool call', async () => {
    const { token } = await gw.openSession({ agent: 'notes-agent' });
    const client = await mcpClient(gw, token);
    const progress: { progress: number; total?: number }[] = [];
    const result = await client.callTool({ name: 'slow', arguments: { ms: 60, steps: 3 } }, undefined, { onprogress: (p) => progress.push(p) });
    expect(result.content).toEqual([{ type: 'text', text: 'slept 60 ms' }]);
    expect(progress.map((p) => [p.progress, p.total])).toEqual([[1, 3], [2, 3], [3, 3]]);
    await client.close();
  });
});

describe('MCP gateway: cancellation', () => {
  it('a client that cancels a call cancels it upstream too, and the call is recorded as failed', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'notes-agent' });
    const client = await mcpClient(gw, token);
    const abort = new AbortController();
    const call = client.callTool({ name: 'slow', arguments: { ms: 3000 } }, undefined, { signal: abort.signal });
    setTimeout(() => abort.abort(), 150);
    await rejection(call);
    const [called] = await events(gw, { type: 'tool.called', session: sessionId }, 1, (e) => e.data.tool === 'notes/slow');
    expect(called.data).toMatchObject({ ok: false, error: expect.stringContaining('cancelled') });
    expect(called.data.duration_ms).toBeLessThan(2000);
    await client.close();
  });
});

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('MCP gateway: revocation reaches tool calls in flight', () => {
  const slowCalls = () => notes.calls.filter((c) => c.tool === 'slow').length;

  it('a session revoked while its tool call runs: cut at once with the refusal, cancelled upstream, recorded; another session\'s call runs on', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'notes-agent' });
    const bystander = await gw.openSession({ agent: 'note-helper' });
    const [client, other] = await Promise.all([mcpClient(gw, token), mcpClient(gw, bystander.token)]);
    const running = slowCalls();
    const cancelledBefore = notes.cancelled.length;
    const call = rejection(client.callTool({ name: 'slow', arguments: { ms: 4000 } }));
    const otherCall = other.callTool({ name: 'slow', arguments: { ms: 600 } });
    await until(() => slowCalls() >= running + 2); // both are running on the server
    const revokedAt = Date.now();
    expect((await gw.admin('POST', `/admin/v1/sessions/${sessionId}/revoke`, { reason: 'leaked' })).status).toBe(200);
    const err = await call;
    expect(Date.now() - revokedAt).toBeLessThan(1000);
    expect(err).toBeInstanceOf(McpError);
    expect(err.data).toMatchObject({ code: 'session_inactive' });
    expect(err.message).toMatch(/revoked/i);
    // The server heard the cancellation: it stopped the call.
    await until(() => notes.cancelled.length > cancelledBefore);
    expect((await otherCall).content).toEqual([{ type: 'text', text: 'slept 600 ms' }]);
    const [called] = await events(gw, { type: 'tool.called', session: sessionId }, 1, (e) => e.data.tool === 'notes/slow');
    expect(called.data).toMatchObject({ ok: false, revoked: 'session_inactive', error: expect.stringMatching(/^cut: .*revoked/i) });
    expect(called.data.duration_ms).toBeLessThan(2000);
    const [otherCalled] = await events(gw, { type: 'tool.called', session: bystander.sessionId }, 1, (e) => e.data.tool === 'notes/slow');
    expect(otherCalled.data).toMatchObject({ ok: true });
    expect(otherCalled.data.revoked).toBeUndefined();
    await Promise.all([client.close(), other.close()]);
  }, 20_000);

  it('a token revoked while its call runs (stateless revision): the call is answered with the refusal at once', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'notes-agent' });
    const running = slowCalls();
    const call = post(gw, 'notes', { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'slow', arguments: { ms: 4000 } } }, {
      accept: 'application/json', 'mcp-protocol-version': STATELESS_REVISION, 'mcp-method': 'tools/call', 'mcp-name': 'slow', ...bearer(token),
    });
    await until(() => slowCalls() > running);
    const { jti } = decodeJwt(token) as { jti: string };
    const revokedAt = Date.now();
    expect((await gw.admin('POST', `/admin/v1/tokens/${jti}/revoke`, { reason: 'leaked' })).status).toBe(200);
    const res = await call;
    expect(Date.now() - revokedAt).toBeLessThan(1000);
    expect(res.body).toMatchObject({ jsonrpc: '2.0', id: 9, error: { data: { code: 'token_revoked' } } });
    const [called] = await events(gw, { type: 'tool.called', session: sessionId }, 1, (e) => e.data.tool === 'notes/slow');
    expect(called.data).toMatchObject({ ok: false, revoked: 'token_revoked' });
  }, 20_000);
});

describe('MCP gateway: resources and prompts', () => {
  it('lists and reads only the resources in scope', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'notes-agent' });
    const client = await mcpClient(gw, token);
    expect((await client.listResources()).resources.map((r) => r.uri)).toEqual(['note://welcome']);
    expect((await client.listResourceTemplates()).resourceTemplates.map((r) => r.uriTemplate)).toEqual(['note://{name}']);
    const read = await client.readResource({ uri: 'note://welcome' });
    expect(read.contents[0]).toMatchObject({ uri: 'note://welcome', text: WELCOME });
    const err = await rejection(client.readResource({ uri: 'note://secret' }));
    expect(err.code).toBe(-32003);
    expect(err.data.code).toBe('forbidden');
    // Another spelling of a URI the server would parse to the same place is refused, not read.
    for (const uri of ['NOTE://secret', 'note://Secret/../secret', 'note://welcome/./']) {
      const spelled = await rejection(client.readResource({ uri }));
      expect(spelled.code, uri).toBe(-32602);
    }
    expect((await rejection(client.readResource({ uri: `note://${'a'.repeat(3000)}` }))).code).toBe(-32602);
    const [called] = await events(gw, { type: 'resource.called', session: sessionId });
    expect(called.data).toMatchObject({ resource: 'notes/note://welcome', ok: true });
    const [denied] = await events(gw, { type: 'resource.denied', session: sessionId });
    expect(denied.data).toMatchObject({ resource: 'notes/note://secret' });
    await client.close();
  });

  it('lists and gets only the prompts in scope', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'notes-agent' });
    const client = await mcpClient(gw, token);
    expect((await client.listPrompts()).prompts.map((p) => p.name)).toEqual(['summarize']);
    const prompt = await client.getPrompt({ name: 'summarize', arguments: { name: 'todo' } });
    expect(prompt.messages[0]!.content).toEqual({ type: 'text', text: 'Summarize the note "todo".' });
    const err = await rejection(client.getPrompt({ name: 'leak_secrets' }));
    expect(err.code).toBe(-32003);
    const [called] = await events(gw, { type: 'prompt.called', session: sessionId });
    expect(called.data).toMatchObject({ prompt: 'notes/summarize', ok: true, arguments: { name: 'todo' } });
    await client.close();
  });
});
