// isoTime (util/time.ts) against its oracle, Date.prototype.toISOString: the request log's time
// and the detectors' evidence must read exactly as before.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoTime, isoTimeOrNull } from '../../src/util/time.js';

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
