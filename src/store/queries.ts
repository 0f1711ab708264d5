// SQL shared by the SQL stores for audit searches and spend reports, in either dialect: the
// differences (placeholders, JSON access, set membership, dates) are a few small functions.
import type { EventFilter, SpendGrouping, SpendRange, SpendRow } from './store.js';
import type { Row } from './rows.js';

export type Dialect = 'sqlite' | 'postgres';

/** Collects parameters and answers each one's placeholder (`?`, or `$n` with an optional cast). */
export class Params {
  readonly values: unknown[] = [];
  constructor(private readonly dialect: Dialect) {}
  add(value: unknown, cast?: string): string {
    this.values.push(value);
    return this.dialect === 'sqlite' ? '?' : `$${this.values.length}${cast ? `::${cast}` : ''}`;
  }
}

/** A `type` filter: exact, or a prefix when it ends in `*`. */
export function typeMatch(type: string): { prefix: string } | { exact: string } {
  return type.endsWith('*') ? { prefix: type.slice(0, -1) } : { exact: type };
}

/** The WHERE clause and ORDER/LIMIT of an audit search; null when it can match nothing. */
export function eventQuery(f: EventFilter, dialect: Dialect, defaultLimit: number): { sql: string; params: unknown[] } | null {
  if (f.sessionIds && f.sessionIds.length === 0) return null;
  const p = new Params(dialect);
  const parts: string[] = [];
  if (f.sessionId !== undefined) parts.push(`session_id = ${p.add(f.sessionId)}`);
  if (f.sessionIds) {
    parts.push(dialect === 'sqlite'
      ? `session_id IN (SELECT value FROM json_each(${p.add(JSON.stringify(f.sessionIds))}))`
      : `session_id = ANY(${p.add([...f.sessionIds], 'text[]')})`);
  }
  parts.push(...eventConditions(f, p));
  const where = parts.length ? `WHERE ${parts.join(' AND ')}` : '';
  const sql = `SELECT * FROM audit_events ${where} ORDER BY seq ${f.order === 'asc' ? 'ASC' : 'DESC'} LIMIT ${p.add(f.limit ?? defaultLimit, 'int')}`;
  return { sql, params: p.values };
}

/**
 * An audit search's conditions other than its sessions, in order (their placeholders are added to
 * `p` as they are written); `column` names each column as the query sees it.
 */
export function eventConditions(f: EventFilter, p: Params, column: (name: string) => string = (name) => name): string[] {
  const parts: string[] = [];
  if (f.type !== undefined) {
    const t = typeMatch(f.type);
    // substr rather than LIKE: nothing to escape (`_` is common in types), and no collation.
    if ('exact' in t) parts.push(`${column('type')} = ${p.add(t.exact)}`);
    else if (t.prefix !== '') parts.push(`substr(${column('type')}, 1, ${p.add(t.prefix.length, 'int')}) = ${p.add(t.prefix)}`);
  }
  if (f.agentId !== undefined) parts.push(`${column('agent_id')} = ${p.add(f.agentId)}`);
  if (f.teamId !== undefined) parts.push(`${column('team_id')} = ${p.add(f.teamId)}`);
  if (f.since !== undefined) parts.push(`${column('time')} >= ${p.add(f.since, 'bigint')}`);
  if (f.until !== undefined) parts.push(`${column('time')} < ${p.add(f.until, 'bigint')}`);
  if (f.afterSeq !== undefined) parts.push(`${column('seq')} > ${p.add(f.afterSeq, 'bigint')}`);
  if (f.beforeSeq !== undefined) parts.push(`${column('seq')} < ${p.add(f.beforeSeq, 'bigint')}`);
  return parts;
}

/** A session tag key: what may be asked for in a `tag:KEY` grouping. */
export const TAG_KEY = /^[a-z0-9_.-]{1,64}$/;

/**
 * A spend report: usage lines in [since, until) summed per group. The root session of a line is
 * the first id of its chain (lines written before chains existed: its own session).
 */
export function spendQuery(groupBy: SpendGrouping, range: SpendRange, dialect: Dialect): { sql: string; params: unknown[] } {
  const p = new Params(dialect);
  const sqlite = dialect === 'sqlite';
  const joins: string[] = [];
  let key: string;
  let executing = false;
  if (typeof groupBy === 'object') {
    if (!TAG_KEY.test(groupBy.tag)) throw new TypeError(`not a tag key: ${groupBy.tag}`);
    joins.push('LEFT JOIN sessions s ON s.id = u.session_id');
    key = sqlite ? `json_extract(s.context, ${p.add(`$.tags."${groupBy.tag}"`)})` : `(s.context -> 'tags') ->> ${p.add(groupBy.tag, 'text')}`;
  } else if (groupBy === 'team') {
    const root = sqlite ? "COALESCE(json_extract(u.chain, '$[0]'), u.session_id)" : 'COALESCE(u.chain ->> 0, u.session_id)';
    joins.push(`LEFT JOIN sessions r ON r.id = ${root}`);
    key = 'COALESCE(r.team_id, u.team_id)';
    executing = true;
  } else if (groupBy === 'day') {
    key = sqlite ? "strftime('%Y-%m-%d', u.created_at / 1000, 'unixepoch')" : "to_char(to_timestamp(u.created_at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')";
  } else {
    key = `u.${({ agent: 'agent_id', profile: 'profile_id', session: 'session_id', model: 'model' } as const)[groupBy]}`;
  }
  // A time series: each line also falls in the bucket its time starts (integer division in both
  // dialects). Before the WHERE parameters: SQLite's `?` are numbered in the order they appear.
  const bucketMs = range.bucketMs;
  if (bucketMs !== undefined && !(Number.isSafeInteger(bucketMs) && bucketMs > 0)) throw new TypeError(`not a bucket width: ${bucketMs}`);
  // SQLite binds JS numbers as REAL: cast, or the division would not truncate.
  const width = () => (sqlite ? `CAST(${p.add(bucketMs)} AS INTEGER)` : p.add(bucketMs, 'bigint'));
  const bucket = bucketMs === undefined ? 'NULL' : `(u.created_at / ${width()}) * ${width()}`;
  const parts: string[] = [];
  if (range.since !== undefined) parts.push(`u.created_at >= ${p.add(range.since, 'bigint')}`);
  if (range.until !== undefined) parts.push(`u.created_at < ${p.add(range.until, 'bigint')}`);
  const sum = (c: string) => (sqlite ? `SUM(u.${c})` : `SUM(u.${c})::bigint`);
  const sql = `SELECT ${key} AS key, ${executing ? 'u.team_id' : 'NULL'} AS executing, ${bucket} AS bucket,
      ${sum('cost_usd_nano')} AS usd_nano, ${sum('input_tokens')} AS input_tokens, ${sum('output_tokens')} AS output_tokens, COUNT(*) AS requests
    FROM usage_records u ${joins.join(' ')} ${parts.length ? `WHERE ${parts.join(' AND ')}` : ''}
    GROUP BY 1, 2, 3`;
  return { sql, params: p.values };
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : typeof v === 'string' ? v : JSON.stringify(v));

/** Report rows from the query's rows, in a stable order (bucket, key, then executing team; null keys first). */
export function spendRows(rows: Row[], groupBy: SpendGrouping): SpendRow[] {
  const out: SpendRow[] = rows.map((r) => ({
    key: strOrNull(r.key),
    ...(groupBy === 'team' ? { executingTeam: strOrNull(r.executing) ?? '' } : {}),
    ...(r.bucket !== null && r.bucket !== undefined ? { bucket: num(r.bucket) } : {}),
    usdNano: num(r.usd_nano),
    inputTokens: num(r.input_tokens),
    outputTokens: num(r.output_tokens),
    requests: num(r.requests),
  }));
  const cmp = (a: string | null | undefined, b: string | null | undefined) => (a === b ? 0 : a === null || a === undefined ? -1 : b === null || b === undefined ? 1 : a < b ? -1 : 1);
  return out.sort((a, b) => (a.bucket ?? 0) - (b.bucket ?? 0) || cmp(a.key, b.key) || cmp(a.executingTeam, b.executingTeam));
}
