// kill -9 at a random point under concurrent load, again and again on the same data directory.
// After every restart: each session's ledger balances against its spend lines and the audit
// events that charged them, calls in flight at the kill are reconciled once (never again on a
// later restart), no hold is left, and the audit chain verifies. test/e2e/crash*.test.ts pin the
// single-kill cases; this runs the loop. TOLLGATE_CRASH_CYCLES runs more cycles (default 10).
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Gateway } from '../../src/server/index.js';
import { CRASH_ADMIN, crashAdmin, crashChat, crashDir, expectAuditVerifies, expectBalanced, openCrashSession, startOn } from '../helpers/crash.js';
import { testConfig } from '../helpers/gateway.js';

const CYCLES = Number(process.env.TOLLGATE_CRASH_CYCLES ?? 10);

describe('crash loop', () => {
  it(`stays consistent across ${CYCLES} kill -9 cycles at random points under load`, async () => {
    const dir = crashDir('tollgate-crash-loop-');
    const sessions: { id: string; spent?: unknown }[] = [];
    let answeredTotal = 0;
    let reconciledTotal = 0;
    let recoveredTotal = 0;
    try {
      let gw = await startOn(dir);
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        const { token, sessionId } = await openCrashSession(gw.url, 5, `cycle ${cycle}`);
        sessions.push({ id: sessionId });
        let stop = false;
        // The balance check reads the session's lines in one page of 1,000: a fast machine must not
        // start more calls than that in a cycle.
        let started = 0;
        // Eight workers: quick plain and streamed calls, and slow streams that are often cut.
        const worker = async (w: number) => {
          let answered = 0;
          for (let i = 0; !stop && started < 950; i++) {
            started++;
            const slow = w % 4 === 0;
            const content = slow ? `c${cycle} w${w} #${i} [[sim:tokens=200]] [[sim:tokens_per_second=100]]` : `c${cycle} w${w} #${i} [[sim:tokens=8]]`;
            const id = await crashChat(gw.url, token, content, slow || i % 2 === 0, slow ? 300 : 16);
            if (id) answered++;
            else if (stop) break;
          }
          return answered;
        };
        const workers = Array.from({ length: 8 }, (_, w) => worker(w));
        await new Promise((r) => setTimeout(r, 300 + Math.floor(Math.random() * 1500)));
        await gw.stop('SIGKILL');
        stop = true;
        answeredTotal += (await Promise.all(workers)).reduce((a, b) => a + b, 0);

        gw = await startOn(dir);
        const { lines, recovered } = await expectBalanced(gw.url, sessionId);
        reconciledTotal += lines.filter((l) => l.outcome === 'reconciled').length;
        recoveredTotal += recovered;
        // Sessions of earlier cycles: nothing charged again by this restart's reconciliation.
        for (const s of sessions) {
          const now = (await expectBalanced(gw.url, s.id)).session.spent;
          if (s.spent !== undefined) expect(now, `session ${s.id} after cycle ${cycle}`).toEqual(s.spent);
          s.spent = now;
        }
        await expectAuditVerifies(gw.url);
      }
      await gw.stop();
      const db = new Database(join(dir, '.tollgate', 'tollgate.db'), { readonly: true });
      expect((db.prepare('SELECT count(*) AS n FROM reservations').get() as { n: number }).n).toBe(0);
      db.close();
      expect(answeredTotal).toBeGreaterThan(CYCLES * 5); // there really was load at each kill
      console.log(`crash loop: ${CYCLES} kill -9 cycles, ${answeredTotal} calls answered, ${reconciledTotal} in-flight calls reconciled, ${recoveredTotal} audit events recovered`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000 + CYCLES * 20_000);
});

describe('a spend line the crash left without its audit event', () => {
  it('gets its model.call event at the next start, marked recovered, and the chain still verifies', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-recover-'));
    const open = async () => {
      const gateway = await Gateway.create({ config: testConfig({ server: { log_requests: false } }), dataDir, env: { TOLLGATE_ADMIN_TOKEN: CRASH_ADMIN } });
      return { gateway, url: await gateway.listen(0, '127.0.0.1') };
    };
    try {
      const first = await open();
      const opened = await crashAdmin(first.url, 'POST', '/admin/v1/sessions', { agent: 'demo-agent', task: 'recover' });
      // One real call: an ordinary line with its event.
      expect(await crashChat(first.url, opened.token, 'hi', false)).not.toBeNull();
      await crashAdmin(first.url, 'GET', '/admin/v1/whoami'); // an admin request lets the line commit (answer_after: hold)
      const [line] = await first.gateway.store.listUsage({ limit: 1 });
      expect(line).toBeDefined();
      // A line as a crash between the two writes leaves it: on the ledger, its event never written.
      const lost = { ...line!, id: 'use_lostevent0000000000000000000000', requestId: 'req_lostevent', createdAt: Date.now() };
      await first.gateway.store.recordUsage([lost]);
      await first.gateway.close(100);
      const second = await open();
      try {
        const events = await second.gateway.store.listEvents({ type: 'model.call', sessionId: opened.session.id });
        expect(events.find((e) => e.data.usage_line === lost.id)?.data).toMatchObject({ recovered: true, cost_usd_nano: lost.costUsdNano, outcome: lost.outcome });
        expect(events.filter((e) => e.data.recovered === true)).toHaveLength(1); // the ordinary line kept its own
        await expectBalanced(second.url, opened.session.id);
        await expectAuditVerifies(second.url);
      } finally {
        await second.gateway.close(100);
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
