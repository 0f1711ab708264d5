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
// takes the rows written since the last one (up to PASS_ROWS) and inserts their entries sorted by
// session, in one statement — a session's entries land together, one leaf write for many rows —
// and moves the table's mark (`session_index_marks.upto`: every row at or below it is indexed) in
// the same transaction. A query by session reads the index and scans the rows above the mark
// (seconds of traffic at most): the answer is the same whether or not a pass has run. A pass cut
// short (a crash) leaves nothing: it is redone from the mark.
import type Database from 'better-sqlite3';
import type { PreparedStatements } from './batch-writer.js';

/**
 * A pass starts once this many rows wait, or when the oldest waiting row is this old. A pass of
 * 8,192 rows is a few milliseconds of the writer thread (more with thousands of sessions): the
 * larger the pass, the more entries share a leaf, the longer the batches behind it wait.
 */
export const PASS_ROWS = 8_192;
export const PASS_AGE_MS = 2_000;

interface IndexedTable {
  /** The table, and the name of its mark. */
  table: 'audit_events' | 'usage_records';
  index: string;
  /** The table's position column: ever-growing, rows are appended above the mark. */
  position: string;
  /** The index's key after session_id. */
  keyColumns: string;
}

const TABLES: readonly IndexedTable[] = [
  { table: 'audit_events', index: 'audit_session_index', position: 'seq', keyColumns: 'seq' },
  // Spend lines are kept by id (their rowid is implicit, which VACUUM may renumber) and ordered
  // by time within a session, as their listing is.
  { table: 'usage_records', index: 'usage_session_index', position: 'rowid', keyColumns: 'created_at, id' },
];

/**
 * Runs the passes. `step()` runs one pass, if one is due, and says whether it ran; the writer
 * calls it between batches and on a timer while idle.
 */
export class SessionIndexer {
  /** When each table's rows above its mark were first seen waiting. */
  private readonly waitingSince = new Map<string, number>();

  constructor(
    private readonly db: Database.Database,
    private readonly statements: PreparedStatements,
    private readonly now: () => number = Date.now,
    private readonly limits = { passRows: PASS_ROWS, passAgeMs: PASS_AGE_MS },
  ) {}

  /** One pass over the first table that has one due; false when none was. */
  step(): boolean {
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
      if (waiting < this.limits.passRows && now - since < this.limits.passAgeMs) {
        this.waitingSince.set(table.table, since);
        continue;
      }
      this.waitingSince.delete(table.table);
      this.pass(table, mark, Math.min(last, mark + this.limits.passRows));
      return true;
    }
    return false;
  }

  /** Indexes everything written so far (a store closing, or written without the writer thread). */
  drain(): void {
    for (const t of TABLES) this.waitingSince.set(t.table, -Infinity);
    while (this.step());
  }

  private mark(table: IndexedTable): number {
    return (this.statements.get('SELECT upto FROM session_index_marks WHERE name = ?').get(table.table) as { upto: number }).upto;
  }

  /** The rows in (after, upto] into the index, in its order; the mark moved to `upto`. */
  private pass(table: IndexedTable, after: number, upto: number): void {
    const { index, keyColumns, position } = table;
    const insert = this.statements.get(
      `INSERT OR IGNORE INTO ${index} (session_id, ${keyColumns}) SELECT session_id, ${keyColumns} FROM ${table.table}
       WHERE ${position} > ? AND ${position} <= ? AND session_id IS NOT NULL ORDER BY session_id, ${keyColumns}`,
    );
    const move = this.statements.get('UPDATE session_index_marks SET upto = MAX(upto, ?) WHERE name = ?');
    this.db.transaction(() => {
      insert.run(after, upto);
      move.run(upto, table.table);
    }).immediate();
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
