// `tollgate audit verify` against a real `tollgate serve` process (run `npm run build` first):
// exit 0 on an intact chain (also when verified in slices), exit 2 naming the first broken event
// once the database file has been tampered with, and the export file written as it goes.
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { defaultConfigText } from '../../src/config/index.js';
import { cliRunner, startServe, type ServeProcess } from '../helpers/process.js';

let dir: string;
let server: ServeProcess;
let cli: ReturnType<typeof cliRunner>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-e2e-audit-'));
  const config = { ...(parseYaml(defaultConfigText()) as Record<string, unknown>), audit: { checkpoint_interval_seconds: 1, export: { jsonl_path: 'audit.jsonl' } } };
  writeFileSync(join(dir, 'tollgate.yaml'), stringify(config));
  server = await startServe(dir, ['--config', join(dir, 'tollgate.yaml')]);
  cli = cliRunner(server.url, dir);
});

afterAll(async () => {
  await server.stop('SIGKILL');
});

/** Runs the CLI; resolves with its exit code and output whether it succeeded or not. */
async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return cli(...args).then(
    (ok) => ({ code: 0, stdout: ok.stdout, stderr: ok.stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

describe('tollgate audit verify', () => {
  it('exits 0 on an intact chain, with a summary, JSON, and in slices', async () => {
    for (let i = 0; i < 4; i++) await cli('session', 'start', '--agent', 'demo-agent', '--task', `audit ${i}`, '--json');
    // Wait for the timer's checkpoint over those events.
    const db = new Database(join(dir, '.tollgate', 'tollgate.db'), { readonly: true });
    await expect.poll(() => (db.prepare('SELECT count(*) AS n FROM audit_checkpoints').get() as { n: number }).n, { timeout: 5000 }).toBeGreaterThan(0);
    // The start's config.applied, then for each open: the policy decision, then session.opened.
    const stored = db.prepare('SELECT seq, type FROM audit_events ORDER BY seq').all() as { seq: number; type: string }[];
    db.close();
    expect(stored.map((e) => e.type)).toEqual(['config.applied', ...Array.from({ length: 4 }, () => ['policy.decision', 'session.opened']).flat()]);

    const plain = await run('audit', 'verify');
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^audit chain intact: 9 events, [1-9]\d* signed checkpoints verified in [\d.]+ s \(\d+ events\/s\)$/m);
    // Not a terminal: no progress bar on stderr.
    expect(plain.stderr).toBe('');

    const json = JSON.parse((await run('audit', 'verify', '--json', '--slice', '1')).stdout);
    expect(json).toMatchObject({ ok: true, events: 9, chain: { first_seq: 1, last_seq: 9 } });
    expect(json.first_broken).toBeUndefined();

    // The export file holds the same events, in order.
    const lines = readFileSync(join(dir, '.tollgate', 'audit.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { seq: number; type: string });
    expect(lines.map((l) => [l.seq, l.type])).toEqual(stored.map((e) => [e.seq, e.type]));
  });

  it('exits 2 and names the first broken event after the database is tampered with', async () => {
    const db = new Database(join(dir, '.tollgate', 'tollgate.db'));
    const victim = db.prepare('SELECT id FROM audit_events WHERE seq = 4').get() as { id: string };
    db.prepare("UPDATE audit_events SET data = json_set(data, '$.task', 'innocent') WHERE seq = 4").run();
    db.close();

    const plain = await run('audit', 'verify');
    expect(plain.code).toBe(2);
    expect(plain.stdout).toContain(`audit chain BROKEN at event 4 (${victim.id}): hash_mismatch`);

    const json = await run('audit', 'verify', '--json', '--slice', '2');
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, events: 3, first_broken: { seq: 4, id: victim.id, reason: 'hash_mismatch' } });
  });

  it('acknowledge: once looked into, a break is anchored again, and verify exits 0 naming it', async () => {
    const intact = await run('audit', 'acknowledge', '5', '--reason', 'x');
    expect(intact.code).toBe(1);
    expect(intact.stderr).toMatch(/Event 5 hashes and links to the one before it: .*\(HTTP 409, conflict\)/);
    const done = await run('audit', 'acknowledge', '4', '--reason', 'edited by hand in a drill');
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/^acknowledged the hash_mismatch break at event 4: checkpoint ckp_\w+ anchors the chain there/);
    const plain = await run('audit', 'verify');
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^audit chain intact but for 1 acknowledged break: /);
    expect(plain.stdout).toMatch(/acknowledged break at event 4 \(hash_mismatch\) by admin at .*: edited by hand in a drill/);
    const sliced = JSON.parse((await run('audit', 'verify', '--json', '--slice', '2')).stdout);
    expect(sliced).toMatchObject({ ok: true, acknowledged: [{ seq: 4, reason: 'hash_mismatch', by: 'admin', note: 'edited by hand in a drill' }] });
    const { data: [event] } = JSON.parse((await run('audit', 'search', '--type', 'audit.break_acknowledged', '--json')).stdout);
    expect(event).toMatchObject({ actor: 'admin', data: { seq: 4, reason: 'hash_mismatch' } });
  });
});
