// Runs `tollgate` as a real process for end-to-end tests: `serve` on a free port (resolving once
// it logs its URL), and the CLI against it, with a clean environment.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { LOG_FLUSH_MS } from '../../src/util/logger.js';

export const CLI = resolve('dist/cli/main.js');
const execFileAsync = promisify(execFile);

/** Variables a developer's shell may hold that would change what the CLI or the server does. */
const TOLLGATE_VARS = ['TOLLGATE_ADMIN_TOKEN', 'TOLLGATE_TOKEN', 'TOLLGATE_SESSION', 'TOLLGATE_CLIENT_ID', 'TOLLGATE_CLIENT_SECRET', 'TOLLGATE_DATA_DIR', 'TOLLGATE_URL', 'TOLLGATE_MASTER_KEY'];

export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of TOLLGATE_VARS) delete env[name];
  return { ...env, ...extra };
}

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  /** Everything the process printed so far. */
  logs(): string;
  /** Everything it printed until now, once lines still gathering in its log buffer are out too. */
  settledLogs(): Promise<string>;
  /** Sends `signal` and resolves with the exit code once it has exited. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startServe(cwd: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  // 'close', not 'exit': the exit can come before the last lines of its output are read.
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`gateway did not start:\n${logs}`)), 15_000);
    child.stdout.on('data', (chunk: Buffer) => {
      logs += chunk.toString();
      const match = /"url":"(http:[^"]+)".*tollgate listening/.exec(logs);
      if (match) {
        clearTimeout(timer);
        ok({
          child,
          url: match[1]!,
          logs: () => logs,
          // Log lines leave in batches, at least every LOG_FLUSH_MS: wait for one more flush.
          settledLogs: () => new Promise((r) => setTimeout(() => r(logs), LOG_FLUSH_MS * 3)),
          stop: (signal = 'SIGTERM') => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    });
    child.stderr.on('data', (c: Buffer) => (logs += c.toString()));
    void exited.then((code) => fail(new Error(`gateway exited with ${code}:\n${logs}`)));
  });
}

/** A CLI runner bound to a gateway URL and working directory. */
export function cliRunner(url: string, cwd: string, env: NodeJS.ProcessEnv = {}) {
  return (...args: string[]) => execFileAsync(process.execPath, [CLI, '--url', url, ...args], { cwd, env: cleanEnv(env) });
}

/**
 * `serve` in a new directory (`prefix`) on the configuration `yaml` (written as tollgate.yaml),
 * and the CLI bound to it, both with `env`.
 */
export async function serveWithConfig(prefix: string, yaml: string, env: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(dir, 'tollgate.yaml'), yaml);
  const server = await startServe(dir, ['--config', 'tollgate.yaml'], env);
  return { dir, server, run: cliRunner(server.url, dir, env) };
}
