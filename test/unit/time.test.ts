// isoTime (util/time.ts) against its oracle, Date.prototype.toISOString: the request log's time
// and the detectors' evidence must read exactly as before.
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { periodWindow } from '../../src/budget/periods.js';
import { isoTime, isoTimeOrNull, isTimeZone, wallClock } from '../../src/util/time.js';

const oracle = (ms: number) => new Date(ms).toISOString();
const YEAR_10000 = Date.UTC(10000, 0, 1);

describe('isoTime', () => {
  it('writes what toISOString writes, for any millisecond from 1970 to year 9999', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: YEAR_10000 - 1 }), (ms) => isoTime(ms) === oracle(ms)), { numRuns: 20_000 });
  });

  it('around day, month, year and leap-day edges, and repeated or alternating times (its caches)', () => {
    const edges = [0, 1, 999, 1000, 59_999, 60_000, 3_599_999, 3_600_000, Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(2024, 2, 1), Date.UTC(2026, 11, 31, 23, 59, 59, 999), Date.UTC(2027, 0, 1), YEAR_10000 - 1];
    for (const e of edges) for (const ms of [e - 1, e, e + 1, e, e - 1]) if (ms >= 0) expect(isoTime(ms)).toBe(oracle(ms));
    fc.assert(fc.property(fc.array(fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2026, 0, 3) }), { minLength: 2, maxLength: 50 }), (times) => times.every((ms) => isoTime(ms) === oracle(ms))));
  });

  it('hands the rare cases to Date: before 1970, from year 10000, fractional, invalid', () => {
    for (const ms of [-1, -86_400_001, Date.UTC(-271821, 3, 20), YEAR_10000, 8.64e15, 1.5, 1_700_000_000_000.25, -0]) expect(isoTime(ms)).toBe(oracle(ms));
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 8.64e15 + 1]) expect(() => isoTime(bad)).toThrow(RangeError);
  });

  it('isoTimeOrNull: null for a time not set, else the same text', () => {
    expect(isoTimeOrNull(null)).toBeNull();
    for (const ms of [0, Date.UTC(2026, 10, 30, 3, 4, 5, 6)]) expect(isoTimeOrNull(ms)).toBe(oracle(ms));
  });
});

describe('wallClock', () => {
  afterEach(() => vi.restoreAllMocks());
  const intlReading = (ms: number, timeZone: string) => {
    const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', weekday: 'short' })
      .formatToParts(ms).filter((p) => p.type !== 'literal').map((p) => [p.type, p.value]));
    return { y: Number(parts.year), m: Number(parts.month), d: Number(parts.day), h: Number(parts.hour), min: Number(parts.minute), s: Number(parts.second), weekday: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(parts.weekday!) };
  };

  it('reads UTC without Intl as Intl reads it, and any other zone through Intl', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) }), (ms) => {
      expect(wallClock(ms, 'UTC')).toEqual(intlReading(ms, 'UTC'));
      expect(wallClock(ms, 'Etc/UTC')).toEqual(intlReading(ms, 'UTC'));
    }), { numRuns: 2_000 });
    // Paris on the night clocks go forward (2026-03-29, 01:00 UTC: 02:00 → 03:00) and an ordinary Sunday noon.
    expect(wallClock(Date.UTC(2026, 2, 29, 0, 59, 59), 'Europe/Paris')).toEqual({ y: 2026, m: 3, d: 29, h: 1, min: 59, s: 59, weekday: 0 });
    expect(wallClock(Date.UTC(2026, 2, 29, 1, 0, 0), 'Europe/Paris')).toEqual({ y: 2026, m: 3, d: 29, h: 3, min: 0, s: 0, weekday: 0 });
    expect(wallClock(Date.UTC(2026, 10, 29, 11, 0, 0), 'America/New_York')).toMatchObject({ d: 29, h: 6, weekday: 0 });
  });

  it('never builds an Intl formatter for UTC, the default: budget periods, the policy clock and config checks stay off ICU', () => {
    const made = vi.spyOn(Intl, 'DateTimeFormat');
    const now = Date.UTC(2026, 11, 1, 12);
    expect(periodWindow('day', now, 'UTC')).toMatchObject({ key: '2026-12-01', start: Date.UTC(2026, 11, 1), end: Date.UTC(2026, 11, 2) });
    expect(periodWindow('month', now + 86_400_000 * 40, 'UTC')).toMatchObject({ key: '2027-01', start: Date.UTC(2027, 0, 1), end: Date.UTC(2027, 1, 1) });
    expect(isTimeZone('UTC')).toBe(true);
    expect(made).not.toHaveBeenCalled();
    expect(isTimeZone('Europe/Paris')).toBe(true);
    expect(isTimeZone('Mars/Olympus_Mons')).toBe(false);
    expect(made).toHaveBeenCalled();
  });
});
