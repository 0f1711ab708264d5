// Prometheus /metrics: scraped after real calls through the gateway with the official `openai`
// client; every counter must have moved by exactly what those calls did.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startNotesServer, type NotesFixture } from '../fixtures/mcp/http-server.js';
import { mcpClient, notesConfig, rejection } from '../mcp/helpers.js';
import { parseMetrics, scrape, value, type Sample } from './helpers.js';

const TOKEN = 'metrics-scrape-token-0123';
let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway({ telemetry: { metrics: { enabled: true, token_env: 'TEST_METRICS_TOKEN' } } }, { TEST_METRICS_TOKEN: TOKEN });
});
afterAll(async () => {
  await gw?.close();
});

async function samples(): Promise<Sample[]> {
  const { status, text } = await scrape(gw, TOKEN);
  expect(status).toBe(200);
  return parseMetrics(text);
}

async function client(input: Record<string, unknown> = {}) {
  const { token, sessionId } = await gw.openSession(input);
  return { openai: new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 }), sessionId };
}

const series = { team: 'demo', profile: 'assistant' };

describe('/metrics', () => {
  it('is protected by the configured token (401 without it or with a wrong one, 200 with it)', async () => {
    const none = await scrape(gw);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(none.text).not.toContain('tollgate_');
    expect((await scrape(gw, 'metrics-scrape-token-0124')).status).toBe(401);
    expect((await scrape(gw, TOKEN.slice(0, -1))).status).toBe(401);
    const ok = await scrape(gw, TOKEN);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const post = await fetch(`${gw.url}/metrics`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(post.status).toBe(405);
  });

  it('labels each call with its own API: one model called on two APIs is two series', async () => {
    const before = await samples();
    const { openai } = await client();
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'chat' }] });
    await openai.responses.create({ model: 'gpt-4o-mini', input: 'responses' });
    await openai.responses.create({ model: 'gpt-4o-mini', input: 'responses again' });
    const after = await samples();
    const delta = (api: string) => value(after, 'tollgate_requests_total', { api, model: 'gpt-4o-mini', ...series, outcome: 'ok' }) - value(before, 'tollgate_requests_total', { api, model: 'gpt-4o-mini', ...series, outcome: 'ok' });
    expect(delta('openai.chat')).toBe(1);
    expect(delta('openai.responses')).toBe(2);
  });

  it('counts calls, tokens, cost and latency by exactly the calls made', async () => {
    const before = await samples();
    const { openai, sessionId } = await client();
    const messages = [{ role: 'user' as const, content: 'Count me in the metrics.' }];
    const a = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    const b = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 7 });
    const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } });
    let streamedUsage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) if (chunk.usage) streamedUsage = chunk.usage;
    const c = await openai.chat.completions.create({ model: 'gpt-4o', messages });
    const after = await samples();
    const delta = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before, name, labels);

    expect(delta('tollgate_requests_total', { api: 'openai.chat', model: 'gpt-4o-mini', ...series, outcome: 'ok' })).toBe(3);
    expect(delta('tollgate_requests_total', { api: 'openai.chat', model: 'gpt-4o', ...series, outcome: 'ok' })).toBe(1);
    const mini = [a.usage!, b.usage!, streamedUsage!];
    expect(delta('tollgate_tokens_total', { direction: 'input', model: 'gpt-4o-mini', ...series })).toBe(mini.reduce((n, u) => n + u.prompt_tokens, 0));
    expect(delta('tollgate_tokens_total', { direction: 'output', model: 'gpt-4o-mini', ...series })).toBe(mini.reduce((n, u) => n + u.completion_tokens, 0));
    expect(delta('tollgate_tokens_total', { direction: 'input', model: 'gpt-4o', ...series })).toBe(c.usage!.prompt_tokens);
    expect(delta('tollgate_tokens_total', { direction: 'output', model: 'gpt-4o', ...series })).toBe(c.usage!.completion_tokens);

    const session = await gw.session(sessionId);
    expect(session.spent.requests).toBe(4);
    const cost = delta('tollgate_cost_usd_total', { model: 'gpt-4o-mini', ...series }) + delta('tollgate_cost_usd_total', { model: 'gpt-4o', ...series });
    expect(cost).toBeGreaterThan(0);
    expect(cost).toBeCloseTo(session.spent.usd, 12);

    expect(delta('tollgate_request_duration_seconds_count', { api: 'openai.chat', model: 'gpt-4o-mini', stream: 'false' })).toBe(2);
    expect(delta('tollgate_request_duration_seconds_count', { api: 'openai.chat', model: 'gpt-4o-mini', stream: 'true' })).toBe(1);
    expect(delta('tollgate_upstream_ttfb_seconds_count', { api: 'openai.chat', model: 'gpt-4o-mini', stream: 'false' })).toBe(2);
    expect(delta('tollgate_upstream_ttfb_seconds_count', { api: 'openai.chat', model: 'gpt-4o', stream: 'false' })).toBe(1);
    const sum = delta('tollgate_request_duration_seconds_sum', { api: 'openai.chat', model: 'gpt-4o-mini', stream: 'false' });
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(10);
    // The bucket +Inf equals the count; a call is in some finite bucket too.
    expect(delta('tollgate_request_duration_seconds_bucket', { api: 'openai.chat', model: 'gpt-4o', stream: 'false', le: '+Inf' })).toBe(1);
    expect(delta('tollgate_request_duration_seconds_bucket', { api: 'openai.chat', model: 'gpt-4o', stream: 'false', le: '60' })).toBe(1);
  });

  it('counts refusals by code, team and profile (401, 402, 403)', async () => {
    const before = await samples();
    const poor = await client({ budget: { usd: 0.0000001 } });
    const e402 = await rejection(poor.openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'too dear' }] }));
    expect(e402.status).toBe(402);
    const narrow = await client({ models: ['gpt-4o-mini'] });
    const e403 = await rejection(narrow.openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'not mine' }] }));
    expect(e403.status).toBe(403);
    await rejection(narrow.openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'not mine again' }] }));
    const stranger = new OpenAI({ apiKey: 'not-a-token', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    expect((await rejection(stranger.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }))).status).toBe(401);
    const after = await samples();
    const delta = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before, name, labels);
    expect(delta('tollgate_denials_total', { code: 'budget_exceeded', ...series })).toBe(1);
    expect(delta('tollgate_denials_total', { code: e403.error?.code ?? e403.code, ...series })).toBe(2);
    expect(e403.code ?? e403.error?.code).toBe('model_not_allowed');
    expect(delta('tollgate_denials_total', { code: 'unauthenticated', team: 'none', profile: 'none' }) + delta('tollgate_denials_total', { code: 'invalid_token', team: 'none', profile: 'none' })).toBe(1);
    // Refused before the upstream: not a request that ran.
    expect(delta('tollgate_requests_total', { api: 'openai.chat', model: 'gpt-4o', ...series, outcome: 'ok' })).toBe(0);
  });

  it('carries no session, agent or request ids, and has the process metrics and the in-flight gauge', async () => {
    const { openai, sessionId } = await client();
    const { data, response } = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'ids?' }] }).withResponse();
    expect(data.usage).toBeDefined();
    const requestId = response.headers.get('x-request-id')!;
    const session = await gw.session(sessionId);
    const { text } = await scrape(gw, TOKEN);
    expect(text).toContain('tollgate_requests_total{');
    for (const id of [sessionId, session.agent.id, requestId, session.team.id]) expect(text).not.toContain(id);
    expect(text).not.toMatch(/\b(ses|agt|req|use)_[A-Za-z0-9]/);
    const s = parseMetrics(text);
    expect(s.some((x) => x.name === 'process_cpu_user_seconds_total')).toBe(true);
    expect(s.some((x) => x.name === 'nodejs_eventloop_lag_p99_seconds')).toBe(true);
    // The scrape itself is not a model call.
    expect(value(s, 'tollgate_requests_in_flight')).toBe(0);
    // SQLite's rows waiting for the session indexes kept in bulk, per table (the store's own count).
    const backlog = s.filter((x) => x.name === 'tollgate_session_index_backlog_rows');
    expect(backlog.map((x) => x.labels.table).sort()).toEqual(['audit_events', 'usage_records']);
    for (const x of backlog) expect(Number.isInteger(x.value) && x.value >= 0).toBe(true);
    // Only label values from the configuration.
    const labelled = s.filter((x) => x.name.startsWith('tollgate_') && x.labels.team !== undefined);
    expect(labelled.length).toBeGreaterThan(0);
    for (const x of labelled) expect(['demo', 'none']).toContain(x.labels.team);
  });

  it('is off by default (404), and a token_env naming an unset variable stops the start', async () => {
    const plain = await startGateway();
    try {
      const res = await scrape(plain);
      expect(res.status).toBe(404);
      expect(res.text).not.toContain('tollgate_');
    } finally {
      await plain.close();
    }
    await expect(startGateway({ telemetry: { metrics: { enabled: true, token_env: 'TEST_METRICS_TOKEN_UNSET' } } })).rejects.toThrow(/TEST_METRICS_TOKEN_UNSET/);
  });
});

describe('/metrics: calls in flight', () => {
  it('counts a stream while it runs, and not after', async () => {
    const slow = await startGateway({ providers: [{ name: 'sim', type: 'simulated', simulated: { tokens_per_second: 40, default_output_tokens: 32 } }], telemetry: { metrics: { enabled: true } } });
    try {
      const inFlight = async () => value(parseMetrics((await scrape(slow)).text), 'tollgate_requests_in_flight');
      const { token } = await slow.openSession();
      const openai = new OpenAI({ apiKey: token, baseURL: `${slow.url}/v1`, maxRetries: 0 });
      expect(await inFlight()).toBe(0);
      const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'slowly' }] });
      const it = stream[Symbol.asyncIterator]();
      await it.next();
      expect(await inFlight()).toBe(1);
      while (!(await it.next()).done);
      await new Promise((r) => setTimeout(r, 20));
      expect(await inFlight()).toBe(0);
    } finally {
      await slow.close();
    }
  });
});

describe('/metrics: MCP tool calls', () => {
  let notes: NotesFixture;
  let tg: TestGateway;
  beforeAll(async () => {
    notes = await startNotesServer();
    tg = await startGateway({ ...notesConfig([{ name: 'notes', url: notes.url }]), telemetry: { metrics: { enabled: true } } });
  });
  afterAll(async () => {
    await tg?.close();
    await notes?.close();
  });

  it('counts tool calls by server and outcome, refusals included (no token configured: open)', async () => {
    const text = async () => {
      const r = await scrape(tg);
      expect(r.status).toBe(200);
      return parseMetrics(r.text);
    };
    const before = await text();
    const { token } = await tg.openSession({ agent: 'notes-agent' });
    const mcp = await mcpClient(tg, token);
    await mcp.callTool({ name: 'read_note', arguments: { name: 'todo' } });
    await mcp.callTool({ name: 'read_note', arguments: { name: 'todo' } });
    expect((await rejection(mcp.callTool({ name: 'delete_note', arguments: { name: 'todo' } }))).code).toBe(-32003);
    await mcp.close();
    const after = await text();
    const delta = (labels: Record<string, string>) => value(after, 'tollgate_tool_calls_total', labels) - value(before, 'tollgate_tool_calls_total', labels);
    expect(delta({ server: 'notes', outcome: 'ok' })).toBe(2);
    expect(delta({ server: 'notes', outcome: 'denied' })).toBe(1);
    expect(delta({ server: 'notes', outcome: 'error' })).toBe(0);
  });
});
