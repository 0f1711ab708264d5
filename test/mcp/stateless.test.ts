// The stateless 2026-07-28 revision over raw HTTP: no initialize, no session; `Mcp-Method` and
// `Mcp-Name` headers that must agree with the body; `server/discover`; the same scope and gate.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNotesServer, type NotesFixture } from '../fixtures/mcp/http-server.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { bearer, events, notesConfig, post } from './helpers.js';

let notes: NotesFixture;
let gw: TestGateway;
let token: string;
let sessionId: string;

beforeAll(async () => {
  notes = await startNotesServer();
  gw = await startGateway(notesConfig([{ name: 'notes', url: notes.url }]));
  ({ token, sessionId } = await gw.openSession({ agent: 'notes-agent', tools: ['notes/read_*', 'notes/list_*'] }));
});
afterAll(async () => {
  await gw?.close();
  await notes?.close();
});

/** A stateless request: the routing headers say what the body says (unless `headers` override them). */
function call(method: string, params: Record<string, unknown> = {}, headers: Record<string, string> = {}, auth = token) {
  const name = typeof params.name === 'string' ? params.name : typeof params.uri === 'string' ? params.uri : undefined;
  return post(gw, 'notes', { jsonrpc: '2.0', id: 7, method, params }, {
    accept: 'application/json', 'mcp-protocol-version': '2026-07-28', 'mcp-method': method, ...(name === undefined ? {} : { 'mcp-name': name }), ...bearer(auth), ...headers,
  });
}

describe('MCP gateway: stateless revision (2026-07-28)', () => {
  it('server/discover answers with versions, capabilities and the server\'s identity', async () => {
    const res = await call('server/discover');
    expect(res.status).toBe(200);
    expect(res.headers.get('mcp-session-id')).toBeNull();
    expect(res.body).toMatchObject({
      jsonrpc: '2.0', id: 7,
      result: { resultType: 'complete', supportedVersions: ['2026-07-28'], serverInfo: { name: 'notes-fixture' }, capabilities: { tools: {}, resources: {}, prompts: {} }, instructions: 'Notes for tests.' },
    });
  });

  it('tools/list is filtered and tools/call runs, without initialize or a session', async () => {
    const list = await call('tools/list');
    expect(list.status).toBe(200);
    expect(list.body.result.tools.map((t: any) => t.name).sort()).toEqual(['list_notes', 'read_note']);
    const before = notes.calls.length;
    const res = await call('tools/call', { name: 'read_note', arguments: { name: 'todo' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(res.body).toMatchObject({ id: 7, result: { resultType: 'complete', content: [{ type: 'text', text: 'buy milk' }] } });
    expect(notes.calls.length).toBe(before + 1);
    const [called] = await events(gw, { type: 'tool.called', session: sessionId });
    expect(called.data).toMatchObject({ tool: 'notes/read_note', ok: true, arguments: { name: 'todo' } });
  });

  it('a call outside the scope is a JSON-RPC error with the Tollgate code', async () => {
    const before = notes.calls.length;
    const res = await call('tools/call', { name: 'deploy', arguments: { env: 'prod' } });
    expect(res.body.error).toMatchObject({ code: -32003, data: { code: 'tool_not_allowed', request_id: res.headers.get('x-request-id') } });
    expect(notes.calls.length).toBe(before);
  });

  it('Mcp-Method must match the body\'s method: HTTP 400, -32600, audited, nothing run', async () => {
    const before = notes.calls.length;
    const res = await call('tools/call', { name: 'read_note', arguments: { name: 'todo' } }, { 'mcp-method': 'tools/list' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: -32600, data: { code: 'invalid_request' } });
    expect(res.body.error.message).toContain('Mcp-Method');
    expect(notes.calls.length).toBe(before);
    const [event] = await events(gw, { type: 'mcp.rejected', session: sessionId }, 1, (e) => e.data.reason === 'header_mismatch' && e.data.header === 'Mcp-Method');
    expect(event.data).toMatchObject({ server: 'notes', status: 400, http_method: 'POST', method: 'tools/call' });
  });

  it('Mcp-Name must match the tool (or resource) named in the body, and is required', async () => {
    const before = notes.calls.length;
    // The header routes to an allowed tool while the body calls another.
    const mismatch = await call('tools/call', { name: 'read_note', arguments: { name: 'todo' } }, { 'mcp-name': 'list_notes' });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.error.code).toBe(-32600);
    const missing = await post(gw, 'notes', { jsonrpc: '2.0', id: 'call-8', method: 'tools/call', params: { name: 'read_note', arguments: { name: 'todo' } } }, { 'mcp-method': 'tools/call', ...bearer(token) });
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toContain('Mcp-Name is required');
    // The request was readable: the error answers to its id, so a client can match it.
    expect(missing.body.id).toBe('call-8');
    const resource = await call('resources/read', { uri: 'note://welcome' }, { 'mcp-name': 'note://secret' });
    expect(resource.status).toBe(400);
    expect(notes.calls.length).toBe(before);
    expect((await events(gw, { type: 'mcp.rejected', session: sessionId }, 3, (e) => e.data.reason === 'header_mismatch' && e.data.header === 'Mcp-Name')).length).toBeGreaterThanOrEqual(3);
  });

  it('a batch, an unknown method and a missing token are refused clearly', async () => {
    const batch = await post(gw, 'notes', [{ jsonrpc: '2.0', id: 1, method: 'tools/list' }], { 'mcp-method': 'tools/list', ...bearer(token) });
    expect(batch.status).toBe(400);
    expect(batch.body.error.code).toBe(-32600);
    const unknown = await call('tools/launch_missiles');
    expect(unknown.body.error).toMatchObject({ code: -32601 });
    const anonymous = await post(gw, 'notes', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { 'mcp-method': 'tools/list' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toContain('resource_metadata=');
  });
});
