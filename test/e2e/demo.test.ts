// `tollgate demo` as a newcomer runs it (the built CLI, a fresh directory): every part of the
// workload happens, and the record it leaves is real — spend per agent, a contained retry loop,
// a refused MCP tool, an approval decided, an intact audit chain.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gateway } from '../../src/server/index.js';
import { demoConfig } from '../../src/demo/workload.js';
import { CLI, cleanEnv } from '../helpers/process.js';

let dir: string;
let out: string;
let gateway: Gateway;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-demo-'));
  out = (await promisify(execFile)(process.execPath, [CLI, 'demo', '--duration', '8', '--port', '0', '--auto-approve-after', '1', '--exit'], { cwd: dir, env: cleanEnv(), timeout: 60_000 })).stdout;
  // Reopen what it left behind (same data dir) to check the record itself.
  gateway = await Gateway.create({ config: { ...demoConfig(), logging: { level: 'silent' } }, dataDir: join(dir, '.tollgate-demo') });
}, 90_000);
afterAll(async () => {
  await gateway?.close(0);
});

describe('tollgate demo', () => {
  it('prints each part of the workload as it happens', () => {
    expect(out).toMatch(/^tollgate demo: gateway on http:\/\/127\.0\.0\.1:\d+/);
    expect(out).toContain('researcher: delete_note refused by the gateway (-32003');
    expect(out).toMatch(/support-bot: crossed its soft threshold — waiting for approval apr_/);
    // Every command it suggests names this gateway and its data, so it runs as pasted.
    expect(out).toMatch(/or: npx tollgate --url http:\/\/127\.0\.0\.1:\d+ --data-dir \S+ approval approve apr_/);
    expect(out).toMatch(/see the tree with `npx tollgate --url \S+ --data-dir \S+ session tree ses_/);
    expect(out).not.toMatch(/`tollgate (alerts|session)/);
    expect(out).toContain('support-bot: approval approved, carrying on');
    expect(out).toMatch(/coder-1: attempt 5 refused — the session was suspended by the retry-loop detector/);
    expect(out).toMatch(/\[critical\] retry_loop: The same prompt was rejected 4 times/);
  });

  it('leaves real spend per agent, a contained session, alerts and an intact chain', async () => {
    const store = gateway.store;
    const agents = new Map((await store.listAgents()).map((a) => [a.id, a.name]));
    const spend = await store.spendReport('agent');
    const byName = Object.fromEntries(spend.map((r) => [agents.get(r.key!), r]));
    for (const name of ['planner', 'researcher', 'writer', 'support-bot', 'demo-agent']) expect(byName[name]?.usdNano, name).toBeGreaterThan(0);
    expect(byName['coder-1']!.requests).toBe(4);
    const coder = (await store.listSessions({ agentId: [...agents].find(([, n]) => n === 'coder-1')![0] }))[0]!;
    expect(coder.status).toBe('suspended');
    expect((await store.listAlerts({ detector: 'retry_loop', severity: 'critical' }))).toHaveLength(1);
    const tree = await store.sessionTree((await store.listSessions({ agentId: [...agents].find(([, n]) => n === 'planner')![0] }))[0]!.id);
    expect(tree.map((s) => agents.get(s.agentId)).sort()).toEqual(['planner', 'researcher', 'writer']);
    expect(tree.every((s) => s.status === 'closed')).toBe(true);
    // The audit chain the demo wrote verifies.
    const url = await gateway.listen(0, '127.0.0.1');
    const token = readFileSync(join(dir, '.tollgate-demo', 'admin-token'), 'utf8').trim();
    const verify = (await (await fetch(`${url}/admin/v1/audit/verify`, { headers: { authorization: `Bearer ${token}` } })).json()) as { ok: boolean; events: number };
    expect(verify.ok).toBe(true);
    expect(verify.events).toBeGreaterThan(50);
    // The alerts command the demo printed works as pasted (pointed at this gateway's port).
    const printed = /alerts: npx tollgate (--url \S+ --data-dir \S+) alerts/.exec(out)![1]!.split(' ');
    printed[1] = url;
    const alerts = (await promisify(execFile)(process.execPath, [CLI, ...printed, 'alerts'], { cwd: dir, env: cleanEnv() })).stdout;
    expect(alerts).toContain('retry_loop');
  });
});
