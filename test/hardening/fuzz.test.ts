// Property-based fuzzing (fast-check) of what parses untrusted input: request bodies (the depth
// guard, JSON parsing, each API adapter, and the whole data plane over HTTP), the SSE splitter and
// stream meters (upstream bytes), the config loader, and session-token verification.
// Bounded for `npm test`; more on demand: TOLLGATE_FUZZ_RUNS=N (runs per property) or
// TOLLGATE_FUZZ_SECONDS=S (time per property), e.g. `npm run fuzz`.
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, defaultConfigText, parseConfig } from '../../src/config/index.js';
import { GatewayError } from '../../src/errors/index.js';
import { KeyRing, MasterKey, TokenService } from '../../src/identity/index.js';
import { exceedsJsonDepth, parseJsonObject } from '../../src/pipeline/index.js';
import { anthropicMessages, openAiChat, openAiEmbeddings, openAiResponses, type ApiAdapter } from '../../src/providers/apis/index.js';
import { SseSplitter } from '../../src/providers/sse.js';
import { SqliteStore } from '../../src/store/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const RUNS = process.env.TOLLGATE_FUZZ_RUNS ? Number(process.env.TOLLGATE_FUZZ_RUNS) : undefined;
const SECONDS = process.env.TOLLGATE_FUZZ_SECONDS ? Number(process.env.TOLLGATE_FUZZ_SECONDS) : undefined;
const TIMEOUT = 60_000 + (SECONDS ?? 0) * 1000 * 2;
let total = 0;

/** Runs a property `runs` times (or as set by the environment); counts the runs; fails with fast-check's report. */
async function check<T>(arb: fc.Arbitrary<T>, predicate: (value: T) => boolean | void | Promise<boolean | void>, runs: number): Promise<void> {
  const isAsync = predicate.constructor.name === 'AsyncFunction';
  const property = isAsync ? fc.asyncProperty(arb, predicate as (v: T) => Promise<boolean | void>) : fc.property(arb, predicate as (v: T) => boolean | void);
  const params: fc.Parameters<[T]> = SECONDS
    ? { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: SECONDS * 1000, markInterruptAsFailure: false }
    : { numRuns: RUNS ?? runs };
  const details = await fc.check(property as fc.IAsyncProperty<[T]>, params);
  total += details.numRuns;
  if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? 'property failed');
}

/** True depth of a JSON value: nested arrays and objects. */
function depthOf(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depthOf));
  if (v !== null && typeof v === 'object') return 1 + Math.max(0, ...Object.values(v).map(depthOf));
  return 0;
}

/** Only catalogued refusals may come out of a request parser: anything else would be a 500. */
function refusedCleanly(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    if (err instanceof GatewayError && err.status >= 400 && err.status < 500) return true;
    throw err;
  }
}

afterAll(() => {
  console.log(`fuzz: ${total} iterations`);
});

describe('request bodies', () => {
  it('the depth guard agrees with the true nesting of any JSON value, at any limit', async () => {
    await check(fc.tuple(fc.jsonValue({ maxDepth: 12 }), fc.integer({ min: 1, max: 12 })), ([value, max]) => {
      const raw = Buffer.from(JSON.stringify(value) ?? 'null');
      expect(exceedsJsonDepth(raw, max)).toBe(depthOf(value) > max);
    }, 1000);
  }, TIMEOUT);

  it('the depth guard is not fooled by brackets, quotes and runs of backslashes inside strings', async () => {
    // Strings made of the bytes the guard's string skipping looks at, escaped by JSON.stringify.
    const tricky = fc.string({ unit: fc.constantFrom('\\', '\\\\', '"', '\\"', '[', ']', '{', '}', 'a') });
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, tricky, fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(tricky, tie('node'), { maxKeys: 3 })),
    })).node;
    await check(fc.tuple(value, fc.integer({ min: 1, max: 8 })), ([v, max]) => {
      const raw = Buffer.from(JSON.stringify(v));
      expect(exceedsJsonDepth(raw, max)).toBe(depthOf(v) > max);
    }, 1000);
  }, TIMEOUT);

  it('parseJsonObject answers any bytes with an object or a catalogued 400', async () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
      fc.jsonValue().map((v) => (JSON.stringify(v) ?? '').slice(0, -1)),
      fc.integer({ min: 1, max: 3000 }).map((n) => '{"a":'.repeat(n)),
    );
    await check(text, (t) => refusedCleanly(() => parseJsonObject(Buffer.from(t, 'utf8'))), 1000);
  }, TIMEOUT);

  const adapters: [string, ApiAdapter, Record<string, unknown>][] = [
    ['openai chat', openAiChat, { model: 'm', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 't' } }] }],
    ['openai responses', openAiResponses, { model: 'm', input: 'hi', tools: [{ type: 'function', name: 't' }] }],
    ['openai embeddings', openAiEmbeddings, { model: 'm', input: ['a', 'b'] }],
    ['anthropic messages', anthropicMessages, { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], tools: [{ name: 't', input_schema: {} }] }],
  ];
  it.each(adapters)('the %s adapter parses any mutation of a valid request, or refuses it with a catalogued 4xx', async (_name, adapter, valid) => {
    // A valid request with fields replaced by arbitrary JSON, plus arbitrary extra fields.
    const mutated = fc.tuple(
      fc.dictionary(fc.constantFrom(...Object.keys(valid), 'stream', 'n', 'max_completion_tokens', 'system', 'tool_choice', 'functions', 'stream_options', '__proto__', 'constructor'), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 3 }),
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 }),
    ).map(([replaced, extra]) => JSON.parse(JSON.stringify({ ...valid, ...extra, ...replaced })) as Record<string, unknown>);
    await check(mutated, (body) => refusedCleanly(() => {
      const call = adapter.parse(body);
      expect(typeof call.model).toBe('string');
      expect(call.tools.every((t) => typeof t === 'string')).toBe(true);
    }), 500);
  }, TIMEOUT);
});

describe('the data plane over HTTP', () => {
  let gw: TestGateway;
  let token: string;
  beforeAll(async () => {
    gw = await startGateway({ server: { log_requests: false, max_concurrent_calls_per_session: 0 } });
    token = (await gw.openSession({ budget: { usd: 20 } })).token;
  });
  afterAll(async () => {
    await gw.close();
  });

  it('answers any body on any data-plane route with a non-5xx status in the API\'s shape, never a stack trace', async () => {
    const route = fc.constantFrom('/v1/chat/completions', '/v1/responses', '/v1/embeddings', '/v1/messages');
    const body = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v) ?? ''),
      fc.record({
        model: fc.oneof(fc.constantFrom('gpt-4o-mini', 'claude-3-5-haiku-latest', 'text-embedding-3-small'), fc.string({ maxLength: 20 })),
        messages: fc.oneof(fc.constant([{ role: 'user', content: 'hi' }]), fc.jsonValue({ maxDepth: 3 })),
        input: fc.oneof(fc.constant('hi'), fc.jsonValue({ maxDepth: 3 })),
        max_tokens: fc.oneof(fc.integer({ min: -5, max: 50 }), fc.jsonValue({ maxDepth: 1 })),
        stream: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 1 })),
        tools: fc.jsonValue({ maxDepth: 3 }),
      }, { requiredKeys: ['model'] }).map((o) => JSON.stringify(o)),
    );
    await check(fc.tuple(route, body), async ([path, payload]) => {
      const res = await fetch(gw.url + path, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: payload });
      const text = await res.text();
      expect(res.status, `${path} ${payload.slice(0, 200)} → ${text.slice(0, 300)}`).toBeLessThan(500);
      expect(text).not.toMatch(/\n\s+at /);
      if (res.status >= 400) expect(() => JSON.parse(text)).not.toThrow();
    }, 150);
  }, TIMEOUT);
});

describe('upstream streams', () => {
  const eventText = fc.array(fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('{"a":1}', '[DONE]', 'é€😀')), { maxLength: 4 })
    .map((lines) => lines.map((l) => `data: ${l.replace(/[\r\n]/g, ' ')}`).join('\n'))
    .filter((e) => e.length > 0);

  it('the SSE splitter yields the same events however the bytes are chunked (even mid-character)', async () => {
    await check(fc.tuple(fc.array(eventText, { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 20 })), ([events, cuts]) => {
      const bytes = Buffer.from(events.map((e) => `${e}\n\n`).join(''), 'utf8');
      const whole = new SseSplitter().push(bytes).map((e) => e.raw);
      const splitter = new SseSplitter();
      const pieces: string[] = [];
      let at = 0;
      for (const cut of cuts) {
        pieces.push(...splitter.push(bytes.subarray(at, Math.min(bytes.length, at + cut))).map((e) => e.raw));
        at = Math.min(bytes.length, at + cut);
      }
      pieces.push(...splitter.push(bytes.subarray(at)).map((e) => e.raw));
      expect(pieces).toEqual(whole);
      expect(whole).toEqual(events);
    }, 1000);
  }, TIMEOUT);

  const toolName = fc.stringMatching(/^[A-Za-z0-9_.-]{1,20}$/);
  /** JSON text with some ASCII characters of keys and strings written as \u escapes, as any upstream may. */
  const escaped = (json: string, mask: number[]) => {
    let i = 0;
    return json.replace(/[a-z_]/g, (ch) => ((mask[i++ % mask.length] ?? 0) === 1 ? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}` : ch));
  };

  it('the chat stream meter finds every tool call a chunk makes, however its JSON is escaped', async () => {
    await check(fc.tuple(fc.array(toolName, { minLength: 1, maxLength: 3 }), fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 1, maxLength: 16 })), ([names, mask]) => {
      const chunk = JSON.stringify({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { tool_calls: names.map((name, index) => ({ index, id: `call_${index}`, type: 'function', function: { name, arguments: '' } })) } }] });
      const data = escaped(chunk, mask);
      expect(JSON.parse(data)).toEqual(JSON.parse(chunk)); // the same chunk to any client
      const meter = openAiChat.createStreamMeter({});
      const event = { raw: `data: ${data}`, event: undefined, data };
      meter.accept(event);
      expect(meter.toolCalls(event).map((c) => c.name)).toEqual(names);
    }, 500);
  }, TIMEOUT);

  it('the Anthropic and Responses meters find every tool call, however its JSON is escaped and whatever the event is named', async () => {
    // Clients act on the data's own `type`: the event's name must not hide a call.
    const eventName = fc.constantFrom('content_block_start', 'content_block_delta', 'response.output_item.added', 'response.output_text.delta', 'message', undefined);
    await check(fc.tuple(toolName, fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 1, maxLength: 16 }), eventName), ([name, mask, event]) => {
      const block = escaped(JSON.stringify({ type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_1', name, input: {} } }), mask);
      const anthropic = anthropicMessages.createStreamMeter({});
      expect(anthropic.toolCalls({ raw: '', event, data: block }).map((c) => c.name)).toEqual([name]);
      const item = escaped(JSON.stringify({ type: 'response.output_item.added', output_index: 0, item: { type: 'function_call', id: 'fc_1', call_id: 'c', name, arguments: '' } }), mask);
      const responses = openAiResponses.createStreamMeter({});
      expect(responses.toolCalls({ raw: '', event, data: item }).map((c) => c.name)).toEqual([name]);
    }, 500);
  }, TIMEOUT);

  it('the meters report the usage an upstream sent, and garbage makes them fail loudly or not at all', async () => {
    const usage = fc.record({ prompt_tokens: fc.nat(1e6), completion_tokens: fc.nat(1e6) });
    const garbage = fc.oneof(fc.jsonValue({ maxDepth: 3 }).map((v) => `{"usage":{${JSON.stringify(v)}`), fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify({ usage: v, choices: v })), fc.string({ maxLength: 50 }));
    await check(fc.tuple(usage, garbage), ([u, junk]) => {
      const meter = openAiChat.createStreamMeter({});
      for (const data of [junk, JSON.stringify({ choices: [], usage: u })]) {
        try {
          meter.accept({ raw: `data: ${data}`, event: undefined, data });
          meter.toolCalls({ raw: `data: ${data}`, event: undefined, data });
        } catch (err) {
          // Unparseable JSON: the relay ends the stream as cut (a clear failure, never a bypass).
          if (!(err instanceof SyntaxError)) throw err;
        }
      }
      expect(meter.reported()?.usage).toMatchObject({ inputTokens: u.prompt_tokens, outputTokens: u.completion_tokens });
    }, 500);
  }, TIMEOUT);
});

describe('the config loader', () => {
  const base = parseYaml(defaultConfigText()) as Record<string, unknown>;
  it('answers any text with a config or a ConfigError listing problems', async () => {
    const text = fc.oneof(fc.string({ maxLength: 200 }), fc.jsonValue({ maxDepth: 4 }).map((v) => stringify(v)));
    await check(text, (t) => {
      try {
        parseConfig(t, 'fuzz');
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        expect(err.problems.length).toBeGreaterThan(0);
      }
    }, 500);
  }, TIMEOUT);

  it('regression (found by the fuzzer): an unresolved alias or an alias bomb is a ConfigError, not a crash', () => {
    expect(() => parseConfig('*!', 'fuzz')).toThrow(ConfigError);
    const levels = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const bomb = levels.map((l, i) => `${l}: &${l} [${Array(9).fill(i === 0 ? '"x"' : `*${levels[i - 1]}`).join(',')}]`).join('\n');
    expect(() => parseConfig(bomb, 'fuzz')).toThrow(/resource exhaustion/);
  });

  it('answers any mutation of the default config with a config or a ConfigError naming the place', async () => {
    const section = fc.constantFrom(...Object.keys(base), 'server', 'tokens', 'budgets', 'delegation', 'telemetry', 'audit', '__proto__');
    const mutation = fc.dictionary(section, fc.jsonValue({ maxDepth: 4 }), { minKeys: 1, maxKeys: 3 });
    await check(mutation, (patch) => {
      try {
        parseConfig(stringify({ ...base, ...patch }), 'fuzz');
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        expect(err.problems.every((p) => p.length > 0)).toBe(true);
      }
    }, 300);
  }, TIMEOUT);
});

describe('session tokens', () => {
  let tokens: TokenService;
  let store: SqliteStore;
  let dir: string;
  let valid: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-fuzz-'));
    store = new SqliteStore({ path: ':memory:' });
    await store.migrate();
    const keys = new KeyRing(store, MasterKey.fromEnvOrDataDir(dir, {}), { overlapMs: 900_000, rotationMs: 0 });
    await keys.load();
    tokens = new TokenService(keys, { issuer: 'tollgate', audience: 'tollgate', ttlSeconds: 900 });
    valid = (await tokens.issue({ agentId: 'agt_1', sessionId: 'ses_1', sessionExpiresAt: Date.now() + 3_600_000, scope: ['m'] })).token;
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const refusal = async (token: string) => {
    try {
      await tokens.verify(token);
      return null;
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      return err;
    }
  };

  it('refuses any string that is not a token it issued, with a 401', async () => {
    const text = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.tuple(fc.jsonValue(), fc.jsonValue(), fc.string({ maxLength: 90 })).map(([h, p, s]) => `${Buffer.from(JSON.stringify(h) ?? '').toString('base64url')}.${Buffer.from(JSON.stringify(p) ?? '').toString('base64url')}.${s}`),
    );
    await check(text, async (t) => {
      const err = await refusal(t);
      expect(err?.status).toBe(401);
    }, 500);
  }, TIMEOUT);

  it('refuses every token that differs from a valid one in any byte it decodes to', async () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    await check(fc.tuple(fc.nat(), fc.constantFrom(...alphabet)), async ([at, ch]) => {
      const i = at % valid.length;
      const mutated = valid.slice(0, i) + ch + valid.slice(i + 1);
      const same = mutated.split('.').length === 3 && mutated.split('.').every((part, k) => Buffer.from(part, 'base64url').equals(Buffer.from(valid.split('.')[k]!, 'base64url')));
      const err = await refusal(mutated);
      // Accepted only if it is the same token (a non-canonical base64url spelling of the same bytes).
      if (err) expect(err.status).toBe(401);
      else expect(same).toBe(true);
    }, 500);
  }, TIMEOUT);
});
