// A stdio MCP server launched by the gateway (the notes server as a child process): filtered list,
// calls, a server process that dies mid-call and is started again on the next request.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { events, mcpClient, notesConfig, rejection } from './helpers.js';

const script = fileURLToPath(new URL('../fixtures/mcp/stdio-server.ts', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));
let gw: TestGateway;

beforeAll(async () => {
  // A secret of the gateway's own process must not reach the child.
  process.env.TOLLGATE_TEST_SECRET = 'do-not-leak';
  gw = await startGateway(notesConfig([{ name: 'notes', command: process.execPath, args: ['--import', 'tsx', script], cwd: repo, env: { NOTES_MODE: 'stdio' }, timeout_ms: 10_000 }]));
});
afterAll(async () => {
  delete process.env.TOLLGATE_TEST_SECRET;
  await gw?.close();
});

describe('MCP gateway: stdio server', () => {
  it('lists in scope, calls, and starts the server again after it died mid-call', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'notes-agent', tools: ['notes/read_*', 'notes/write_*', 'notes/crash'] });
    const client = await mcpClient(gw, token);
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['crash', 'read_note', 'write_note']);
    await client.callTool({ name: 'write_note', arguments: { name: 'todo', content: 'changed' } });
    expect((await client.callTool({ name: 'read_note', arguments: { name: 'todo' } })).content).toEqual([{ type: 'text', text: 'changed' }]);
    expect((await rejection(client.callTool({ name: 'deploy', arguments: { env: 'prod' } }))).code).toBe(-32003);

    const err = await rejection(client.callTool({ name: 'crash', arguments: {} }));
    expect(err.code).toBe(-32004);
    expect(err.data.code).toBe('upstream_unavailable');
    // A fresh process: the note written before the crash is gone, the shipped ones are back.
    expect((await client.callTool({ name: 'read_note', arguments: { name: 'todo' } })).content).toEqual([{ type: 'text', text: 'buy milk' }]);
    const called = await events(gw, { type: 'tool.called', session: sessionId }, 4);
    // Newest first.
    expect(called.map((e) => [e.data.tool, e.data.ok])).toEqual([['notes/read_note', true], ['notes/crash', false], ['notes/read_note', true], ['notes/write_note', true]]);
    await client.close();
  });

  it('the server process gets a minimal environment plus its own env, not the gateway\'s', async () => {
    const { token } = await gw.openSession({ agent: 'notes-agent', tools: ['notes/environment'] });
    const client = await mcpClient(gw, token);
    const result = await client.callTool({ name: 'environment', arguments: {} });
    const keys = JSON.parse((result.content as { text: string }[])[0]!.text) as string[];
    expect(keys).toContain('NOTES_MODE');
    expect(keys).toContain('PATH');
    expect(keys).not.toContain('TOLLGATE_TEST_SECRET');
    await client.close();
  });
});
