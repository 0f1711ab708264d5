// Without an MCP server in the config, the MCP gateway (and the SDK it brings) is loaded only when
// a request asks for it; it then answers as it always does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway({ mcp_servers: [] });
});
afterAll(async () => {
  await gw.close();
});

describe('MCP gateway, none configured', () => {
  it('loads on the first MCP request, once for requests that arrive together, and refuses an unknown server', async () => {
    const { token } = await gw.openSession();
    const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
    const post = () => fetch(`${gw.url}/mcp/notes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify(init),
    });
    const answers = await Promise.all(Array.from({ length: 5 }, post));
    for (const res of answers) expect(res.status).toBe(404);
    const bodies = await Promise.all(answers.map((r) => r.text()));
    expect(new Set(bodies.map((b) => b.replace(/req_[0-9a-f]+/g, 'req_'))).size).toBe(1);
    expect(bodies[0]).toMatch(/notes/);
    expect((await fetch(`${gw.url}/.well-known/oauth-protected-resource/mcp/notes`)).status).toBe(404);
  });
});
