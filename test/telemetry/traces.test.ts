// OpenTelemetry traces: a local OTLP/HTTP receiver gets the spans of real calls (a model call
// with the official `openai` client, a refused one, MCP tool calls), with the GenAI attributes.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNotesServer, type NotesFixture } from '../fixtures/mcp/http-server.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { mcpClient, notesConfig, rejection } from '../mcp/helpers.js';

interface Span {
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  status?: { code?: number; message?: string };
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}

type OtlpValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
const plain = (v: OtlpValue): unknown => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.doubleValue ?? v.boolValue;
const attrs = (list: { key: string; value: OtlpValue }[] = []) => Object.fromEntries(list.map((a) => [a.key, plain(a.value)]));

let receiver: Server;
const received: { headers: IncomingHttpHeaders; path: string; spans: Span[] }[] = [];
let notes: NotesFixture;
let gw: TestGateway;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const spans: Span[] = [];
      for (const rs of body.resourceSpans ?? []) {
        for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) spans.push({ ...s, attributes: attrs(s.attributes), resource: attrs(rs.resource?.attributes) });
      }
      received.push({ headers: req.headers, path: req.url ?? '', spans });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  notes = await startNotesServer();
  gw = await startGateway(
    { ...notesConfig([{ name: 'notes', url: notes.url }]), telemetry: { otlp: { endpoint, headers: { 'x-tenant': 'acme' }, headers_env: { authorization: 'TEST_OTLP_AUTH' }, service_name: 'tollgate-test' } } },
    { TEST_OTLP_AUTH: 'Bearer otlp-secret' },
  );
});
afterAll(async () => {
  await gw?.close();
  await notes?.close();
  await new Promise((r) => receiver?.close(r));
});

const spans = () => received.flatMap((r) => r.spans);

describe('OTLP traces', () => {
  it('exports a GenAI span per model call, refusals as errors, and a span per MCP tool call', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'notes-agent' });
    const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const completion = await openai.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user', content: 'Trace me.' }] });
    const refused = await rejection(openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'not in my profile' }] }));
    expect(refused.status).toBe(403);
    const mcp = await mcpClient(gw, token);
    await mcp.callTool({ name: 'read_note', arguments: { name: 'todo' } });
    await rejection(mcp.callTool({ name: 'delete_note', arguments: { name: 'todo' } }));
    await mcp.close();
    // A token whose session has ended: refused before anything is parsed, still labelled with it.
    const ended = await gw.openSession({ agent: 'notes-agent' });
    await gw.admin('POST', `/admin/v1/sessions/${ended.sessionId}/close`, {});
    const inactive = await rejection(new OpenAI({ apiKey: ended.token, baseURL: `${gw.url}/v1`, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }));
    expect(inactive.status).toBe(401);
    // Nothing is exported before the batch is due or flushed.
    await gw.gateway.telemetry.flush();

    expect(received.length).toBeGreaterThan(0);
    for (const r of received) {
      expect(r.path).toBe('/v1/traces');
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      expect(r.headers['x-tenant']).toBe('acme');
      expect(r.headers.authorization).toBe('Bearer otlp-secret');
    }
    const session = await gw.session(sessionId);
    const chat = spans().filter((s) => s.name === 'chat gpt-4o-mini');
    expect(chat).toHaveLength(1);
    const span = chat[0]!;
    expect(span.resource['service.name']).toBe('tollgate-test');
    expect(span.kind).toBe(3); // CLIENT
    expect(span.status?.code ?? 0).toBe(0);
    expect(span.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'tollgate.simulated',
      'gen_ai.system': 'tollgate.simulated',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini',
      'gen_ai.request.max_tokens': 20,
      'gen_ai.usage.input_tokens': completion.usage!.prompt_tokens,
      'gen_ai.usage.output_tokens': completion.usage!.completion_tokens,
      'tollgate.agent.id': session.agent.id,
      'tollgate.session.id': sessionId,
      'tollgate.team': 'demo',
      'tollgate.profile': 'notes-user',
      'tollgate.outcome': 'ok',
    });
    expect(span.attributes['tollgate.cost_usd']).toBeGreaterThan(0);
    expect(span.attributes['tollgate.cost_usd']).toBeCloseTo(session.spent.usd, 12);
    expect(BigInt(span.endTimeUnixNano)).toBeGreaterThan(BigInt(span.startTimeUnixNano));

    const denied = spans().filter((s) => s.name === 'chat gpt-4o');
    expect(denied).toHaveLength(1);
    expect(denied[0]!.status?.code).toBe(2); // ERROR
    expect(denied[0]!.attributes).toMatchObject({ 'error.type': 'model_not_allowed', 'http.response.status_code': 403, 'tollgate.session.id': sessionId, 'tollgate.team': 'demo', 'tollgate.request.id': refused.requestID });
    const refusedInactive = spans().filter((s) => s.attributes['error.type'] === 'session_inactive');
    expect(refusedInactive).toHaveLength(1);
    expect(refusedInactive[0]!.attributes).toMatchObject({ 'tollgate.session.id': ended.sessionId, 'tollgate.team': 'demo', 'tollgate.profile': 'notes-user', 'tollgate.request.id': inactive.requestID });

    const tool = spans().filter((s) => s.name === 'execute_tool read_note');
    expect(tool).toHaveLength(1);
    expect(tool[0]!.status?.code ?? 0).toBe(0);
    expect(tool[0]!.attributes).toMatchObject({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'read_note', 'tollgate.mcp.server': 'notes', 'tollgate.session.id': sessionId, 'tollgate.agent.id': session.agent.id, 'tollgate.team': 'demo' });
    const toolDenied = spans().filter((s) => s.name === 'execute_tool delete_note');
    expect(toolDenied).toHaveLength(1);
    expect(toolDenied[0]!.status?.code).toBe(2);
    expect(toolDenied[0]!.attributes['error.type']).toBe('tool_not_allowed');
    // Metrics are not on in this gateway.
    expect((await fetch(`${gw.url}/metrics`)).status).toBe(404);
  });
});
