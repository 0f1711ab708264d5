// Admin routes of chargeback reports, spread into the admin route table (admin.ts):
// GET /admin/v1/reports/spend sums usage lines (the ledger) per team, agent, profile, session,
// model, UTC day or session tag, as JSON or CSV.
import { z } from 'zod';
import { GatewayError } from '../errors/index.js';
import { nanoToUsd } from '../providers/pricing.js';
import type { SpendGrouping, SpendRow } from '../store/index.js';
import type { AdminDeps, AdminRoute } from './admin.js';
import { isoTime } from '../util/time.js';

/** An answer sent as it is rather than as JSON (a CSV report). */
export class TextAnswer {
  constructor(readonly text: string, readonly contentType: string) {}
}

/** A time parameter: ISO 8601 (a date is its UTC midnight) or milliseconds since the epoch. */
export function timeParam(value: string | undefined, param: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new GatewayError('invalid_request', `${param} must be an ISO 8601 time or milliseconds since the epoch`, { param });
  return ms;
}

const GROUPINGS = ['team', 'agent', 'profile', 'session', 'model', 'day'] as const;

function grouping(value: string): SpendGrouping {
  if ((GROUPINGS as readonly string[]).includes(value)) return value as SpendGrouping;
  const tag = /^tag:([a-z0-9_.-]{1,64})$/.exec(value);
  if (tag) return { tag: tag[1]! };
  throw new GatewayError('invalid_request', `group_by must be one of ${GROUPINGS.join(', ')} or tag:KEY`, { param: 'group_by' });
}

const spendQuery = z.object({
  group_by: z.string().describe('team | agent | profile | session | model | day | tag:KEY'),
  since: z.string().optional().describe('From this time (ISO 8601 or epoch ms), inclusive'),
  until: z.string().optional().describe('To this time, exclusive'),
  format: z.enum(['json', 'csv']).optional().describe('json (default) or csv'),
});

/** One report row as answered. */
export interface SpendReportRow {
  /** Time series only: the start of the bucket (ISO 8601). */
  bucket?: string;
  key: string | null;
  /** The team's, agent's or profile's name. */
  name?: string | null;
  /** group_by=team: the team whose agent made the calls (differs from key for cross-team delegation). */
  executing_team?: string;
  executing_team_name?: string | null;
  usd: number;
  usd_nano: number;
  input_tokens: number;
  output_tokens: number;
  requests: number;
}

export interface SpendReport {
  group_by: string;
  since: string | null;
  until: string | null;
  rows: SpendReportRow[];
  total: { usd: number; usd_nano: number; input_tokens: number; output_tokens: number; requests: number };
}

async function names(deps: AdminDeps, groupBy: SpendGrouping): Promise<Map<string, string>> {
  if (groupBy === 'team') return new Map((await deps.store.listTeams()).map((t) => [t.id, t.name]));
  if (groupBy === 'agent') return new Map((await deps.store.listAgents()).map((a) => [a.id, a.name]));
  if (groupBy === 'profile') return new Map((await deps.store.listProfiles()).map((p) => [p.id, p.name]));
  return new Map();
}

/** The spend report over the ledger's usage lines, [since, until); per time bucket with `bucketMs`. */
export async function spendReport(deps: AdminDeps, groupByText: string, since?: number, until?: number, bucketMs?: number): Promise<SpendReport> {
  const groupBy = grouping(groupByText);
  if (since !== undefined && until !== undefined && until < since) throw new GatewayError('invalid_request', 'until is before since', { param: 'until' });
  const [rows, named] = await Promise.all([deps.store.spendReport(groupBy, { since, until, bucketMs }), names(deps, groupBy)]);
  const named_ = typeof groupBy === 'string' && ['team', 'agent', 'profile'].includes(groupBy);
  const view = (r: SpendRow): SpendReportRow => ({
    ...(r.bucket !== undefined ? { bucket: isoTime(r.bucket) } : {}),
    key: r.key,
    ...(named_ ? { name: r.key === null ? null : named.get(r.key) ?? null } : {}),
    ...(r.executingTeam !== undefined ? { executing_team: r.executingTeam, executing_team_name: named.get(r.executingTeam) ?? null } : {}),
    usd: nanoToUsd(r.usdNano),
    usd_nano: r.usdNano,
    input_tokens: r.inputTokens,
    output_tokens: r.outputTokens,
    requests: r.requests,
  });
  const total = { usd_nano: 0, input_tokens: 0, output_tokens: 0, requests: 0 };
  for (const r of rows) {
    total.usd_nano += r.usdNano;
    total.input_tokens += r.inputTokens;
    total.output_tokens += r.outputTokens;
    total.requests += r.requests;
  }
  return {
    group_by: groupByText,
    since: since === undefined ? null : isoTime(since),
    until: until === undefined ? null : isoTime(until),
    rows: rows.map(view),
    total: { usd: nanoToUsd(total.usd_nano), ...total },
  };
}

/** RFC 4180 field: quoted when it holds a comma, quote or line break; a leading =+-@ is defused for spreadsheets. */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** CSV text: a header row, then one line per row (CRLF line ends, as RFC 4180 has them). */
export function csvText(columns: readonly string[], rows: readonly Record<string, unknown>[]): string {
  return `${[columns.join(','), ...rows.map((r) => columns.map((c) => csvField(r[c])).join(','))].join('\r\n')}\r\n`;
}

/** The report as CSV: a header row, then one line per row (no total line: the rows add up to it). */
export function spendCsv(report: SpendReport): string {
  const team = report.group_by === 'team';
  const named = ['team', 'agent', 'profile'].includes(report.group_by);
  const columns = ['key', ...(named ? ['name'] : []), ...(team ? ['executing_team', 'executing_team_name'] : []), 'usd', 'usd_nano', 'input_tokens', 'output_tokens', 'requests'];
  const lines = [columns.join(',')];
  for (const r of report.rows) {
    const row = r as unknown as Record<string, unknown>;
    lines.push(columns.map((c) => (c === 'usd' ? r.usd.toFixed(9) : csvField(row[c]))).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

const seriesQuery = z.object({
  group_by: z.string().describe('team | agent | profile | session | model | day | tag:KEY'),
  interval: z.coerce.number().int().min(1).max(31 * 86_400).optional().describe('Bucket width in seconds (default: the range over about 60 buckets, at least 60)'),
  since: z.string().optional().describe('From this time (ISO 8601 or epoch ms), inclusive; default 24 hours before until'),
  until: z.string().optional().describe('To this time, exclusive; default now'),
});

/** At most this many buckets in one series answer: a dashboard chart, not a bulk export. */
export const MAX_SERIES_BUCKETS = 1500;

/** GET /admin/v1/reports/spend/series: the spend report per time bucket (buckets with no spend are absent). */
async function spendSeries(query: Record<string, unknown>, d: AdminDeps) {
  const q = query as z.infer<typeof seriesQuery>;
  const until = timeParam(q.until, 'until') ?? d.now();
  const since = timeParam(q.since, 'since') ?? until - 86_400_000;
  if (until <= since) throw new GatewayError('invalid_request', 'until must be after since', { param: 'until' });
  const intervalMs = (q.interval ?? Math.max(60, Math.ceil((until - since) / 60_000))) * 1000;
  if ((until - since) / intervalMs > MAX_SERIES_BUCKETS) {
    throw new GatewayError('invalid_request', `that range holds more than ${MAX_SERIES_BUCKETS} buckets of ${intervalMs / 1000} s: widen interval or narrow the range`, { param: 'interval' });
  }
  const report = await spendReport(d, q.group_by, since, until, intervalMs);
  return { ...report, interval_seconds: intervalMs / 1000 };
}

export const REPORT_ROUTES: AdminRoute[] = [
  {
    method: 'GET', path: '/admin/v1/reports/spend/series', tag: 'reports',
    summary: 'Spend over time: the spend report per time bucket (aligned to the epoch) and group, for charts',
    query: seriesQuery,
    handle: async (i, d) => spendSeries(i.query, d),
  },
  {
    method: 'GET', path: '/admin/v1/reports/spend', tag: 'reports',
    summary: 'Chargeback: spend summed per team (root session\'s, with the executing team), agent, profile, session, model, day or tag:KEY; JSON or CSV',
    query: spendQuery,
    handle: async (i, d) => {
      const q = i.query as z.infer<typeof spendQuery>;
      const report = await spendReport(d, q.group_by, timeParam(q.since, 'since'), timeParam(q.until, 'until'));
      return q.format === 'csv' ? new TextAnswer(spendCsv(report), 'text/csv; charset=utf-8; header=present') : report;
    },
  },
];
