// The processes every benchmark starts: the simulated provider (the upstream, no artificial
// delay), Tollgate in the benchmark set-up (tollgate.bench.yaml: every control on), and a session
// for each of the set-up's two agents. Shared by run.ts and profile.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';

export const ADMIN_TOKEN = 'tga_bench-admin-token';
export const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');

/** The call every benchmark makes: a small non-streamed chat completion (~230 bytes). */
export const BENCH_CALL = {
  model: 'gpt-4o-mini',
  max_tokens: 16,
  messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'Summarise the plot of a short story in one line.' }],
};

const children = new Set<ChildProcess>();
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

export interface Started {
  child: ChildProcess;
  match: RegExpExecArray;
}

/** Starts `node …cmd` and resolves once its stdout matches `ready`; stdout keeps being drained. */
export function startProcess(cmd: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<Started> {
  const child = spawn(process.execPath, cmd, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      if (out.length < 100_000) out += c.toString();
      const match = ready.exec(out);
      if (match) {
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        resolve({ child, match });
      }
    });
    child.once('exit', (code) => reject(new Error(`${cmd.join(' ')} exited ${code}: ${out}`)));
  });
}

/** Stops a process gracefully (so a `--cpu-prof` profile gets written), SIGKILL after 10 s. */
export function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export interface Stack {
  upstreamPort: number;
  gateway: Started;
  gatewayUrl: string;
  dataDir: string;
  /** Session tokens: `budgeted` (session + agent-per-day + team-per-month budgets), `free` (none). */
  tokens: { budgeted: string; free: string };
  stop(): Promise<void>;
}

export async function openSession(gatewayUrl: string, agent: string): Promise<{ session_id: string; token: string }> {
  const res = await fetch(`${gatewayUrl}/admin/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ agent, task: 'benchmark' }),
  });
  if (!res.ok) throw new Error(`opening a session for ${agent}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { session_id: string; token: string };
}

/** The agents of the benchmark's team (tollgate.bench.yaml), each with the budgets at every level. */
const BENCH_AGENTS = ['bench-agent', 'bench-sub-1', 'bench-sub-2', 'bench-sub-3', 'bench-sub-4', 'bench-sub-5'];

/**
 * `n` sessions spread over `agents` agents in turn: the benchmark's six (each with the budgets at
 * every level), or, past six, that many created through the admin API in the benchmark's team and
 * profile (a fleet). Their `Bearer …` authorization headers.
 */
export async function openSessions(gatewayUrl: string, n: number, agents = BENCH_AGENTS.length): Promise<string[]> {
  const names = agents <= BENCH_AGENTS.length ? BENCH_AGENTS.slice(0, agents) : Array.from({ length: agents }, (_, i) => `fleet-${i}`);
  if (agents > BENCH_AGENTS.length) {
    for (let i = 0; i < names.length; i += 16) {
      await Promise.all(names.slice(i, i + 16).map(async (name) => {
        const res = await fetch(`${gatewayUrl}/admin/v1/agents`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name, team: 'bench', profile: 'bench' }),
        });
        if (!res.ok) throw new Error(`creating agent ${name}: ${res.status} ${await res.text()}`);
      }));
    }
  }
  const opened: string[] = [];
  // A few at a time: each is an admin request the gateway answers while nothing else runs.
  for (let i = 0; i < n; i += 16) {
    const batch = await Promise.all(Array.from({ length: Math.min(16, n - i) }, (_, k) => openSession(gatewayUrl, names[(i + k) % names.length]!)));
    opened.push(...batch.map((s) => `Bearer ${s.token}`));
  }
  return opened;
}

export async function startUpstream(): Promise<Started & { port: number }> {
  const upstream = await startProcess([CLI, 'simulate', '--port', '0'], /listening on http:\/\/127\.0\.0\.1:(\d+)/);
  return { ...upstream, port: Number(upstream.match[1]) };
}

/** `over` laid on `base`: mappings merged key by key, anything else (lists included) replaced. */
function overlay(base: unknown, over: unknown): unknown {
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isMap(base) || !isMap(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = key in base ? overlay(base[key], value) : value;
  return out;
}

/**
 * The environment `npm start` gives the gateway: its script's `NAME=defaults${NAME:+:$NAME}`
 * prefixes (glibc's malloc settings, docs/operations.md), the caller's own value appended as the
 * shell does (glibc takes the last of a tunable named twice). The benchmark measures Tollgate as a
 * user starts it.
 */
export function startScriptEnv(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { scripts: { start: string } };
  const script = pkg.scripts.start;
  const env: Record<string, string> = {};
  for (const [, name, defaults] of script.matchAll(/(?<![\w$])(\w+)=([^\s$]*)\$\{\1:\+:\$\1\}/g)) {
    const own = process.env[name!];
    env[name!] = own ? `${defaults}:${own}` : defaults!;
  }
  // A start script written some other way would leave the benchmark measuring a gateway started otherwise.
  if (script.includes('${') && Object.keys(env).length === 0) throw new Error(`bench/stack.ts cannot read the environment of the start script: ${script}`);
  return env;
}

/** The environment of a benchmark's gateway process: `npm start`'s, the admin token, the provider key. */
export function gatewayEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...startScriptEnv(), ...extra, TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, BENCH_PROVIDER_KEY: 'sk-bench' };
}

/**
 * Starts the upstream (unless given) and Tollgate on it, and opens the two sessions.
 * `configOverride`: YAML laid over tollgate.bench.yaml (e.g. `server: { log_requests: false }`).
 */
export async function startStack(
  options: { upstreamPort?: number; gatewayNodeArgs?: string[]; dataDir?: string; cli?: string; configOverride?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Stack> {
  const upstream = options.upstreamPort === undefined ? await startUpstream() : null;
  const upstreamPort = options.upstreamPort ?? upstream!.port;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
  const config = join(dataDir, 'tollgate.yaml');
  const text = readFileSync(join(import.meta.dirname, 'tollgate.bench.yaml'), 'utf8').replace('${UPSTREAM_PORT}', String(upstreamPort));
  writeFileSync(config, options.configOverride ? stringify(overlay(parse(text), parse(options.configOverride))) : text);
  const gateway = await startProcess(
    [...(options.gatewayNodeArgs ?? []), options.cli ?? CLI, 'serve', '--config', config, '--data-dir', dataDir],
    /"url":"(http:[^"]+)".*tollgate listening/,
    gatewayEnv(options.env),
  );
  const gatewayUrl = gateway.match[1]!;
  const [budgeted, free] = await Promise.all([openSession(gatewayUrl, 'bench-agent'), openSession(gatewayUrl, 'free-agent')]);
  return {
    upstreamPort,
    gateway,
    gatewayUrl,
    dataDir,
    tokens: { budgeted: budgeted.token, free: free.token },
    async stop() {
      await stopProcess(gateway.child);
      if (upstream) await stopProcess(upstream.child);
    },
  };
}
