import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecentCalls, type RecentCall } from '../../src/detect/recent-calls.js';
import { STAGES, StageTimes } from '../../src/telemetry/index.js';

describe('RecentCalls: running counts per prompt over a sliding window', () => {
  it('counts repeats, rejections and outcomes, and forgets what leaves the window', () => {
    const recent = new RecentCalls(100);
    recent.push({ time: 1000, fp: 'a', rejected: true, outcome: 'upstream_error' }, 0);
    recent.push({ time: 2000, fp: 'b', rejected: false, outcome: 'ok' }, 0);
    recent.push({ time: 3000, fp: 'a', rejected: false, outcome: 'ok' }, 0);
    expect(recent.repeats('a')).toEqual({ calls: 2, rejected: 1, outcomes: { upstream_error: 1, ok: 1 }, firstAt: 1000 });
    // The window moves past the first call: it no longer counts, and the first is now the third.
    recent.push({ time: 4000, fp: null, rejected: false, outcome: 'ok' }, 1500);
    expect(recent.repeats('a')).toEqual({ calls: 1, rejected: 0, outcomes: { ok: 1 }, firstAt: 3000 });
    recent.push({ time: 9000, fp: 'c', rejected: false, outcome: 'ok' }, 8000);
    expect(recent.repeats('a')).toBeNull();
    expect(recent.repeats('b')).toBeNull();
    expect(recent.size).toBe(1);
  });

  it('keeps at most its cap of calls, however fast they come', () => {
    const recent = new RecentCalls(3);
    for (let i = 0; i < 10; i++) recent.push({ time: 1000 + i, fp: 'x', rejected: i % 2 === 0, outcome: 'ok' }, 0);
    expect(recent.size).toBe(3);
    expect(recent.repeats('x')).toMatchObject({ calls: 3, rejected: 1, firstAt: 1007 });
  });
});

describe('RecentCalls against a list of the window\'s calls (the plain reading of the rule)', () => {
  /** The window's calls as a list: what `repeats` must answer for a prompt. */
  const reference = (calls: RecentCall[], fp: string) => {
    const same = calls.filter((c) => c.fp === fp);
    if (same.length === 0) return null;
    const outcomes: Record<string, number> = {};
    for (const c of same) outcomes[c.outcome] = (outcomes[c.outcome] ?? 0) + 1;
    return { calls: same.length, rejected: same.filter((c) => c.rejected).length, outcomes, firstAt: same[0]!.time };
  };
  const step = fc.record({
    gap: fc.integer({ min: 0, max: 50 }),
    fp: fc.constantFrom('a', 'b', 'c', null),
    rejected: fc.boolean(),
    outcome: fc.constantFrom('ok', 'upstream_error', 'stream_cut'),
    reach: fc.integer({ min: 10, max: 400 }),
    prune: fc.boolean(),
  });

  it('answers as the list does through pushes, the cap, the horizon, prunes and the ring growing', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.array(step, { maxLength: 300 }), (cap, steps) => {
        const recent = new RecentCalls(cap);
        let list: RecentCall[] = [];
        let time = 1_000_000;
        for (const s of steps) {
          time += s.gap;
          const horizon = time - s.reach;
          if (s.prune) {
            recent.prune(horizon);
            list = list.filter((c) => c.time >= horizon);
          } else {
            recent.push({ time, fp: s.fp, rejected: s.rejected, outcome: s.outcome }, horizon);
            list = [...list.filter((c) => c.time >= horizon), { time, fp: s.fp, rejected: s.rejected, outcome: s.outcome }].slice(-cap);
          }
          expect(recent.size).toBe(list.length);
          for (const fp of ['a', 'b', 'c']) expect(recent.repeats(fp)).toEqual(reference(list, fp));
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('StageTimes: per-stage timers of the pipeline', () => {
  it('charges each lap to its stage and reports count, mean and bucketed quantiles', async () => {
    const times = new StageTimes();
    const call: { lapAt?: number } = {};
    times.start(call);
    await new Promise((r) => setTimeout(r, 20));
    times.lap(call, 'auth');
    times.lap(call, 'parse');
    const report = times.report();
    expect(report.stages.map((s) => s.stage)).toEqual([...STAGES]);
    const auth = report.stages.find((s) => s.stage === 'auth')!;
    const parse = report.stages.find((s) => s.stage === 'parse')!;
    expect(auth.count).toBe(1);
    expect(auth.mean_us).toBeGreaterThan(15_000);
    // The p50 is the upper edge of a power-of-two bucket holding the lap.
    expect(auth.p50_us).toBeGreaterThanOrEqual(auth.mean_us);
    expect(auth.p50_us).toBeLessThan(auth.mean_us * 2 + 1);
    expect(parse.count).toBe(1);
    expect(parse.mean_us).toBeLessThan(auth.mean_us);
    expect(report.stages.find((s) => s.stage === 'forward')!.count).toBe(0);
    times.reset();
    expect(times.report().stages.every((s) => s.count === 0)).toBe(true);
  });
});
