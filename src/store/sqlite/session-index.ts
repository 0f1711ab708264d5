// Audit events by session, agent and type, and spend lines by session, agent and team, indexed in
// bulk off the hot path (SQLite only). The module keeps its first name: sessions were the first such index.
//
// An index on (session_id, …) takes each new row into the leaf of its session: with one session
// every row appends to the same leaf, but with thousands at once each row of a commit dirties a
// leaf of its own (written whole to the log), and splitting those leaves mid-tree makes SQLite
// scan its whole page cache at commit (balance_nonroot renumbers a page through a temporary
// page number past the end of the file; pcache1Truncate then walks every hash bucket). At 2,000
// sessions the two session indexes were ~40 % of the writer thread's CPU per call; at 600 agents
// the audit index by agent cost the writer as much again, and the one by type splits mid-tree
// whenever a type sorting after `model.call` has events.
//
// So the hot path's commits carry none of these indexes. Rows are indexed afterwards, in passes over
// the rows written since the last one (up to PASS_ROWS), a step at a time between the writer's
// batches: the rows' entries are first staged, a slice of rows per step, into temporary tables
// in memory keyed like the indexes (sorting them by key; no write lock on the file), then moved
// into each index in key order, a slice of entries per short write transaction — each slice a run
// of keys, so a key's entries land together, one leaf written for many rows. The last slice of a
// table's last index moves the table's mark (`session_index_marks.upto`) in the same transaction:
// every row at or below the mark is in every index of its table, none above it. A query by key reads
// the index up to the mark and scans the rows above it (seconds of traffic at most): the answer is
// the same whether or not a pass has run, or is under way. A pass cut short (a crash) is redone
// from the mark; its inserts ignore the entries already there.
import type Database from 'better-sqlite3';
import { eventConditions, Params } from '../queries.js';
import type { EventFilter, UsageFilter } from '../store.js';
import type { PreparedStatements } from './batch-writer.js';

/**
 * A pass starts once PASS_ROWS rows wait, or when the oldest waiting row is PASS_AGE_MS old. A
 * step stages STAGE_ROWS rows or moves MOVE_ROWS entries: about a millisecond of the writer
 * thread, and of the file's write lock, at a time — a batch arriving meanwhile waits no longer.
 * The pass's size is what lets a session's entries share a leaf; a step's size only bounds a wait.
 */
export const PASS_ROWS = 32_768;
export const PASS_AGE_MS = 2_000;
export const STAGE_ROWS = 1_024;
export const MOVE_ROWS = 1_024;

/** How large and how often the passes are (the constants above unless tuned: tests). */
export interface SessionIndexLimits {
  passRows: number;
  passAgeMs: number;
  stageRows: number;
  moveRows: number;
}
export const SESSION_INDEX_LIMITS: SessionIndexLimits = { passRows: PASS_ROWS, passAgeMs: PASS_AGE_MS, stageRows: STAGE_ROWS, moveRows: MOVE_ROWS };

/** One index kept in bulk over a table's rows: by session, agent, team or type. */
interface BulkIndex {
  index: string;
  /** The temporary table its entries are staged in, keyed like the index. */
  staged: string;
  /** The column naming whose row it is: a row where it is null has no entry. */
  subject: 'session_id' | 'agent_id' | 'team_id' | 'type';
  /** The index's key (the subject first), and its columns in the table's terms. */
  key: string[];
  columns: string[];
  from: string[];
  /** The staging table's definition. */
  stagedSql: string;
}

interface IndexedTable {
  /** The table, and the name of its mark: every index of the table is filled up to it. */
  table: 'audit_events' | 'usage_records';
  /** The table's position column: ever-growing, rows are appended above the mark. */
  position: string;
  indexes: readonly BulkIndex[];
}

/** An index of audit events: their positions on the chain, in order within the subject. */
function auditIndex(subject: 'session_id' | 'agent_id' | 'type', index: string, staged: string): BulkIndex {
  return {
    index, staged, subject,
    key: [subject, 'seq'], columns: [subject, 'seq'], from: [subject, 'seq'],
    stagedSql: `${subject} TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (${subject}, seq)`,
  };
}

/**
 * An index of spend lines: found by id, ordered by time within the subject (as their listing is),
 * each entry with its row's position to compare with the mark.
 */
function usageIndex(subject: 'session_id' | 'agent_id' | 'team_id', index: string, staged: string): BulkIndex {
  return {
    index, staged, subject,
    key: [subject, 'created_at', 'id'], columns: [subject, 'created_at', 'id', 'row'], from: [subject, 'created_at', 'id', 'rowid'],
    stagedSql: `${subject} TEXT NOT NULL, created_at INTEGER NOT NULL, id TEXT NOT NULL, row INTEGER NOT NULL, PRIMARY KEY (${subject}, created_at, id)`,
  };
}

const TABLES: readonly IndexedTable[] = [
  {
    table: 'audit_events', position: 'seq',
    indexes: [
      auditIndex('session_id', 'audit_session_index', 'staged_audit_session'),
      auditIndex('agent_id', 'audit_agent_index', 'staged_audit_agent'),
      auditIndex('type', 'audit_type_index', 'staged_audit_type'),
    ],
  },
  {
    table: 'usage_records', position: 'rowid',
    indexes: [
      usageIndex('session_id', 'usage_session_index', 'staged_usage_session'),
      usageIndex('agent_id', 'usage_agent_index', 'staged_usage_agent'),
      usageIndex('team_id', 'usage_team_index', 'staged_usage_team'),
    ],
  },
];

/** A table's mark, and the position of its last row. */
function positions(statements: PreparedStatements, table: IndexedTable): { mark: number; last: number } {
  const mark = (statements.get('SELECT upto FROM session_index_marks WHERE name = ?').get(table.table) as { upto: number }).upto;
  const last = (statements.get(`SELECT MAX(${table.position}) AS last FROM ${table.table}`).get() as { last: number | null }).last ?? 0;
  return { mark, last };
}

/** Rows above each table's mark: written, not yet in its indexes kept in bulk (a gauge in /metrics). */
export function sessionIndexBacklog(statements: PreparedStatements): Record<string, number> {
  return Object.fromEntries(TABLES.map((t) => {
    const { mark, last } = positions(statements, t);
    return [t.table, Math.max(0, last - mark)];
  }));
}

/**
 * A pass under way over one table: rows staged up to `stagedTo`; then the entries of
 * `indexes[moving]` moved up to `movedTo`, one index after the other.
 */
interface Pass {
  table: IndexedTable;
  upto: number;
  stagedTo: number;
  moving: number;
  movedTo: unknown[] | null;
}

/**
 * Runs the passes. `step()` does one step of a pass, if one is due or under way, and says whether
 * it did; the writer calls it after each batch and on a timer while idle.
 */
export class SessionIndexer {
  private pass: Pass | null = null;
  /** When each table's rows above its mark were first seen waiting. */
  private readonly waitingSince = new Map<string, number>();

  constructor(
    private readonly db: Database.Database,
    private readonly statements: PreparedStatements,
    private readonly now: () => number = Date.now,
    private readonly limits: SessionIndexLimits = SESSION_INDEX_LIMITS,
  ) {}

  /** One step; `force`: start a pass over any rows waiting, due or not. False when there was nothing to do. */
  step(force = false): boolean {
    this.pass ??= this.nextPass(force);
    const pass = this.pass;
    if (!pass) return false;
    if (pass.stagedTo < pass.upto) this.stage(pass);
    else if (this.move(pass)) this.pass = null;
    return true;
  }

  /** Indexes everything written so far (the writer thread closing its connection; tests). */
  drain(): void {
    while (this.step(true));
  }

  private nextPass(force: boolean): Pass | null {
    const now = this.now();
    for (const table of TABLES) {
      const { mark, last } = positions(this.statements, table);
      const waiting = last - mark;
      if (waiting <= 0) {
        this.waitingSince.delete(table.table);
        continue;
      }
      const since = this.waitingSince.get(table.table) ?? now;
      if (!force && waiting < this.limits.passRows && now - since < this.limits.passAgeMs) {
        this.waitingSince.set(table.table, since);
        continue;
      }
      this.waitingSince.delete(table.table);
      // Empty at each pass's start (what the last pass staged stays until then).
      for (const i of table.indexes) this.db.exec(`CREATE TEMP TABLE IF NOT EXISTS ${i.staged} (${i.stagedSql}) WITHOUT ROWID; DELETE FROM temp.${i.staged}`);
      return { table, upto: Math.min(last, mark + this.limits.passRows), stagedTo: mark, moving: 0, movedTo: null };
    }
    return null;
  }

  /**
   * The next rows' entries into the staging tables: reads of the file, writes of memory only. The
   * first index's statement reads the rows in; the next ones find their pages in the cache.
   */
  private stage(pass: Pass): void {
    const { table } = pass;
    const to = Math.min(pass.upto, pass.stagedTo + this.limits.stageRows);
    for (const i of table.indexes) {
      this.statements
        .get(`INSERT OR IGNORE INTO temp.${i.staged} (${i.columns.join(', ')}) SELECT ${i.from.join(', ')} FROM ${table.table}
              WHERE ${table.position} > ? AND ${table.position} <= ? AND ${i.subject} IS NOT NULL`)
        .run(pass.stagedTo, to);
    }
    pass.stagedTo = to;
  }

  /**
   * The next slice of one index's staged entries into it, in key order; true once the pass is done
   * (the last index's last slice moves the mark, in the same transaction).
   */
  private move(pass: Pass): boolean {
    const { table } = pass;
    const i = table.indexes[pass.moving]!;
    const key = `(${i.key.join(', ')})`;
    const row = `(${i.key.map(() => '?').join(', ')})`;
    const after = pass.movedTo ? `WHERE ${key} > ${row}` : '';
    const from = pass.movedTo ?? [];
    // The slice ends at the moveRows-th staged entry past the last one moved (none: the rest).
    const end = this.statements
      .get(`SELECT ${i.key.join(', ')} FROM temp.${i.staged} ${after} ORDER BY ${i.key.join(', ')} LIMIT 1 OFFSET ?`, true)
      .get(...from, this.limits.moveRows - 1) as unknown[] | undefined;
    const until = end ? `${after ? 'AND' : 'WHERE'} ${key} <= ${row}` : '';
    const insert = this.statements.get(
      `INSERT OR IGNORE INTO ${i.index} (${i.columns.join(', ')}) SELECT ${i.columns.join(', ')} FROM temp.${i.staged} ${after} ${until} ORDER BY ${i.key.join(', ')}`,
    );
    const last = !end && pass.moving === table.indexes.length - 1;
    this.db.transaction(() => {
      insert.run(...from, ...(end ?? []));
      if (last) this.statements.get('UPDATE session_index_marks SET upto = MAX(upto, ?) WHERE name = ?').run(pass.upto, table.table);
    }).immediate();
    if (end) pass.movedTo = end;
    else {
      pass.moving++;
      pass.movedTo = null;
    }
    return last;
  }
}

/**
 * A pass that fails (a busy or failing file) is tried again at the next step, and no query waits
 * for it; but one that keeps failing lets the scan above the mark grow, so it is told on stderr,
 * at most every five minutes.
 */
export function warnPassFailed(err: unknown, now = Date.now()): void {
  if (now - lastWarning < 300_000) return;
  lastWarning = now;
  process.emitWarning(`the session index pass failed (retried; queries by session stay correct, but scan more rows until it succeeds): ${(err as Error).message}`, 'TollgateWarning');
}
let lastWarning = -Infinity;

/** A subquery for a table's mark: every row at or below it is in the table's indexes kept in bulk. */
export const mark = (table: IndexedTable['table']) => `(SELECT upto FROM session_index_marks WHERE name = '${table}')`;

/** The index kept in bulk an audit search on SQLite goes through: by session, else agent, else an exact type; null for none. */
function indexFor(f: EventFilter): 'session' | 'agent' | 'type' | null {
  if (f.sessionId !== undefined || f.sessionIds !== undefined) return 'session';
  if (f.agentId !== undefined) return 'agent';
  if (f.type !== undefined && !f.type.endsWith('*')) return 'type';
  return null;
}

/** Whether an audit search on SQLite goes through an index kept in bulk (eventsByIndexQuery). */
export const searchesByIndex = (f: EventFilter): boolean => indexFor(f) !== null;

/**
 * An audit search by session (`sessionId` or `sessionIds`), else by agent, else by an exact type,
 * on SQLite: that index up to the mark, newest or oldest first and no further than the limit,
 * beside the rows above the mark.
 */
export function eventsByIndexQuery(f: EventFilter, defaultLimit: number): { sql: string; params: unknown[] } | null {
  if (f.sessionIds && f.sessionIds.length === 0) return null;
  const p = new Params('sqlite');
  const by = indexFor(f) ?? 'session';
  const [index, subject] = ({ session: ['audit_session_index', 'session_id'], agent: ['audit_agent_index', 'agent_id'], type: ['audit_type_index', 'type'] } as const)[by];
  const matches = () => {
    if (by === 'agent') return `= ${p.add(f.agentId)}`;
    if (by === 'type') return `= ${p.add(f.type)}`;
    return f.sessionId !== undefined ? `= ${p.add(f.sessionId)}` : `IN (SELECT value FROM json_each(${p.add(JSON.stringify(f.sessionIds))}))`;
  };
  // The index's key is not one more condition.
  const rest: EventFilter = by === 'agent' ? { ...f, agentId: undefined } : by === 'type' ? { ...f, type: undefined } : f;
  const and = (parts: string[]) => parts.map((c) => ` AND ${c}`).join('');
  const order = f.order === 'asc' ? 'ASC' : 'DESC';
  const limit = f.limit ?? defaultLimit;
  // CROSS JOIN: the index drives (in its order, up to the limit); each entry finds its row.
  const indexed = `SELECT e.* FROM ${index} k CROSS JOIN audit_events e ON e.seq = k.seq
    WHERE k.${subject} ${matches()} AND k.seq <= ${mark('audit_events')}${and(eventConditions(rest, p, (c) => (c === 'seq' ? 'k.seq' : `e.${c}`)))}
    ORDER BY k.seq ${order} LIMIT ${p.add(limit)}`;
  // The rows above the mark by their position alone (`+column`: no other index may be chosen).
  const recent = `SELECT * FROM audit_events WHERE seq > ${mark('audit_events')} AND ${subject} ${matches()}${and(eventConditions(rest, p, (c) => (c === 'seq' ? c : `+${c}`)))}
    ORDER BY seq ${order} LIMIT ${p.add(limit)}`;
  return { sql: `SELECT * FROM (${indexed}) UNION ALL SELECT * FROM (${recent}) ORDER BY seq ${order} LIMIT ${p.add(limit)}`, params: p.values };
}

/** The index kept in bulk a listing of spend lines on SQLite goes through: by session, else agent, else team; null for none. */
function usageIndexFor(f: UsageFilter): { index: string; subject: 'session_id' | 'agent_id' | 'team_id'; value: string } | null {
  if (f.sessionId !== undefined) return { index: 'usage_session_index', subject: 'session_id', value: f.sessionId };
  if (f.agentId !== undefined) return { index: 'usage_agent_index', subject: 'agent_id', value: f.agentId };
  if (f.teamId !== undefined) return { index: 'usage_team_index', subject: 'team_id', value: f.teamId };
  return null;
}

/**
 * Spend lines of one session, else agent, else team, on SQLite, newest first: that index up to the
 * mark beside the rows above it; null when the filter names none of them.
 */
export function usageByIndexQuery(f: UsageFilter): { sql: string; params: unknown[] } | null {
  const by = usageIndexFor(f);
  if (!by) return null;
  const p = new Params('sqlite');
  // The index's key is not one more condition.
  const filters = (col: (c: string) => string) => {
    const parts: string[] = [];
    if (f.agentId !== undefined && by.subject !== 'agent_id') parts.push(` AND ${col('agent_id')} = ${p.add(f.agentId)}`);
    if (f.teamId !== undefined && by.subject !== 'team_id') parts.push(` AND ${col('team_id')} = ${p.add(f.teamId)}`);
    if (f.since !== undefined) parts.push(` AND ${col('created_at')} >= ${p.add(f.since)}`);
    return parts.join('');
  };
  const limit = f.limit ?? 100;
  const indexed = `SELECT u.* FROM ${by.index} k CROSS JOIN usage_records u ON u.id = k.id
    WHERE k.${by.subject} = ${p.add(by.value)} AND k.row <= ${mark('usage_records')}${filters((c) => (c === 'created_at' ? 'k.created_at' : `u.${c}`))}
    ORDER BY k.created_at DESC, k.id LIMIT ${p.add(limit)}`;
  // The rows above the mark by their position alone (`+column`: no other index may be chosen).
  const recent = `SELECT * FROM usage_records WHERE rowid > ${mark('usage_records')} AND ${by.subject} = ${p.add(by.value)}${filters((c) => `+${c}`)}
    ORDER BY created_at DESC, id LIMIT ${p.add(limit)}`;
  return { sql: `SELECT * FROM (${indexed}) UNION ALL SELECT * FROM (${recent}) ORDER BY created_at DESC, id LIMIT ${p.add(limit)}`, params: p.values };
}
