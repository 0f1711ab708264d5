// `npm run bench [-- --quick] [-- --write]`: Tollgate against a bare parsing proxy and the direct
// upstream, all on loopback, interleaved, medians of several rounds. Reports throughput, latency,
// CPU per request and the ratios that matter (same-run ratios; absolute numbers drift here).
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

const quick = process.argv.includes('--quick');
const write = process.argv.includes('--write');
const DURATION = quick ? 3 : 10;
const ROUNDS = quick ? 1 : 3;
const CONNECTIONS = quick ? [1, 32] : [1, 32, 128, 256];
const ADMIN = 'tga_bench-admin-token';
const CLK_TCK = 100;

const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

function start(cmd: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, cmd, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      if (out.length < 100_000) out += c.toString();
      const match = ready.exec(out);
      if (match) {
        child.stdout.removeAllListeners('data');
        child.stdout.resume(); // keep draining the request log
        resolve({ child, match });
      }
    });
    child.once('exit', (code) => reject(new Error(`${cmd.join(' ')} exited ${code}: ${out}`)));
  });
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

interface Sample { rps: number; p50: number; p99: number; cpuUs: number; errors: number; rss: number }

async function load(url: string, connections: number, headers: Record<string, string>, body: string, pid: number | null): Promise<Sample> {
  const before = pid ? cpuTicks(pid) : 0;
  const result = await autocannon({ url, method: 'POST', connections, duration: DURATION, headers: { 'content-type': 'application/json', ...headers }, body });
  const ticks = pid ? cpuTicks(pid) - before : 0;
  const total = result.requests.total;
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuUs: pid && total ? ((ticks / CLK_TCK) * 1e6) / total : 0,
    errors: result.errors + result.non2xx,
    rss: pid ? rssMb(pid) : 0,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  const cli = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
  const upstream = await start([cli, 'simulate', '--port', '0'], /listening on http:\/\/127\.0\.0\.1:(\d+)/);
  const upstreamPort = upstream.match[1]!;
  const proxy = await start(['--import', 'tsx', join(import.meta.dirname, 'baseline-proxy.ts'), `http://127.0.0.1:${upstreamPort}/v1`, '0'], /listening (\d+)/);
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
  const config = join(dir, 'tollgate.yaml');
  writeFileSync(config, readFileSync(join(import.meta.dirname, 'tollgate.bench.yaml'), 'utf8').replace('${UPSTREAM_PORT}', upstreamPort));
  const gateway = await start([cli, 'serve', '--config', config, '--data-dir', dir], /"url":"(http:[^"]+)".*tollgate listening/, { TOLLGATE_ADMIN_TOKEN: ADMIN, BENCH_PROVIDER_KEY: 'sk-bench' });
  const gatewayUrl = gateway.match[1]!;
  const open = async (agent: string) => (await (await fetch(`${gatewayUrl}/admin/v1/sessions`, {
    method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ agent, task: 'benchmark' }),
  })).json()) as { token: string };
  const opened = await open('bench-agent');
  const unbudgeted = await open('free-agent');

  const body = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'Summarise the plot of a short story in one line.' }] });
  const targets: { name: string; url: string; headers: Record<string, string>; pid: number | null }[] = [
    { name: 'direct upstream', url: `http://127.0.0.1:${upstreamPort}/v1/chat/completions`, headers: {}, pid: null },
    { name: 'bare parsing proxy', url: `http://127.0.0.1:${proxy.match[1]}/v1/chat/completions`, headers: {}, pid: proxy.child.pid! },
    { name: 'tollgate', url: `${gatewayUrl}/v1/chat/completions`, headers: { authorization: `Bearer ${opened.token}` }, pid: gateway.child.pid! },
    { name: 'tollgate, budgets off', url: `${gatewayUrl}/v1/chat/completions`, headers: { authorization: `Bearer ${unbudgeted.token}` }, pid: gateway.child.pid! },
  ];
  // Warm up every path (JIT, pools, tokenizer).
  for (const t of targets) await autocannon({ url: t.url, method: 'POST', connections: 8, amount: 2000, headers: { 'content-type': 'application/json', ...t.headers }, body });

  const results = new Map<string, Sample[]>();
  for (const c of CONNECTIONS) {
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order each round so drift on a shared machine does not favour one target.
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      for (const t of order) {
        const sample = await load(t.url, c, t.headers, body, t.pid);
        const key = `${t.name}@${c}`;
        results.set(key, [...(results.get(key) ?? []), sample]);
        process.stderr.write(`  ${key} round ${round + 1}: ${Math.round(sample.rps)} rps\n`);
      }
    }
  }
  const med = (name: string, c: number, f: keyof Sample) => median(results.get(`${name}@${c}`)!.map((s) => s[f]));
  const lines: string[] = [];
  lines.push('| target | conns | rps | p50 ms | p99 ms | CPU µs/req | RSS MB | errors |', '| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const c of CONNECTIONS) {
    for (const t of targets) {
      lines.push(`| ${t.name} | ${c} | ${Math.round(med(t.name, c, 'rps'))} | ${med(t.name, c, 'p50')} | ${med(t.name, c, 'p99')} | ${t.pid ? Math.round(med(t.name, c, 'cpuUs')) : '—'} | ${t.pid ? Math.round(med(t.name, c, 'rss')) : '—'} | ${med(t.name, c, 'errors')} |`);
    }
  }
  lines.push('', '| ratio (same run) | value |', '| --- | --- |');
  for (const c of CONNECTIONS) {
    lines.push(`| throughput tollgate / parsing proxy @${c} | ${(med('tollgate', c, 'rps') / med('bare parsing proxy', c, 'rps')).toFixed(2)} |`);
  }
  for (const c of CONNECTIONS) {
    lines.push(`| budgets on / off @${c}: throughput | ${(med('tollgate', c, 'rps') / med('tollgate, budgets off', c, 'rps')).toFixed(2)} |`);
    lines.push(`| budgets on / off @${c}: p50 latency | ${(med('tollgate', c, 'p50') / Math.max(0.001, med('tollgate, budgets off', c, 'p50'))).toFixed(2)} |`);
  }
  lines.push(`| added p50 over direct @1 (ms) | ${(med('tollgate', 1, 'p50') - med('direct upstream', 1, 'p50')).toFixed(2)} |`);
  lines.push(`| CPU per request tollgate / parsing proxy @32 | ${(med('tollgate', 32, 'cpuUs') / med('bare parsing proxy', 32, 'cpuUs')).toFixed(2)} |`);
  const table = lines.join('\n');
  process.stdout.write(`\n${table}\n`);
  if (write) {
    const header = `# Benchmark results\n\nLatest run: ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}, all processes on loopback.\nCommand: \`npm run bench${quick ? ' -- --quick' : ''} -- --write\` — autocannon, ${DURATION} s per run, median of ${ROUNDS} interleaved round(s); non-streamed chat completion (~230-byte body, 16 output tokens) against the simulated provider in its own process.\n\n`;
    writeFileSync(join(import.meta.dirname, 'RESULTS.md'), `${header}${table}\n`);
  }
  children.forEach((c) => c.kill('SIGTERM'));
}

await main();
process.exit(0);
