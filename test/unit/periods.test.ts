import { describe, expect, it } from 'vitest';
import { periodWindow } from '../../src/budget/periods.js';

describe('budget periods', () => {
  it('days and months in UTC', () => {
    const now = Date.UTC(2026, 10, 28, 13, 45);
    expect(periodWindow('day', now)).toEqual({ key: '2026-11-28', start: Date.UTC(2026, 10, 28), end: Date.UTC(2026, 10, 29) });
    expect(periodWindow('month', now)).toEqual({ key: '2026-11', start: Date.UTC(2026, 10, 1), end: Date.UTC(2026, 11, 1) });
    expect(periodWindow('month', Date.UTC(2026, 11, 31, 23, 59)).end).toBe(Date.UTC(2027, 0, 1));
    expect(periodWindow('lifetime', now)).toEqual({ key: 'lifetime', start: 0, end: Number.POSITIVE_INFINITY });
  });

  it('follows the configured time zone, across a DST change', () => {
    // 23:30 UTC on 28 Nov is already 29 Nov in Tokyo (UTC+9).
    const now = Date.UTC(2026, 10, 28, 23, 30);
    expect(periodWindow('day', now, 'Asia/Tokyo')).toMatchObject({ key: '2026-11-29', start: Date.UTC(2026, 10, 28, 15) });
    // Europe/Paris leaves summer time on 25 Oct 2026: that day is 25 hours long.
    const day = periodWindow('day', Date.UTC(2026, 9, 25, 12), 'Europe/Paris');
    expect(day.start).toBe(Date.UTC(2026, 9, 24, 22));
    expect(day.end - day.start).toBe(25 * 3600_000);
  });
});
