// `npm run bench:profile [-- --seconds N] [-- --connections C] [-- --sessions N [-- --agents M]] [-- --stream] [-- --prompt-kb K] [-- --perf] [-- --config "<yaml>"]`: a CPU
// profile of Tollgate's hot path. Starts the simulated provider and Tollgate (bench set-up, `--cpu-prof`),
// drives the benchmark's call at C connections (with K KiB more prompt), then prints where the gateway's CPU went: per
// thread (from /proc), then the event loop's self time by function and by source file. The
// .cpuprofile files are kept (one per thread; open them in Chrome DevTools).
// With --perf, Linux `perf` samples the whole process instead (every thread, native code, the
// kernel; JavaScript named through --perf-basic-prof-only-functions): its report by thread and by
// symbol is printed, and perf.data kept for `perf report`. --config lays YAML over the bench set-up
// (as in bench:compare), e.g. to profile with a feature off.
import autocannon from 'autocannon';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { padPrompt, requestOptions, warmUp, type Target } from './measure.js';
import { openSessions, startStack } from './stack.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const seconds = arg('seconds', 10);
const connections = arg('connections', 32);
const stream = process.argv.includes('--stream');
const promptKb = arg('prompt-kb', 0);
const sessions = arg('sessions', 1);
const agents = arg('agents', 6);
if (promptKb > 0) padPrompt(promptKb);

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[]; positionTicks?: { line: number; ticks: number }[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number }

const usePerf = process.argv.includes('--perf');
if (usePerf && spawnSync('perf', ['--version']).status !== 0) throw new Error('--perf needs Linux perf on the PATH (Debian: linux-perf)');

const profDir = mkdtempSync(join(tmpdir(), 'tollgate-prof-'));
const perfData = join(profDir, 'perf.data');
const configAt = process.argv.indexOf('--config');
const configOverride = configAt > 0 ? process.argv[configAt + 1] : undefined;
/**
 * When the load ran, in µs of the monotonic clock V8 stamps its samples with (CLOCK_MONOTONIC on
 * Linux, as process.hrtime): the event loop's profile is read for that window only, so creating
 * the run's agents and sessions and warming up count for nothing.
 */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
const loadWindow = { from: 0, to: Infinity };
const stack = await startStack({ gatewayNodeArgs: usePerf ? ['--perf-basic-prof-only-functions'] : ['--cpu-prof', '--cpu-prof-dir', profDir], configOverride });
try {
  // --sessions N: the calls spread over N sessions of the six agents, in turn (a busy gateway's
  // writes interleave many sessions, where the benchmark's single session appends in one place).
  const target: Target = {
    name: 'tollgate', url: `${stack.gatewayUrl}/v1/chat/completions`, headers: { authorization: `Bearer ${stack.tokens.budgeted}` }, pid: stack.gateway.child.pid!,
    rotate: sessions > 1 ? await openSessions(stack.gatewayUrl, sessions, agents) : undefined,
  };
  const mode = stream ? 'stream' : 'plain';
  await warmUp(target, mode);
  const pid = stack.gateway.child.pid!;
  /** utime and stime (clock ticks) of `/proc/<pid>[/task/<tid>]/stat`. */
  const ticksOf = (path: string) => readFileSync(path, 'utf8').split(') ')[1]!.split(' ').slice(11, 13).map(Number) as [number, number];
  const threadTicks = () => new Map(readdirSync(`/proc/${pid}/task`).map((tid) => [tid, ticksOf(`/proc/${pid}/task/${tid}/stat`)]));
  const [u0, s0] = ticksOf(`/proc/${pid}/stat`);
  const threadsBefore = threadTicks();
  const perf = usePerf ? spawn('perf', ['record', '-F', '999', '-g', '-p', String(pid), '-o', perfData, '--', 'sleep', String(seconds)], { stdio: ['ignore', 'ignore', 'inherit'] }) : null;
  const perfDone = perf ? new Promise((resolve) => perf.once('exit', resolve)) : null;
  loadWindow.from = monotonicUs();
  const result = await autocannon({ url: target.url, method: 'POST', connections, duration: seconds, ...requestOptions(target, mode) });
  loadWindow.to = monotonicUs();
  const [u1, s1] = ticksOf(`/proc/${pid}/stat`);
  const threadsAfter = threadTicks();
  const perRequest = (ticks: number) => Math.round((ticks * 10_000) / result.requests.total);
  process.stdout.write(`${Math.round(result.requests.average)} rps over ${seconds} s at ${connections} connections, ${perRequest(u1 - u0 + s1 - s0)} µs CPU per request, ${result.non2xx + result.errors} errors\n`);
  // Per thread: the event loop (the main thread), the SQLite writer, V8's GC helpers, libuv's pool.
  // Threads are not named on Linux (all `node`); the writer is the busiest after the main thread.
  process.stdout.write('CPU µs per request by thread (user + system):\n');
  const rows = [...threadsAfter].map(([tid, [u, s]]) => {
    const [ub, sb] = threadsBefore.get(tid) ?? [0, 0];
    return { tid, user: perRequest(u - ub), system: perRequest(s - sb) };
  }).filter((t) => t.user + t.system > 0).sort((a, b) => (a.tid === String(pid) ? -1 : b.tid === String(pid) ? 1 : b.user + b.system - (a.user + a.system)));
  for (const t of rows) process.stdout.write(`  ${t.tid === String(pid) ? 'main (event loop)' : `thread ${t.tid}`}: ${t.user + t.system} (${t.user} + ${t.system})\n`);
  await perfDone;
} finally {
  await stack.stop();
}

if (usePerf) {
  const report = (...args: string[]) => spawnSync('perf', ['report', '-i', perfData, '--no-children', '-g', 'none', '--stdio', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout
    .split('\n').filter((l) => l.trim() && !l.startsWith('#')).slice(0, 40).join('\n');
  process.stdout.write(`\nthe process's samples by thread (perf's "pid" here is a thread id; the event loop's is the process's, ${stack.gateway.child.pid}):\n${report('--sort', 'pid')}\n`);
  process.stdout.write(`\nby symbol (self; JS:* optimized, JS:^ baseline):\n${report('--sort', 'sym')}\n\nperf data: ${perfData} (perf report -i … -g caller)\n`);
  process.exit(0);
}

// One profile per thread, named CPU.<date>.<time>.<pid>.<thread>.<seq>: the main thread is 0.
const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile') && f.includes(`.${stack.gateway.child.pid}.0.`));
if (!file) throw new Error(`no profile written in ${profDir}`);
const profile = JSON.parse(readFileSync(join(profDir, file), 'utf8')) as Profile;
const selfUs = new Map<number, number>();
let sampledAt = profile.startTime;
let inWindow = 0;
profile.samples.forEach((id, i) => {
  sampledAt += profile.timeDeltas[i] ?? 0;
  if (sampledAt < loadWindow.from || sampledAt > loadWindow.to) return;
  inWindow++;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});
if (inWindow === 0) throw new Error('no sample of the profile falls in the load\'s window: its clock is not the monotonic clock this script reads');
const bump = (m: Map<string, number>, key: string, us: number) => m.set(key, (m.get(key) ?? 0) + us);
/** Where a frame's code lives, shortened: `dist/…`, `node_modules/…`, `node:…`, or `(native)`. */
const whereOf = (n: ProfileNode) => n.callFrame.url.replace(/^file:\/\//, '').replace(/.*\/(dist|node_modules)\//, '$1/') || '(native)';
const frameName = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${whereOf(n)}:${n.callFrame.lineNumber + 1}`;
// V8's pseudo-frames: idle time is not busy CPU; program and GC count, but belong to no file.
const PSEUDO = new Set(['(idle)', '(program)', '(garbage collector)']);

const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
let total = 0;
for (const node of profile.nodes) {
  const us = selfUs.get(node.id) ?? 0;
  const name = node.callFrame.functionName;
  if (name === '(idle)') continue;
  total += us;
  if (PSEUDO.has(name)) {
    bump(byFunction, name, us);
    continue;
  }
  bump(byFunction, frameName(node), us);
  const where = whereOf(node);
  bump(byFile, where.startsWith('node_modules/') ? where.split('/').slice(0, where.startsWith('node_modules/@') ? 3 : 2).join('/') : where, us);
}

// Inclusive time: a function's own samples and those of everything it called.
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const subtreeUs = new Map<number, number>();
const subtree = (id: number): number => {
  let us = subtreeUs.get(id);
  if (us === undefined) subtreeUs.set(id, (us = (selfUs.get(id) ?? 0) + (byId.get(id)!.children ?? []).reduce((sum, c) => sum + subtree(c), 0)));
  return us;
};
const inclusive = new Map<string, number>();
const walk = (id: number, onStack: Set<string>) => {
  const node = byId.get(id)!;
  const name = frameName(node);
  // Recursion counts once: only the outermost frame of a name adds its subtree.
  if (!onStack.has(name)) bump(inclusive, name, subtree(id));
  const next = new Set(onStack).add(name);
  for (const c of node.children ?? []) walk(c, next);
};
walk(profile.nodes[0]!.id, new Set());
inclusive.delete(frameName(profile.nodes[0]!));
const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n)
  .map(([k, us]) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`).join('\n');
// Tollgate's own hottest lines (self time, from the samples' source positions — over the whole
// profile, set-up included: V8 keeps no time with them): a builtin called
// on a line — JSON, a Date, a Map lookup — counts there, which is how one line's toISOString was
// found costing as much as the detector it sat in.
const busySamples = profile.samples.filter((id) => byId.get(id)!.callFrame.functionName !== '(idle)').length;
const byLine = new Map<string, number>();
const sources = new Map<string, string[]>();
for (const node of profile.nodes) {
  const path = node.callFrame.url.replace(/^file:\/\//, '');
  if (!path.includes('/dist/') || path.includes('/node_modules/')) continue;
  for (const { line, ticks } of node.positionTicks ?? []) bump(byLine, `${path}:${line}`, ticks);
}
const hotLines = [...byLine].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([at, ticks]) => {
  const [path, line] = [at.slice(0, at.lastIndexOf(':')), Number(at.slice(at.lastIndexOf(':') + 1))];
  if (!sources.has(path)) sources.set(path, readFileSync(path, 'utf8').split('\n'));
  return `${((100 * ticks) / busySamples).toFixed(2).padStart(6)}%  ${path.replace(/.*\/dist\//, 'dist/')}:${line}  ${(sources.get(path)![line - 1] ?? '').trim().slice(0, 100)}`;
}).join('\n');
process.stdout.write(`\nthe event loop's profile over the load alone: ${inWindow} of ${profile.samples.length} samples\n`);
process.stdout.write(`\nthe event loop's busy CPU by source file (self time):\n${top(byFile, 25)}\n\nby function (self):\n${top(byFunction, 40)}\n\nby function (inclusive):\n${top(inclusive, 60)}\n\nTollgate's hottest lines (self time, compiled dist/ lines):\n${hotLines}\n\nprofile: ${join(profDir, file)}\n`);
