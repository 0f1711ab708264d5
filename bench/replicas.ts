// `npm run build && npx tsx bench/replicas.ts [--quick] [--write]`: Tollgate on PostgreSQL with 1,
// 2 and 3 replicas against one replica on SQLite, in the same run. Every call is on one session
// under session, agent-per-day and team-per-month budgets (the hottest case: the same three
// account rows for every call, on every replica). Load is spread evenly over the replicas; the
// database is reached through a counting proxy, so the round trips per call are measured, not
// estimated. With --write, the table replaces the "Several replicas" section of bench/RESULTS.md.
import autocannon from 'autocannon';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { TcpProxy } from '../test/helpers/tcp-proxy.js';
import { BENCH_CALL, CLI, gatewayEnv, openSession, startProcess, startUpstream } from './stack.js';

const quick = process.argv.includes('--quick');
const write = process.argv.includes('--write');
const DURATION = quick ? 4 : 10;
const ROUNDS = quick ? 1 : 3;
const CONNECTIONS = quick ? [1, 32] : [1, 32, 96];
const PG_URL = process.env.TOLLGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

interface Target {
  name: string;
  urls: string[];
  token: string;
  proxy: TcpProxy | null;
}

interface Sample { rps: number; p50: number; p99: number; errors: number; roundTrips: number | null }

const body = JSON.stringify(BENCH_CALL);

/** Runs `connections` spread over the target's replicas at once; one sample. */
async function load(t: Target, connections: number): Promise<Sample> {
  const before = t.proxy?.roundTrips ?? 0;
  const share = (i: number) => Math.floor(connections / t.urls.length) + (i < connections % t.urls.length ? 1 : 0);
  const done = await Promise.all(t.urls.flatMap((url, i) => share(i) === 0 ? [] : [autocannon({
    url: `${url}/v1/chat/completions`, method: 'POST', connections: share(i), duration: DURATION,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${t.token}` }, body,
  })]));
  const total = done.reduce((n, r) => n + r.requests.total, 0);
  // Latency percentiles: the request-weighted mean of each replica's.
  const weighted = (f: (r: autocannon.Result) => number) => done.reduce((n, r) => n + f(r) * r.requests.total, 0) / Math.max(1, total);
  return {
    rps: done.reduce((n, r) => n + r.requests.average, 0),
    p50: weighted((r) => r.latency.p50),
    p99: weighted((r) => r.latency.p99),
    errors: done.reduce((n, r) => n + r.errors + r.non2xx, 0),
    roundTrips: t.proxy && total ? (t.proxy.roundTrips - before) / total : null,
  };
}

async function main() {
  const upstreamPort = String((await startUpstream()).port);
  const base = readFileSync(join(import.meta.dirname, 'tollgate.bench.yaml'), 'utf8').replace('${UPSTREAM_PORT}', upstreamPort).replace('log_requests: true', 'log_requests: false');
  const env = gatewayEnv();
  const schemas: string[] = [];

  /** `replicas` gateway processes on one store (PostgreSQL through a counting proxy, or SQLite). */
  async function target(name: string, replicas: number, postgres: boolean): Promise<Target> {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-replicas-'));
    let proxy: TcpProxy | null = null;
    let storage = '';
    if (postgres) {
      proxy = await TcpProxy.start(new URL(PG_URL));
      const schema = `tollgate_bench_${randomBytes(4).toString('hex')}`;
      schemas.push(schema);
      storage = `storage: { postgres: { url: "${proxy.via(PG_URL)}", schema: ${schema}, pool_size: 16 } }\n`;
    }
    writeFileSync(join(dir, 'tollgate.yaml'), base + storage);
    const serve = () => startProcess([CLI, 'serve', '--config', join(dir, 'tollgate.yaml'), '--data-dir', dir], /"url":"(http:[^"]+)".*tollgate listening/, env).then((s) => s.match[1]!);
    const first = await serve();
    const urls = [first, ...(await Promise.all(Array.from({ length: replicas - 1 }, serve)))];
    return { name, urls, token: (await openSession(first, 'bench-agent')).token, proxy };
  }

  const targets = [
    await target('sqlite, 1 replica', 1, false),
    await target('postgres, 1 replica', 1, true),
    await target('postgres, 2 replicas', 2, true),
    await target('postgres, 3 replicas', 3, true),
  ];
  // Warm up every replica (JIT, pools).
  for (const t of targets) {
    await Promise.all(t.urls.map((url) => autocannon({ url: `${url}/v1/chat/completions`, method: 'POST', connections: 8, amount: 1000, headers: { 'content-type': 'application/json', authorization: `Bearer ${t.token}` }, body })));
  }

  const results = new Map<string, Sample[]>();
  for (const c of CONNECTIONS) {
    for (let round = 0; round < ROUNDS; round++) {
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      for (const t of order) {
        // One connection cannot be spread: several replicas are measured from 2 per replica up.
        if (c < t.urls.length) continue;
        const sample = await load(t, c);
        const key = `${t.name}@${c}`;
        results.set(key, [...(results.get(key) ?? []), sample]);
        process.stderr.write(`  ${key} round ${round + 1}: ${Math.round(sample.rps)} rps, ${sample.roundTrips?.toFixed(2) ?? '-'} round trips/call\n`);
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const med = (name: string, c: number, f: keyof Sample) => {
    const samples = results.get(`${name}@${c}`);
    return samples ? median(samples.map((s) => s[f] ?? Number.NaN)) : Number.NaN;
  };
  const lines = ['| target | conns | rps | p50 ms | p99 ms | DB round trips / call | errors |', '| --- | --- | --- | --- | --- | --- | --- |'];
  for (const c of CONNECTIONS) {
    for (const t of targets) {
      if (!results.has(`${t.name}@${c}`)) continue;
      const rt = med(t.name, c, 'roundTrips');
      lines.push(`| ${t.name} | ${c} | ${Math.round(med(t.name, c, 'rps'))} | ${med(t.name, c, 'p50').toFixed(1)} | ${med(t.name, c, 'p99').toFixed(1)} | ${Number.isNaN(rt) ? '—' : rt.toFixed(2)} | ${med(t.name, c, 'errors')} |`);
    }
  }
  lines.push('', '| ratio (same run) | value |', '| --- | --- |');
  for (const c of CONNECTIONS.filter((n) => n > 1)) {
    for (const t of targets.slice(1)) lines.push(`| throughput ${t.name} / sqlite @${c} | ${(med(t.name, c, 'rps') / med('sqlite, 1 replica', c, 'rps')).toFixed(2)} |`);
  }
  lines.push(`| added p50, postgres vs sqlite, 1 replica @1 (ms) | ${(med('postgres, 1 replica', 1, 'p50') - med('sqlite, 1 replica', 1, 'p50')).toFixed(1)} |`);
  const table = lines.join('\n');
  process.stdout.write(`\n${table}\n`);
  if (write) {
    const file = join(import.meta.dirname, 'RESULTS.md');
    const section = `<!-- replicas:begin -->\nLatest run: ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, Node ${process.version}, PostgreSQL on the same machine, all on loopback.\nCommand: \`npm run build && npx tsx bench/replicas.ts${quick ? ' --quick' : ''} --write\` — autocannon, ${DURATION} s per run, median of ${ROUNDS} round(s); the non-streamed call of the main benchmark, one session under session + agent + team budgets.\n\n${table}\n<!-- replicas:end -->`;
    const text = readFileSync(file, 'utf8');
    const updated = /<!-- replicas:begin -->[\s\S]*<!-- replicas:end -->/.test(text) ? text.replace(/<!-- replicas:begin -->[\s\S]*<!-- replicas:end -->/, section) : `${text.trimEnd()}\n\n## Several replicas on PostgreSQL\n\n${section}\n`;
    writeFileSync(file, updated);
  }
  const db = new pg.Client({ connectionString: PG_URL });
  await db.connect();
  for (const s of schemas) await db.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(s)} CASCADE`);
  await db.end();
  process.exit(0);
}

await main();
