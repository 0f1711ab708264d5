// `npm run bench:compare -- --rev <git revision> [--config "<yaml>"] [--rounds N] [--seconds S] [--stream] [--prompt-kb K]
//   [--connections C] [--sessions N [--agents M]] [--probe-rounds P] [--node-args "<flags>"] [--env "NAME=value …"]`:
// this build against another revision's (or against itself with a config change: YAML laid over
// tollgate.bench.yaml, mappings merged key by key; with both, both builds run with the config), in one run on
// one upstream, interleaved: the sequential probe (added p50 and time to first chunk over direct)
// and throughput, CPU per request, p99 and peak RSS at 32 connections (`--connections C`), beside the
// parsing proxy. The probe runs in the first round, or in the first P (`--probe-rounds P`), pooled.
// `--prompt-kb K` adds K KiB of prose to the call's prompt: what the per-byte work costs.
// `--sessions N` spreads the load's calls over N sessions (of the benchmark's six agents, or of M
// agents created for the run with `--agents M`), in turn: a gateway serving many sessions — a
// fleet — at once, where the benchmark's single session keeps every per-session structure small
// and every index append in one place.
// `--node-args` and `--env` start this build's process with those Node flags and environment
// variables (the other revision, or this build without them, runs as the benchmark starts it):
// what a start-up setting, which no config file can carry, costs or saves.
// The other revision is built once into bench/.compare/<rev> (a git worktree sharing this
// node_modules). Each round starts both builds afresh (see below). What a change costs or saves,
// measured the only way this noisy machine allows.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { load, median, padPrompt, probe, warmUp, type Sample, type Target } from './measure.js';
import { openSessions, startProcess, startStack, startUpstream, stopProcess, type Stack } from './stack.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const root = join(import.meta.dirname, '..');
const rev = arg('rev');
const configOverride = arg('config');
const rounds = Number(arg('rounds') ?? 3);
const seconds = Number(arg('seconds') ?? 5);
const mode = process.argv.includes('--stream') ? 'stream' : 'plain';
const promptKb = Number(arg('prompt-kb') ?? 0);
const connections = Number(arg('connections') ?? 32);
const probeRounds = Number(arg('probe-rounds') ?? 1);
const sessions = Number(arg('sessions') ?? 1);
const agents = Number(arg('agents') ?? 6);
if (promptKb > 0) padPrompt(promptKb);
const nodeArgs = arg('node-args')?.split(/\s+/).filter(Boolean);
const env = Object.fromEntries((arg('env') ?? '').split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const startUpChanged = nodeArgs !== undefined || Object.keys(env).length > 0;
if (!rev && !configOverride && !startUpChanged) {
  throw new Error('give --rev <revision> (another build), --config "<yaml>" (this build with a config change) and/or --node-args / --env (this build started differently)');
}

/** Builds `rev` into its own worktree (once) and returns its CLI. */
function buildRevision(revision: string): string {
  const sha = execFileSync('git', ['rev-parse', '--short', revision], { cwd: root, encoding: 'utf8' }).trim();
  const dir = join(import.meta.dirname, '.compare', sha);
  const cli = join(dir, 'dist', 'cli', 'main.js');
  if (existsSync(cli)) return cli;
  mkdirSync(join(import.meta.dirname, '.compare'), { recursive: true });
  if (!existsSync(dir)) execFileSync('git', ['worktree', 'add', '--detach', dir, sha], { cwd: root, stdio: 'inherit' });
  if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: dir, stdio: 'inherit' });
  return cli;
}

const upstream = await startUpstream();
const proxy = await startProcess(['--import', 'tsx', join(import.meta.dirname, 'baseline-proxy.ts'), `http://127.0.0.1:${upstream.port}/v1`, '0'], /listening (\d+)/);
const variants: [string, Parameters<typeof startStack>[0]][] = [
  // With --rev, both builds run with the config (a comparison of builds under it); without, the config is the change.
  [rev ? `tollgate @${rev}` : 'tollgate', rev ? { cli: buildRevision(rev), configOverride } : startUpChanged ? { configOverride } : {}],
  [
    startUpChanged && !rev ? 'tollgate (this build, started differently)' : configOverride && !rev ? 'tollgate (this build, changed config)' : 'tollgate (this build)',
    { configOverride, gatewayNodeArgs: nodeArgs, env },
  ],
];
const direct: Target = { name: 'direct upstream', url: `http://127.0.0.1:${upstream.port}/v1/chat/completions`, headers: {}, pid: null };
// With --sessions the proxy takes a rotation of as many (ignored) authorizations, so that the load
// generator does the same work for every target.
const proxyTarget: Target = {
  name: 'parsing proxy', url: `http://127.0.0.1:${proxy.match[1]}/v1/chat/completions`, headers: {}, pid: proxy.child.pid!,
  rotate: sessions > 1 ? Array.from({ length: sessions }, (_, i) => `Bearer unused-${i}`) : undefined,
};
const samples = new Map<string, Sample[]>();
const latency = new Map<string, number[]>();
const ttfc = new Map<string, number[]>();
/** Starts both builds afresh (the order turns each round), on fresh data directories. */
async function startGateways(round: number): Promise<{ stacks: Stack[]; gateways: Target[] }> {
  const stacks: Stack[] = [];
  const gateways: Target[] = [];
  for (const [name, options] of variants.map((_, i) => variants[(i + round) % variants.length]!)) {
    const stack = await startStack({ ...options, upstreamPort: upstream.port });
    stacks.push(stack);
    const rotate = sessions > 1 ? await openSessions(stack.gatewayUrl, sessions, agents) : undefined;
    gateways.push({ name, url: `${stack.gatewayUrl}/v1/chat/completions`, headers: { authorization: `Bearer ${stack.tokens.budgeted}` }, pid: stack.gateway.child.pid!, rotate });
  }
  return { stacks, gateways };
}
try {
  await warmUp(proxyTarget, mode);
  for (let round = 0; round < rounds; round++) {
    // New gateway processes every round: what a process draws at its start (where its threads run,
    // its heap's layout, what V8 compiles when) stays with it as long as it runs. With one process
    // per build for the whole comparison, that luck moved the result by up to ±10 % between runs
    // of the same two builds; medians over processes wash it out.
    const { stacks, gateways } = await startGateways(round);
    try {
      for (const t of gateways) await warmUp(t, mode);
      if (round < probeRounds) {
        const pool = (into: Map<string, number[]>, add: Map<string, number[]>) => add.forEach((xs, name) => into.set(name, [...(into.get(name) ?? []), ...xs]));
        pool(latency, await probe([direct, proxyTarget, ...gateways], 'plain', 600));
        pool(ttfc, await probe([direct, proxyTarget, ...gateways], 'stream', 600));
      }
      const loaded = [proxyTarget, ...gateways];
      for (const t of loaded.map((_, i) => loaded[(i + round) % loaded.length]!)) {
        samples.set(t.name, [...(samples.get(t.name) ?? []), await load(t, connections, mode, seconds)]);
        process.stderr.write(`  ${t.name} round ${round + 1}\n`);
      }
    } finally {
      for (const st of stacks) await st.stop();
    }
  }
  const directP50 = { plain: median(latency.get('direct upstream')!), stream: median(ttfc.get('direct upstream')!) };
  const proxyRps = median(samples.get('parsing proxy')!.map((s) => s.rps));
  const lines = [
    `Compared ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${mode} at ${connections} connections${sessions > 1 ? ` over ${sessions} sessions of ${agents} agents` : ''}${promptKb > 0 ? ` with ${promptKb} KiB more prompt` : ''}, ${rounds} interleaved rounds of ${seconds} s, each round on newly started gateways; probe (first ${probeRounds} round(s)): 600 sequential requests each per round.`,
    '',
    `| target | added p50 ms @1 | added first chunk ms @1 | rps @${connections} | rps / proxy | CPU µs/req | p99 ms | peak RSS MB |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const name of [proxyTarget.name, ...variants.map(([n]) => n)]) {
    const s = samples.get(name)!;
    const m = (f: keyof Sample) => median(s.map((x) => x[f]));
    lines.push(`| ${name} | ${(median(latency.get(name)!) - directP50.plain).toFixed(3)} | ${(median(ttfc.get(name)!) - directP50.stream).toFixed(3)} | ${Math.round(m('rps'))} | ${(m('rps') / proxyRps).toFixed(2)} | ${Math.round(m('cpuUs'))} | ${m('p99')} | ${Math.round(m('rssMb'))} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  await stopProcess(proxy.child);
  await stopProcess(upstream.child);
}
