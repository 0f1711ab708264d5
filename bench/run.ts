// `npm run bench [-- --quick] [-- --write] [-- --check]`: Tollgate against the physical limit and
// a peer, on loopback, in one run. Targets: the simulated provider called directly (the limit), a
// bare parsing proxy (baseline-proxy.ts), Tollgate in the benchmark set-up (every control on), and
// Portkey when `npm run bench:peers` installed it. Runs interleave the targets (A B C D, B C D A…)
// at 1, 32 and 128 connections, plain and streamed; a sequential probe measures latency and time to
// first chunk with sub-millisecond precision. Prints rps, p50/p90/p99, CPU µs per request (from
// /proc), RSS, errors, Tollgate's per-stage times, and the ratios the goals are stated in.
// `--check` compares the ratios with bench/thresholds.json (CI runs `--quick --check`).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { load, median, warmUp, probe, quantile, type Sample, type Target } from './measure.js';
import { ADMIN_TOKEN, startProcess, startStack, startUpstream, stopProcess } from './stack.js';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const option = (name: string, fallback: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const quick = flag('quick');
const DURATION = option('duration', quick ? 3 : 5);
const ROUNDS = option('rounds', quick ? 1 : 3);
const CONNECTIONS = quick ? [1, 32] : [1, 32, 128];
const PROBES = option('probes', quick ? 200 : 600);
const MODES = ['plain', 'stream'] as const;
type Mode = (typeof MODES)[number];


interface StageLine { stage: string; count: number; mean_us: number; p50_us: number; p99_us: number }

async function adminJson<T>(gatewayUrl: string, path: string, method = 'GET'): Promise<T> {
  const res = await fetch(`${gatewayUrl}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return (await res.json()) as T;
}

async function startPortkey(): Promise<{ url: string; pid: number; stop: () => Promise<void> } | null> {
  const entry = join(import.meta.dirname, 'peers', 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js');
  if (!existsSync(entry)) return null;
  const port = 18_000 + Math.floor(Math.random() * 2000);
  const started = await startProcess([entry, `--port=${port}`, '--headless'], /Ready for connections/);
  return { url: `http://127.0.0.1:${port}`, pid: started.child.pid!, stop: () => stopProcess(started.child) };
}

async function main(): Promise<string[]> {
  const upstream = await startUpstream();
  const proxy = await startProcess(['--import', 'tsx', join(import.meta.dirname, 'baseline-proxy.ts'), `http://127.0.0.1:${upstream.port}/v1`, '0'], /listening (\d+)/);
  const stack = await startStack({ upstreamPort: upstream.port });
  const portkey = await startPortkey();
  const targets: Target[] = [
    { name: 'direct upstream', url: `http://127.0.0.1:${upstream.port}/v1/chat/completions`, headers: {}, pid: null },
    { name: 'parsing proxy', url: `http://127.0.0.1:${proxy.match[1]}/v1/chat/completions`, headers: {}, pid: proxy.child.pid! },
    { name: 'tollgate', url: `${stack.gatewayUrl}/v1/chat/completions`, headers: { authorization: `Bearer ${stack.tokens.budgeted}` }, pid: stack.gateway.child.pid! },
  ];
  if (portkey) {
    targets.push({
      name: 'portkey', url: `${portkey.url}/v1/chat/completions`, pid: portkey.pid,
      headers: { authorization: 'Bearer sk-bench', 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `http://127.0.0.1:${upstream.port}/v1` },
    });
  } else {
    process.stderr.write('portkey: not installed (npm run bench:peers installs it into bench/peers); measured without the peer\n');
  }
  // Warm up every path (JIT, pools, tokenizer), both modes.
  for (const t of targets) for (const mode of MODES) await warmUp(t, mode);

  const results = new Map<string, Sample[]>();
  const stages = new Map<string, StageLine[]>();
  for (const mode of MODES) {
    for (const c of CONNECTIONS) {
      for (let round = 0; round < ROUNDS; round++) {
        // Rotate the order each round so drift on a shared machine does not favour one target.
        for (const t of targets.map((_, i) => targets[(i + round) % targets.length]!)) {
          if (t.name === 'tollgate') await adminJson(stack.gatewayUrl, '/admin/v1/debug/stages/reset', 'POST');
          const sample = await load(t, c, mode, DURATION);
          if (t.name === 'tollgate' && c === 32) stages.set(mode, (await adminJson<{ stages: StageLine[] }>(stack.gatewayUrl, '/admin/v1/debug/stages')).stages);
          const key = `${t.name}|${mode}|${c}`;
          results.set(key, [...(results.get(key) ?? []), sample]);
          process.stderr.write(`  ${t.name} ${mode} @${c} round ${round + 1}: ${Math.round(sample.rps)} rps, ${Math.round(sample.cpuUs)} µs CPU/req\n`);
        }
      }
    }
  }
  process.stderr.write('  probing latency and time to first chunk, one request at a time\n');
  // The stages again for the plain probe: where the added latency of a call alone goes.
  await adminJson(stack.gatewayUrl, '/admin/v1/debug/stages/reset', 'POST');
  const latency = await probe(targets, 'plain', PROBES);
  const alone = (await adminJson<{ stages: StageLine[] }>(stack.gatewayUrl, '/admin/v1/debug/stages')).stages;
  const ttfc = await probe(targets, 'stream', PROBES);

  const med = (name: string, mode: Mode, c: number, f: keyof Sample) => median(results.get(`${name}|${mode}|${c}`)!.map((s) => s[f]));
  const has = (name: string) => targets.some((t) => t.name === name);
  const lines: string[] = [];
  lines.push('| target | mode | conns | rps | p50 ms | p90 ms | p99 ms | CPU µs/req | peak RSS MB | errors |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const mode of MODES) {
    for (const c of CONNECTIONS) {
      for (const t of targets) {
        const cpu = t.pid ? String(Math.round(med(t.name, mode, c, 'cpuUs'))) : '—';
        const rss = t.pid ? String(Math.round(med(t.name, mode, c, 'rssMb'))) : '—';
        lines.push(`| ${t.name} | ${mode} | ${c} | ${Math.round(med(t.name, mode, c, 'rps'))} | ${med(t.name, mode, c, 'p50')} | ${med(t.name, mode, c, 'p90')} | ${med(t.name, mode, c, 'p99')} | ${cpu} | ${rss} | ${med(t.name, mode, c, 'errors')} |`);
      }
    }
  }
  const ms = (x: number) => x.toFixed(3);
  lines.push('', `Sequential probe (${PROBES} requests per target, interleaved; first tenth discarded):`, '', '| target | plain p50 ms | plain p99 ms | stream first chunk p50 ms | added plain p50 over direct ms | added first chunk p50 over direct ms |', '| --- | --- | --- | --- | --- | --- |');
  const direct = { plain: median(latency.get('direct upstream')!), stream: median(ttfc.get('direct upstream')!) };
  for (const t of targets) {
    const p = latency.get(t.name)!;
    const s = ttfc.get(t.name)!;
    lines.push(`| ${t.name} | ${ms(median(p))} | ${ms(quantile(p, 0.99))} | ${ms(median(s))} | ${ms(median(p) - direct.plain)} | ${ms(median(s) - direct.stream)} |`);
  }
  lines.push(
    '', 'Tollgate per stage at 32 connections, and one call at a time (the plain probe) (internal timers, µs; p50/p99 are log2 buckets):', '',
    '| stage | plain mean | plain p50 | plain p99 | stream mean | stream p50 | stream p99 | alone mean | alone p50 |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const [i, s] of (stages.get('plain') ?? []).entries()) {
    const st = stages.get('stream')?.[i];
    const a = alone.find((x) => x.stage === s.stage);
    lines.push(`| ${s.stage} | ${s.mean_us} | ${s.p50_us} | ${s.p99_us} | ${st?.mean_us ?? '—'} | ${st?.p50_us ?? '—'} | ${st?.p99_us ?? '—'} | ${a?.mean_us ?? '—'} | ${a?.p50_us ?? '—'} |`);
  }

  const ratios: Record<string, number> = {};
  for (const mode of MODES) {
    for (const c of CONNECTIONS) ratios[`throughput tollgate / parsing proxy, ${mode} @${c}`] = med('tollgate', mode, c, 'rps') / med('parsing proxy', mode, c, 'rps');
  }
  if (has('portkey')) for (const mode of MODES) ratios[`throughput tollgate / portkey, ${mode} @32`] = med('tollgate', mode, 32, 'rps') / med('portkey', mode, 32, 'rps');
  const top = CONNECTIONS[CONNECTIONS.length - 1]!;
  ratios[`p99 tollgate / parsing proxy, plain @${top}`] = med('tollgate', 'plain', top, 'p99') / Math.max(1, med('parsing proxy', 'plain', top, 'p99'));
  ratios['CPU per request tollgate / parsing proxy, plain @32'] = med('tollgate', 'plain', 32, 'cpuUs') / med('parsing proxy', 'plain', 32, 'cpuUs');
  const figures: Record<string, number> = {
    'added p50 latency over direct, plain @1 (ms)': median(latency.get('tollgate')!) - direct.plain,
    'added time to first chunk over direct, stream @1 (ms)': median(ttfc.get('tollgate')!) - direct.stream,
    'tollgate CPU per request, plain @32 (µs)': med('tollgate', 'plain', 32, 'cpuUs'),
    'tollgate peak RSS under load (MB)': Math.max(...[...results].filter(([k]) => k.startsWith('tollgate|')).flatMap(([, v]) => v.map((s) => s.rssMb))),
  };
  lines.push('', '| ratio or figure (same run) | value |', '| --- | --- |');
  for (const [k, v] of Object.entries({ ...ratios, ...figures })) lines.push(`| ${k} | ${v.toFixed(2)} |`);
  const table = lines.join('\n');
  process.stdout.write(`\n${table}\n`);

  if (flag('write')) {
    const command = `npm run bench -- ${quick ? '--quick ' : ''}--write`;
    const header = `# Benchmark results\n\nLatest run: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}, every process on loopback.\nCommand: \`${command}\` — autocannon, ${DURATION} s per run, median of ${ROUNDS} interleaved round(s); a ~230-byte chat completion (16 output tokens) against the simulated provider in its own process.\n\n`;
    const previous = existsSync(join(import.meta.dirname, 'RESULTS.md')) ? readFileSync(join(import.meta.dirname, 'RESULTS.md'), 'utf8') : '';
    const notes = previous.includes('\n## ') ? previous.slice(previous.indexOf('\n## ')) : '\n';
    writeFileSync(join(import.meta.dirname, 'RESULTS.md'), `${header}${table}\n${notes}`);
  }
  await Promise.all([stack.stop(), portkey?.stop(), stopProcess(proxy.child), stopProcess(upstream.child)]);

  if (!flag('check')) return [];
  const limits = JSON.parse(readFileSync(join(import.meta.dirname, 'thresholds.json'), 'utf8')) as { min: Record<string, number>; max: Record<string, number> };
  const all = { ...ratios, ...figures };
  return [
    ...Object.entries(limits.min).filter(([k, v]) => k in all && all[k]! < v).map(([k, v]) => `${k}: ${all[k]!.toFixed(2)} < ${v}`),
    ...Object.entries(limits.max).filter(([k, v]) => k in all && all[k]! > v).map(([k, v]) => `${k}: ${all[k]!.toFixed(2)} > ${v}`),
  ];
}

// `--check`: a ratio outside bench/thresholds.json fails the run — if it is still outside when
// measured again (a busy moment on a shared machine should not fail CI; a real regression does).
let failures = await main();
if (failures.length > 0) {
  process.stderr.write(`\noutside bench/thresholds.json, measuring again once:\n  ${failures.join('\n  ')}\n`);
  failures = await main();
}
if (failures.length > 0) {
  process.stderr.write(`\nbench regression check failed (bench/thresholds.json):\n  ${failures.join('\n  ')}\n`);
  process.exit(1);
}
if (flag('check')) process.stderr.write('\nbench regression check passed (bench/thresholds.json)\n');
process.exit(0);
