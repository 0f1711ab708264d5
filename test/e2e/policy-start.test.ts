// A real `tollgate serve` and `tollgate config check` with an operator policy file: a deliberate
// error stops both with Cedar's message and the file and line; the fixed file starts.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_PATH } from '../../src/config/index.js';
import { CLI, cleanEnv, startServe } from '../helpers/process.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'tollgate-e2e-policy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = join(dir, 'tollgate.yaml');
writeFileSync(config, `${readFileSync(DEFAULT_CONFIG_PATH, 'utf8')}\npolicy: { files: [ops.cedar] }\n`);
const policy = join(dir, 'ops.cedar');

async function exitOf(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, [CLI, ...args], { cwd: dir, env: cleanEnv({ TOLLGATE_ADMIN_TOKEN: 'tga_e2e-policy-admin-token-0123456789' }), timeout: 20_000 });
    return { code: 0, stderr: '' };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

describe('operator policy files at start', () => {
  it('a policy with an error stops `serve` and `config check` with the file, line and Cedar\'s hint', async () => {
    writeFileSync(policy, '// ops rules\n@id("no-prod-deploys")\nforbid (principal, action == Tollgate::Action::"call_tool", resource)\n  when { context.enviroment == "prod" };\n');
    for (const args of [['serve', '--config', config, '--port', '0', '--data-dir', join(dir, 'data')], ['config', 'check', config]]) {
      const { code, stderr } = await exitOf(args);
      expect(code, args[0]).toBe(1);
      expect(stderr).toMatch(/ops\.cedar:4:\d+: .*enviroment.*did you mean `environment`/s);
    }
  });

  it('the corrected file starts the gateway', async () => {
    writeFileSync(policy, '@id("no-prod-deploys")\nforbid (principal, action == Tollgate::Action::"call_tool", resource)\n  when { context.environment == "prod" };\n');
    const check = await exitOf(['config', 'check', config]);
    expect(check.code).toBe(0);
    const serve = await startServe(dir, ['--config', config, '--data-dir', join(dir, 'data')], { TOLLGATE_ADMIN_TOKEN: 'tga_e2e-policy-admin-token-0123456789' });
    try {
      expect((await fetch(`${serve.url}/healthz`)).status).toBe(200);
    } finally {
      expect(await serve.stop()).toBe(0);
    }
  });
});
