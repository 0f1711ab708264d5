// Bad input at the MCP gateway: malformed JSON-RPC, unknown servers and tools, names with path
// tricks or look-alike letters, oversized arguments, a server that hangs or dies mid-call, wrong
// Host/Origin. Each is a clear JSON-RPC error, nothing unauthorized reaches the server, and each
// leaves an audit event.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNotesServer, type NotesFixture } from '../fixtures/mcp/http-server.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { bearer, events, mcpClient, notesConfig, post, rejection } from './helpers.js';

let notes: NotesFixture;
let gw: TestGateway;
let token: string;
let sessionId: string;

beforeAll(async () => {
  notes = await startNotesServer();
  gw = await startGateway(notesConfig([
    { name: 'notes', url: notes.url, timeout_ms: 500, max_argument_bytes: 1024 },
    // Nothing listens there (port 9 is discard, closed on any test machine).
    { name: 'down', url: 'http://127.0.0.1:9/mcp', timeout_ms: 500 },
  ]));
  ({ token, sessionId } = await gw.openSession({ agent: 'notes-agent' }));
});
afterAll(async () => {
  await gw?.close();
  await notes?.close();
});

const rejected = (reason: string) => events(gw, { type: 'mcp.rejected' }, 1, (e) => e.data.reason === reason);

describe('MCP gateway: malformed requests', () => {
  it('a body that is not JSON is -32700 with HTTP 400', async () => {
    const res = await post(gw, 'notes', '{"jsonrpc": "2.0", "id": 1, "method": ', bearer(token));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700, data: { code: 'invalid_json' } } });
    const [event] = await rejected('parse_error');
    expect(event).toMatchObject({ session_id: sessionId, data: { server: 'notes', status: 400 } });
  });

  it('JSON that is not JSON-RPC is -32600 with HTTP 400', async () => {
    for (const body of [{ hello: 'world' }, { jsonrpc: '1.0', id: 1, method: 'tools/list' }, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: 'x' }, []]) {
      const res = await post(gw, 'notes', body, bearer(token));
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: -32600, data: { code: 'invalid_request', request_id: expect.stringMatching(/\S/) } });
    }
    expect((await rejected('invalid_request')).length).toBeGreaterThanOrEqual(1);
  });

  it('a request without a session that is not initialize is -32600 with HTTP 400', async () => {
    const res = await post(gw, 'notes', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, bearer(token));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(-32600);
    await rejected('missing_session');
  });

  it('an unknown server is HTTP 404 with a JSON-RPC error', async () => {
    for (const server of ['nope', 'notes/extra', '..%2Fadmin']) {
      const res = await post(gw, server, { jsonrpc: '2.0', id: 1, method: 'initialize', params: {} }, bearer(token));
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ jsonrpc: '2.0', error: { code: -32600, data: { code: 'not_found' } } });
    }
    const [event] = await rejected('unknown_server');
    expect(event.data.server).toMatch(/nope|notes\/extra|\.\.%2Fadmin/);
  });

  it('other HTTP methods are 405', async () => {
    const res = await fetch(`${gw.url}/mcp/notes`, { method: 'PUT', headers: bearer(token) });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, POST, DELETE');
  });
});

describe('MCP gateway: tool names and arguments', () => {
  it('names with path tricks or look-alike letters are refused before anything reaches the server', async () => {
    const client = await mcpClient(gw, token);
    const before = notes.calls.length;
    // `../deploy`, a server-qualified path, Cyrillic "а" in "reаd_note", a fullwidth letter, a trailing space.
    for (const name of ['../deploy', 'notes/../deploy', 'notes/deploy', 're\u0430d_note', '\uff44eploy', 'deploy ', '']) {
      const err = await rejection(client.callTool({ name, arguments: { env: 'prod' } }));
      expect(err.code, name).toBe(-32003);
      expect(err.data.code, name).toBe('tool_not_allowed');
    }
    expect(notes.calls.length).toBe(before);
    const denied = await events(gw, { type: 'tool.denied', session: sessionId }, 7);
    expect(denied.map((e) => e.data.tool)).toContain('notes/re\u0430d_note');
    await client.close();
  });

  it('a well-formed name the server does not list is -32602 (unknown tool)', async () => {
    const client = await mcpClient(gw, token);
    const err = await rejection(client.callTool({ name: 'drop_database', arguments: {} }));
    expect(err.code).toBe(-32602);
    expect(err.message).toContain('Unknown tool "drop_database"');
    expect(err.data.code).toBe('not_found');
    const [event] = await rejected('unknown_tool');
    expect(event.data).toMatchObject({ tool: 'drop_database', method: 'tools/call' });
    await client.close();
  });

  it('oversized arguments are -32602 and never forwarded', async () => {
    const client = await mcpClient(gw, token);
    const before = notes.calls.length;
    const err = await rejection(client.callTool({ name: 'write_note', arguments: { name: 'big', content: 'x'.repeat(2000) } }));
    expect(err.code).toBe(-32602);
    expect(err.data).toMatchObject({ code: 'invalid_request', limit_bytes: 1024 });
    expect(err.data.arguments_bytes).toBeGreaterThan(2000);
    expect(notes.calls.length).toBe(before);
    const [event] = await rejected('arguments_too_large');
    expect(event.data).toMatchObject({ tool: 'write_note', limit_bytes: 1024 });
    // Just under the limit goes through.
    expect((await client.callTool({ name: 'write_note', arguments: { name: 'ok', content: 'x'.repeat(900) } })).content).toEqual([{ type: 'text', text: 'saved ok' }]);
    await client.close();
  });
});

describe('MCP gateway: a server that hangs or dies', () => {
  it('a hanging tool is -32004 after timeout_ms, recorded as a failed call', async () => {
    const client = await mcpClient(gw, token);
    const started = Date.now();
    const err = await rejection(client.callTool({ name: 'slow', arguments: { ms: 5000 } }));
    expect(Date.now() - started).toBeLessThan(3000);
    expect(err.code).toBe(-32004);
    expect(err.data).toMatchObject({ code: 'upstream_timeout', server: 'notes' });
    const [called] = await events(gw, { type: 'tool.called', session: sessionId }, 1, (e) => e.data.tool === 'notes/slow');
    expect(called.data).toMatchObject({ ok: false, result_bytes: 0, error: expect.stringContaining('500 ms') });
    // The next call is served.
    expect((await client.callTool({ name: 'list_notes', arguments: {} })).isError).toBeFalsy();
    await client.close();
  });

  it('a server that dies mid-call is -32004; the next request reconnects', async () => {
    const client = await mcpClient(gw, token);
    const err = await rejection(client.callTool({ name: 'crash', arguments: {} }));
    expect(err.code).toBe(-32004);
    expect(err.data.code).toBe('upstream_unavailable');
    const [called] = await events(gw, { type: 'tool.called', session: sessionId }, 1, (e) => e.data.tool === 'notes/crash');
    expect(called.data.ok).toBe(false);
    const result = await client.callTool({ name: 'read_note', arguments: { name: 'todo' } });
    expect(result.content).toEqual([{ type: 'text', text: 'buy milk' }]);
    await client.close();
  });
});

describe('MCP gateway: an unreachable server', () => {
  it('initialize is HTTP 502 with -32004; a stateless request is a -32004 error', async () => {
    const init = await post(gw, 'down', { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }, bearer(token));
    expect(init.status).toBe(502);
    expect(init.body.error).toMatchObject({ code: -32004, data: { code: 'upstream_unavailable', server: 'down' } });
    expect(init.body.error.message).toContain('"down"');
    const discover = await post(gw, 'down', { jsonrpc: '2.0', id: 2, method: 'server/discover' }, { ...bearer(token), 'mcp-method': 'server/discover' });
    expect(discover.status).toBe(200);
    expect(discover.body.error).toMatchObject({ code: -32004, data: { code: 'upstream_unavailable' } });
    const [event] = await rejected('upstream_unavailable');
    expect(event.data.server).toBe('down');
  });
});

describe('MCP gateway: DNS-rebinding protection', () => {
  const raw = (headers: Record<string, string>) =>
    new Promise<{ status: number; body: any }>((resolve, reject) => {
      const url = new URL(`${gw.url}/mcp/notes`);
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...bearer(token), ...headers } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: text.startsWith('{') ? JSON.parse(text) : text }));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }));
    });

  it('refuses a foreign Host or Origin on a loopback gateway', async () => {
    const host = new URL(gw.url).host;
    const evilHost = await raw({ host: 'attacker.example:80' });
    expect(evilHost.status).toBe(403);
    expect(evilHost.body.error.data.code).toBe('forbidden');
    const evilOrigin = await raw({ host, origin: 'http://attacker.example' });
    expect(evilOrigin.status).toBe(403);
    const [event] = await rejected('origin_not_allowed');
    expect(event.data.server).toBe('notes');
    // Its own origin, and localhost, are fine.
    expect((await raw({ host, origin: `http://${host}` })).status).toBe(200);
    expect((await raw({ host: `localhost:${new URL(gw.url).port}` })).status).toBe(200);
  });
});
