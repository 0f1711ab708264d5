// The CLI's chargeback and audit search commands against a gateway (run `npm run build` first):
// `session start --tag`, `report spend` (table and CSV file), `audit search`, `audit tail --follow`.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startGateway, type TestGateway } from '../helpers/gateway.js';
import { CLI, cleanEnv, cliRunner } from '../helpers/process.js';

let gw: TestGateway;
let cli: ReturnType<typeof cliRunner>;
const dir = mkdtempSync(join(tmpdir(), 'tollgate-cli-reports-'));

beforeAll(async () => {
  gw = await startGateway();
  cli = cliRunner(gw.url, dir, { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN });
});
afterAll(async () => {
  await gw.close();
});

describe('tollgate report spend, session start --tag', () => {
  it('opens a tagged session, prints the spend by tag as a table and writes the same as CSV', async () => {
    const started = JSON.parse((await cli('session', 'start', '--agent', 'demo-agent', '--task', 'cli', '--tag', 'cost_center=cc-42', '--tag', 'ticket=T-7', '--json')).stdout);
    expect(started.session.tags).toEqual({ cost_center: 'cc-42', ticket: 'T-7' });
    // One value per tag: a key given twice is refused, not silently the last one.
    const twice = await cli('session', 'start', '--agent', 'demo-agent', '--task', 'cli', '--tag', 'k=v', '--tag', 'k=w').then(() => null, (err: Error) => err);
    expect(twice?.message).toContain('--tag k is given twice (k=v, k=w)');
    await new OpenAI({ apiKey: started.token, baseURL: `${gw.url}/v1`, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi [[sim:tokens=40]]' }] });
    const spent = (await gw.session(started.session.id)).spent.usd as number;
    expect(spent).toBeGreaterThan(0);

    const file = join(dir, 'spend.csv');
    const table = (await cli('report', 'spend', '--group-by', 'tag:cost_center', '--csv', file)).stdout;
    expect(table).toMatch(/^spend by tag:cost_center, the beginning to now$/m);
    expect(table).toMatch(new RegExp(`^cc-42\\s+\\$${spent.toFixed(6).replace('.', '\\.')}\\s+\\d+\\s+40\\s+1$`, 'm'));
    expect(table).toMatch(/^TOTAL\s+/m);
    const csv = readFileSync(file, 'utf8').trimEnd().split('\r\n');
    expect(csv).toEqual(['key,usd,usd_nano,input_tokens,output_tokens,requests', expect.stringMatching(/^cc-42,/)]);
    expect(Number(csv[1]!.split(',')[2])).toBe(Math.round(spent * 1e9));

    const json = JSON.parse((await cli('report', 'spend', '--group-by', 'team', '--json')).stdout);
    expect(json.rows.map((r: { name: string }) => r.name)).toEqual(['demo']);
    expect(json.total.usd_nano).toBe(Math.round(spent * 1e9));
    await expect(cli('report', 'spend', '--group-by', 'planet')).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('error: --group-by must be one of') });
  });
});

describe('tollgate audit search and tail', () => {
  it('searches by session and type, and tails oldest first', async () => {
    const { sessionId } = await gw.openSession({ task: 'audited' });
    const found = JSON.parse((await cli('audit', 'search', '--session', sessionId, '--json')).stdout);
    expect(found.data.length).toBeGreaterThan(0);
    expect(found.data.every((e: { session_id: string }) => e.session_id === sessionId)).toBe(true);
    const typed = JSON.parse((await cli('audit', 'search', '--type', 'session.*', '--limit', '2', '--json')).stdout);
    expect(typed.data).toHaveLength(2);
    expect(typed.data.every((e: { type: string }) => e.type.startsWith('session.'))).toBe(true);
    const text = (await cli('audit', 'search', '--type', 'session.*', '--limit', '1')).stdout;
    expect(text).toMatch(/^SEQ\s+TIME\s+TYPE/m);
    expect(text).toMatch(/^more: --cursor \S+$/m);

    const tail = (await cli('audit', 'tail', '-n', '3', '--json')).stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { seq: number });
    expect(tail).toHaveLength(3);
    expect(tail.map((e) => e.seq)).toEqual([tail[0]!.seq, tail[0]!.seq + 1, tail[0]!.seq + 2]);
  });

  it('follows new events as they are written', async () => {
    const child = spawn(process.execPath, [CLI, '--url', gw.url, 'audit', 'tail', '--follow', '-n', '1', '--type', 'keys.*', '--json'], { cwd: dir, env: cleanEnv({ TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN }) });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      // Give it time to print the (empty) backlog and start polling.
      await new Promise((r) => setTimeout(r, 700));
      expect(out).toBe('');
      await gw.admin('POST', '/admin/v1/keys/rotate');
      await gw.admin('POST', '/admin/v1/keys/rotate');
      await expect.poll(() => out.trimEnd().split('\n').filter(Boolean).length, { timeout: 5000 }).toBe(2);
      expect(out.trimEnd().split('\n').map((l) => (JSON.parse(l) as { type: string }).type)).toEqual(['keys.rotated', 'keys.rotated']);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });
});
