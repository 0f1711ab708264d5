// Shared by the kill -9 tests (test/e2e/crash*.test.ts, test/hardening/crash-loop.test.ts): a data
// directory with a small config, the real `tollgate serve` process on it, the admin API, and the
// checks that must hold after any restart — the ledger balances against the spend lines and the
// audit log, and the audit chain verifies.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { startServe, type ServeProcess } from './process.js';

export const CRASH_ADMIN = 'tga_crash-test-0123456789';

/**
 * A fresh data directory holding `tollgate.yaml`: one simulated model, one agent `a`, sessions up
 * to `maxUsd`; `extra` is appended to the config (YAML).
 */
export function crashDir(prefix: string, maxUsd = 5, extra = ''): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(dir, 'tollgate.yaml'), `${extra}
server: { log_requests: false }
providers: [{ name: sim, type: simulated }]
models: [{ name: gpt-4o-mini, provider: sim, price: { input: 0.15, output: 0.60 } }]
teams: [{ name: t }]
profiles: [{ name: p, models: [gpt-4o-mini], session_budget: { max: { usd: ${maxUsd} } } }]
agents: [{ name: a, team: t, profile: p }]
`);
  return dir;
}

export const startOn = (dir: string): Promise<ServeProcess> => startServe(dir, ['--config', 'tollgate.yaml'], { TOLLGATE_ADMIN_TOKEN: CRASH_ADMIN });

export async function crashAdmin(url: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(url + path, {
    method, headers: { authorization: `Bearer ${CRASH_ADMIN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res.json();
}

export async function openCrashSession(url: string, usd: number, task = 'crash'): Promise<{ token: string; sessionId: string }> {
  const opened = await crashAdmin(url, 'POST', '/admin/v1/sessions', { agent: 'a', task, budget: { usd } });
  return { token: opened.token as string, sessionId: opened.session.id as string };
}

/** One chat call; with `stream`, the whole stream is read. Resolves with the request id once answered, null if cut. */
export async function crashChat(url: string, token: string, content: string, stream: boolean, maxTokens = 300): Promise<string | null> {
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', stream, max_tokens: maxTokens, messages: [{ role: 'user', content }] }),
    });
    const body = await res.text();
    const answered = res.status === 200 && (stream ? body.includes('[DONE]') : body.includes('"choices"'));
    return answered ? res.headers.get('x-request-id') : null;
  } catch {
    return null; // the process died under this call
  }
}

export interface SpendLine { id: string; request_id: string; outcome: string; cost_usd: number; estimated: boolean }

/**
 * After a restart: the session's ledger equals the sum of its spend lines, and each line has the
 * audit event that charged it with the same amount — its `model.call`, or for a call that was in
 * flight at the kill its `reservation.reconciled` (a `model.call` may precede that one, when the
 * call's event was durable and its line was not) — and no event charges a line that is not on
 * the ledger. Nothing is still reserved.
 */
export async function expectBalanced(url: string, sessionId: string): Promise<{ lines: SpendLine[]; session: any; recovered: number }> {
  const lines = (await crashAdmin(url, 'GET', `/admin/v1/usage?session=${sessionId}&limit=1000`)).data as SpendLine[];
  expect(lines.length).toBeLessThan(1000); // one page holds them all
  const session = await crashAdmin(url, 'GET', `/admin/v1/sessions/${sessionId}`);
  expect(new Set(lines.map((l) => l.request_id)).size).toBe(lines.length); // one line per call
  expect(session.spent.requests).toBe(lines.length);
  expect(session.spent.usd).toBeCloseTo(lines.reduce((s, l) => s + l.cost_usd, 0), 9);
  expect(session.reserved?.usd ?? 0).toBe(0);
  const events = async (type: string) => (await crashAdmin(url, 'GET', `/admin/v1/audit/events?type=${type}&session=${sessionId}&limit=1000`)).data as { data: Record<string, any> }[];
  const callEvents = await events('model.call');
  const reconciledEvents = await events('reservation.reconciled');
  const calls = new Map(callEvents.map((e) => [e.data.usage_line as string, e.data.cost_usd_nano / 1e9]));
  const reconciled = new Map(reconciledEvents.map((e) => [e.data.line as string, e.data.usd as number]));
  const unmatched = lines.filter((l) => {
    const charged = l.outcome === 'reconciled' ? reconciled.get(l.id) : calls.get(l.id);
    return charged === undefined || Math.abs(charged - l.cost_usd) > 1e-9;
  }).map((l) => `${l.id} ${l.outcome}`);
  expect(unmatched).toEqual([]);
  const onLedger = new Set(lines.map((l) => l.id));
  expect([...calls.keys(), ...reconciled.keys()].filter((id) => !onLedger.has(id))).toEqual([]);
  const recovered = [...callEvents, ...reconciledEvents].filter((e) => e.data.recovered === true).length;
  return { lines, session, recovered };
}

export async function expectAuditVerifies(url: string): Promise<void> {
  expect(await crashAdmin(url, 'GET', '/admin/v1/audit/verify')).toMatchObject({ ok: true });
}
