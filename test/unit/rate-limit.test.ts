// The rate limiter on its own, with an injected clock: buckets drain continuously, a check is
// all-or-nothing across levels, corrections refund or charge, idle keys are evicted.
import { describe, expect, it } from 'vitest';
import { RateLimiter, type RateDecision, type RateLimit } from '../../src/budget/index.js';

function limiter(maxKeys?: number) {
  let t = 1_000_000;
  const rl = new RateLimiter({ now: () => t, maxKeys, sweepAbove: 0 });
  return { rl, advance: (ms: number) => (t += ms) };
}

const session = (rpm?: number, tpm?: number, id = 'ses_1'): RateLimit => ({ level: 'session', id, rpm, tpm });
const agent = (rpm?: number, tpm?: number, id = 'agt_1'): RateLimit => ({ level: 'agent', id, rpm, tpm });

function refused(d: RateDecision) {
  if (d.admitted) throw new Error('expected a refusal');
  return d;
}
function admitted(d: RateDecision) {
  if (!d.admitted) throw new Error(`expected an admission, got a refusal at ${d.level} on ${d.unit}`);
  return d;
}

describe('RateLimiter', () => {
  it('admits a burst of rpm, then one more every 60/rpm seconds (the window slides)', () => {
    const { rl, advance } = limiter();
    for (let i = 0; i < 10; i++) expect(rl.check([session(10)], 0).admitted).toBe(true);
    const no = refused(rl.check([session(10)], 0));
    expect(no).toMatchObject({ level: 'session', id: 'ses_1', unit: 'requests', limit: 10, retryAfterMs: 6000 });
    expect(no.status.requests).toMatchObject({ limit: 10, remaining: 0, resetMs: 60_000 });

    advance(5999);
    expect(refused(rl.check([session(10)], 0)).retryAfterMs).toBe(1);
    advance(1);
    const yes = admitted(rl.check([session(10)], 0));
    expect(yes.status.requests).toMatchObject({ remaining: 0, resetMs: 60_000 });
    expect(rl.check([session(10)], 0).admitted).toBe(false);

    advance(30_000); // half a minute: half the bucket is free again
    for (let i = 0; i < 5; i++) expect(rl.check([session(10)], 0).admitted).toBe(true);
    expect(rl.check([session(10)], 0).admitted).toBe(false);
  });

  it('sustains rpm per minute, and never more than a full bucket plus its refill in any 60 s span', () => {
    const { rl, advance } = limiter();
    const times: number[] = [];
    let t = 0;
    for (let i = 0; i < 5000; i++) {
      const step = (i * 7919) % 1500; // deterministic, irregular gaps
      advance(step);
      t += step;
      if (rl.check([session(7)], 0).admitted) times.push(t);
    }
    // Token bucket of capacity c and rate c/min: at most 2c - 1 in a 60 s span (a full bucket
    // plus what drains meanwhile) and, over a long run, c per minute on average.
    for (let i = 0; i < times.length; i++) {
      let n = 0;
      for (let j = i; j < times.length && times[j]! < times[i]! + 60_000; j++) n++;
      expect(n).toBeLessThanOrEqual(13);
    }
    expect(times.length).toBeLessThanOrEqual(Math.ceil((t / 60_000) * 7) + 7);
  });

  it('refuses a call whose tokens do not fit and reports how long until they would', () => {
    const { rl, advance } = limiter();
    admitted(rl.check([session(undefined, 1000)], 700));
    const no = refused(rl.check([session(undefined, 1000)], 400));
    expect(no).toMatchObject({ unit: 'tokens', limit: 1000, retryAfterMs: 6000 }); // 100 tokens at 1000/min
    expect(no.status.tokens).toMatchObject({ limit: 1000, remaining: 300, resetMs: 42_000 });
    advance(6000);
    admitted(rl.check([session(undefined, 1000)], 400));
  });

  it('is all-or-nothing across levels: a refusal at one level charges no other', () => {
    const { rl } = limiter();
    // The agent allows 3; session A uses 2 of them.
    admitted(rl.check([session(5, undefined, 'ses_a'), agent(3)], 0));
    admitted(rl.check([session(5, undefined, 'ses_a'), agent(3)], 0));
    // Session B: one left at the agent.
    admitted(rl.check([session(1, undefined, 'ses_b'), agent(3)], 0));
    // B is now out at its own level; the agent is out too: the longest wait is reported.
    const no = refused(rl.check([session(1, undefined, 'ses_b'), agent(3)], 0));
    expect(no.retryAfterMs).toBe(60_000); // the session's 1/min is slower than the agent's 3/min
    expect(no).toMatchObject({ level: 'session', id: 'ses_b' });
    // Session A has room at its own level, but the agent refuses: A's bucket is not charged.
    const a = refused(rl.check([session(5, undefined, 'ses_a'), agent(3)], 0));
    expect(a).toMatchObject({ level: 'agent', id: 'agt_1', unit: 'requests' });
    expect(a.status.requests).toMatchObject({ level: 'agent', remaining: 0 });
    // Check A alone: still exactly 3 left of its 5 (the refused attempt charged nothing).
    for (let i = 0; i < 3; i++) admitted(rl.check([session(5, undefined, 'ses_a')], 0));
    refused(rl.check([session(5, undefined, 'ses_a')], 0));
  });

  it('refuses on tokens at one level without spending a request at another', () => {
    const { rl } = limiter();
    admitted(rl.check([agent(undefined, 100, 'agt_x')], 100));
    refused(rl.check([session(2, undefined, 'ses_x'), agent(undefined, 100, 'agt_x')], 1));
    admitted(rl.check([session(2, undefined, 'ses_x')], 0));
    admitted(rl.check([session(2, undefined, 'ses_x')], 0));
  });

  it('reports the tightest level per unit', () => {
    const { rl } = limiter();
    const d = admitted(rl.check([session(100, 1000), agent(10, 50_000)], 600));
    expect(d.status.requests).toMatchObject({ level: 'agent', limit: 10, remaining: 9, resetMs: 6000 });
    expect(d.status.tokens).toMatchObject({ level: 'session', limit: 1000, remaining: 400, resetMs: 36_000 });
  });

  it('adjust refunds what an admitted call did not use, and charges what it used beyond', () => {
    const { rl, advance } = limiter();
    const first = admitted(rl.check([session(undefined, 1000)], 800)).admission;
    refused(rl.check([session(undefined, 1000)], 800));
    rl.adjust(first, 100); // used 100 of the 800 held
    rl.adjust(first, 0); // a second adjust changes nothing
    const second = admitted(rl.check([session(undefined, 1000)], 800)).admission; // 100 + 800
    expect(second.status.tokens).toMatchObject({ remaining: 100 });
    rl.adjust(second, 1500); // used more than estimated: charged, the bucket goes into deficit
    const no = refused(rl.check([session(undefined, 1000)], 1));
    expect(no.retryAfterMs).toBe(36_060); // 1600 + 1 - 1000 = 601 tokens at 1000/min
    advance(36_060);
    admitted(rl.check([session(undefined, 1000)], 1));
  });

  it('a refund never frees more than an empty bucket', () => {
    const { rl, advance } = limiter();
    const a = admitted(rl.check([session(undefined, 1000)], 1000)).admission;
    advance(60_000); // fully drained meanwhile
    rl.adjust(a, 0);
    admitted(rl.check([session(undefined, 1000)], 1000));
    refused(rl.check([session(undefined, 1000)], 1));
  });

  it('admits an estimate larger than the tpm only into an empty bucket, then charges the real usage', () => {
    const { rl, advance } = limiter();
    const big = admitted(rl.check([session(undefined, 1000)], 20_000));
    expect(big.status.tokens).toMatchObject({ remaining: 0 });
    refused(rl.check([session(undefined, 1000)], 20_000));
    rl.adjust(big.admission, 300);
    refused(rl.check([session(undefined, 1000)], 20_000)); // needs an empty bucket
    admitted(rl.check([session(undefined, 1000)], 700));
    advance(60_000);
    admitted(rl.check([session(undefined, 1000)], 20_000));
  });

  it('charges an overrun even when the key was evicted during a long call', () => {
    const { rl, advance } = limiter();
    const a = admitted(rl.check([session(undefined, 1000)], 10)).admission;
    advance(120_000);
    rl.check([session(undefined, 1000, 'ses_other')], 0); // the sweep meets the drained key
    expect(rl.size).toBe(1);
    rl.adjust(a, 1010); // 1000 more than held
    refused(rl.check([session(undefined, 1000)], 1));
  });

  it('evicts idle keys as it goes, and holds at most maxKeys', () => {
    const { rl, advance } = limiter();
    for (let i = 0; i < 1000; i++) rl.check([session(10, 1000, `ses_${i}`), agent(100, undefined, `agt_${i % 10}`)], 50);
    expect(rl.size).toBe(1010);
    advance(60_000); // every bucket has drained
    // Each check examines 2 keys per level: bounded work per check, yet faster than keys appear.
    for (let i = 0; i < 100; i++) rl.check([session(10, undefined, 'ses_hot')], 0);
    expect(rl.size).toBeLessThanOrEqual(1010 - 2 * 100 + 1);
    expect(rl.size).toBeGreaterThanOrEqual(1000 - 2 * 100);
    for (let i = 0; i < 500; i++) rl.check([session(10, undefined, 'ses_hot')], 0);
    expect(rl.size).toBe(1);

    // A key still in use is not evicted: its state survives a sweep.
    const busy = limiter();
    for (let i = 0; i < 10; i++) busy.rl.check([session(10, undefined, 'ses_busy')], 0);
    busy.advance(1000);
    for (let i = 0; i < 20; i++) busy.rl.check([session(10, undefined, `ses_new${i}`)], 0);
    expect(busy.rl.check([session(10, undefined, 'ses_busy')], 0).admitted).toBe(false);

    // Small levels are left alone by default: a few idle keys are cheaper than sweeping them.
    let t = 0;
    const lazy = new RateLimiter({ now: () => t });
    for (let i = 0; i < 200; i++) lazy.check([session(10, undefined, `ses_${i}`)], 0);
    t += 60_000;
    for (let i = 0; i < 200; i++) lazy.check([session(10, undefined, 'ses_hot')], 0);
    expect(lazy.size).toBe(201);
    for (let i = 0; i < 100; i++) lazy.check([session(10, undefined, `ses_more${i}`)], 0); // now above 256
    for (let i = 0; i < 200; i++) lazy.check([session(10, undefined, 'ses_hot')], 0);
    expect(lazy.size).toBeLessThanOrEqual(256);

    const capped = limiter(100);
    for (let i = 0; i < 1000; i++) capped.rl.check([session(10, undefined, `ses_${i}`)], 0);
    expect(capped.rl.size).toBe(100);
  });

  it('a clock that steps back drains nothing and breaks nothing', () => {
    const { rl, advance } = limiter();
    for (let i = 0; i < 2; i++) admitted(rl.check([session(2)], 0));
    advance(-10_000);
    const no = refused(rl.check([session(2)], 0));
    expect(no.retryAfterMs).toBe(30_000);
    advance(40_000);
    admitted(rl.check([session(2)], 0));
  });
});
