// What fails every call, or every export, without the caller being at fault is said in the log for
// the operator — once a minute at most, never with a secret: a provider refusing the gateway's key
// (error), a provider out of reach (warn), an OTLP collector refusing the spans (warn); and at start,
// an admin token short enough to guess (warn) or an empty one (the start fails).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulatedProvider } from '../../src/providers/simulated/index.js';
import { cliRunner, startServe, type ServeProcess } from '../helpers/process.js';

const ADMIN = { TOLLGATE_ADMIN_TOKEN: 'tga_operator-hears' };
const WRONG_KEY = 'sk-wrong-key-0123456789abcdef';
let server: ServeProcess;
let upstream: Awaited<ReturnType<typeof createSimulatedProvider>>;
let token: string;
/** A collector that refuses every export (as one does the wrong credentials): 401, not retried. */
let collector: Server;

beforeAll(async () => {
  upstream = await createSimulatedProvider({ apiKey: 'sk-the-right-key' });
  collector = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}'));
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-e2e-hears-'));
  writeFileSync(join(dir, 'tollgate.yaml'), `
providers:
  - { name: keyed, type: openai, base_url: "${upstream.url}/v1", api_key_env: HEARS_KEY }
  - { name: gone, type: openai, base_url: "http://127.0.0.1:9/v1", api_key_env: HEARS_KEY }
models:
  - { name: keyed-model, provider: keyed, price: { input: 1, output: 1 } }
  - { name: gone-model, provider: gone, price: { input: 1, output: 1 } }
teams: [{ name: t }]
profiles: [{ name: p, models: [keyed-model, gone-model] }]
agents: [{ name: a, team: t, profile: p }]
telemetry: { otlp: { endpoint: "${collectorUrl}" } }
`);
  server = await startServe(dir, ['--config', 'tollgate.yaml'], { ...ADMIN, HEARS_KEY: WRONG_KEY });
  token = JSON.parse((await cliRunner(server.url, dir, ADMIN)('session', 'start', '--agent', 'a', '--task', 'hears', '--json')).stdout).token;
});
afterAll(async () => {
  await server?.stop('SIGKILL');
  await upstream?.close();
  await new Promise((r) => collector?.close(r));
});

const lines = (logs: string) => logs.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('failures the operator must hear of', () => {
  it('a refused key is an error line, an unreachable provider a warning, each once for many calls, with no secret', async () => {
    const openai = new OpenAI({ apiKey: token, baseURL: `${server.url}/v1`, maxRetries: 0 });
    for (const model of ['keyed-model', 'gone-model']) {
      for (let i = 0; i < 3; i++) {
        const err = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(OpenAI.APIError);
        expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
      }
    }
    const logs = await server.settledLogs();
    const trouble = lines(logs).filter((l) => 'trouble' in l);
    expect(trouble).toEqual([
      expect.objectContaining({ level: 50, provider: 'keyed', trouble: 'key_refused', upstream_status: 401, calls_since_last_report: 0 }),
      expect.objectContaining({ level: 40, provider: 'gone', trouble: 'unreachable', calls_since_last_report: 0 }),
    ]);
    expect(String(trouble[0]!.msg)).toMatch(/refused the gateway's key.*providers\[\]\.api_key_env/);
    expect(logs).not.toContain(WRONG_KEY);
    expect(logs).not.toContain(token.split('.')[2]!);
  });

  it('spans the OTLP collector refuses are said to be dropped', async () => {
    // Exports are batched every 2 s; the calls above made spans.
    let warned: Record<string, unknown> | undefined;
    for (let i = 0; i < 40 && !warned; i++) {
      await new Promise((r) => setTimeout(r, 250));
      warned = lines(server.logs()).find((l) => String(l.msg).includes('exporting spans to the OTLP endpoint failed'));
    }
    expect(warned).toMatchObject({ level: 40, url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) });
    expect(Number(warned!.spans_dropped)).toBeGreaterThan(0);
  });

  it('a short admin token is warned about at start; an empty admin token file stops the start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-e2e-admin-token-'));
    const short = await startServe(dir, ['--data-dir', 'short'], { TOLLGATE_ADMIN_TOKEN: 'letmein' });
    try {
      const warning = lines(await short.settledLogs()).find((l) => String(l.msg).includes('admin token is shorter'));
      expect(warning).toMatchObject({ level: 40, from: 'TOLLGATE_ADMIN_TOKEN', min_length: 16 });
      expect(short.logs()).not.toContain('letmein');
    } finally {
      await short.stop();
    }
    mkdirSync(join(dir, 'empty'));
    writeFileSync(join(dir, 'empty', 'admin-token'), '\n', { mode: 0o600 });
    const failed = await startServe(dir, ['--data-dir', 'empty']).then(async (p) => (await p.stop(), null), (err: unknown) => err as Error);
    expect(failed?.message).toMatch(/admin token file .*admin-token is empty: delete it to have a token generated/);
  });
});
