// Every example in examples/ runs, as a user would run it, against a real `tollgate serve`
// (the built CLI: run `npm run build` first) and prints what its comments promise.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, startServe, type ServeProcess } from '../helpers/process.js';

const run = promisify(execFile);
let server: ServeProcess;
let dataDir: string;

/** Runs one example from the repository root (so `tollgate/sdk` resolves to this package). */
async function example(file: string, env: Record<string, string>): Promise<string> {
  const { stdout } = await run(process.execPath, [resolve('examples', file)], { cwd: process.cwd(), env: cleanEnv(env), timeout: 30_000 });
  return stdout;
}

describe('examples against the embedded default', () => {
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-examples-'));
    dataDir = join(dir, '.tollgate');
    server = await startServe(dir);
  });
  afterAll(async () => {
    await server.stop();
  });
  const env = () => ({ TOLLGATE_URL: server.url, TOLLGATE_DATA_DIR: dataDir });

  it('single-agent.mjs: a streamed answer, its usage and budget, the session closed', async () => {
    const out = await example('single-agent.mjs', env());
    expect(out).toMatch(/^session ses_[0-9a-f]{32} for agent agt_/);
    expect(out).toMatch(/\n\d+ prompt \+ \d+ completion tokens; budget left before the call: \$0\.050000000\n/);
    expect(out).toMatch(/session closed\n$/);
  });

  it('orchestrator.mjs: two sub-agents with slices, the narrowed one refused gpt-4o, spend rolled up', async () => {
    const out = await example('orchestrator.mjs', env());
    expect(out).toMatch(/→ researcher ses_\w+ \(\$0\.10\), writer ses_\w+ \(\$0\.05\)/);
    expect(out).toContain('writer on gpt-4o: 403 model_not_allowed');
    expect(out).toMatch(/ {2}researcher spent \$0\.000\d+ of \$0\.1\n/);
    expect(out).toMatch(/with children: \$0\.\d{6}/);
  });

  it('mcp-agent.mjs: tools in scope, a write and a read, delete refused', async () => {
    const out = await example('mcp-agent.mjs', env());
    expect(out).toContain('tools in scope: list_notes, read_note, search_notes, write_note');
    expect(out).toContain('read_note: ship the report on friday');
    expect(out).toContain('delete_note: refused (-32003)');
  });

  it('leaves no client secret active behind it: each example revokes the ones it issued', async () => {
    const { readFileSync } = await import('node:fs');
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    const res = await fetch(`${server.url}/admin/v1/agents/demo-agent/secrets`, { headers: { authorization: `Bearer ${token}` } });
    const secrets = ((await res.json()) as { data: { status: string }[] }).data;
    expect(secrets.length).toBeGreaterThanOrEqual(3);
    expect(secrets.filter((s) => s.status === 'active')).toEqual([]);
  });
});

describe('the federated workload example', () => {
  let federated: ServeProcess;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-federation-'));
    federated = await startServe(dir, ['--config', resolve('examples/federation.yaml')]);
  });
  afterAll(async () => {
    await federated.stop();
  });

  it('federated.mjs: a session from a JWT-SVID the local issuer minted, no secret', async () => {
    const out = await example('federated.mjs', { TOLLGATE_URL: federated.url });
    expect(out).toMatch(/^session ses_\w+ for agent agt_\w+, from a workload JWT \(no secret\)\nanswer: /);
  });
});
