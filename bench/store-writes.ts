// `npx tsx bench/store-writes.ts`: CPU per call of a call's durable writes on SQLite (its hold,
// its spend line, its chained audit event), by how many calls share a transaction — written as
// separate transactions (hold; line; event) and through writeBatch (hold; line and event).
import { SqliteStore, type AuditEvent, type PendingReservation, type UsageRecord } from '../src/store/index.js';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
const store = new SqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'sb-')), 'db.sqlite') });
await store.migrate();
const team = await store.putTeam({ name: 't' }, 'error');
const profile = await store.putProfile({ name: 'p', models: ['*'] } as Parameters<typeof store.putProfile>[0], 'error') // the rest: defaults;
const agent = await store.putAgent({ name: 'a', teamId: team.id, profileId: profile.id, environment: 'dev' }, 'error');
const now = Date.now();
const session = await store.createSession({ id: 'ses_x', agentId: agent.id, teamId: team.id, profileId: profile.id, task: 'x', budget: { tokens: null, usdNano: null }, models: ['*'], context: {}, parentId: null, chain: ['ses_x'], expiresAt: now + 1e9 });
let n = 0;
const rec = (id: string): UsageRecord => ({ id, requestId: 'req_' + id, sessionId: session.id, agentId: agent.id, teamId: team.id, profileId: profile.id, model: 'm', provider: 'p', api: 'chat', stream: false, inputTokens: 10, outputTokens: 16, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, costUsdNano: 1000, estimated: false, outcome: 'ok', httpStatus: 200, latencyMs: 1, createdAt: Date.now(), chain: [session.id] });
const res = (id: string): PendingReservation => ({ id, requestId: 'req_' + id, sessionId: session.id, agentId: agent.id, teamId: team.id, profileId: profile.id, model: 'm', provider: 'p', api: 'chat', stream: false, promptTokens: 10, outputTokens: 16, usdNano: 1000, chain: [session.id], createdAt: Date.now(), expiresAt: Date.now() + 600000 });
const ev = (id: string): AuditEvent => ({ id: 'evt_' + id, time: Date.now(), type: 'model.call', actor: 'agent:' + agent.id, requestId: 'req_' + id, agentId: agent.id, sessionId: session.id, teamId: team.id, chain: [session.id], data: { usage_line: id, model: 'm', provider: 'p', input_tokens: 10, output_tokens: 16, cost_usd_nano: 1000, latency_ms: 1.2, policy: { effect: 'allow', policies: ['p0'], cached: true, version: 'v1' } } });
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
for (const batch of [1, 4, 16, 32]) {
  const calls = 20000;
  const t0 = cpu();
  for (let i = 0; i < calls; i += batch) {
    const ids = Array.from({ length: batch }, () => 'use_' + (n++));
    await store.recordUsage([], ids.map(res));
    await store.recordUsage(ids.map(rec), []);
    await store.appendEvents(ids.map(ev));
  }
  const t1 = cpu();
  // Only the usage lines (no reservation journal)
  for (let i = 0; i < calls; i += batch) {
    const ids = Array.from({ length: batch }, () => 'use_' + (n++));
    await store.recordUsage(ids.map(rec), []);
  }
  const t2 = cpu();
  for (let i = 0; i < calls; i += batch) {
    const ids = Array.from({ length: batch }, () => 'use_' + (n++));
    await store.appendEvents(ids.map(ev));
  }
  const t3 = cpu();
  for (let i = 0; i < calls; i += batch) {
    const ids = Array.from({ length: batch }, () => 'use_' + (n++));
    await store.recordUsage([], ids.map(res));
  }
  const t4 = cpu();
  for (let i = 0; i < calls; i += batch) {
    const ids = Array.from({ length: batch }, () => 'use_' + (n++));
    await store.writeBatch({ events: [], records: [], reservations: ids.map(res) });
    await store.writeBatch({ events: ids.map(ev), records: ids.map(rec), reservations: [] });
  }
  const t5 = cpu();
  console.log(`batch ${batch}: separate ${((t1 - t0) / calls).toFixed(1)} µs/call; combined ${((t5 - t4) / calls).toFixed(1)}; usage ${((t2 - t1) / calls).toFixed(1)}; audit ${((t3 - t2) / calls).toFixed(1)}; reservation insert ${((t4 - t3) / calls).toFixed(1)}`);
}
