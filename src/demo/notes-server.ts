// The built-in demo MCP server (`mcp_servers: [{ name: notes, builtin: notes }]`): a small notes
// store over stdio, launched by the gateway like any stdio server. Like the simulated provider it
// is a documented part of the product, so the quick start, the examples and `tollgate demo` can
// call real MCP tools with nothing else installed. Notes live in memory, per process.
import { pathToFileURL } from 'node:url';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

export function createDemoNotesServer(): McpServer {
  const notes = new Map<string, string>([['welcome', 'Welcome to Tollgate. Every call to this server went through the gateway.'], ['todo', 'review the budget report']]);
  const server = new McpServer({ name: 'tollgate-demo-notes', version: '1.0.0' }, { instructions: 'A notes store: list, read, search, write and delete notes.' });
  const text = (t: string, isError = false) => ({ content: [{ type: 'text' as const, text: t }], ...(isError ? { isError } : {}) });
  server.registerTool('list_notes', { description: 'List note names', annotations: { readOnlyHint: true } }, () => text([...notes.keys()].join('\n')));
  server.registerTool('read_note', { description: 'Read a note', inputSchema: { name: z.string() }, annotations: { readOnlyHint: true } }, ({ name }) => {
    const note = notes.get(name);
    return note === undefined ? text(`no note "${name}"`, true) : text(note);
  });
  server.registerTool('search_notes', { description: 'Names of notes containing a word', inputSchema: { word: z.string() }, annotations: { readOnlyHint: true } }, ({ word }) =>
    text([...notes].filter(([, body]) => body.toLowerCase().includes(word.toLowerCase())).map(([n]) => n).join('\n')));
  server.registerTool('write_note', { description: 'Write a note', inputSchema: { name: z.string(), content: z.string() } }, ({ name, content }) => {
    notes.set(name, content);
    return text(`saved ${name}`);
  });
  server.registerTool('delete_note', { description: 'Delete a note', inputSchema: { name: z.string() }, annotations: { destructiveHint: true } }, ({ name }) => {
    return notes.delete(name) ? text(`deleted ${name}`) : text(`no note "${name}"`, true);
  });
  server.registerResource('welcome', 'note://welcome', { mimeType: 'text/plain' }, (uri) => ({ contents: [{ uri: uri.href, text: notes.get('welcome') ?? '' }] }));
  return server;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await createDemoNotesServer().connect(new StdioServerTransport());
}
