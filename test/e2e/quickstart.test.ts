// The README's path, as a new user walks it: a real `tollgate serve` process on the embedded
// default, a session opened with the CLI, a streamed call with the official `openai` client,
// and the spend read back with `tollgate session show`.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = resolve('dist/cli/main.js');
const run = promisify(execFile);

let dir: string;
let server: ChildProcess;
let url: string;
let logs = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-e2e-'));
  const env = { ...process.env };
  delete env.TOLLGATE_ADMIN_TOKEN;
  server = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${logs}`)), 15_000);
    const onData = (chunk: Buffer) => {
      logs += chunk.toString();
      const match = /"url":"(http:[^"]+)".*tollgate listening/.exec(logs);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]!);
      }
    };
    server.stdout!.on('data', onData);
    server.stderr!.on('data', (c: Buffer) => (logs += c.toString()));
    server.once('exit', (code) => reject(new Error(`gateway exited with ${code}:\n${logs}`)));
  });
});

afterAll(() => {
  if (server.exitCode === null) server.kill('SIGKILL');
});

async function cli(...args: string[]) {
  const env = { ...process.env };
  delete env.TOLLGATE_ADMIN_TOKEN;
  return run(process.execPath, [CLI, '--url', url, ...args], { cwd: dir, env });
}

describe('quick start, as a new user', () => {
  it('generates an admin token file with mode 0600 and prints its path, never the token', () => {
    const path = join(dir, '.tollgate', 'admin-token');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const token = readFileSync(path, 'utf8').trim();
    expect(logs).toContain(path);
    expect(logs).not.toContain(token);
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
    expect(logs).not.toContain(started.token);
  });

  it('reports CLI errors with a message and a non-zero exit code', async () => {
    const err = (await cli('session', 'show', 'ses_nope').catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/session "ses_nope" does not exist \(HTTP 404, not_found\)/);
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((r) => server.once('exit', (code) => r(code)));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(logs).toContain('"msg":"stopped"');
  });
});
