// Shared by the MCP gateway tests: the config they start the gateway with, the SDK's client
// through the gateway, raw JSON-RPC over fetch, and audit events (polled: some are written
// without being awaited).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { TestGateway } from '../helpers/gateway.js';

/** Profiles and agents for the notes server: everything but deleting, one resource, one prompt. */
export function notesConfig(mcpServers: Record<string, unknown>[], extra: Record<string, unknown> = {}) {
  return {
    mcp_servers: mcpServers,
    profiles: [
      { name: 'notes-user', models: ['gpt-4o-mini'], tools: ['notes/*', '!notes/delete_*'], resources: ['notes/note://welcome', 'notes/note://{name}'], prompts: ['notes/summarize'] },
      { name: 'notes-admin', models: ['gpt-4o-mini'], tools: ['notes/*'], resources: ['notes/*'], prompts: ['notes/*'] },
    ],
    agents: [
      { name: 'notes-agent', team: 'demo', profile: 'notes-user' },
      { name: 'note-helper', team: 'demo', profile: 'notes-user' },
      { name: 'notes-admin', team: 'demo', profile: 'notes-admin' },
    ],
    ...extra,
  };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The SDK's own client, connected to `/mcp/{server}` with a session token. */
export async function mcpClient(gw: TestGateway, token: string, server = 'notes'): Promise<Client> {
  const client = new Client({ name: 'tollgate-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/${server}`), { requestInit: { headers: bearer(token) } }));
  return client;
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** A raw POST to `/mcp/{server}`: status, headers and parsed body. */
export async function post(gw: TestGateway, server: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${gw.url}/mcp/${server}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** Audit events matching `query` (admin API), waiting up to a second for `count` of them. */
export async function events(gw: TestGateway, query: Record<string, string>, count = 1, where: (e: any) => boolean = () => true): Promise<any[]> {
  const qs = new URLSearchParams({ limit: '200', ...query }).toString();
  let found: any[] = [];
  for (let i = 0; i < 20; i++) {
    found = (await gw.admin('GET', `/admin/v1/audit/events?${qs}`)).body.data.filter(where);
    if (found.length >= count) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  return found;
}
