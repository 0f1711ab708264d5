// The README's path, as a new user walks it: a real `tollgate serve` process on the embedded
// default, a session opened with the CLI, a streamed call with the official `openai` client,
// and the spend read back with `tollgate session show`.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, cleanEnv, cliRunner, startServe, type ServeProcess } from '../helpers/process.js';

let dir: string;
let server: ServeProcess;
let url: string;
let cli: ReturnType<typeof cliRunner>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-e2e-'));
  server = await startServe(dir);
  url = server.url;
  cli = cliRunner(url, dir);
});

afterAll(async () => {
  await server.stop('SIGKILL');
});

describe('quick start, as a new user', () => {
  it('generates an admin token file with mode 0600 and prints its path, never the token', () => {
    const path = join(dir, '.tollgate', 'admin-token');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const token = readFileSync(path, 'utf8').trim();
    expect(server.logs()).toContain(path);
    expect(server.logs()).not.toContain(token);
  });

  it('opens a session with the CLI, streams a call with openai, and shows the spend', async () => {
    const started = JSON.parse((await cli('session', 'start', '--agent', 'demo-agent', '--task', 'quick start', '--json')).stdout);
    expect(started.session.status).toBe('active');
    const openai = new OpenAI({ apiKey: started.token, baseURL: `${url}/v1` });
    const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Hello through Tollgate' }] });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text.length).toBeGreaterThan(0);

    const shown = JSON.parse((await cli('session', 'show', started.session.id, '--json')).stdout);
    expect(shown.spent.requests).toBe(1);
    expect(shown.spent.output_tokens).toBeGreaterThan(0);
    expect(shown.spent.usd).toBeGreaterThan(0);
    const exported = (await cli('session', 'start', '--agent', 'demo-agent', '--task', 'env', '--env')).stdout;
    expect(exported).toMatch(/^export TOLLGATE_SESSION=ses_[a-z0-9]+\nexport TOLLGATE_TOKEN=[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const human = (await cli('session', 'show', started.session.id)).stdout;
    expect(human).toMatch(/spent:\s+\$0\.0000\d+ over 1 request/);
    expect(human).toContain('demo-agent');
    expect(await server.settledLogs()).not.toContain(started.token);
  });

  it('reports CLI errors with a message and a non-zero exit code', async () => {
    const err = (await cli('session', 'show', 'ses_nope').catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/session "ses_nope" does not exist \(HTTP 404, not_found\)/);
  });

  it('ends quietly when its output goes to a reader that has already stopped (`| head`)', () => {
    // `head -c 0` exits at once: every write the CLI makes meets a closed pipe (EPIPE).
    const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${CLI}" --url ${url} audit search --limit 50 | head -c 0`], { cwd: dir, env: cleanEnv() });
    expect(r.stderr.toString()).toBe('');
    expect(r.status).toBe(0);
  });

  it('exits with its error when it cannot start — a port in use, a variable the config names unset — instead of hanging', { timeout: 60_000 }, async () => {
    const port = Number(new URL(url).port);
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stderr: string; ms: number }>((done) => {
        const started = Date.now();
        const child = spawn(process.execPath, [CLI, 'serve', ...args], { cwd: dir, env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.once('close', (code) => {
          clearTimeout(kill);
          done({ code, stderr, ms: Date.now() - started });
        });
      });
    // The running gateway holds the port; a second one on another data dir cannot have it.
    const busy = await run(['--port', String(port), '--data-dir', join(dir, 'second')]);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(new RegExp(`error: port ${port} on 127\\.0\\.0\\.1 is in use`));
    writeFileSync(join(dir, 'metrics.yaml'), 'telemetry: { metrics: { enabled: true, token_env: TOLLGATE_TEST_UNSET_TOKEN } }\n');
    const unset = await run(['--config', join(dir, 'metrics.yaml'), '--port', '0', '--data-dir', join(dir, 'third')]);
    expect(unset.code).toBe(1);
    expect(unset.stderr).toMatch(/TOLLGATE_TEST_UNSET_TOKEN is not set/);
    // A start that failed left no config.applied on the record.
    const db = new Database(join(dir, 'third', 'tollgate.db'), { readonly: true });
    expect(db.prepare("SELECT count(*) AS n FROM audit_events WHERE type = 'config.applied'").get()).toEqual({ n: 0 });
    db.close();
    // It exited by itself (SIGKILL after 20 s would leave code null).
    expect(Math.max(busy.ms, unset.ms)).toBeLessThan(20_000);
  });

  it('`npm start` starts the gateway with glibc malloc settings (docs/operations.md), a caller’s own appended', { timeout: 60_000 }, async () => {
    // Each run is `npm start` as the README gives it (its script's shell syntax included), on a
    // data directory of its own; the gateway names the settings it started with.
    const startedWith = async (env: NodeJS.ProcessEnv): Promise<unknown> => {
      const data = mkdtempSync(join(tmpdir(), 'tollgate-npm-start-'));
      // Its own process group (npm → sh → node), stopped whole.
      const npm = spawn('npm', ['start', '--silent', '--', '--port', '0', '--data-dir', data], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      const closed = new Promise((r) => npm.once('close', r));
      try {
        return await new Promise((ok, fail) => {
          let out = '';
          const timer = setTimeout(() => fail(new Error(`npm start did not start:\n${out}`)), 20_000);
          const read = (c: Buffer) => {
            out += c.toString();
            // Whole lines only: the last one may still be arriving.
            const line = out.split('\n').slice(0, -1).find((l) => l.includes('tollgate listening'));
            if (line) {
              clearTimeout(timer);
              ok((JSON.parse(line) as { glibc_tunables?: string }).glibc_tunables);
            }
          };
          npm.stdout.on('data', read);
          npm.stderr.on('data', read);
          npm.once('exit', (code) => fail(new Error(`npm start exited with ${code}:\n${out}`)));
        });
      } finally {
        try {
          process.kill(-npm.pid!, 'SIGTERM');
        } catch {
          // The group has ended already (npm start failed): its error is the test's.
        }
        await closed;
        rmSync(data, { recursive: true, force: true });
      }
    };
    const unset = cleanEnv();
    delete unset.GLIBC_TUNABLES;
    expect(await startedWith(unset)).toBe('glibc.malloc.mmap_threshold=131072:glibc.malloc.arena_max=2');
    // A caller's own tunables come after (glibc takes the last of a tunable named twice).
    expect(await startedWith(cleanEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=4' }))).toBe('glibc.malloc.mmap_threshold=131072:glibc.malloc.arena_max=2:glibc.malloc.arena_max=4');
  });

  it('stops cleanly on SIGTERM', async () => {
    expect(await server.stop('SIGTERM')).toBe(0);
    expect(server.logs()).toContain('"msg":"stopped"');
  });
});
