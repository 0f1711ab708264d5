// Authorization bypass attempts on the data plane: look-alike model and tool names, tools
// smuggled through other fields or duplicate keys, prototype-pollution payloads, header
// injection. Each case is refused (or made harmless), and the upstream — a simulated provider in
// its own server — receives only what the gateway judged, never a client credential.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulatedProvider, type SimulatedProvider } from '../../src/providers/simulated/index.js';
import { ADMIN_TOKEN, startGateway, type TestGateway } from '../helpers/gateway.js';
import { HOSTILE_ENV, startHostileUpstream, type HostileUpstream } from '../helpers/hostile-upstream.js';

const KEY = 'sk-bypass-upstream-key';
let sim: SimulatedProvider;
let hostile: HostileUpstream;
let gw: TestGateway;
let token: string;

beforeAll(async () => {
  sim = await createSimulatedProvider({ apiKey: KEY });
  hostile = await startHostileUpstream();
  gw = await startGateway({
    providers: [
      { name: 'oai', type: 'openai', base_url: `${sim.url}/v1`, api_key_env: 'BYPASS_KEY' },
      { name: 'ant', type: 'anthropic', base_url: sim.url, api_key_env: 'BYPASS_KEY' },
      { name: 'hostile', type: 'openai', base_url: `${hostile.url}/v1`, api_key_env: 'HOSTILE_KEY' },
    ],
    models: [
      { name: 'gpt-4o-mini', provider: 'oai', price: { input: 0.15, output: 0.6 } },
      { name: 'gpt-4o', provider: 'oai', price: { input: 2.5, output: 10 } },
      { name: 'claude-3-5-haiku-latest', provider: 'ant', price: { input: 0.8, output: 4 } },
      { name: 'hostile-model', provider: 'hostile', price: { input: 1, output: 1 } },
    ],
    mcp_servers: [],
    profiles: [{ name: 'assistant', models: ['gpt-4o-mini', 'gpt-4o', 'claude-3-5-haiku-latest', 'hostile-model'], tools: ['*', '!danger_*'] }],
  }, { BYPASS_KEY: KEY, ...HOSTILE_ENV });
  // The session may use every model but gpt-4o.
  token = (await gw.openSession({ models: ['gpt-4o-mini', 'claude-3-5-haiku-latest', 'hostile-model'] })).token;
});
afterAll(async () => {
  await gw.close();
  await sim.close();
  await hostile.close();
});

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(gw.url + path, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  expect(text).not.toMatch(/\n\s+at /);
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

const messages = '[{"role":"user","content":"hi"}]';
const upstreamCalls = () => sim.requests.filter((r) => r.method === 'POST').length;
const fn = (name: string) => ({ type: 'function', function: { name, parameters: { type: 'object', properties: {} } } });

describe('model names', () => {
  const tricks: [string, unknown, number][] = [
    ['upper case', 'GPT-4o-mini', 404],
    ['leading space', ' gpt-4o-mini', 404],
    ['trailing newline', 'gpt-4o-mini\n', 404],
    ['NUL suffix', 'gpt-4o-mini\u0000', 404],
    ['zero-width space', 'gpt-4o-mini\u200b', 404],
    ['Cyrillic look-alike', 'g\u0440t-4o-mini', 404],
    ['fullwidth letters', '\uff47\uff50\uff54-4o-mini', 404],
    ['unicode hyphen', 'gpt\u20104o\u2010mini', 404],
    ['NFD-decomposable look-alike', 'gpt-4o-mini\u0301', 404],
    ['path trick', 'gpt-4o-mini/../gpt-4o', 404],
    ['glob', 'gpt-4o*', 404],
    ['prototype key', '__proto__', 404],
    ['inherited key', 'constructor', 404],
    ['a model outside the session scope', 'gpt-4o', 403],
    ['an array', ['gpt-4o-mini'], 400],
    ['an object', { name: 'gpt-4o-mini' }, 400],
  ];
  it.each(tricks)('%s is refused before the upstream', async (_name, model, status) => {
    const before = upstreamCalls();
    const res = await post('/v1/chat/completions', JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }));
    expect(res.status).toBe(status);
    expect(upstreamCalls()).toBe(before);
  });

  it('a duplicate "model" key: the upstream receives the model the gateway authorized, and only it', async () => {
    const allowed = await post('/v1/chat/completions', `{"model":"gpt-4o","model":"gpt-4o-mini","messages":${messages}}`);
    expect(allowed.status).toBe(200);
    expect((sim.requests.at(-1)!.body as { model: string }).model).toBe('gpt-4o-mini');
    const before = upstreamCalls();
    expect((await post('/v1/chat/completions', `{"model":"gpt-4o-mini","model":"gpt-4o","messages":${messages}}`)).status).toBe(403);
    expect(upstreamCalls()).toBe(before);
  });
});

describe('tool names', () => {
  const names = [
    'danger_zone', 'danger_zone ', ' danger_zone', 'safe/../danger_zone', '../danger_zone', 'notes/danger_zone', 'danger_zone\u200b',
    'd\u0430nger_zone', 'danger_zone\n', 'danger_zone\u0000', '', 'a'.repeat(129), '*', 'danger_*',
  ];
  it.each(names.map((n) => [JSON.stringify(n).slice(0, 40), n]))('offered tool %s is refused with 403 before the upstream', async (_label, name) => {
    const before = upstreamCalls();
    const res = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], tools: [fn(name), fn('safe_tool')] }));
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('tool_not_allowed');
    expect(upstreamCalls()).toBe(before);
  });

  it('the same names on the Anthropic API and as deprecated functions', async () => {
    const before = upstreamCalls();
    for (const name of ['danger_zone', 'safe/../danger_zone', 'd\u0430nger_zone']) {
      const anthropic = await post('/v1/messages', JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], tools: [{ name, input_schema: { type: 'object' } }] }));
      expect(anthropic.status).toBe(403);
      const functions = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], functions: [{ name, parameters: {} }] }));
      expect(functions.status).toBe(403);
    }
    expect(upstreamCalls()).toBe(before);
  });
});

describe('smuggled tools', () => {
  it('duplicate "tools" keys: the last one is judged, and it is the one the upstream receives', async () => {
    const before = upstreamCalls();
    const refused = await post('/v1/chat/completions', `{"model":"gpt-4o-mini","messages":${messages},"tools":[${JSON.stringify(fn('safe_tool'))}],"tools":[${JSON.stringify(fn('danger_zone'))}]}`);
    expect(refused.status).toBe(403);
    expect(upstreamCalls()).toBe(before);
    const allowed = await post('/v1/chat/completions', `{"model":"gpt-4o-mini","messages":${messages},"tools":[${JSON.stringify(fn('danger_zone'))}],"tools":[${JSON.stringify(fn('safe_tool'))}]}`);
    expect(allowed.status).toBe(200);
    const sent = JSON.stringify(sim.requests.at(-1)!.body);
    expect(sent).not.toContain('danger_zone');
  });

  it('a tool named in tool_choice, in web_search_options or in a nested function object is judged too', async () => {
    const before = upstreamCalls();
    const forced = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], tools: [fn('danger_zone')], tool_choice: { type: 'function', function: { name: 'danger_zone' } } }));
    expect(forced.status).toBe(403);
    const custom = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'custom', custom: { name: 'danger_zone' } }] }));
    expect(custom.status).toBe(403);
    const responsesMcp = await post('/v1/responses', JSON.stringify({ model: 'gpt-4o-mini', input: 'hi', tools: [{ type: 'mcp', server_label: 'x', server_url: 'https://example.invalid/mcp' }] }));
    expect(responsesMcp.status).toBe(403);
    const anthropicMcp = await post('/v1/messages', JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], mcp_servers: [{ type: 'url', url: 'https://example.invalid/mcp', name: 'x' }] }));
    expect(anthropicMcp.status).toBe(403);
    expect(upstreamCalls()).toBe(before);
  });

  it('regression: a streamed tool call whose JSON keys are \\u-escaped is still judged and blocked', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'hostile-model', stream: true, messages: [{ role: 'user', content: '[[hostile:escaped-tool]]' }], tools: [fn('safe_tool')] }),
    });
    expect(res.status).toBe(200);
    // The gateway's answer: an error event naming the blocked tool, never the call itself.
    const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)) as Record<string, any>);
    expect(events.some((e) => e.choices?.some((c: any) => c.delta?.tool_calls))).toBe(false);
    expect(events.at(-1)!.error).toMatchObject({ code: 'tool_not_allowed', tool: 'danger_zone', blocked: 'returned_tool_call' });
  });
});

describe('prototype pollution', () => {
  const payloads = [
    `{"model":"gpt-4o-mini","messages":${messages},"__proto__":{"polluted":"body","model":"gpt-4o"}}`,
    `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi","__proto__":{"polluted":"message"}}]}`,
    `{"model":"gpt-4o-mini","messages":${messages},"tools":[{"type":"function","function":{"name":"safe_tool","__proto__":{"polluted":"tool","name":"danger_zone"}}}]}`,
    `{"model":"gpt-4o-mini","messages":${messages},"constructor":{"prototype":{"polluted":"constructor"}}}`,
    `{"model":"gpt-4o-mini","messages":${messages},"stream":true,"stream_options":{"__proto__":{"polluted":"options","include_usage":true}}}`,
  ];
  it.each(payloads.map((p, i) => [i, p]))('payload %i pollutes nothing and is judged on its own keys', async (_i, payload) => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: payload });
    expect([200, 400, 403]).toContain(res.status);
    await res.text();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    if (res.status === 200) expect((sim.requests.at(-1)!.body as { model: string }).model).toBe('gpt-4o-mini');
  });

  it('on the admin API, the token endpoint and MCP as well', async () => {
    const admin = await fetch(`${gw.url}/admin/v1/sessions`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: '{"agent":"demo-agent","task":"x","__proto__":{"polluted":"admin","budget":{"usd":100000}}}',
    });
    expect(admin.status).toBe(400); // unknown keys are refused
    const form = await fetch(`${gw.url}/oauth/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '__proto__[polluted]=form&grant_type=client_credentials&constructor[prototype][polluted]=form',
    });
    expect(form.status).toBeGreaterThanOrEqual(400);
    expect(form.status).toBeLessThan(500);
    const mcp = await fetch(`${gw.url}/mcp/none`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"__proto__":{"polluted":"mcp"}}}',
    });
    expect(mcp.status).toBeLessThan(500);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('headers', () => {
  it('client credentials and stray auth headers never reach the upstream; only the gateway key does', async () => {
    const res = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }), {
      'x-api-key': 'sk-client-supplied', 'api-key': 'sk-client-azure', 'openai-organization': 'org-evil', cookie: 'a=b', 'x-forwarded-for': '10.0.0.1',
    });
    expect(res.status).toBe(200);
    const seen = sim.requests.at(-1)!.headers;
    expect(seen.authorization).toBe(`Bearer ${KEY}`);
    const all = JSON.stringify(seen);
    for (const leaked of [token, 'sk-client-supplied', 'sk-client-azure', 'org-evil', 'a=b']) expect(all).not.toContain(leaked);
  });

  it('an x-request-id that is not a plain id is not echoed; a Host header is not reflected into metadata', async () => {
    const res = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }), { 'x-request-id': 'abc"<script>' });
    expect(res.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
    const text = await new Promise<string>((resolve) => {
      const s = connect(Number(new URL(gw.url).port), '127.0.0.1', () => s.write('GET /.well-known/oauth-authorization-server HTTP/1.1\r\nhost: evil.example/"><x\r\nconnection: close\r\n\r\n'));
      let received = '';
      s.on('data', (d: Buffer) => (received += d.toString()));
      s.on('close', () => resolve(received));
    });
    expect(text).not.toContain('evil.example');
  });

  it('a forwarded header (anthropic-beta) carries only its own value upstream', async () => {
    const res = await post('/v1/messages', JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }), {
      'anthropic-version': '2023-06-01', 'anthropic-beta': 'tools-2024-04-04',
    });
    expect(res.status).toBe(200);
    const seen = sim.requests.at(-1)!.headers;
    expect(seen['anthropic-beta']).toBe('tools-2024-04-04');
    expect(seen['x-api-key']).toBe(KEY);
  });
});
