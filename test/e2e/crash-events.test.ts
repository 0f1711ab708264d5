// kill -9 under load: every response a client received has its audit events and its spend line
// on disk after the restart (events are durable before the end of a response), and the audit
// chain still verifies.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startServe } from '../helpers/process.js';

const ADMIN = 'tga_crash-events-test-0123456789';
const start = (dir: string) => startServe(dir, ['--config', 'tollgate.yaml'], { TOLLGATE_ADMIN_TOKEN: ADMIN });
const admin = async (url: string, path: string) => (await fetch(url + path, { headers: { authorization: `Bearer ${ADMIN}` } })).json() as Promise<any>;

describe('crash consistency of the audit record', () => {
  it('keeps the events of every answered call across a kill -9 under load', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-crash-events-'));
    writeFileSync(join(dir, 'tollgate.yaml'), `
server: { log_requests: false }
providers: [{ name: sim, type: simulated }]
models: [{ name: gpt-4o-mini, provider: sim, price: { input: 0.15, output: 0.60 } }]
teams: [{ name: t }]
profiles: [{ name: p, models: [gpt-4o-mini], session_budget: { max: { usd: 5 } } }]
agents: [{ name: a, team: t, profile: p }]
`);
    try {
      const first = await start(dir);
      const opened = await (await fetch(`${first.url}/admin/v1/sessions`, {
        method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'a', task: 'load', budget: { usd: 5 } }),
      })).json() as { token: string; session: { id: string } };
      const answered: string[] = [];
      let stop = false;
      // 16 workers call as fast as they can, plain and streamed; a call counts as answered only
      // when the client has read its whole response.
      const worker = async (w: number) => {
        for (let i = 0; !stop; i++) {
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
      await new Promise((r) => setTimeout(r, 2500));
      await first.stop('SIGKILL');
      stop = true;
      await Promise.all(workers);
      expect(answered.length).toBeGreaterThan(20);

      const second = await start(dir);
      try {
        const events = (await admin(second.url, `/admin/v1/audit/events?type=model.call&session=${opened.session.id}&limit=1000`)).data as { request_id: string }[];
        const lines = (await admin(second.url, `/admin/v1/usage?session=${opened.session.id}&limit=1000`)).data as { request_id: string }[];
        const withEvent = new Set(events.map((e) => e.request_id));
        const withLine = new Set(lines.map((l) => l.request_id));
        const missingEvents = answered.filter((id) => !withEvent.has(id));
        const missingLines = answered.filter((id) => !withLine.has(id));
        expect(missingEvents).toEqual([]);
        expect(missingLines).toEqual([]);
        const verified = await admin(second.url, '/admin/v1/audit/verify');
        expect(verified).toMatchObject({ ok: true });
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
