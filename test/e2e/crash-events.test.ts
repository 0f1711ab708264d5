// kill -9 under load, under each `storage.answer_after`: with `line`, every response a client
// received has its own spend line and model.call event on disk after the restart; with `hold`
// (the default), every such call is billed — by its own line, or by its hold charged at restart
// (a `reconciled` line and its `reservation.reconciled` event). The audit chain verifies.
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { crashAdmin, crashDir, expectAuditVerifies, expectBalanced, openCrashSession, startOn as start } from '../helpers/crash.js';

const admin = (url: string, path: string) => crashAdmin(url, 'GET', path);

describe.each(['line', 'hold'] as const)('crash consistency of the audit record, answer_after: %s', (answerAfter) => {
  it('keeps a line and an event for every answered call across a kill -9 under load', async () => {
    const dir = crashDir('tollgate-crash-events-', 5, `storage: { answer_after: ${answerAfter} }`);
    try {
      const first = await start(dir);
      const opened = await openCrashSession(first.url, 5, 'load');
      const answered: string[] = [];
      let stop = false;
      // The admin lists read back at most 1,000 lines: the workers start no more calls than that.
      const MAX_CALLS = 950;
      let started = 0;
      // 16 workers call as fast as they can, plain and streamed; a call counts as answered only
      // when the client has read its whole response.
      const worker = async (w: number) => {
        for (let i = 0; !stop && started < MAX_CALLS; i++) {
          started++;
          try {
            const stream = (w + i) % 2 === 0;
            const res = await fetch(`${first.url}/v1/chat/completions`, {
              method: 'POST', headers: { authorization: `Bearer ${opened.token}`, 'content-type': 'application/json' },
              body: JSON.stringify({ model: 'gpt-4o-mini', stream, max_tokens: 16, messages: [{ role: 'user', content: `w${w} call ${i} [[sim:tokens=8]]` }] }),
            });
            const body = await res.text();
            if (res.status === 200 && (stream ? body.includes('[DONE]') : body.includes('"choices"'))) answered.push(res.headers.get('x-request-id')!);
          } catch {
            return; // the process died under this call
          }
        }
      };
      const workers = Array.from({ length: 16 }, (_, w) => worker(w));
      // The kill lands under load: after 2.5 s, or sooner on a fast machine, with calls still in flight.
      const killAt = Date.now() + 2500;
      while (Date.now() < killAt && started < MAX_CALLS - 50) await new Promise((r) => setTimeout(r, 10));
      await first.stop('SIGKILL');
      stop = true;
      await Promise.all(workers);
      expect(answered.length).toBeGreaterThan(20);

      const second = await start(dir);
      try {
        const ofType = async (type: string) => (await admin(second.url, `/admin/v1/audit/events?type=${type}&session=${opened.sessionId}&limit=1000`)).data as { request_id: string }[];
        const lines = (await admin(second.url, `/admin/v1/usage?session=${opened.sessionId}&limit=1000`)).data as { request_id: string; outcome: string }[];
        const calls = new Set((await ofType('model.call')).map((e) => e.request_id));
        const reconciled = new Set((await ofType('reservation.reconciled')).map((e) => e.request_id));
        const lineOf = new Map(lines.map((l) => [l.request_id, l.outcome]));
        if (answerAfter === 'line') {
          expect(answered.filter((id) => !calls.has(id))).toEqual([]);
          expect(answered.filter((id) => lineOf.get(id) !== 'ok')).toEqual([]);
        } else {
          // Billed either way: its own line and event, or its hold charged at restart.
          expect(answered.filter((id) => !(lineOf.get(id) === 'ok' && calls.has(id)) && !(lineOf.get(id) === 'reconciled' && reconciled.has(id)))).toEqual([]);
          console.log(`answer_after hold: ${answered.length} calls answered, ${answered.filter((id) => lineOf.get(id) === 'reconciled').length} of them billed by their hold at restart`);
        }
        await expectBalanced(second.url, opened.sessionId);
        await expectAuditVerifies(second.url);
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
