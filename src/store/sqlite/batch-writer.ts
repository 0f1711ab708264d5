// The writes of the hot path — holds, spend lines (adding to their session's spend) and audit
// events linked onto the chain — in one transaction. The SQLite store runs it on its own
// connection, or (the default for a file) the writer thread runs it on a second connection, so
// that commits and their page writes leave the event loop.
import Database from 'better-sqlite3';
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { linkRecords, unlinkedRecord, type UnlinkedRecord } from '../chain.js';
import { CHAIN_COLUMNS, recordValues, RESERVATION_COLUMNS, reservationValues, rowToChainHead, USAGE_COLUMNS, usageValues, type Row } from '../rows.js';
import type { WriteSet } from '../store.js';
import { BucketAdditions } from './spend-buckets.js';
import type { AuditEvent, ChainHead, ChainRecord, PendingReservation, UsageRecord } from '../types.js';

export type Synchronous = 'NORMAL' | 'FULL';

/**
 * Page cache per connection, in KiB, by what the connection does. SQLite keeps every page a
 * connection read or wrote up to its cache's size (better-sqlite3's default: 16 MiB), so under
 * load each connection's cache fills whatever it does. The event loop's connection reads (and,
 * without the writer thread, writes): the default. The writer thread appends: its working set is
 * the right edge of each table and index and their interior pages, and a smaller cache also keeps
 * cheap the page-cache walk SQLite makes after a leaf split mid-tree (docs/performance.md). The
 * checkpointer copies the log and walks the chain in order, reading each page once.
 */
export const CACHE_KIB = { reader: 16_000, writer: 2_000, checkpointer: 1_000 } as const;

/** A connection set up as every Tollgate connection to the file is: WAL, foreign keys, waits on locks. */
export function openSqlite(path: string, synchronous: Synchronous = 'NORMAL', cacheKib: number = CACHE_KIB.reader): Database.Database {
  if (path !== ':memory:') {
    mkdirSync(dirname(path), { recursive: true });
    ownerOnly(path);
  }
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  // Savepoint journals (the writer thread puts each batch of a commit in a savepoint) stay in
  // memory instead of a temporary file created and unlinked in /var/tmp several times a second.
  db.pragma('temp_store = MEMORY');
  db.pragma(`cache_size = ${-cacheKib}`);
  return db;
}

/**
 * A SQLite file (the store, its serving lock) created or tightened to its owner only, as the
 * master key and admin token beside it: the store holds credential hashes, the audit log and
 * captured content. SQLite gives its -wal and -shm files the database file's mode when it creates
 * them; ones left from before are tightened too.
 */
export function ownerOnly(path: string): void {
  closeSync(openSync(path, 'a', 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    } catch {
      // Missing (no log yet), or not ours to change: SQLite's own open says what matters.
    }
  }
}

/**
 * SQLite errors that say the file cannot take writes for now — full (the disk, or
 * `max_page_count`), read-only, an I/O error, locked past the busy timeout, out of memory — rather
 * than that the write itself is wrong. The write queue keeps a batch that fails with one and
 * tries it again, refusing new calls meanwhile, instead of dropping its spend lines and events.
 */
export function isSqliteOutage(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(FULL|IOERR|READONLY|BUSY|LOCKED|CANTOPEN|NOMEM|PROTOCOL)(_|$)/.test(code);
}

/** Stored events after a seq, in order, as values in CHAIN_COLUMNS order (raw rows): verification's reads. */
export const READ_CHAIN_SQL = `SELECT ${CHAIN_COLUMNS.join(', ')} FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`;

/** Where each written audit event landed on the chain (same order as the set's events). */
export type ChainLink = Pick<ChainRecord, 'seq' | 'prevHash' | 'hash'>;

/**
 * A batch's links as the writer thread answers them: its events take consecutive seqs, each
 * linked to the one before, so the first seq, the first prevHash and the hashes (64 hex digits
 * each, one string) say it all — one small message instead of a structured clone of three
 * fields per event.
 */
export interface PackedLinks {
  firstSeq: number;
  prevHash: string;
  hashes: string;
}

const HASH_LENGTH = 64;

export function packLinks(links: readonly ChainLink[]): PackedLinks {
  const first = links[0];
  return { firstSeq: first?.seq ?? 0, prevHash: first?.prevHash ?? '', hashes: links.map((l) => l.hash).join('') };
}

export function unpackLinks(packed: PackedLinks): ChainLink[] {
  const links: ChainLink[] = [];
  let prevHash = packed.prevHash;
  for (let i = 0; i * HASH_LENGTH < packed.hashes.length; i++) {
    const hash = packed.hashes.slice(i * HASH_LENGTH, (i + 1) * HASH_LENGTH);
    links.push({ seq: packed.firstSeq + i, prevHash, hash });
    prevHash = hash;
  }
  return links;
}

/** Statements prepared once per connection and reused: preparing costs more than running. */
export class PreparedStatements {
  private readonly cache = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  /** The statement for `sql`; `raw` ones return rows as arrays. */
  get(sql: string, raw = false): Database.Statement {
    const key = raw ? `raw:${sql}` : sql;
    let s = this.cache.get(key);
    if (!s) {
      s = this.db.prepare(sql);
      if (raw) s.raw(true);
      this.cache.set(key, s);
    }
    return s;
  }
}

/**
 * A write set as the batch writer binds it: spend lines and holds as their column values
 * (`usageValues`, `reservationValues`), events as they are. The writer thread receives batches in
 * this form: positional rows make a fifth less JSON than objects keyed by field, to write on the
 * event loop and to read on the thread.
 */
export interface WriteRows {
  events: readonly AuditEvent[];
  lines: readonly unknown[][];
  holds: readonly unknown[][];
}

export function writeRowsOf(set: WriteSet): WriteRows {
  return { events: set.events, lines: set.records.map(usageValues), holds: set.reservations.map(reservationValues) };
}

/** Where a spend line's values sit in `usageValues`. */
const LINE = {
  id: USAGE_COLUMNS.indexOf('id'),
  sessionId: USAGE_COLUMNS.indexOf('session_id'),
  agentId: USAGE_COLUMNS.indexOf('agent_id'),
  teamId: USAGE_COLUMNS.indexOf('team_id'),
  createdAt: USAGE_COLUMNS.indexOf('created_at'),
  input: USAGE_COLUMNS.indexOf('input_tokens'),
  output: USAGE_COLUMNS.indexOf('output_tokens'),
  cachedInput: USAGE_COLUMNS.indexOf('cached_input_tokens'),
  cacheWrite: USAGE_COLUMNS.indexOf('cache_write_tokens'),
  reasoning: USAGE_COLUMNS.indexOf('reasoning_tokens'),
  usdNano: USAGE_COLUMNS.indexOf('cost_usd_nano'),
};

/** What a batch's new lines add to one session's spend. */
interface SessionSpend {
  input: number;
  output: number;
  cachedInput: number;
  cacheWrite: number;
  reasoning: number;
  usdNano: number;
  requests: number;
}

export class SqliteBatchWriter {
  private readonly statements: PreparedStatements;
  private readonly writeSet: Database.Transaction<(rows: WriteRows) => ChainLink[]>;

  /** `statements`: the connection's cache, when its owner keeps one too. */
  constructor(
    private readonly db: Database.Database,
    statements?: PreparedStatements,
  ) {
    this.statements = statements ?? new PreparedStatements(db);
    // Made once: better-sqlite3 builds a transaction's wrapper functions each time it is asked for one.
    this.writeSet = db.transaction((rows: WriteRows): ChainLink[] => {
      this.writeJournalRows(rows.lines, rows.holds);
      return this.writeRows(rows.events.map(unlinkedRecord));
    });
  }

  private stmt(sql: string): Database.Statement {
    return this.statements.get(sql);
  }

  /** Journal rows, written inside the caller's transaction. */
  writeUsageRows(records: readonly UsageRecord[], reservations: readonly PendingReservation[]): void {
    this.writeJournalRows(records.map(usageValues), reservations.map(reservationValues));
  }

  /** Spend lines and holds as column values (`usageValues`, `reservationValues`), inside the caller's transaction. */
  private writeJournalRows(lines: readonly unknown[][], holds: readonly unknown[][]): void {
    const insert = this.stmt(`INSERT OR IGNORE INTO usage_records (${USAGE_COLUMNS.join(', ')}) VALUES (${USAGE_COLUMNS.map(() => '?').join(', ')})`);
    const hold = this.stmt(`INSERT OR IGNORE INTO reservations (${RESERVATION_COLUMNS.join(', ')}) VALUES (${RESERVATION_COLUMNS.map(() => '?').join(', ')})`);
    const release = this.stmt('DELETE FROM reservations WHERE id = ?');
    for (const values of holds) hold.run(values);
    // Each session's spend is added once per batch, its lines summed: a batch's lines are mostly
    // one busy session's, and an UPDATE per line rewrote the same row as many times.
    const spent = new Map<string, SessionSpend>();
    // And each agent's and team's quarter hour of spend once per batch (spend-buckets.ts).
    const buckets = new BucketAdditions();
    for (const line of lines) {
      // Spend is added only when the record is new: a replayed batch charges nothing twice.
      if (insert.run(line).changes === 1) {
        buckets.add(
          line[LINE.agentId] as string, line[LINE.teamId] as string, line[LINE.createdAt] as number,
          (line[LINE.input] as number) + (line[LINE.output] as number), line[LINE.usdNano] as number,
        );
        const sessionId = line[LINE.sessionId] as string;
        let s = spent.get(sessionId);
        if (!s) spent.set(sessionId, (s = { input: 0, output: 0, cachedInput: 0, cacheWrite: 0, reasoning: 0, usdNano: 0, requests: 0 }));
        s.input += line[LINE.input] as number;
        s.output += line[LINE.output] as number;
        s.cachedInput += line[LINE.cachedInput] as number;
        s.cacheWrite += line[LINE.cacheWrite] as number;
        s.reasoning += line[LINE.reasoning] as number;
        s.usdNano += line[LINE.usdNano] as number;
        s.requests++;
      }
      release.run(line[LINE.id]);
    }
    if (spent.size === 0) return;
    buckets.writeTo(this.statements);
    const add = this.stmt(
      `UPDATE sessions SET
         spent_input_tokens = spent_input_tokens + ?, spent_output_tokens = spent_output_tokens + ?,
         spent_cached_input_tokens = spent_cached_input_tokens + ?, spent_cache_write_tokens = spent_cache_write_tokens + ?,
         spent_reasoning_tokens = spent_reasoning_tokens + ?, spent_usd_nano = spent_usd_nano + ?,
         spent_requests = spent_requests + ?
       WHERE id = ?`,
    );
    for (const [id, s] of spent) add.run(s.input, s.output, s.cachedInput, s.cacheWrite, s.reasoning, s.usdNano, s.requests, id);
  }

  head(): ChainHead {
    const r = this.stmt('SELECT * FROM audit_chain_head WHERE id = 1').get() as Row | undefined;
    if (!r) throw new Error('the audit chain head is missing (audit_chain_head): the store was altered outside Tollgate');
    return rowToChainHead(r);
  }

  /** The whole write set in one transaction; returns where each audit event landed on the chain. */
  write(set: WriteSet): ChainLink[] {
    return this.writeAsRows(writeRowsOf(set));
  }

  /** `write` for a set already in row form (the writer thread's batches). */
  writeAsRows(rows: WriteRows): ChainLink[] {
    if (rows.events.length === 0 && rows.lines.length === 0 && rows.holds.length === 0) return [];
    // IMMEDIATE takes the write lock before the chain head is read: another connection appending
    // to the same file waits rather than linking onto the same head.
    return this.writeSet.immediate(rows);
  }

  private writeRows(rows: readonly UnlinkedRecord[]): ChainLink[] {
    if (rows.length === 0) return [];
    const insert = this.stmt(`INSERT INTO audit_events (${CHAIN_COLUMNS.join(', ')}) VALUES (${CHAIN_COLUMNS.map(() => '?').join(', ')})`);
    const linked = linkRecords(rows, this.head());
    for (const r of linked) insert.run(...recordValues(r));
    const last = linked.at(-1)!;
    this.stmt('UPDATE audit_chain_head SET last_seq = ?, last_hash = ? WHERE id = 1').run(last.seq, last.hash);
    return linked.map((r) => ({ seq: r.seq, prevHash: r.prevHash, hash: r.hash }));
  }
}
