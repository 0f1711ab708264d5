// How long an access review takes to build on a populated SQLite store: agents with secrets and
// sources, sessions, metered calls and `tool.called` / `model.call` events on the audit chain
// (the review reads the chain page by page). Also: what recording credential uses costs per
// token request (batched, at most one write per credential, source and minute).
// Run: npx tsx bench/access-review.ts [agents] [calls]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAccessReview } from '../src/access/index.js';
import { AuditLog } from '../src/audit/index.js';
import { CredentialService, MasterKey } from '../src/identity/index.js';
import { SqliteStore, type UsageRecord } from '../src/store/index.js';

const AGENTS = Number(process.argv[2] ?? 500);
const CALLS = Number(process.argv[3] ?? 50_000);
const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-review-'));
const store = new SqliteStore({ path: join(dir, 'bench.db') });
await store.migrate();
const master = MasterKey.fromBytes(randomBytes(32));
const credentials = new CredentialService(store, master);
// Counted: how many batches (and rows) the recorded uses of all token requests become.
let batches = 0;
let rows = 0;
const record = store.recordCredentialUses.bind(store);
store.recordCredentialUses = async (uses) => {
  batches++;
  rows += uses.length;
  return record(uses);
};
const audit = new AuditLog(store);

const team = await store.putTeam({ name: 'bench' }, 'error');
const spec = { sessionBudget: { default: { tokens: null, usdNano: null }, max: { tokens: null, usdNano: null } }, sessionTtlSeconds: { default: 3600, max: 3600 }, requireActorToken: false, agentBudget: null, enforcement: { mode: 'hard' as const, threshold: 0.8, holdSeconds: 0 } };
const profiles = await Promise.all(Array.from({ length: 10 }, (_, i) => store.putProfile({ name: `p${i}`, models: ['m1', 'm2', 'm3'], tools: ['notes/*', 'files/read', 'files/write'], ...spec }, 'error')));
const now = Date.now();
const sessions: { id: string; agentId: string; profileId: string }[] = [];
const secrets: { agentId: string; secret: string }[] = [];
for (let a = 0; a < AGENTS; a++) {
  const profile = profiles[a % profiles.length]!;
  const agent = await store.putAgent({ name: `agent-${a}`, teamId: team.id, profileId: profile.id, owner: a % 7 === 0 ? null : `o${a}@example.com`, environment: 'prod' }, 'error');
  for (let c = 0; c < 2; c++) secrets.push({ agentId: agent.id, secret: (await credentials.issue(agent.id, null)).clientSecret });
  for (let s = 0; s < 4; s++) {
    const id = `ses_${a}_${s}`;
    await store.createSession({ id, agentId: agent.id, teamId: team.id, profileId: profile.id, parentId: null, task: 't', budget: { tokens: null, usdNano: null }, models: ['m1'], context: {}, expiresAt: now + 3_600_000, chain: [id], createdAt: now - s * 86_400_000 });
    sessions.push({ id, agentId: agent.id, profileId: profile.id });
  }
}
// Token requests: every secret used from one or two sources, many times.
const started = process.hrtime.bigint();
let requests = 0;
for (let round = 0; round < 20; round++) {
  for (const [i, s] of secrets.entries()) {
    if (i % 2 === 1) continue; // every other secret never used
    await credentials.verify(s.agentId, s.secret, i % 10 === 0 && round % 2 ? '10.0.0.2' : '10.0.0.1');
    requests++;
  }
}
const verifyUs = Number(process.hrtime.bigint() - started) / 1000 / requests;
await credentials.flush();
// For comparison: one synchronous write per token request (what recording used to cost).
const t1 = process.hrtime.bigint();
for (let i = 0; i < requests; i++) await store.touchCredential(`cred_none_${i % 100}`, now, '10.0.0.1');
const touchUs = Number(process.hrtime.bigint() - t1) / 1000 / requests;

const lines: UsageRecord[] = [];
for (let i = 0; i < CALLS; i++) {
  const s = sessions[i % sessions.length]!;
  lines.push({
    id: `use_${i}`, requestId: `req_${i}`, sessionId: s.id, agentId: s.agentId, teamId: team.id, profileId: s.profileId, model: i % 5 === 0 ? 'm2' : 'm1', provider: 'sim', api: 'openai.chat',
    stream: false, inputTokens: 10, outputTokens: 5, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, costUsdNano: 100, estimated: false, outcome: 'ok', httpStatus: 200, latencyMs: 1, createdAt: now - (i % 20) * 3_600_000, chain: [s.id],
  });
  if (lines.length === 1000) await store.recordUsage(lines.splice(0));
}
await store.recordUsage(lines);
for (let i = 0; i < CALLS; i++) {
  const s = sessions[i % sessions.length]!;
  const tool = i % 3 === 0;
  void audit.record({ type: tool ? 'tool.called' : 'model.call', actor: `agent:${s.agentId}`, agentId: s.agentId, sessionId: s.id, data: tool ? { tool: i % 6 === 0 ? 'notes/read' : 'files/read', ok: true } : { model: 'm1', ...(i % 4 === 0 ? { tool_calls: ['lookup'] } : {}) } });
}
await audit.flush();

const t0 = performance.now();
const review = await buildAccessReview({ store, now: Date.now(), settings: { windowDays: 30, unusedDays: 30, longLivedDays: 90, federationEnabled: false, federatedAgents: new Set() } });
const ms = performance.now() - t0;
console.log(`agents ${AGENTS}, secrets ${secrets.length}, sessions ${sessions.length}, spend lines ${CALLS}, audit events ${CALLS} (${Math.round(CALLS / 3)} tool.called)`);
console.log(`token-request credential check: ${verifyUs.toFixed(1)} µs per request (${requests} requests); their uses written in ${batches} batch(es) of ${rows} rows in all, against ${touchUs.toFixed(1)} µs per request for a write each`);
console.log(`access review: ${ms.toFixed(0)} ms, ${review.findings.length} findings (${JSON.stringify(review.summary.by_kind)})`);
await store.close();
rmSync(dir, { recursive: true, force: true });
