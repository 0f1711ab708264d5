// Tool deviation over MCP, with the SDK's own client through the gateway: an agent probing tools
// outside its scope is a critical alert; the MCP calls it made are in the profile's tool mix.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { mcpClient, notesConfig, rejection } from '../mcp/helpers.js';

const script = fileURLToPath(new URL('../fixtures/mcp/stdio-server.ts', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));
let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway(notesConfig([{ name: 'notes', command: process.execPath, args: ['--import', 'tsx', script], cwd: repo, env: { NOTES_MODE: 'stdio' }, timeout_ms: 10_000 }]));
});
afterAll(async () => {
  await gw?.close();
});

describe('MCP tool deviation', () => {
  it('5 refused tools/call in a window (delete_note is out of scope): critical, lateral tool misuse, notified not suspended', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'notes-agent' });
    const client = await mcpClient(gw, token);
    await client.callTool({ name: 'read_note', arguments: { name: 'todo' } });
    for (let i = 0; i < 4; i++) expect((await rejection(client.callTool({ name: 'delete_note', arguments: { name: `n${i}` } }))).code).toBe(-32003);
    await gw.gateway.detection.idle();
    expect((await gw.admin('GET', '/admin/v1/alerts?detector=tool_deviation')).body.data).toEqual([]);
    await rejection(client.callTool({ name: 'delete_note', arguments: { name: 'n4' } }));
    await gw.gateway.detection.idle();
    const [alert] = (await gw.admin('GET', '/admin/v1/alerts?detector=tool_deviation')).body.data;
    expect(alert).toMatchObject({ severity: 'critical', verdict: 'lateral_tool_misuse', session_id: sessionId, agent: { name: 'notes-agent' } });
    expect(alert.evidence).toMatchObject({ refused_tool_calls: 5, last_refused: { tool: 'notes/delete_note' } });
    expect(alert.actions.map((a: any) => a.action)).toEqual(['notify']);
    // Not contained by default: the agent's allowed tools still work.
    await expect(client.callTool({ name: 'read_note', arguments: { name: 'todo' } })).resolves.toBeDefined();
    await client.close();
  });
});
