// A provider whose key variable is unset does not stop the gateway: it says so at start, its
// models are refused with 503 `provider_not_configured`, and the other providers serve on.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliRunner, startServe, type ServeProcess } from '../helpers/process.js';

const ADMIN = { TOLLGATE_ADMIN_TOKEN: 'tga_provider-keys' };
let server: ServeProcess;
let token: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-e2e-keys-'));
  writeFileSync(join(dir, 'tollgate.yaml'), `
providers:
  - { name: sim, type: simulated }
  - { name: openai, type: openai, base_url: "http://127.0.0.1:9/v1", api_key_env: TOLLGATE_TEST_KEY_UNSET }
models:
  - { name: house-model, provider: sim, price: { input: 1, output: 1 } }
  - { name: gpt-4o, provider: openai }
teams: [{ name: t }]
profiles: [{ name: p, models: [house-model, gpt-4o] }]
agents: [{ name: a, team: t, profile: p }]
`);
  server = await startServe(dir, ['--config', 'tollgate.yaml'], ADMIN);
  token = JSON.parse((await cliRunner(server.url, dir, ADMIN)('session', 'start', '--agent', 'a', '--task', 'keys', '--json')).stdout).token;
});
afterAll(async () => {
  await server?.stop('SIGKILL');
});

describe('a provider without its key', () => {
  it('is named in a warning at start; its models answer 503 provider_not_configured, not retried by the SDK; the others serve', async () => {
    const logs = await server.settledLogs();
    const warning = logs.split('\n').find((line) => line.includes('has no API key'));
    expect(warning).toBeDefined();
    // pino's level 40: warn.
    expect(JSON.parse(warning!)).toMatchObject({ level: 40, provider: 'openai', api_key_env: 'TOLLGATE_TEST_KEY_UNSET' });
    // The SDK retries a 503 by itself, unless told that retrying cannot help: one request.
    let requests = 0;
    const counting: typeof fetch = (input, init) => {
      requests++;
      return fetch(input, init);
    };
    const openai = new OpenAI({ apiKey: token, baseURL: `${server.url}/v1`, maxRetries: 3, fetch: counting });
    const refused = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    expect((refused as InstanceType<typeof OpenAI.APIError>).code).toBe('provider_not_configured');
    expect((refused as InstanceType<typeof OpenAI.APIError>).headers?.get('x-should-retry')).toBe('false');
    expect(requests).toBe(1);
    const served = await openai.chat.completions.create({ model: 'house-model', messages: [{ role: 'user', content: 'hi' }] });
    expect(served.choices).toHaveLength(1);
  });
});
