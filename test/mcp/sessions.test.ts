// Authentication and MCP sessions: 401 with RFC 9728 discovery, an MCP session bound to the
// Tollgate session that opened it, DELETE, a Tollgate session that ends, idle sessions dropped.
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNotesServer, type NotesFixture } from '../fixtures/mcp/http-server.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { bearer, events, mcpClient, notesConfig, post, rejection } from './helpers.js';

let notes: NotesFixture;
let gw: TestGateway;
/** The gateway's clock runs this far ahead of the real one. */
let offset = 0;

beforeAll(async () => {
  notes = await startNotesServer();
  gw = await startGateway(notesConfig([{ name: 'notes', url: notes.url }], { tokens: { ttl_seconds: 3600 } }), {}, () => Date.now() + offset);
});
afterAll(async () => {
  await gw?.close();
  await notes?.close();
});

const INITIALIZE = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
const listTools = (sessionId: string, token: string) => post(gw, 'notes', { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { ...bearer(token), 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' });

/** A client whose transport exposes the MCP session id. */
async function connect(token: string) {
  const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/notes`), { requestInit: { headers: bearer(token) } });
  const client = new Client({ name: 'tollgate-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport, id: transport.sessionId! };
}

describe('MCP gateway: authentication', () => {
  it('no token or a bad one is 401 with WWW-Authenticate pointing at the protected-resource metadata', async () => {
    const metadata = `${gw.url}/.well-known/oauth-protected-resource/mcp/notes`;
    const anonymous = await post(gw, 'notes', INITIALIZE);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${metadata}"`);
    expect(anonymous.body.error).toMatchObject({ code: -32001, data: { code: 'unauthenticated' } });
    const forged = await post(gw, 'notes', INITIALIZE, bearer('eyJhbGciOiJFZERTQSJ9.e30.c2ln'));
    expect(forged.status).toBe(401);
    expect(forged.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${metadata}", error="invalid_token"`);
    expect(forged.body.error.data.code).toBe('invalid_token');
    expect(await rejection(mcpClient(gw, 'not-a-token'))).toBeInstanceOf(Error);
    const denied = await events(gw, { type: 'auth.denied' }, 2, (e) => e.data.path === '/mcp/notes');
    expect(denied.map((e) => e.data.code)).toEqual(expect.arrayContaining(['unauthenticated', 'invalid_token']));
  });

  it('serves RFC 9728 metadata naming the gateway as the authorization server', async () => {
    const res = await fetch(`${gw.url}/.well-known/oauth-protected-resource/mcp/notes`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as any;
    expect(doc).toMatchObject({ resource: `${gw.url}/mcp/notes`, authorization_servers: [gw.url], bearer_methods_supported: ['header'] });
    expect(doc.scopes_supported).toContain('tool:notes/*');
    // The named authorization server has the token endpoint.
    const token = await fetch(`${doc.authorization_servers[0]}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=password' });
    expect(token.status).toBe(400);
    expect(((await token.json()) as any).error).toBe('unsupported_grant_type');
    expect((await fetch(`${gw.url}/.well-known/oauth-protected-resource/mcp/nope`)).status).toBe(404);
  });
});

describe('MCP gateway: sessions', () => {
  it('an MCP session answers only the Tollgate session that opened it', async () => {
    const a = await gw.openSession({ agent: 'notes-agent' });
    const b = await gw.openSession({ agent: 'notes-agent' });
    const { client, id } = await connect(a.token);
    expect(id).toMatch(/^mcps_/);
    const stolen = await listTools(id, b.token);
    expect(stolen.status).toBe(404);
    expect(stolen.body.error).toMatchObject({ code: -32600, data: { code: 'not_found' } });
    const [event] = await events(gw, { type: 'mcp.rejected', session: b.sessionId }, 1, (e) => e.data.reason === 'session_mismatch');
    expect(event.data.mcp_session).toBe(id);
    // The owner is unaffected.
    expect((await listTools(id, a.token)).status).toBe(200);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    const [opened] = await events(gw, { type: 'mcp.session.opened', session: a.sessionId });
    expect(opened.data).toMatchObject({ server: 'notes', mcp_session: id });
    await client.close();
  });

  it('DELETE ends the MCP session', async () => {
    const a = await gw.openSession({ agent: 'notes-agent' });
    const { client, transport, id } = await connect(a.token);
    await transport.terminateSession();
    const after = await listTools(id, a.token);
    expect(after.status).toBe(404);
    const [closed] = await events(gw, { type: 'mcp.session.closed', session: a.sessionId });
    expect(closed.data).toMatchObject({ mcp_session: id, reason: 'closed' });
    await client.close();
  });

  it('once its Tollgate session is revoked, an MCP session cannot be used', async () => {
    const a = await gw.openSession({ agent: 'notes-agent' });
    const { client, id } = await connect(a.token);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    expect((await gw.admin('POST', `/admin/v1/sessions/${a.sessionId}/revoke`, { reason: 'test' })).status).toBe(200);
    const res = await listTools(id, a.token);
    expect(res.status).toBe(401);
    expect(res.body.error.data.code).toBe('session_inactive');
    expect(await rejection(client.callTool({ name: 'list_notes', arguments: {} }))).toBeInstanceOf(Error);
    await client.close();
  });

  it('revoking its Tollgate session ends an MCP session at once: its notification stream closes', async () => {
    const a = await gw.openSession({ agent: 'notes-agent' });
    const init = await post(gw, 'notes', INITIALIZE, bearer(a.token));
    const id = init.headers.get('mcp-session-id')!;
    const headers = { ...bearer(a.token), 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25' };
    expect((await post(gw, 'notes', { jsonrpc: '2.0', method: 'notifications/initialized' }, headers)).status).toBe(202);
    const stream = await fetch(`${gw.url}/mcp/notes`, { headers: { ...headers, accept: 'text/event-stream' } });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    const closed = (async () => {
      while (!(await reader.read()).done);
      return Date.now();
    })();
    const revokedAt = Date.now();
    expect((await gw.admin('POST', `/admin/v1/sessions/${a.sessionId}/revoke`, { reason: 'leaked' })).status).toBe(200);
    expect((await closed) - revokedAt).toBeLessThan(1000);
    const [ended] = await events(gw, { type: 'mcp.session.closed', session: a.sessionId });
    expect(ended.data).toMatchObject({ mcp_session: id, reason: 'revoked' });
  });

  it('an idle MCP session is dropped', async () => {
    const a = await gw.openSession({ agent: 'notes-agent' });
    const { client, id } = await connect(a.token);
    expect((await listTools(id, a.token)).status).toBe(200);
    offset += 31 * 60_000;
    try {
      const res = await listTools(id, a.token);
      expect(res.status).toBe(404);
      expect(res.body.error.message).toContain('idle');
      const [closed] = await events(gw, { type: 'mcp.session.closed', session: a.sessionId });
      expect(closed.data).toMatchObject({ mcp_session: id, reason: 'idle' });
      // A new session works.
      const again = await post(gw, 'notes', INITIALIZE, bearer(a.token));
      expect(again.status).toBe(200);
      expect(again.headers.get('mcp-session-id')).toMatch(/^mcps_/);
    } finally {
      offset = 0;
      await client.close();
    }
  });
});
