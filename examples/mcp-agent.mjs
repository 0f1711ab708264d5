// An agent using MCP tools through the gateway: the official MCP client over Streamable HTTP to
// /mcp/notes (the built-in notes server of the default config), with the agent's session token.
// The server never sees that token; the gateway judges every call and records it.
//   node examples/mcp-agent.mjs
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Tollgate } from 'tollgate/sdk';
import { credentialsFor, url } from './_operator.mjs';

const tollgate = new Tollgate({ baseUrl: url, ...(await credentialsFor('demo-agent')) });
// The session may read and write notes, never delete them.
const session = await tollgate.openSession({ task: 'tidy my notes', tools: ['notes/*', '!notes/delete_*'] });
const mcp = new Client({ name: 'example-agent', version: '1.0.0' });
await mcp.connect(await session.mcpTransport('notes'));

console.log('tools in scope:', (await mcp.listTools()).tools.map((t) => t.name).join(', '));
await mcp.callTool({ name: 'write_note', arguments: { name: 'plan', content: 'ship the report on friday' } });
const read = await mcp.callTool({ name: 'read_note', arguments: { name: 'plan' } });
console.log('read_note:', read.content[0].text);
const refused = await mcp.callTool({ name: 'delete_note', arguments: { name: 'plan' } }).catch((err) => err);
console.log(`delete_note: refused (${refused.code})`);

await mcp.close();
await session.close();
