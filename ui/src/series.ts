// Spend series (GET /admin/v1/reports/spend/series) turned into chart columns: every bucket of
// the range present (zero where nothing was spent), one series per group, the biggest first.
import { get, query, type SpendReport, type SpendRow } from './api';
import type { Series } from './components/chart';

export interface Columns { x: number[]; series: Series[] }

export const RANGES = [
  ['1h', 'Last hour', 3_600_000, 60],
  ['24h', '24 hours', 86_400_000, 1800],
  ['7d', '7 days', 7 * 86_400_000, 6 * 3600],
] as const;
export type RangeKey = (typeof RANGES)[number][0];

export function rangeOf(key: RangeKey): { ms: number; interval: number } {
  const r = RANGES.find((x) => x[0] === key)!;
  return { ms: r[2], interval: r[3] };
}

/** The series of the last `ms`, in buckets of `interval` seconds, aligned so the last bucket holds now. */
export async function loadSeries(groupBy: string, ms: number, interval: number): Promise<{ report: SpendReport; since: number; until: number; interval: number }> {
  const step = interval * 1000;
  const until = Math.ceil((Date.now() + 1) / step) * step;
  const since = until - Math.ceil(ms / step) * step;
  const report = await get<SpendReport>(`/reports/spend/series${query({ group_by: groupBy, since, until, interval })}`);
  return { report, since, until, interval };
}

export function columns(
  rows: SpendRow[],
  since: number,
  until: number,
  interval: number,
  options: { value?: (r: SpendRow) => number; keyOf?: (r: SpendRow) => string | null; label?: (r: SpendRow) => string; top?: number; cumulative?: boolean } = {},
): Columns {
  const step = interval * 1000;
  const value = options.value ?? ((r) => r.usd);
  const keyOf = options.keyOf ?? ((r) => r.key);
  const x: number[] = [];
  for (let t = since; t < until; t += step) x.push(t / 1000);
  const groups = new Map<string, { label: string; values: number[]; total: number }>();
  for (const r of rows) {
    const key = keyOf(r) ?? '(none)';
    let g = groups.get(key);
    if (!g) {
      g = { label: options.label?.(r) ?? r.name ?? r.key ?? '(none)', values: x.map(() => 0), total: 0 };
      groups.set(key, g);
    }
    const i = Math.floor((Date.parse(r.bucket!) - since) / step);
    if (i >= 0 && i < x.length) {
      g.values[i]! += value(r);
      g.total += value(r);
    }
  }
  let list = [...groups.values()].sort((a, b) => b.total - a.total);
  if (options.top && list.length > options.top) {
    const rest = list.slice(options.top);
    list = [...list.slice(0, options.top), { label: `${rest.length} more`, values: x.map((_, i) => rest.reduce((n, g) => n + g.values[i]!, 0)), total: 0 }];
  }
  if (options.cumulative) for (const g of list) for (let i = 1; i < g.values.length; i++) g.values[i]! += g.values[i - 1]!;
  return { x, series: list.map((g) => ({ label: g.label, values: g.values })) };
}
