// Budget periods: `day` and `month` reset at midnight (and on the 1st) in the configured time
// zone; `lifetime` never resets. Spend history is kept; a period only decides what counts now.
import type { Period } from '../store/index.js';
import { wallClock } from '../util/time.js';

export interface PeriodWindow {
  /** Identifies the period (`2026-11-28`, `2026-11`, `lifetime`). */
  key: string;
  /** When it began (ms, UTC). */
  start: number;
  /** When the next one begins (ms, UTC); Infinity for lifetime. */
  end: number;
}

/** The UTC instant at which the wall clock in `timeZone` reads y-m-d 00:00. */
function localMidnight(y: number, m: number, d: number, timeZone: string): number {
  const guess = Date.UTC(y, m - 1, d);
  // Offset of the zone near that instant; one correction step handles a DST change that day.
  let at = guess;
  for (let i = 0; i < 2; i++) {
    const w = wallClock(at, timeZone);
    const offset = Date.UTC(w.y, w.m - 1, w.d, w.h, w.min, w.s) - at;
    at = guess - offset;
  }
  return at;
}

const LIFETIME: PeriodWindow = Object.freeze({ key: 'lifetime', start: 0, end: Number.POSITIVE_INFINITY });
/** The current window per period and zone: computing one takes Intl calls, so the hot path reuses it. */
const current = new Map<string, PeriodWindow>();

export function periodWindow(period: Period, now: number, timeZone = 'UTC'): PeriodWindow {
  if (period === 'lifetime') return LIFETIME;
  const key = `${period}|${timeZone}`;
  const cached = current.get(key);
  if (cached && now >= cached.start && now < cached.end) return cached;
  const window = computeWindow(period, now, timeZone);
  current.set(key, window);
  return window;
}

function computeWindow(period: 'day' | 'month', now: number, timeZone: string): PeriodWindow {
  const { y, m, d } = wallClock(now, timeZone);
  if (period === 'day') {
    const next = new Date(Date.UTC(y, m - 1, d + 1));
    return {
      key: `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`,
      start: localMidnight(y, m, d, timeZone),
      end: localMidnight(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), timeZone),
    };
  }
  const next = new Date(Date.UTC(y, m, 1));
  return { key: `${y}-${String(m).padStart(2, '0')}`, start: localMidnight(y, m, 1, timeZone), end: localMidnight(next.getUTCFullYear(), next.getUTCMonth() + 1, 1, timeZone) };
}
