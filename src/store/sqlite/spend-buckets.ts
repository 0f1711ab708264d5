// Spend by agent and by team per quarter hour (SQLite only), kept in the same transaction as the
// spend lines it sums.
//
// The budget ledger reads an agent's or a team's spend in the current period when it first loads
// the account, on a call's path (`spendSince`). Summing the spend lines themselves costs a walk over
// every line of the period — a month of a busy agent's calls — and needs an index by agent and by
// team that every commit updates (with many agents, a leaf per line). The buckets answer the same
// sum from a few rows per hour, so those indexes can be kept in bulk like the ones by session
// (session-index.ts). A quarter hour: every period starts at a local midnight, and every time zone's
// offset is a whole number of quarter hours, so a period's start is a bucket's.
import { Params } from '../queries.js';
import type { PreparedStatements } from './batch-writer.js';
import { mark } from './session-index.js';

const BUCKET_MS = 900_000;

type Level = 'agent' | 'team';

/** The start of the quarter hour `time` falls in (a floor: `%` alone truncates toward zero). */
const bucketStart = (time: number): number => time - (((time % BUCKET_MS) + BUCKET_MS) % BUCKET_MS);

/** One bucket's addition: tokens (input + output, as budgets count them) and cost. */
interface Addition {
  level: Level;
  subject: string;
  start: number;
  tokens: number;
  usdNano: number;
}

/** Gathers a batch's new spend lines by bucket, so a busy agent's bucket is written once per batch. */
export class BucketAdditions {
  private readonly additions = new Map<string, Addition>();

  add(agentId: string, teamId: string, createdAt: number, tokens: number, usdNano: number): void {
    const start = bucketStart(createdAt);
    this.addTo('agent', agentId, start, tokens, usdNano);
    this.addTo('team', teamId, start, tokens, usdNano);
  }

  private addTo(level: Level, subject: string, start: number, tokens: number, usdNano: number): void {
    const key = `${level}\u0000${subject}\u0000${start}`;
    const a = this.additions.get(key);
    if (a) {
      a.tokens += tokens;
      a.usdNano += usdNano;
    } else this.additions.set(key, { level, subject, start, tokens, usdNano });
  }

  /** Adds what was gathered to the buckets: an upsert per bucket, inside the caller's transaction. */
  writeTo(statements: PreparedStatements): void {
    if (this.additions.size === 0) return;
    const add = statements.get(`INSERT INTO spend_buckets (level, subject, start, tokens, usd_nano) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (start, level, subject) DO UPDATE SET tokens = tokens + excluded.tokens, usd_nano = usd_nano + excluded.usd_nano`);
    for (const a of this.additions.values()) add.run(a.level, a.subject, a.start, a.tokens, a.usdNano);
  }
}

/**
 * An agent's or a team's spend at or after `since`: whole buckets from the first bucket start at or
 * after it, and the lines between `since` and that start (less than a quarter hour of them) through
 * the index kept in bulk up to the mark, beside the lines above it. Exactly the sum of the lines.
 */
export function spendSinceQuery(filter: { agentId?: string; teamId?: string }, since: number): { sql: string; params: unknown[] } {
  if ((filter.agentId === undefined) === (filter.teamId === undefined)) return linesQuery(filter, since);
  const [level, subject, value] = filter.agentId !== undefined ? ['agent', 'agent_id', filter.agentId] as const : ['team', 'team_id', filter.teamId!] as const;
  const wholeFrom = Math.ceil(since / BUCKET_MS) * BUCKET_MS;
  const p = new Params('sqlite');
  const parts = [
    `SELECT tokens, usd_nano FROM spend_buckets WHERE level = ${p.add(level)} AND subject = ${p.add(value)} AND start >= ${p.add(wholeFrom)}`,
  ];
  if (since < wholeFrom) {
    parts.push(
      `SELECT u.input_tokens + u.output_tokens, u.cost_usd_nano FROM usage_${level}_index k CROSS JOIN usage_records u ON u.id = k.id
        WHERE k.${subject} = ${p.add(value)} AND k.row <= ${mark('usage_records')} AND k.created_at >= ${p.add(since)} AND k.created_at < ${p.add(wholeFrom)}`,
      `SELECT input_tokens + output_tokens, cost_usd_nano FROM usage_records
        WHERE rowid > ${mark('usage_records')} AND ${subject} = ${p.add(value)} AND +created_at >= ${p.add(since)} AND +created_at < ${p.add(wholeFrom)}`,
    );
  }
  return {
    sql: `SELECT COALESCE(SUM(tokens), 0) AS tokens, COALESCE(SUM(usd_nano), 0) AS usd FROM (${parts.join(' UNION ALL ')})`,
    params: p.values,
  };
}

/** Neither or both of agent and team (no caller asks so): the lines themselves, as any SQL store sums them. */
function linesQuery(filter: { agentId?: string; teamId?: string }, since: number): { sql: string; params: unknown[] } {
  const p = new Params('sqlite');
  const parts = [`created_at >= ${p.add(since)}`];
  if (filter.agentId !== undefined) parts.push(`agent_id = ${p.add(filter.agentId)}`);
  if (filter.teamId !== undefined) parts.push(`team_id = ${p.add(filter.teamId)}`);
  return {
    sql: `SELECT COALESCE(SUM(input_tokens + output_tokens), 0) AS tokens, COALESCE(SUM(cost_usd_nano), 0) AS usd FROM usage_records WHERE ${parts.join(' AND ')}`,
    params: p.values,
  };
}
