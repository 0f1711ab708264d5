// Content logging (docs/audit.md#content-logging): off, hash and full modes per profile, through
// the gateway with the official `openai` client; redaction; retention purge leaves the chain intact.
import { createHash } from 'node:crypto';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyAudit } from '../../src/audit/index.js';
import { ContentLog, modelOutput, redact, redactionPatterns } from '../../src/audit/content.js';
import type { ContentRecord, Store } from '../../src/store/index.js';
import { startNotesServer } from '../fixtures/mcp/http-server.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { mcpClient } from '../mcp/helpers.js';

const sha = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const DAY = 86_400_000;

const SECRET_KEY = 'sk-live-abc123def456ghi789';
const EMAIL = 'jane.doe@example.com';
const CARD = '4111 1111 1111 1111';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

async function gatewayWith(contentLogging: Record<string, unknown> | undefined, now?: () => number) {
  gw = await startGateway({ profiles: [{ name: 'assistant', models: ['gpt-4o-mini'], ...(contentLogging ? { content_logging: contentLogging } : {}) }] }, {}, now);
  const { token, sessionId } = await gw.openSession();
  return { gw, sessionId, openai: new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 }) };
}

async function contentOf(g: TestGateway, query: string) {
  const res = await g.admin('GET', `/admin/v1/audit/content?${query}`);
  expect(res.status).toBe(200);
  return res.body.data as { kind: string; sha256: string; body: string | null; redactions: number; request_id: string; session_id: string }[];
}

describe('content logging', () => {
  it('off (the default) stores nothing', async () => {
    const { gw: g, sessionId, openai } = await gatewayWith(undefined);
    const { response } = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }).withResponse();
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    expect(await contentOf(g, `session=${sessionId}`)).toEqual([]);
    expect(await g.gateway.store.listContent({})).toEqual([]);
    expect((await g.admin('GET', '/admin/v1/profiles/assistant')).body.content_logging).toEqual({ mode: 'off', retention_days: 30 });
  });

  it('hash stores the SHA-256 of the prompt and of the output, and no body', async () => {
    const { gw: g, sessionId, openai } = await gatewayWith({ mode: 'hash' });
    const messages = [{ role: 'user' as const, content: `Remember ${SECRET_KEY} please.` }];
    const { data, response } = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
    const requestId = response.headers.get('x-request-id')!;
    const rows = await contentOf(g, `request=${requestId}`);
    expect(rows.map((r) => r.kind).sort()).toEqual(['output', 'prompt']);
    const byKind = Object.fromEntries(rows.map((r) => [r.kind, r]));
    expect(byKind.prompt!.sha256).toBe(sha(JSON.stringify({ messages })));
    const output = data.choices[0]!.message.content!;
    expect(output.length).toBeGreaterThan(0);
    expect(byKind.output!.sha256).toBe(sha(output));
    for (const r of rows) {
      expect(r.body).toBeNull();
      expect(r.session_id).toBe(sessionId);
      expect(r.redactions).toBe(0);
    }

    // Streamed: the output is what the client received.
    const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true }).withResponse();
    let streamed = '';
    for await (const chunk of stream.data) streamed += chunk.choices[0]?.delta?.content ?? '';
    expect(streamed.length).toBeGreaterThan(0);
    const streamRows = await contentOf(g, `request=${stream.response.headers.get('x-request-id')!}`);
    expect(streamRows.find((r) => r.kind === 'output')!.sha256).toBe(sha(streamed));
    expect(await contentOf(g, `session=${sessionId}`)).toHaveLength(4);
  });

  it('a large prompt (its record made while the call is upstream) is hashed and fingerprinted the same way', async () => {
    const { gw: g, openai } = await gatewayWith({ mode: 'hash' });
    // Over 16 KiB: the prompt's record is made after the request leaves, not in settle.
    const messages = [{ role: 'user' as const, content: `Summarise:\n${'A long  document line, with  "quotes" and\ttabs.\n'.repeat(800)}` }];
    const plain = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
    const streamed = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true }).withResponse();
    for await (const chunk of streamed.data) void chunk;
    const requestIds = [plain.response.headers.get('x-request-id')!, streamed.response.headers.get('x-request-id')!];
    for (const id of requestIds) {
      const prompt = (await contentOf(g, `request=${id}`)).find((r) => r.kind === 'prompt')!;
      expect(prompt.sha256).toBe(sha(JSON.stringify({ messages })));
    }
    const events = (await g.admin('GET', '/admin/v1/audit/events?type=model.call')).body.data as { request_id: string; data: { prompt_fp?: string } }[];
    const fingerprints = requestIds.map((id) => events.find((e) => e.request_id === id)!.data.prompt_fp);
    expect(fingerprints[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(fingerprints[1]).toBe(fingerprints[0]);
  });

  it('full stores redacted bodies, hashed over the unredacted text', async () => {
    const { gw: g, openai } = await gatewayWith({ mode: 'full', retention_days: 7 });
    const messages = [
      { role: 'system' as const, content: 'You are terse.' },
      { role: 'user' as const, content: `My key is ${SECRET_KEY}, mail me at ${EMAIL}, card ${CARD}.` },
    ];
    const { data, response } = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
    const rows = await contentOf(g, `request=${response.headers.get('x-request-id')!}`);
    const prompt = rows.find((r) => r.kind === 'prompt')!;
    const text = JSON.stringify({ messages });
    expect(prompt.sha256).toBe(sha(text));
    expect(prompt.body).toBe(text.replace(SECRET_KEY, '[REDACTED:api_key]').replace(EMAIL, '[REDACTED:email]').replace(CARD, '[REDACTED:card_number]'));
    expect(prompt.body).not.toContain('abc123');
    expect(prompt.redactions).toBe(3);
    const output = rows.find((r) => r.kind === 'output')!;
    expect(output.sha256).toBe(sha(data.choices[0]!.message.content!));
    expect(output.body).toBe(redact(data.choices[0]!.message.content!, redactionPatterns()).text);
    expect((await g.admin('GET', '/admin/v1/profiles/assistant')).body.content_logging).toEqual({ mode: 'full', retention_days: 7 });
  });

  it('purges by retention in the minute upkeep, and the audit chain still verifies', async () => {
    let clock = Date.now();
    const { gw: g, openai } = await gatewayWith({ mode: 'hash', retention_days: 2 }, () => clock);
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'first' }] });
    clock += DAY;
    // A new session (the first one's token has expired by now).
    const second = await g.openSession();
    await new OpenAI({ apiKey: second.token, baseURL: `${g.url}/v1`, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'second' }] });
    expect(await contentOf(g, 'limit=100')).toHaveLength(4);
    const events = (await g.gateway.store.chainHead()).lastSeq;
    expect(events).toBeGreaterThan(0);

    // 1.5 days after the second call: the first call's rows are past 2 days, the second's are not.
    clock += DAY * 1.5;
    await g.gateway.runMaintenance();
    const left = await contentOf(g, 'limit=100');
    expect(left).toHaveLength(2);
    expect(left.every((r) => r.session_id === second.sessionId)).toBe(true);
    expect(left.find((r) => r.kind === 'prompt')!.sha256).toBe(sha(JSON.stringify({ messages: [{ role: 'user', content: 'second' }] })));
    clock += DAY;
    await g.gateway.runMaintenance();
    expect(await contentOf(g, 'limit=100')).toEqual([]);

    // No event was removed; the chain verifies (by the gateway, and directly on the store).
    const after = await g.gateway.store.chainHead();
    expect((await g.gateway.store.readChain(0, 10_000)).length).toBeGreaterThanOrEqual(events);
    const verified = await g.admin('GET', '/admin/v1/audit/verify');
    expect(verified.body).toMatchObject({ ok: true, events: after.lastSeq - after.firstSeq + 1 });
    expect(await verifyAudit(g.gateway.store, { key: async () => undefined })).toMatchObject({ ok: true, events: after.lastSeq - after.firstSeq + 1 });
  });
});

describe('content logging of answers without text, and of tool calls', () => {
  it('an embeddings call keeps its input as the prompt, and no output (it answers vectors, not text)', async () => {
    gw = await startGateway({ profiles: [{ name: 'assistant', models: ['text-embedding-3-small'], content_logging: { mode: 'full' } }] });
    const { token } = await gw.openSession();
    const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const { response } = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'embed me' }).withResponse();
    const rows = await contentOf(gw, `request=${response.headers.get('x-request-id')!}`);
    expect(rows.map((r) => [r.kind, r.body])).toEqual([['prompt', JSON.stringify({ input: 'embed me' })]]);
  });

  it('a model answer calling tools through the gateway is kept naming them (the official client, end to end)', async () => {
    gw = await startGateway({ profiles: [{ name: 'assistant', models: ['gpt-4o-mini'], tools: ['get_weather', 'send_mail'], content_logging: { mode: 'full' } }] });
    const { token } = await gw.openSession();
    const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const tools = ['get_weather', 'send_mail'].map((name) => ({ type: 'function' as const, function: { name, parameters: { type: 'object', properties: {} } } }));
    const { data, response } = await openai.chat.completions.create({ model: 'gpt-4o-mini', tools, messages: [{ role: 'user', content: 'weather, then mail [[sim:tool_call=get_weather,send_mail]]' }] }).withResponse();
    expect(data.choices[0]!.message.tool_calls?.map((c) => (c as { function: { name: string } }).function.name)).toEqual(['get_weather', 'send_mail']);
    const rows = await contentOf(gw, `request=${response.headers.get('x-request-id')!}`);
    const output = rows.find((r) => r.kind === 'output')!;
    expect(JSON.parse(output.body!)).toMatchObject({ tool_calls: ['get_weather', 'send_mail'] });
    expect(output.sha256).toBe(sha(output.body!));
  });

  it('the output of an answer that called tools names them, with the text (arguments) it carried', async () => {
    const rows: ContentRecord[] = [];
    const log = new ContentLog({ appendContent: async (r: ContentRecord[]) => void rows.push(...r) } as unknown as Store);
    const owner = { requestId: 'req_1', sessionId: 'ses_1', agentId: 'agt_1' };
    const args = `{"city":"Paris","mail":"${EMAIL}"}`;
    await log.record({ mode: 'full', retentionDays: 30 }, owner, [['prompt', '{"messages":[]}'], ['output', args]], ['get_weather', 'send_mail']);
    await log.record({ mode: 'hash', retentionDays: 30 }, { ...owner, requestId: 'req_2' }, [['prompt', '{}'], ['output', '']], ['get_weather']);
    await log.record({ mode: 'hash', retentionDays: 30 }, { ...owner, requestId: 'req_3' }, [['prompt', '{}'], ['output', 'plain answer']], []);
    const output = (requestId: string) => rows.find((r) => r.requestId === requestId && r.kind === 'output');
    const kept = JSON.stringify({ tool_calls: ['get_weather', 'send_mail'], text: args });
    expect(output('req_1')).toMatchObject({ sha256: sha(kept), body: kept.replace(EMAIL, '[REDACTED:email]'), redactions: 1 });
    expect(JSON.parse(output('req_1')!.body!)).toMatchObject({ tool_calls: ['get_weather', 'send_mail'] });
    // A call with no text (only the tool's name): still kept. A plain answer: its text, as before.
    expect(output('req_2')).toMatchObject({ sha256: sha(JSON.stringify({ tool_calls: ['get_weather'], text: '' })), body: null });
    expect(output('req_3')).toMatchObject({ sha256: sha('plain answer') });
    expect(modelOutput('', [])).toBeNull();
  });
});

describe('content logging of MCP tool calls', () => {
  it('full stores the redacted arguments and result of a tool call, hashed unredacted', async () => {
    const notes = await startNotesServer();
    try {
      gw = await startGateway({
        mcp_servers: [{ name: 'notes', url: notes.url, timeout_ms: 5000 }],
        profiles: [{ name: 'assistant', models: ['gpt-4o-mini'], tools: ['notes/*'], content_logging: { mode: 'full' } }],
      });
      const { token, sessionId } = await gw.openSession();
      const client = await mcpClient(gw, token);
      const args = { name: 'n1', content: `token ${SECRET_KEY} for ${EMAIL}` };
      const result = await client.callTool({ name: 'write_note', arguments: args });
      await client.close();
      expect(notes.calls.some((c) => c.tool === 'write_note')).toBe(true);
      const rows = await contentOf(gw, `session=${sessionId}`);
      const argRow = rows.find((r) => r.kind === 'tool_arguments')!;
      expect(argRow.sha256).toBe(sha(JSON.stringify(args)));
      expect(argRow.body).toBe(JSON.stringify({ name: 'n1', content: 'token [REDACTED:api_key] for [REDACTED:email]' }));
      expect(argRow.redactions).toBe(2);
      const resultRow = rows.find((r) => r.kind === 'tool_result')!;
      expect(resultRow.body).toContain('saved n1');
      expect(resultRow.redactions).toBe(0);
      expect(resultRow.sha256).toBe(sha(resultRow.body!));
      expect((result.content as { text: string }[])[0]!.text).toBe('saved n1');
    } finally {
      await notes.close();
    }
  });
});

describe('redaction', () => {
  const patterns = redactionPatterns();
  it.each([
    ['sk-ant-api03-abcdefghijkl', 'anthropic_key'],
    ['sk-proj-abcdefghijkl', 'api_key'],
    ['tgs_cred_abcdefghijkl', 'tollgate_credential'],
    ['tga_abcdefghijkl', 'tollgate_token'],
    ['AKIAABCDEFGHIJKLMNOP', 'aws_key'],
    ['ghp_abcdefghijklmnopqrstuvwxyz0123', 'github_token'],
    ['eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl', 'jwt'],
    ['Bearer abcdefghijklmnopqrstuvwx', 'bearer'],
    ['bob+x@mail.example.org', 'email'],
    ['4111-1111-1111-1111', 'card_number'],
    ['371449635398431', 'card_number'],
    ['123-45-6789', 'us_ssn'],
  ])('redacts %s as %s', (secret, name) => {
    expect(redact(`before ${secret} after`, patterns)).toEqual({ text: `before [REDACTED:${name}] after`, count: 1 });
  });

  it('leaves ordinary text alone, applies configured patterns, and caps the size', () => {
    expect(redact('call 555-1234 at 10:30, order #12345', patterns)).toEqual({ text: 'call 555-1234 at 10:30, order #12345', count: 0 });
    const custom = redactionPatterns({ defaults: false, patterns: [{ name: 'ticket', regex: 'TICKET-[0-9]{3}' }] });
    expect(redact('TICKET-123 and jane@example.com', custom)).toEqual({ text: '[REDACTED:ticket] and jane@example.com', count: 1 });
    expect(redact(`${'a'.repeat(20)} 123-45-6789`, patterns, 10)).toEqual({ text: `${'a'.repeat(10)}[TRUNCATED]`, count: 0 });
    // Linear on adversarial input: a long run that almost matches finishes at once.
    const started = performance.now();
    redact(`${'a.'.repeat(100_000)}@`, patterns);
    redact('1'.repeat(200_000), patterns);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
