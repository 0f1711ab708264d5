// `npm run bench:scale [-- --events N] [-- --quick]`: is Tollgate flat as the work grows? The
// same call measured against two gateways side by side, interleaved: one on an empty store, one
// on a store holding 100,000 sessions, 10,000 agents and 10 million audit events (generated once
// into bench/.scale-data and reused), there both from a plain session and from the leaf of a
// delegation chain five deep. Reports throughput, p50 latency, CPU per request, and the ratios
// of the big store to the empty one.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteStore, type AuditEvent, type Session } from '../src/store/index.js';
import { load, median, probe, warmUp, type Sample, type Target } from './measure.js';
import { startProcess, startStack, startUpstream, stopProcess } from './stack.js';

const argv = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const quick = argv.includes('--quick');
const EVENTS = option('events', 10_000_000);
const SESSIONS = option('sessions', 100_000);
const AGENTS = option('agents', 10_000);
const DURATION = option('duration', quick ? 3 : 5);
const ROUNDS = option('rounds', quick ? 1 : 3);
const CONNECTIONS = [1, 32];
const DATA = join(import.meta.dirname, '.scale-data', `${AGENTS}a-${SESSIONS}s-${EVENTS}e`);

const log = (line: string): void => void process.stderr.write(`${line}\n`);

/** Fills the store once: agents, sessions (some ended, with spend), and audit events on the chain. */
async function generate(): Promise<void> {
  const marker = join(DATA, 'generated.json');
  if (existsSync(marker)) return log(`reusing ${DATA}`);
  rmSync(DATA, { recursive: true, force: true });
  mkdirSync(DATA, { recursive: true });
  // The gateway applies the bench set-up (teams, profiles, agents) and migrates the store.
  const first = await startStack({ dataDir: DATA });
  await first.stop();
  const started = Date.now();
  const store = new SqliteStore({ path: join(DATA, 'tollgate.db') });
  const team = (await store.getTeam('bench'))!;
  const profile = (await store.getProfile('bench'))!;
  const agents: string[] = [];
  for (let i = 0; i < AGENTS; i++) {
    agents.push((await store.putAgent({ name: `scale-agent-${i}`, teamId: team.id, profileId: profile.id, owner: `owner-${i % 97}@example.com`, environment: 'prod' }, 'error')).id);
  }
  log(`  ${AGENTS} agents (${Date.now() - started} ms)`);
  const now = Date.now();
  const sessions: Session[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    const id = `ses_scale${String(i).padStart(7, '0')}`;
    sessions.push(await store.createSession({
      id, agentId: agents[i % AGENTS]!, teamId: team.id, profileId: profile.id, parentId: null, task: `generated task ${i}`,
      budget: { tokens: null, usdNano: 5_000_000_000 }, models: ['gpt-4o-mini'], context: { environment: 'prod' },
      createdAt: now - (SESSIONS - i) * 1000, expiresAt: now + 86_400_000, chain: [id],
    }));
  }
  // Most generated sessions are over, as in a store that has run for a while.
  await store.endSessions(sessions.slice(0, Math.floor(SESSIONS * 0.9)).map((s) => s.id), 'closed');
  log(`  ${SESSIONS} sessions (${Date.now() - started} ms)`);
  const BATCH = 5000;
  for (let done = 0; done < EVENTS; done += BATCH) {
    const events: AuditEvent[] = [];
    for (let i = done; i < Math.min(EVENTS, done + BATCH); i++) {
      const s = sessions[i % SESSIONS]!;
      events.push({
        id: `evt_scale${i}`, time: now - (EVENTS - i), type: i % 10 === 0 ? 'tool.called' : 'model.call', actor: `agent:${s.agentId}`, requestId: `req_scale${i}`,
        agentId: s.agentId, sessionId: s.id, teamId: team.id, chain: s.chain,
        data: { model: 'gpt-4o-mini', input_tokens: 120, output_tokens: 16, cost_usd_nano: 27_600, outcome: 'ok', latency_ms: 1.5 },
      });
    }
    await store.appendEvents(events);
    if ((done / BATCH) % 200 === 0) log(`  ${done + events.length} events (${Date.now() - started} ms)`);
  }
  await store.close();
  // A restart signs a checkpoint over the generated chain (verifying it once, here, not mid-run).
  const sealing = await startStack({ dataDir: DATA });
  await sealing.stop();
  writeFileSync(marker, JSON.stringify({ agents: AGENTS, sessions: SESSIONS, events: EVENTS, seconds: (Date.now() - started) / 1000 }));
  log(`generated in ${Math.round((Date.now() - started) / 1000)} s`);
}

/** Opens a delegation chain five deep below bench-agent and returns the leaf's token. */
async function chainLeaf(gatewayUrl: string, rootToken: string): Promise<string> {
  let token = rootToken;
  for (let depth = 1; depth <= 5; depth++) {
    const res = await fetch(`${gatewayUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: token, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        agent: `bench-sub-${depth}`, task: `level ${depth}`, budget_usd: String(1000 / depth),
      }).toString(),
    });
    const body = (await res.json()) as { access_token?: string };
    if (!res.ok || !body.access_token) throw new Error(`delegating to level ${depth}: ${res.status} ${JSON.stringify(body)}`);
    token = body.access_token;
  }
  return token;
}

async function main() {
  await generate();
  const upstream = await startUpstream();
  const proxy = await startProcess(['--import', 'tsx', join(import.meta.dirname, 'baseline-proxy.ts'), `http://127.0.0.1:${upstream.port}/v1`, '0'], /listening (\d+)/);
  const empty = await startStack({ upstreamPort: upstream.port });
  const bootStarted = performance.now();
  const big = await startStack({ upstreamPort: upstream.port, dataDir: DATA });
  const bootMs = performance.now() - bootStarted;
  const leaf = await chainLeaf(big.gatewayUrl, big.tokens.budgeted);
  const url = (base: string) => `${base}/v1/chat/completions`;
  const targets: Target[] = [
    { name: 'parsing proxy', url: `http://127.0.0.1:${proxy.match[1]}/v1/chat/completions`, headers: {}, pid: proxy.child.pid! },
    { name: 'tollgate, empty store', url: url(empty.gatewayUrl), headers: { authorization: `Bearer ${empty.tokens.budgeted}` }, pid: empty.gateway.child.pid! },
    { name: 'tollgate, big store', url: url(big.gatewayUrl), headers: { authorization: `Bearer ${big.tokens.budgeted}` }, pid: big.gateway.child.pid! },
    { name: 'tollgate, big store, chain 5 deep', url: url(big.gatewayUrl), headers: { authorization: `Bearer ${leaf}` }, pid: big.gateway.child.pid! },
  ];
  for (const t of targets) await warmUp(t, 'plain');
  const results = new Map<string, Sample[]>();
  for (const c of CONNECTIONS) {
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of targets.map((_, i) => targets[(i + round) % targets.length]!)) {
        const sample = await load(t, c, 'plain', DURATION);
        results.set(`${t.name}|${c}`, [...(results.get(`${t.name}|${c}`) ?? []), sample]);
        log(`  ${t.name} @${c} round ${round + 1}: ${Math.round(sample.rps)} rps, ${Math.round(sample.cpuUs)} µs CPU/req`);
      }
    }
  }
  const latency = await probe(targets, 'plain', quick ? 200 : 600);
  const med = (name: string, c: number, f: keyof Sample) => median(results.get(`${name}|${c}`)!.map((s) => s[f]));
  const generated = JSON.parse(readFileSync(join(DATA, 'generated.json'), 'utf8')) as { agents: number; sessions: number; events: number };
  const lines = [
    `Store: ${generated.agents.toLocaleString('en')} agents, ${generated.sessions.toLocaleString('en')} sessions, ${generated.events.toLocaleString('en')} audit events; the big store's gateway started in ${Math.round(bootMs)} ms.`,
    '',
    '| target | conns | rps | p50 ms | p99 ms | CPU µs/req | errors | sequential p50 ms |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const c of CONNECTIONS) {
    for (const t of targets) {
      lines.push(`| ${t.name} | ${c} | ${Math.round(med(t.name, c, 'rps'))} | ${med(t.name, c, 'p50')} | ${med(t.name, c, 'p99')} | ${Math.round(med(t.name, c, 'cpuUs'))} | ${med(t.name, c, 'errors')} | ${c === 1 ? median(latency.get(t.name)!).toFixed(3) : '—'} |`);
    }
  }
  lines.push('', '| ratio (same run) | value |', '| --- | --- |');
  for (const c of CONNECTIONS) {
    for (const name of ['tollgate, big store', 'tollgate, big store, chain 5 deep']) {
      lines.push(`| throughput ${name} / empty store @${c} | ${(med(name, c, 'rps') / med('tollgate, empty store', c, 'rps')).toFixed(2)} |`);
      lines.push(`| CPU per request ${name} / empty store @${c} | ${(med(name, c, 'cpuUs') / med('tollgate, empty store', c, 'cpuUs')).toFixed(2)} |`);
    }
  }
  for (const name of ['tollgate, big store', 'tollgate, big store, chain 5 deep']) {
    lines.push(`| sequential p50 ${name} / empty store | ${(median(latency.get(name)!) / median(latency.get('tollgate, empty store')!)).toFixed(2)} |`);
  }
  process.stdout.write(`\n${lines.join('\n')}\n`);
  await Promise.all([empty.stop(), big.stop(), stopProcess(proxy.child), stopProcess(upstream.child)]);
}

await main();
process.exit(0);
