// Micro-benchmark of the rate limiter: µs per check (+ adjust), in the shapes the pipeline uses.
// Run: npx tsx bench/rate-limit.ts
import { RateLimiter, type RateLimit } from '../src/budget/index.js';
import type { CallContext, PipelineDeps } from '../src/pipeline/index.js';
import { rateLimit, rateLimitHeaders } from '../src/pipeline/rate-limit.js';
import { openAiChat } from '../src/providers/apis/index.js';

function run(name: string, n: number, keys: number, shape: (i: number) => RateLimit[], withAdjust: boolean): void {
  let t = 0;
  const rl = new RateLimiter({ now: () => t });
  const limits = Array.from({ length: keys }, (_, i) => shape(i));
  const pass = (count: number) => {
    for (let i = 0; i < count; i++) {
      t += 0.05; // 20 000 checks per simulated second
      const d = rl.check(limits[i % keys]!, 500);
      if (withAdjust && d.admitted) rl.adjust(d.admission, 120);
    }
  };
  pass(Math.min(n, 200_000)); // warm up
  const start = process.hrtime.bigint();
  pass(n);
  const ns = Number(process.hrtime.bigint() - start);
  console.log(`${name.padEnd(52)} ${(ns / n / 1000).toFixed(3)} µs/check   keys held: ${rl.size}`);
}

const both = (i: number): RateLimit[] => [
  { level: 'session', id: `ses_${i.toString(36).padStart(22, '0')}`, rpm: 600, tpm: 200_000 },
  { level: 'agent', id: `agt_${(i % 100).toString(36).padStart(22, '0')}`, rpm: 6000, tpm: 2_000_000 },
];
const sessionRpm = (i: number): RateLimit[] => [{ level: 'session', id: `ses_${i.toString(36).padStart(22, '0')}`, rpm: 600 }];

const N = 2_000_000;
run('1 level, rpm only, 1 key', N, 1, sessionRpm, false);
run('2 levels, rpm+tpm, check+adjust, 1 session', N, 1, both, true);
run('2 levels, rpm+tpm, check+adjust, 10k sessions/100 agents', N, 10_000, both, true);
run('2 levels, rpm+tpm, check+adjust, 1M sessions (eviction)', N, 1_000_000, both, true);

// The whole stage as the pipeline runs it: profile lookup (cached), limits, estimate, check,
// headers, and the adjustment at settle.
async function stage(name: string, rateLimits: Record<string, unknown>, n: number): Promise<void> {
  let t = 0;
  const deps = {
    rateLimiter: new RateLimiter({ now: () => t }),
    directory: { profiles: { get: async () => ({ rateLimits }) } },
  } as unknown as PipelineDeps;
  const messages = [{ role: 'system', content: 'You are a helpful support agent for Acme.' }, { role: 'user', content: 'My order 1234 has not arrived yet; where is it?' }];
  const sessions = Array.from({ length: 1000 }, (_, i) => ({ id: `ses_${String(i).padStart(22, '0')}`, agentId: `agt_${String(i % 10).padStart(22, '0')}`, profileId: 'pro_x' }));
  const once = async (i: number) => {
    t += 0.05;
    const ctx = {
      adapter: openAiChat, session: sessions[i % sessions.length],
      call: { prompt: { messages }, maxOutputTokens: 256, choices: 1 }, route: { maxOutputTokens: 16_384 },
    } as unknown as CallContext;
    await rateLimit(ctx, deps).catch(() => undefined);
    rateLimitHeaders(ctx);
    if (ctx.rateAdmission) deps.rateLimiter.adjust(ctx.rateAdmission, 80);
  };
  for (let i = 0; i < 100_000; i++) await once(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await once(i);
  const ns = Number(process.hrtime.bigint() - start);
  console.log(`${name.padEnd(52)} ${(ns / n / 1000).toFixed(3)} µs/call`);
}

await stage('stage: no limits in the profile', {}, 500_000);
await stage('stage: session rpm, admitted', { session: { requestsPerMinute: 1_000_000 } }, 500_000);
await stage('stage: session+agent rpm+tpm, admitted', { session: { requestsPerMinute: 1_000_000, tokensPerMinute: 1e9 }, agent: { requestsPerMinute: 1_000_000, tokensPerMinute: 1e9 } }, 500_000);
await stage('stage: session rpm, refused (429 thrown)', { session: { requestsPerMinute: 1 } }, 200_000);
