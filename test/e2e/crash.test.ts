// kill -9 with calls in flight, then restart on the same data: every call that was in flight is
// reconciled exactly once, the ledger balances against the spend lines, and nothing is charged twice.
// (test/hardening/crash-loop.test.ts repeats kills at random points under load.)
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { crashAdmin as admin, crashDir, expectAuditVerifies, expectBalanced, startOn as start } from '../helpers/crash.js';

describe('crash consistency', () => {
  it('reconciles the calls in flight at a kill -9, once, and the ledger balances', async () => {
    const dir = crashDir('tollgate-crash-', 1);
    const first = await start(dir);
    const opened = await admin(first.url, 'POST', '/admin/v1/sessions', { agent: 'a', task: 'crash', budget: { usd: 0.5 } });
    const token = opened.token as string;
    const chat = (content: string, stream: boolean) => fetch(`${first.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', stream, max_tokens: 300, messages: [{ role: 'user', content }] }),
    });
    // Three calls that finish, then twelve slow streams still running when the process dies.
    for (let i = 0; i < 3; i++) expect((await chat(`done ${i} [[sim:tokens=10]]`, false)).status).toBe(200);
    const inFlight = Array.from({ length: 12 }, (_, i) => chat(`slow ${i} [[sim:tokens=300]] [[sim:tokens_per_second=20]]`, true).then(async (res) => {
      const reader = res.body!.getReader();
      for (;;) if ((await reader.read()).done) break;
    }).catch(() => 'cut'));
    await new Promise((r) => setTimeout(r, 1500));
    await first.stop('SIGKILL');
    await Promise.all(inFlight);

    const second = await start(dir);
    const lines = (await admin(second.url, 'GET', `/admin/v1/usage?session=${opened.session.id}&limit=1000`)).data as { request_id: string; outcome: string; cost_usd: number; estimated: boolean }[];
    const session = await admin(second.url, 'GET', `/admin/v1/sessions/${opened.session.id}`);
    expect(lines.filter((l) => l.outcome === 'ok')).toHaveLength(3);
    const reconciled = lines.filter((l) => l.outcome === 'reconciled');
    expect(reconciled).toHaveLength(12);
    for (const l of reconciled) expect(l.estimated).toBe(true);
    await expectBalanced(second.url, opened.session.id); // the ledger balances against the lines and the audit log
    await expectAuditVerifies(second.url);
    expect(session.spent.usd).toBeLessThanOrEqual(0.5);
    const events = (await admin(second.url, 'GET', '/admin/v1/audit/events?type=reservation.reconciled&limit=100')).data;
    expect(events).toHaveLength(12);

    // A second restart reconciles nothing more: nothing is charged twice.
    await second.stop();
    const third = await start(dir);
    const again = await admin(third.url, 'GET', `/admin/v1/sessions/${opened.session.id}`);
    expect(again.spent).toEqual(session.spent);
    await third.stop();
    const db = new Database(join(dir, '.tollgate', 'tollgate.db'), { readonly: true });
    expect((db.prepare('SELECT count(*) AS n FROM reservations').get() as { n: number }).n).toBe(0);
    db.close();
  }, 60_000);
});
