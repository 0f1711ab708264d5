// Audit events and spend lines by session, indexed in bulk off the hot path (SQLite only).
//
// An index on (session_id, …) takes each new row into the leaf of its session: with one session
// every row appends to the same leaf, but with thousands at once each row of a commit dirties a
// leaf of its own (written whole to the log), and splitting those leaves mid-tree makes SQLite
// scan its whole page cache at commit (balance_nonroot renumbers a page through a temporary
// page number past the end of the file; pcache1Truncate then walks every hash bucket). At 2,000
// sessions the two session indexes were ~40 % of the writer thread's CPU per call.
//
// So the hot path's commits carry no session index. Rows are indexed afterwards, in passes: a pass
// reads the rows written since the last one (up to PASS_ROWS), groups them by session, and
// inserts them in session order, a slice of SLICE_ROWS at a time, each slice its own short
// transaction between the writer's batches — a session's entries land together, one leaf write
// for many rows. The last slice moves the table's mark (`session_index_marks.upto`: every row at
// or below it is in the index) in the same transaction. A query by session reads the index and
// scans the rows above the mark (seconds of traffic at most): the answer is the same whether or
// not a pass has run. A pass cut short (a crash) is redone from the mark;
// its inserts ignore what is already there.
import type Database from 'better-sqlite3';
import type { PreparedStatements } from './batch-writer.js';

/** A pass starts once this many rows wait, or when the oldest waiting row is this old. */
export const PASS_ROWS = 32_768;
export const PASS_AGE_MS = 2_000;
/** Index entries inserted per transaction (a few ms of the writer's time). */
export const SLICE_ROWS = 2_048;

interface IndexedTable {
  /** The table, and the name of its mark. */
  table: 'audit_events' | 'usage_records';
  index: string;
  /** The table's position column: ever-growing, rows are appended above the mark. */
  position: string;
  /** Columns read for each row after session_id, in index key order. */
  keyColumns: string[];
}

const TABLES: readonly IndexedTable[] = [
  { table: 'audit_events', index: 'audit_session_index', position: 'seq', keyColumns: ['seq'] },
  // Spend lines are kept by id (their rowid is implicit, which VACUUM may renumber) and ordered
  // by time within a session, as their listing is.
  { table: 'usage_records', index: 'usage_session_index', position: 'rowid', keyColumns: ['created_at', 'id'] },
];

/** One pass over one table: its entries in session order, and how far they reach. */
interface Pass {
  table: IndexedTable;
  entries: unknown[][];
  next: number;
  upto: number;
}

/**
 * Runs the passes. `step()` does one slice of work, if any is due, and says whether more is
 * waiting; the writer calls it between batches and on a timer while idle.
 */
export class SessionIndexer {
  private pass: Pass | null = null;
  /** When each table's rows above its mark were first seen waiting (0: none seen yet). */
  private readonly waitingSince = new Map<string, number>();

  constructor(
    private readonly db: Database.Database,
    private readonly statements: PreparedStatements,
    private readonly now: () => number = Date.now,
    private readonly limits = { passRows: PASS_ROWS, passAgeMs: PASS_AGE_MS, sliceRows: SLICE_ROWS },
  ) {}

  /** One slice of indexing if a pass is due or under way; true while work is left. */
  step(): boolean {
    this.pass ??= this.startPass();
    if (!this.pass) return false;
    this.insertSlice(this.pass);
    if (this.pass.next >= this.pass.entries.length) this.pass = null;
    return true;
  }

  /** Indexes everything written so far (a store closing, tests). */
  drain(): void {
    for (const t of TABLES) this.waitingSince.set(t.table, -Infinity);
    while (this.step());
  }

  private startPass(): Pass | null {
    const now = this.now();
    for (const table of TABLES) {
      const mark = this.mark(table);
      const last = (this.statements.get(`SELECT COALESCE(MAX(${table.position}), 0) AS last FROM ${table.table}`).get() as { last: number }).last;
      const waiting = last - mark;
      if (waiting <= 0) {
        this.waitingSince.delete(table.table);
        continue;
      }
      const since = this.waitingSince.get(table.table) ?? now;
      this.waitingSince.set(table.table, since);
      if (waiting < this.limits.passRows && now - since < this.limits.passAgeMs) continue;
      this.waitingSince.delete(table.table);
      const upto = Math.min(last, mark + this.limits.passRows);
      return { table, entries: this.entriesOf(table, mark, upto), next: 0, upto };
    }
    return null;
  }

  private mark(table: IndexedTable): number {
    return (this.statements.get('SELECT upto FROM session_index_marks WHERE name = ?').get(table.table) as { upto: number }).upto;
  }

  /** The rows in (after, upto] as index entries, grouped by session (sessions in order, rows in table order). */
  private entriesOf(table: IndexedTable, after: number, upto: number): unknown[][] {
    const rows = this.statements
      .get(`SELECT session_id, ${table.keyColumns.join(', ')} FROM ${table.table} WHERE ${table.position} > ? AND ${table.position} <= ? AND session_id IS NOT NULL`, true)
      .all(after, upto) as unknown[][];
    // Grouping by session keeps each session's rows in the order read; only the sessions are sorted.
    const bySession = new Map<string, unknown[][]>();
    for (const row of rows) {
      const session = row[0] as string;
      const list = bySession.get(session);
      if (list) list.push(row);
      else bySession.set(session, [row]);
    }
    const entries: unknown[][] = [];
    for (const session of [...bySession.keys()].sort()) for (const row of bySession.get(session)!) entries.push(row);
    return entries;
  }

  private insertSlice(pass: Pass): void {
    const { table } = pass;
    const columns = ['session_id', ...table.keyColumns];
    const insert = this.statements.get(`INSERT OR IGNORE INTO ${table.index} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
    const end = Math.min(pass.entries.length, pass.next + this.limits.sliceRows);
    this.db.transaction(() => {
      for (let i = pass.next; i < end; i++) insert.run(pass.entries[i]);
      if (end === pass.entries.length) this.statements.get('UPDATE session_index_marks SET upto = MAX(upto, ?) WHERE name = ?').run(pass.upto, table.table);
    }).immediate();
    pass.next = end;
  }
}

/**
 * The SQL condition "this row belongs to one of these sessions" for a query on `table`: its
 * session index, and a scan of the rows above the mark (an entry a pass under way has already
 * added may be found both ways: membership counts it once). `sessions()` gives the SQL for the
 * session ids — `= ?` or `IN (…)` — and is called twice, in the order the text binds them.
 */
export function inSessions(table: 'audit_events' | 'usage_records', sessions: () => string): string {
  const mark = `(SELECT upto FROM session_index_marks WHERE name = '${table}')`;
  return table === 'audit_events'
    ? `seq IN (SELECT seq FROM audit_session_index WHERE session_id ${sessions()} UNION ALL SELECT seq FROM audit_events WHERE seq > ${mark} AND session_id ${sessions()})`
    : `id IN (SELECT id FROM usage_session_index WHERE session_id ${sessions()} UNION ALL SELECT id FROM usage_records WHERE rowid > ${mark} AND session_id ${sessions()})`;
}
