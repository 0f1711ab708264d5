// Measuring one target: a timed autocannon run (throughput, latency quantiles, CPU per request
// from /proc, peak RSS), a sequential probe with sub-millisecond latency and time to first chunk,
// and the statistics over rounds. Shared by run.ts and scale.ts.
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { BENCH_CALL } from './stack.js';

export type Mode = 'plain' | 'stream';

const CLK_TCK = 100;

export interface Target {
  name: string;
  url: string;
  headers: Record<string, string>;
  pid: number | null;
  /** Authorization headers taken in turn, one per request (`--sessions N`: the calls spread over N sessions). */
  rotate?: string[];
}

/** autocannon's request options for a target: its headers, and the rotation of its authorizations if it has one. */
export function requestOptions(t: Target, mode: Mode) {
  const headers = { 'content-type': 'application/json', ...t.headers };
  const rotate = t.rotate;
  if (!rotate?.length) return { headers, body: bodies[mode] };
  let turn = 0;
  const setupRequest = (req: object) => ({ ...req, headers: { ...headers, authorization: rotate[turn++ % rotate.length]! } });
  return { headers, body: bodies[mode], requests: [{ setupRequest }] };
}

export interface Sample { rps: number; p50: number; p90: number; p99: number; cpuUs: number; rssMb: number; errors: number }

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/** The request bodies of `call`, non-streamed and streamed (with the usage event asked for). */
function bodiesOf(call: object): Record<Mode, string> {
  return { plain: JSON.stringify(call), stream: JSON.stringify({ ...call, stream: true, stream_options: { include_usage: true } }) };
}

export const bodies: Record<Mode, string> = bodiesOf(BENCH_CALL);

/**
 * Pads the benchmark call's prompt (plain and streamed) with a message of `kib` KiB of prose —
 * words, newlines, quoted names — to measure what the gateway's per-byte work costs (`--prompt-kb`).
 */
export function padPrompt(kib: number): void {
  const sentence = 'The agent read "notes/plan.md" and called the "search" tool again;\n it found nothing new.  ';
  const filler = sentence.repeat(Math.ceil((kib * 1024) / sentence.length)).slice(0, kib * 1024);
  const call = { ...BENCH_CALL, messages: [BENCH_CALL.messages[0]!, { role: 'user', content: filler }, BENCH_CALL.messages[1]!] };
  Object.assign(bodies, bodiesOf(call));
}

export async function load(t: Target, connections: number, mode: Mode, seconds: number): Promise<Sample> {
  const before = t.pid ? cpuTicks(t.pid) : 0;
  let peakRss = 0;
  const sampler = t.pid ? setInterval(() => (peakRss = Math.max(peakRss, rssMb(t.pid!))), 250) : null;
  const r = await autocannon({ url: t.url, method: 'POST', connections, duration: seconds, ...requestOptions(t, mode) });
  if (sampler) clearInterval(sampler);
  const ticks = t.pid ? cpuTicks(t.pid) - before : 0;
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p90: r.latency.p90,
    p99: r.latency.p99,
    cpuUs: t.pid && r.requests.total ? ((ticks / CLK_TCK) * 1e6) / r.requests.total : 0,
    rssMb: peakRss,
    errors: r.errors + r.non2xx,
  };
}

/**
 * One request at a time, the targets interleaved request by request: full latency of a plain
 * call, and time to the first body chunk of a streamed one (ms, microsecond precision).
 */
export async function probe(targets: Target[], mode: Mode, probes: number): Promise<Map<string, number[]>> {
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 1 });
  const out = new Map<string, number[]>(targets.map((t) => [t.name, []]));
  for (let i = 0; i < probes; i++) {
    // The order turns each time: no target always follows the same one.
    for (const t of targets.map((_, k) => targets[(k + i) % targets.length]!)) {
      const started = performance.now();
      const res = await request(t.url, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json', ...t.headers }, body: bodies[mode] });
      let first: number | null = null;
      for await (const chunk of res.body) {
        if (first === null && chunk.length > 0) first = performance.now();
      }
      const done = performance.now();
      if (res.statusCode !== 200) throw new Error(`${t.name} answered ${res.statusCode} to the ${mode} probe`);
      if (i >= probes / 10) out.get(t.name)!.push((mode === 'stream' ? first ?? done : done) - started); // the first tenth warms up
    }
  }
  await agent.close();
  return out;
}

export async function warmUp(t: Target, mode: Mode): Promise<void> {
  await autocannon({ url: t.url, method: 'POST', connections: 8, amount: 2000, ...requestOptions(t, mode) });
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
