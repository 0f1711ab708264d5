// The scale-out Store: one PostgreSQL database shared by any number of stateless gateway
// replicas. Every operation but migrate() is a single statement, so a single round trip (plus one
// per new pooled connection, to apply its settings), and atomic on its own.
import pg from 'pg';
import type { CustomTypesConfig, PoolClient, QueryResultRow } from 'pg';
import { GatewayError, markStoreUnavailable } from '../../errors/index.js';
import { newId } from '../../util/ids.js';
import {
  ALERT_COLUMNS, alertEquals, alertValues, rowToAlert, APPROVAL_COLUMNS, approvalValues, CHAIN_COLUMNS, recordValues, CHECKPOINT_COLUMNS, checkpointValues, NO_TOOL_SCOPES, RESERVATION_COLUMNS, reservationValues, rowToApproval, rowToReservation, profileSpecJson, rowToAgent, rowToContent, rowToCredential, rowToEvent, rowToProfile, rowToRevokedToken, rowToSession,
  ACCESS_REVIEW_COLUMNS, accessReviewValues, credentialUseRows, OPERATOR_COLUMNS, operatorValues, rowToAccessReview, rowToAgentActivity, rowToCredentialSource, rowToModelActivity, rowToOperator,
  rowToChainHead, rowToCheckpoint, rowToRecord, rowToSequencedEvent, rowToSigningKey, rowToTeam, rowToUsage, USAGE_COLUMNS, usageValues, type Row,
} from '../rows.js';
import { linkEvents } from '../chain.js';
import { eventQuery, spendQuery, spendRows } from '../queries.js';
import type { AlertFilter, ApprovalFilter, EventFilter, NewAgent, NewProfile, NewSession, NewTeam, OnExisting, SequencedEvent, SessionFilter, SpendGrouping, SpendRange, SpendRow, Store, UsageFilter } from '../store.js';
import type { AccessReviewRecord, AgentActivity, CredentialSource, CredentialUse, ModelActivity, Operator, Agent, AgentStatus, Alert, Approval, ApprovalStatus, AuditCheckpoint, AuditEvent, Budget, ChainedEvent, ChainHead, ChainRecord, ContentFilter, ContentRecord, PendingReservation, Credential, Profile, RevokedToken, Session, SessionStatus, SigningKey, Team, TeamStatus, UsageRecord } from '../types.js';
import { POSTGRES_MIGRATIONS } from './migrations.js';

export interface PostgresStoreOptions {
  /** `postgres://…`; the store creates (and on close() ends) its own pool. */
  connectionString?: string;
  /**
   * A pool to use instead: the store does not end it on close(). Each connection the store checks
   * out gets the store's search_path and statement_timeout, so share the pool only with code that
   * sets its own (or with stores of the same settings).
   */
  pool?: pg.Pool;
  /** Schema holding the tables; created by migrate() if missing. Default: the connection's search_path. */
  schema?: string;
  /** Server-side limit per statement (0 = none). Default 5000, as SQLite's busy timeout. */
  statementTimeoutMs?: number;
  /** Size of the pool the store creates (ignored with `pool`). Default 10. */
  max?: number;
}

const DEFAULT_STATEMENT_TIMEOUT_MS = 5_000;
const CONNECT_TIMEOUT_MS = 5_000;
/** How long past statement_timeout the client waits for an answer before it gives up on the connection. */
const QUERY_TIMEOUT_MARGIN_MS = 1_000;
const DEFAULT_LIMIT = 100;

/**
 * pg returns INT8 (BIGINT, count(*)) as a string, since it may exceed 2^53; every number this
 * store keeps (nano-USD, tokens, ms timestamps) stays far below, so parse it as a number. Passed
 * with each query: the global `pg.types` (shared with any other pg user in the process) is
 * never touched.
 */
const TYPES: CustomTypesConfig = {
  getTypeParser: (oid, format): unknown =>
    oid === pg.types.builtins.INT8 && format !== 'binary' ? Number : pg.types.getTypeParser(oid, format),
};

/**
 * Applies a store's session settings to a connection. A null search_path restores the
 * connection's default (another store sharing the pool may have changed it).
 */
const CONFIGURE_SQL = `SELECT set_config('search_path', coalesce($1, (SELECT reset_val FROM pg_settings WHERE name = 'search_path')), false),
  set_config('statement_timeout', $2, false),
  pg_backend_pid() AS backend_pid,
  (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())::text AS backend_start`;

/** Each connection's server process, as `backendOf` names it (a pid is reused; with its start time it is not). */
const backends = new WeakMap<PoolClient, ServerProcess>();

/**
 * The settings each connection last received from a PostgresStore. Module-wide rather than per
 * store, so that stores with different settings sharing one pool re-apply theirs as needed.
 */
const appliedSettings = new WeakMap<PoolClient, string>();

type Entity = 'teams' | 'profiles' | 'agents';
const ID_PREFIX: Record<Entity, string> = { teams: 'team', profiles: 'prof', agents: 'agt' };

/** Postgres type of each usage column, for unnest()ing a batch sent as one array per column. */
const USAGE_TYPES: Record<(typeof USAGE_COLUMNS)[number], string> = {
  id: 'text', request_id: 'text', session_id: 'text', agent_id: 'text', team_id: 'text', profile_id: 'text',
  model: 'text', provider: 'text', api: 'text', stream: 'boolean',
  input_tokens: 'bigint', output_tokens: 'bigint', cached_input_tokens: 'bigint', cache_write_tokens: 'bigint', reasoning_tokens: 'bigint',
  cost_usd_nano: 'bigint', estimated: 'boolean', outcome: 'text', http_status: 'bigint', latency_ms: 'double precision', created_at: 'bigint',
  chain: 'json',
};

/** Postgres type of each audit event column, likewise. */
const CHAIN_TYPES: Record<(typeof CHAIN_COLUMNS)[number], string> = {
  seq: 'bigint', id: 'text', time: 'bigint', type: 'text', actor: 'text', request_id: 'text', agent_id: 'text', session_id: 'text', team_id: 'text',
  chain: 'json', data: 'json', prev_hash: 'text', hash: 'text',
};

/**
 * Moves the chain head from the head the batch was linked onto ($n+3, $n+4) to its last event
 * ($n+1, $n+2) and inserts the batch — both only if the head was still that one: otherwise the
 * statement writes nothing and answers appended = 0. One statement, so atomic without an explicit
 * transaction; a concurrent append waits on the head row and then finds it moved. The JSON columns
 * receive the canonical texts the hashes cover; a JSON column keeps its text as given.
 */
const APPEND_EVENTS_SQL = `
WITH head AS (
  UPDATE audit_chain_head SET last_seq = $${CHAIN_COLUMNS.length + 1}, last_hash = $${CHAIN_COLUMNS.length + 2}
  WHERE id = 1 AND last_seq = $${CHAIN_COLUMNS.length + 3} AND last_hash = $${CHAIN_COLUMNS.length + 4} RETURNING 1
), inserted AS (
  INSERT INTO audit_events (${CHAIN_COLUMNS.join(', ')})
  SELECT ${CHAIN_COLUMNS.join(', ')} FROM ${unnestColumns(CHAIN_COLUMNS, CHAIN_TYPES, 'e')} WHERE EXISTS (SELECT 1 FROM head)
)
SELECT count(*) AS appended FROM head`;

/** Chain rows with the JSON columns as stored text, which verification hashes as it is. */
const READ_CHAIN_SQL = `SELECT ${CHAIN_COLUMNS.map((c) => (c === 'chain' || c === 'data' ? `${c}::text AS ${c}` : c)).join(', ')}
  FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`;

/**
 * SQLSTATE classes that mean the database is out of reach or overloaded rather than the request
 * wrong: connection exceptions (08), operator intervention (57: shutdown, statement timeout),
 * insufficient resources (53). Socket errors (not DatabaseError) count as well.
 */
const UNAVAILABLE_STATES = /^(08|57|53)/;

function unavailability(err: unknown): unknown {
  if (!(err instanceof pg.DatabaseError) || UNAVAILABLE_STATES.test(err.code ?? '')) markStoreUnavailable(err);
  return err;
}

/** A PostgreSQL server process: its pid, and when it started (`pg_stat_activity.backend_start`, as text). */
export interface ServerProcess {
  pid: number;
  start: string;
}

const BACKEND = Symbol('server process');
/**
 * The server process a failed statement was sent to, when the failure left its outcome unknown
 * (the connection timed out or broke, not an error the server reported).
 */
export const backendOf = (err: unknown): ServerProcess | null =>
  typeof err === 'object' && err !== null && BACKEND in err ? ((err as Record<symbol, unknown>)[BACKEND] as ServerProcess) : null;

/**
 * Ends `backend` if it still runs (the same pid, started at the same time) and waits until it has
 * exited (at most `waitMs`): a statement it had not run yet never runs. False when it could not be
 * ended (another role's process: not ours; or still running after the wait).
 */
export async function endServerProcess(store: { query(text: string, values?: unknown[]): Promise<Record<string, unknown>[]> }, backend: ServerProcess, waitMs = 5_000): Promise<boolean> {
  const same = 'FROM pg_stat_activity WHERE pid = $1 AND backend_start = $2::timestamptz';
  try {
    await store.query(`SELECT pg_terminate_backend(pid) ${same}`, [backend.pid, backend.start]);
  } catch (err) {
    // Not a process this role may end (insufficient_privilege); anything else is tried again.
    if (err instanceof pg.DatabaseError && err.code === '42501') return false;
    throw err;
  }
  for (const until = Date.now() + waitMs; Date.now() < until; ) {
    if ((await store.query(`SELECT 1 ${same}`, [backend.pid, backend.start])).length === 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

/** `unnest($1::t1[], $2::t2[], …) AS alias(c1, c2, …)` for a batch sent as one array per column. */
function unnestColumns(columns: readonly string[], types: Record<string, string>, alias: string): string {
  const args = columns.map((c, i) => `$${i + 1}::${types[c]}[]`).join(', ');
  return `unnest(${args}) AS ${alias}(${columns.join(', ')})`;
}

/** Transposes rows of values into one array per column. */
function byColumn(width: number, rows: Iterable<unknown[]>): unknown[][] {
  const columns: unknown[][] = Array.from({ length: width }, () => []);
  for (const values of rows) values.forEach((v, i) => columns[i]!.push(v));
  return columns;
}

/** Session spend columns and the usage column each one sums. */
const SPEND: readonly (readonly [spent: string, usage: string])[] = [
  ['spent_input_tokens', 'input_tokens'],
  ['spent_output_tokens', 'output_tokens'],
  ['spent_cached_input_tokens', 'cached_input_tokens'],
  ['spent_cache_write_tokens', 'cache_write_tokens'],
  ['spent_reasoning_tokens', 'reasoning_tokens'],
  ['spent_usd_nano', 'cost_usd_nano'],
];

/**
 * recordUsage in one statement, so atomic without an explicit transaction: insert the batch,
 * keep the records that were new (a replayed id is skipped by ON CONFLICT and not RETURNed, so
 * never charged twice), sum them per session, lock those sessions in id order, add the sums.
 * Locking in one order means concurrent batches touching the same sessions queue rather than
 * deadlock (FOR NO KEY UPDATE, as UPDATE itself takes, does not block other batches' foreign-key
 * checks on the same session). Inserting in id order does the same for a batch replayed
 * concurrently. An unknown session fails the foreign key and with it the whole statement.
 */
const RESERVATION_TYPES = ['text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'boolean', 'bigint', 'bigint', 'bigint', 'json', 'bigint', 'bigint'];

const RECORD_USAGE_SQL = `
WITH batch AS (
  SELECT * FROM ${unnestColumns(USAGE_COLUMNS, USAGE_TYPES, 'u')}
), inserted AS (
  INSERT INTO usage_records (${USAGE_COLUMNS.join(', ')})
  SELECT ${USAGE_COLUMNS.join(', ')} FROM batch ORDER BY id
  ON CONFLICT (id) DO NOTHING
  RETURNING id, session_id, ${SPEND.map(([, u]) => u).join(', ')}
), released AS (
  -- Recording a call's line ends its journaled reservation (same id), in the same statement;
  -- a shared-ledger hold (accounts set) is ended by tollgate_settle_lines below instead.
  DELETE FROM reservations WHERE id IN (SELECT id FROM batch) AND accounts IS NULL
), spend AS (
  SELECT session_id, ${SPEND.map(([, u]) => `sum(${u})::bigint AS ${u}`).join(', ')}, count(*) AS requests
  FROM inserted GROUP BY session_id
), locked AS (
  SELECT spend.* FROM sessions JOIN spend ON spend.session_id = sessions.id
  ORDER BY sessions.id FOR NO KEY UPDATE OF sessions
), charged AS (
  UPDATE sessions SET ${SPEND.map(([s, u]) => `${s} = ${s} + locked.${u}`).join(', ')}, spent_requests = spent_requests + locked.requests
  FROM locked WHERE sessions.id = locked.session_id RETURNING 1
)
-- The shared ledger's holds of these calls become their cost, in the same statement: a line and
-- the settling of its hold land together or not at all (migration 9, tollgate_settle_lines).
SELECT tollgate_settle_lines(array_agg(id), array_agg(input_tokens + output_tokens), array_agg(cost_usd_nano)), (SELECT count(*) FROM charged)
FROM inserted`;

/** A WHERE clause with $n placeholders from the defined filters: `equal` columns must match, `atLeast` columns be >=. */
function conditions(equal: Record<string, unknown>, atLeast: Record<string, unknown> = {}): { where: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  for (const [ops, filters] of [['=', equal], ['>=', atLeast]] as const) {
    for (const [column, value] of Object.entries(filters)) {
      if (value === undefined) continue;
      params.push(value);
      parts.push(`${column} ${ops} $${params.length}`);
    }
  }
  return { where: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}

/** Alerts written by one statement (18 parameters each). */
const ALERTS_PER_STATEMENT = 1000;

export class PostgresStore implements Store {
  readonly kind = 'postgres';
  readonly capabilities = { shared: true };
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly schema: string | null;
  private readonly statementTimeoutMs: number;
  /** `query_timeout` for each statement (none when statement_timeout is off). */
  private readonly readTimeout: { query_timeout?: number };
  /** Identifies this store's connection settings in `appliedSettings`. */
  private readonly settingsKey: string;
  private closed = false;
  /** The audit chain head as this store last wrote or read it (appendEvents links onto it). */
  private knownHead: ChainHead | null = null;

  constructor(options: PostgresStoreOptions) {
    if (options.pool && options.connectionString) throw new TypeError('PostgresStore: give either connectionString or pool, not both');
    if (options.schema === '') throw new TypeError('PostgresStore: schema must not be empty');
    this.schema = options.schema ?? null;
    this.statementTimeoutMs = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
    if (!Number.isInteger(this.statementTimeoutMs) || this.statementTimeoutMs < 0) {
      throw new TypeError('PostgresStore: statementTimeoutMs must be a non-negative integer');
    }
    this.settingsKey = JSON.stringify([this.schema, this.statementTimeoutMs]);
    // A server that stops answering without closing the connection (paused, a dead peer behind a
    // firewall) cannot enforce statement_timeout: the client gives up on a statement a second
    // after it. Per statement, not for the pool: migrations lift statement_timeout and may wait.
    this.readTimeout = this.statementTimeoutMs > 0 ? { query_timeout: this.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS } : {};
    if (options.pool) {
      this.pool = options.pool;
      this.ownsPool = false;
    } else {
      if (!options.connectionString) throw new TypeError('PostgresStore: connectionString or pool is required');
      this.pool = new pg.Pool({
        connectionString: options.connectionString,
        max: options.max ?? 10,
        // Fail fast (and let the caller answer store_unavailable) rather than queue requests on a dead server.
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
        keepAlive: true,
        application_name: 'tollgate',
      });
      this.ownsPool = true;
      // An idle connection that drops emits 'error' on the pool, which would otherwise crash the
      // process; the pool has already discarded it and the next checkout connects afresh.
      this.pool.on('error', () => {});
    }
  }

  /**
   * Runs `work` on a pooled connection that has this store's settings. The connection goes back
   * to the pool only if it is healthy and outside any transaction; otherwise it is discarded.
   */
  private async withClient<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw markStoreUnavailable(err);
    }
    // A checked-out connection that drops emits 'error' (its pending query rejects as well);
    // unheard, that event would crash the process.
    let lost: Error | undefined;
    const onError = (err: Error) => {
      lost = err;
    };
    client.on('error', onError);
    let discard = false;
    try {
      if (appliedSettings.get(client) !== this.settingsKey) {
        const { rows } = await client.query<{ backend_pid: number; backend_start: string | null }>({ text: CONFIGURE_SQL, values: [this.schema === null ? null : pg.escapeIdentifier(this.schema), String(this.statementTimeoutMs)], ...this.readTimeout });
        appliedSettings.set(client, this.settingsKey);
        // The server's own view of its process (behind a pooler, not the pid the client was told).
        if (rows[0]?.backend_start) backends.set(client, { pid: rows[0].backend_pid, start: rows[0].backend_start });
      }
      return await work(client);
    } catch (err) {
      // An error the server reported leaves the connection usable; any other (socket, protocol) may not have.
      if (!(err instanceof pg.DatabaseError)) {
        discard = true;
        // The statement may still run (a server that stopped answering, then answers): who sent it,
        // so a caller can end that server process before it does (`backendOf`).
        const backend = backends.get(client);
        if (typeof err === 'object' && err !== null && backend) Object.defineProperty(err, BACKEND, { value: backend });
      }
      throw unavailability(err);
    } finally {
      client.off('error', onError);
      client.release(lost ?? (discard || client.getTransactionStatus() !== 'I'));
    }
  }

  /**
   * One statement, one round trip. Statements are deliberately not named (kept prepared per
   * connection): a prepared `SELECT *` fails with "cached plan must not change result type" once
   * another replica's migration adds a column, and transaction-mode poolers do not keep them.
   */
  private async rows(text: string, values: unknown[] = []): Promise<Row[]> {
    return this.withClient(async (client) => (await client.query<QueryResultRow>({ text, values, types: TYPES, ...this.readTimeout })).rows);
  }

  /**
   * One statement on the store's pool and settings, for the scale-out modules that keep their own
   * tables in this database (the shared ledger, replica heartbeats: src/budget/shared-ledger.ts,
   * src/server/replica.ts). Unavailability is marked as for every store call.
   */
  query(text: string, values: unknown[] = []): Promise<Row[]> {
    return this.rows(text, values);
  }

  /**
   * A dedicated connection outside the pool (LISTEN needs one that stays open), to the same
   * database. The caller ends it.
   */
  dedicatedClient(): pg.Client {
    const options = this.pool.options;
    const client = new pg.Client({ ...options, ...this.readTimeout, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, application_name: 'tollgate-feed' });
    return client;
  }

  /** The schema holding the tables (null: the connection's search_path). */
  get schemaName(): string | null {
    return this.schema;
  }

  private async row(text: string, values: unknown[] = []): Promise<Row | undefined> {
    return (await this.rows(text, values))[0];
  }

  async migrate(): Promise<number[]> {
    return this.withClient(async (client) => {
      await client.query('BEGIN');
      try {
        // Waiting for another replica's migration, or building an index, may take longer than
        // the hot path's per-statement limit.
        await client.query('SET LOCAL statement_timeout = 0');
        // Replicas starting at once queue here, so each version is applied once. The lock is
        // per target schema (hashtextextended is stable: hash partitioning relies on it) and
        // ends with the transaction. It comes first: CREATE … IF NOT EXISTS races on its own.
        await client.query({
          text: `SELECT pg_advisory_xact_lock(hashtextextended('tollgate.migrate:' || coalesce($1::text, current_schema(), ''), 0))`,
          values: [this.schema],
        });
        if (this.schema !== null) await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(this.schema)}`);
        await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
        const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
        const now: number[] = [];
        for (const m of POSTGRES_MIGRATIONS) {
          if (applied.has(m.version)) continue;
          await client.query(m.sql);
          await client.query({ text: 'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', values: [m.version, m.name, Date.now()] });
          now.push(m.version);
        }
        await client.query('COMMIT');
        return now;
      } catch (err) {
        // If the rollback fails too, withClient discards the connection (still in a transaction).
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
    });
  }

  async ping(): Promise<void> {
    await this.rows('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await this.pool.end();
  }

  // --- teams, profiles, agents: one pattern, keyed by unique name ---------------------------

  private async byIdOrName(table: Entity, idOrName: string): Promise<Row | undefined> {
    // An id match wins over a name match, should a name ever look like another object's id.
    return this.row(`SELECT * FROM ${table} WHERE id = $1 OR name = $1 ORDER BY id = $1 DESC LIMIT 1`, [idOrName]);
  }

  /**
   * Inserts a row keyed by name, or on a duplicate name fails with `conflict` or (onExisting =
   * update) updates the `updated` columns in place, keeping id and created_at. One statement, so
   * two replicas putting the same name at once cannot both insert.
   */
  private async put(table: Entity, name: string, values: Record<string, unknown>, updated: readonly string[], onExisting: OnExisting): Promise<Row> {
    const columns = ['id', 'name', 'created_at', ...Object.keys(values)];
    const onConflict = onExisting === 'update'
      ? `DO UPDATE SET ${updated.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`
      : 'DO NOTHING';
    const r = await this.row(
      `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})
       ON CONFLICT (name) ${onConflict} RETURNING *`,
      [newId(ID_PREFIX[table]), name, Date.now(), ...Object.values(values)],
    );
    if (!r) throw new GatewayError('conflict', `${table.slice(0, -1)} "${name}" already exists`);
    return r;
  }

  async putTeam(team: NewTeam, onExisting: OnExisting): Promise<Team> {
    return rowToTeam(await this.put('teams', team.name, { owner: team.owner ?? null, budget: team.budget ? JSON.stringify(team.budget) : null }, ['owner', 'budget'], onExisting));
  }

  async getTeam(idOrName: string): Promise<Team | null> {
    const r = await this.byIdOrName('teams', idOrName);
    return r ? rowToTeam(r) : null;
  }

  async listTeams(): Promise<Team[]> {
    return (await this.rows('SELECT * FROM teams ORDER BY name')).map(rowToTeam);
  }

  async putProfile(profile: NewProfile, onExisting: OnExisting): Promise<Profile> {
    return rowToProfile(await this.put('profiles', profile.name, { spec: profileSpecJson(profile) }, ['spec'], onExisting));
  }

  async getProfile(idOrName: string): Promise<Profile | null> {
    const r = await this.byIdOrName('profiles', idOrName);
    return r ? rowToProfile(r) : null;
  }

  async listProfiles(): Promise<Profile[]> {
    return (await this.rows('SELECT * FROM profiles ORDER BY name')).map(rowToProfile);
  }

  async putAgent(agent: NewAgent, onExisting: OnExisting): Promise<Agent> {
    const values = { team_id: agent.teamId, profile_id: agent.profileId, owner: agent.owner ?? null, environment: agent.environment, status: 'active' };
    // A new agent starts active; re-applying an existing one keeps its status (e.g. suspended).
    return rowToAgent(await this.put('agents', agent.name, values, ['team_id', 'profile_id', 'owner', 'environment'], onExisting));
  }

  async getAgent(idOrName: string): Promise<Agent | null> {
    const r = await this.byIdOrName('agents', idOrName);
    return r ? rowToAgent(r) : null;
  }

  async listAgents(filter: { teamId?: string } = {}): Promise<Agent[]> {
    const rows = filter.teamId
      ? await this.rows('SELECT * FROM agents WHERE team_id = $1 ORDER BY name', [filter.teamId])
      : await this.rows('SELECT * FROM agents ORDER BY name');
    return rows.map(rowToAgent);
  }

  async setTeamStatus(id: string, status: TeamStatus): Promise<Team | null> {
    const r = await this.row('UPDATE teams SET status = $2 WHERE id = $1 AND status <> $2 RETURNING *', [id, status]);
    return r ? rowToTeam(r) : null;
  }

  async setAgentStatus(id: string, status: AgentStatus): Promise<Agent | null> {
    const r = await this.row('UPDATE agents SET status = $2 WHERE id = $1 AND status <> $2 RETURNING *', [id, status]);
    return r ? rowToAgent(r) : null;
  }

  // --- sessions -------------------------------------------------------------------------

  async createSession(s: NewSession): Promise<Session> {
    const r = await this.row(
      `INSERT INTO sessions (id, agent_id, team_id, profile_id, parent_id, task, budget_tokens, budget_usd_nano, models, scopes, context, status, created_at, expires_at, chain, enforcement)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active', $12, $13, $14, $15) RETURNING *`,
      [
        s.id, s.agentId, s.teamId, s.profileId, s.parentId, s.task, s.budget.tokens, s.budget.usdNano,
        JSON.stringify(s.models), JSON.stringify(s.scopes ?? NO_TOOL_SCOPES), JSON.stringify(s.context), s.createdAt ?? Date.now(), s.expiresAt, JSON.stringify(s.chain),
        s.enforcement ? JSON.stringify(s.enforcement) : null,
      ],
    );
    return rowToSession(r!);
  }

  async getSession(id: string): Promise<Session | null> {
    const r = await this.row('SELECT * FROM sessions WHERE id = $1', [id]);
    return r ? rowToSession(r) : null;
  }

  async listSessions(filter: SessionFilter = {}): Promise<Session[]> {
    const { where, params } = conditions({ agent_id: filter.agentId, team_id: filter.teamId, status: filter.status });
    const rows = await this.rows(
      `SELECT * FROM sessions ${where} ORDER BY created_at DESC, id LIMIT $${params.length + 1}`,
      [...params, filter.limit ?? DEFAULT_LIMIT],
    );
    return rows.map(rowToSession);
  }

  async expiredSessions(now: number, limit: number): Promise<Session[]> {
    const rows = await this.rows("SELECT * FROM sessions WHERE status IN ('active', 'suspended') AND expires_at <= $1 ORDER BY expires_at, id LIMIT $2", [now, limit]);
    return rows.map(rowToSession);
  }

  async setSessionStatus(id: string, status: SessionStatus): Promise<Session | null> {
    const r = await this.row('UPDATE sessions SET status = $2 WHERE id = $1 RETURNING *', [id, status]);
    return r ? rowToSession(r) : null;
  }

  async sessionTree(rootId: string): Promise<Session[]> {
    const rows = await this.rows(
      `WITH RECURSIVE tree(id, depth) AS (
         SELECT id, 0 FROM sessions WHERE id = $1
         UNION ALL SELECT s.id, tree.depth + 1 FROM sessions s JOIN tree ON s.parent_id = tree.id
       )
       SELECT sessions.* FROM sessions JOIN tree ON sessions.id = tree.id ORDER BY tree.depth, sessions.created_at, sessions.id`,
      [rootId],
    );
    return rows.map(rowToSession);
  }

  async updateSession(id: string, change: { budget?: Budget; expiresAt?: number }): Promise<Session | null> {
    const r = await this.row(
      `UPDATE sessions SET
         budget_tokens = CASE WHEN $2 THEN $3::bigint ELSE budget_tokens END,
         budget_usd_nano = CASE WHEN $2 THEN $4::bigint ELSE budget_usd_nano END,
         expires_at = COALESCE($5::bigint, expires_at)
       WHERE id = $1 RETURNING *`,
      [id, change.budget !== undefined, change.budget?.tokens ?? null, change.budget?.usdNano ?? null, change.expiresAt ?? null],
    );
    return r ? rowToSession(r) : null;
  }

  async endSessions(ids: readonly string[], status: 'closed' | 'revoked'): Promise<string[]> {
    return this.moveSessionsWhere(ids, ['active', 'suspended'], status);
  }

  async moveSessions(ids: readonly string[], from: SessionStatus, to: SessionStatus): Promise<string[]> {
    return this.moveSessionsWhere(ids, [from], to);
  }

  private async moveSessionsWhere(ids: readonly string[], from: readonly SessionStatus[], to: SessionStatus): Promise<string[]> {
    if (ids.length === 0) return [];
    // Rows are locked in id order, as recordUsage does, so overlapping calls queue rather than
    // deadlock; a session another call moved meanwhile is re-checked and skipped.
    const rows = await this.rows(
      `WITH target AS (
         SELECT id FROM sessions WHERE id = ANY($2::text[]) AND status = ANY($3::text[]) ORDER BY id FOR NO KEY UPDATE
       )
       UPDATE sessions SET status = $1 FROM target WHERE sessions.id = target.id RETURNING sessions.id`,
      [to, ids, from],
    );
    // RETURNING has no defined order: answer in the order asked, each id once.
    const changed = new Set(rows.map((r) => String(r.id)));
    return [...new Set(ids)].filter((id) => changed.has(id));
  }

  // --- usage ----------------------------------------------------------------------------

  async recordUsage(records: readonly UsageRecord[], reservations: readonly PendingReservation[] = []): Promise<void> {
    // Holds first, then lines (which remove their holds): a line never precedes its own hold.
    if (reservations.length > 0) {
      await this.rows(
        `INSERT INTO reservations (${RESERVATION_COLUMNS.join(', ')})
         SELECT * FROM unnest(${RESERVATION_COLUMNS.map((_, i) => `$${i + 1}::${RESERVATION_TYPES[i]}[]`).join(', ')}) ON CONFLICT (id) DO NOTHING`,
        byColumn(RESERVATION_COLUMNS.length, reservations.map((r) => reservationValues(r).map((v, i) => (i === 9 ? v === 1 : v)))),
      );
    }
    if (records.length === 0) return;
    // One array per column: as many parameters as columns, whatever the batch size.
    await this.rows(RECORD_USAGE_SQL, byColumn(USAGE_COLUMNS.length, records.map(usageValues)));
  }

  async listReservations(before: number): Promise<PendingReservation[]> {
    return (await this.rows('SELECT * FROM reservations WHERE expires_at < $1 ORDER BY created_at, id', [before])).map(rowToReservation);
  }

  async listUsage(filter: UsageFilter = {}): Promise<UsageRecord[]> {
    const { where, params } = conditions({ session_id: filter.sessionId, agent_id: filter.agentId, team_id: filter.teamId }, { created_at: filter.since });
    const rows = await this.rows(
      `SELECT * FROM usage_records ${where} ORDER BY created_at DESC, id LIMIT $${params.length + 1}`,
      [...params, filter.limit ?? DEFAULT_LIMIT],
    );
    return rows.map(rowToUsage);
  }

  async spendReport(groupBy: SpendGrouping, range: SpendRange = {}): Promise<SpendRow[]> {
    const q = spendQuery(groupBy, range, 'postgres');
    return spendRows(await this.rows(q.sql, q.params), groupBy);
  }

  async spendSince(filter: { agentId?: string; teamId?: string }, since: number): Promise<{ tokens: number; usdNano: number }> {
    // Times are whole milliseconds: a fractional bound rounds up (a bigint parameter takes no fraction).
    const { where, params } = conditions({ agent_id: filter.agentId, team_id: filter.teamId }, { created_at: Math.ceil(since) });
    const r = await this.row(`SELECT COALESCE(SUM(input_tokens + output_tokens), 0)::bigint AS tokens, COALESCE(SUM(cost_usd_nano), 0)::bigint AS usd FROM usage_records ${where}`, params);
    return { tokens: Number(r!.tokens), usdNano: Number(r!.usd) };
  }

  // --- approvals ------------------------------------------------------------------------

  async putAlerts(alerts: readonly Alert[]): Promise<void> {
    const updates = ALERT_COLUMNS.filter((c) => c !== 'id').map((c) => `${c} = EXCLUDED.${c}`).join(', ');
    const width = ALERT_COLUMNS.length;
    // Many rows per statement (a statement takes at most 65,535 parameters); each row stands alone.
    for (let from = 0; from < alerts.length; from += ALERTS_PER_STATEMENT) {
      const chunk = alerts.slice(from, from + ALERTS_PER_STATEMENT);
      const tuples = chunk.map((_, r) => `(${ALERT_COLUMNS.map((_, c) => `$${r * width + c + 1}`).join(', ')})`).join(', ');
      await this.rows(`INSERT INTO alerts (${ALERT_COLUMNS.join(', ')}) VALUES ${tuples} ON CONFLICT (id) DO UPDATE SET ${updates}`, chunk.flatMap(alertValues));
    }
  }

  async getAlert(id: string): Promise<Alert | null> {
    const r = await this.row('SELECT * FROM alerts WHERE id = $1', [id]);
    return r ? rowToAlert(r) : null;
  }

  async listAlerts(filter: AlertFilter = {}): Promise<Alert[]> {
    const { where, params } = conditions(alertEquals(filter), { updated_at: filter.since });
    const rows = await this.rows(`SELECT * FROM alerts ${where} ORDER BY updated_at DESC, id LIMIT $${params.length + 1}`, [...params, filter.limit ?? DEFAULT_LIMIT]);
    return rows.map(rowToAlert);
  }

  async loadBaselines(): Promise<{ key: string; data: Record<string, unknown> }[]> {
    return (await this.rows('SELECT key, data FROM detector_baselines')).map((r) => ({ key: String(r.key), data: JSON.parse(String(r.data)) as Record<string, unknown> }));
  }

  async saveBaselines(rows: readonly { key: string; data: Record<string, unknown>; updatedAt: number }[]): Promise<void> {
    if (rows.length === 0) return;
    await this.rows(
      `INSERT INTO detector_baselines (key, data, updated_at) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
       ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at`,
      [rows.map((r) => r.key), rows.map((r) => JSON.stringify(r.data)), rows.map((r) => r.updatedAt)],
    );
  }

  async putApproval(a: Approval): Promise<void> {
    await this.rows(`INSERT INTO approvals (${APPROVAL_COLUMNS.join(', ')}) VALUES (${APPROVAL_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`, approvalValues(a));
  }

  async getApproval(id: string): Promise<Approval | null> {
    const r = await this.row('SELECT * FROM approvals WHERE id = $1', [id]);
    return r ? rowToApproval(r) : null;
  }

  async listApprovals(filter: ApprovalFilter = {}): Promise<Approval[]> {
    const { where, params } = conditions({ status: filter.status, session_id: filter.sessionId, kind: filter.kind });
    const rows = await this.rows(`SELECT * FROM approvals ${where} ORDER BY created_at DESC, id LIMIT $${params.length + 1}`, [...params, filter.limit ?? DEFAULT_LIMIT]);
    return rows.map(rowToApproval);
  }

  async consumeApproval(id: string, at: number): Promise<boolean> {
    // Conditional on unused: two replicas presenting the same approval cannot both use it.
    const r = await this.row(`UPDATE approvals SET consumed_at = $2 WHERE id = $1 AND status = 'approved' AND consumed_at IS NULL RETURNING id`, [id, at]);
    return r !== null && r !== undefined;
  }

  async decideApproval(
    id: string,
    d: { status: Exclude<ApprovalStatus, 'pending'>; decidedAt: number; decidedBy: string; reason: string | null; extraBudget: Budget },
  ): Promise<Approval | null> {
    // Conditional on pending: two operators deciding at once cannot both win.
    const r = await this.row(
      `UPDATE approvals SET status = $2, decided_at = $3, decided_by = $4, reason = $5, extra_tokens = $6, extra_usd_nano = $7
       WHERE id = $1 AND status = 'pending' RETURNING *`,
      [id, d.status, d.decidedAt, d.decidedBy, d.reason, d.extraBudget.tokens, d.extraBudget.usdNano],
    );
    return r ? rowToApproval(r) : null;
  }

  // --- signing keys ---------------------------------------------------------------------

  async putSigningKey(k: SigningKey): Promise<void> {
    await this.rows(
      `INSERT INTO signing_keys (kid, alg, private_jwk, public_jwk, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (kid) DO UPDATE SET retired_at = EXCLUDED.retired_at`,
      [k.kid, k.alg, k.privateJwk, k.publicJwk, k.createdAt, k.retiredAt],
    );
  }

  async listSigningKeys(): Promise<SigningKey[]> {
    return (await this.rows('SELECT * FROM signing_keys ORDER BY created_at, kid')).map(rowToSigningKey);
  }

  // --- credentials, revoked tokens ----------------------------------------------------------

  async putCredential(c: Credential): Promise<void> {
    await this.rows(
      `INSERT INTO credentials (id, agent_id, hash, created_at, expires_at, revoked_at, last_used_at, last_used_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [c.id, c.agentId, c.hash, c.createdAt, c.expiresAt, c.revokedAt, c.lastUsedAt, c.lastUsedFrom],
    );
  }

  async getCredential(id: string): Promise<Credential | null> {
    const r = await this.row('SELECT * FROM credentials WHERE id = $1', [id]);
    return r ? rowToCredential(r) : null;
  }

  async listCredentials(agentId: string): Promise<Credential[]> {
    return (await this.rows('SELECT * FROM credentials WHERE agent_id = $1 ORDER BY created_at, id', [agentId])).map(rowToCredential);
  }

  async revokeCredential(id: string, at: number): Promise<Credential | null> {
    // The first revocation's time stands.
    const r = await this.row('UPDATE credentials SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING *', [id, at]);
    return r ? rowToCredential(r) : null;
  }

  async touchCredential(id: string, at: number, from: string | null): Promise<void> {
    await this.rows('UPDATE credentials SET last_used_at = $2, last_used_from = $3 WHERE id = $1', [id, at, from]);
  }

  async recordCredentialUses(uses: readonly CredentialUse[]): Promise<void> {
    if (uses.length === 0) return;
    const { latest, sources } = credentialUseRows(uses);
    // One statement: the sources upserted, then each credential's last use moved forward.
    await this.rows(
      `WITH seen AS (
         INSERT INTO credential_sources (credential_id, source, first_seen, last_seen)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
         ON CONFLICT (credential_id, source) DO UPDATE
           SET first_seen = LEAST(credential_sources.first_seen, EXCLUDED.first_seen), last_seen = GREATEST(credential_sources.last_seen, EXCLUDED.last_seen)
       )
       UPDATE credentials c SET last_used_at = u.at, last_used_from = u.src
       FROM unnest($5::text[], $6::bigint[], $7::text[]) AS u(id, at, src)
       WHERE c.id = u.id AND (c.last_used_at IS NULL OR c.last_used_at <= u.at)`,
      [
        sources.map((x) => x.credentialId), sources.map((x) => x.source), sources.map((x) => x.first), sources.map((x) => x.last),
        latest.map((x) => x.id), latest.map((x) => x.at), latest.map((x) => x.from),
      ],
    );
  }

  async listCredentialSources(credentialIds?: readonly string[]): Promise<CredentialSource[]> {
    if (credentialIds?.length === 0) return [];
    const rows = credentialIds
      ? await this.rows('SELECT * FROM credential_sources WHERE credential_id = ANY($1::text[]) ORDER BY credential_id, first_seen, source', [credentialIds])
      : await this.rows('SELECT * FROM credential_sources ORDER BY credential_id, first_seen, source');
    return rows.map(rowToCredentialSource);
  }

  // --- operators, access reviews ------------------------------------------------------------

  async putOperator(o: Operator): Promise<void> {
    const r = await this.row(
      `INSERT INTO operators (${OPERATOR_COLUMNS.join(', ')}) VALUES (${OPERATOR_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')}) ON CONFLICT (name) DO NOTHING RETURNING id`,
      operatorValues(o),
    );
    if (!r) throw new GatewayError('conflict', `operator "${o.name}" already exists`);
  }

  async getOperator(idOrName: string): Promise<Operator | null> {
    const r = await this.row('SELECT * FROM operators WHERE id = $1 OR name = $1 LIMIT 1', [idOrName]);
    return r ? rowToOperator(r) : null;
  }

  async listOperators(): Promise<Operator[]> {
    return (await this.rows('SELECT * FROM operators ORDER BY name')).map(rowToOperator);
  }

  async disableOperator(id: string, at: number): Promise<Operator | null> {
    const r = await this.row('UPDATE operators SET disabled_at = COALESCE(disabled_at, $2) WHERE id = $1 RETURNING *', [id, at]);
    return r ? rowToOperator(r) : null;
  }

  async accessActivity(since: number): Promise<{ agents: AgentActivity[]; models: ModelActivity[] }> {
    const [agents, models] = await Promise.all([
      this.rows('SELECT agent_id, COUNT(*) FILTER (WHERE created_at >= $1) AS sessions, MAX(created_at) AS last_at FROM sessions GROUP BY agent_id ORDER BY agent_id', [since]),
      this.rows('SELECT agent_id, profile_id, model, COUNT(*) AS calls, MAX(created_at) AS last_at FROM usage_records WHERE created_at >= $1 GROUP BY agent_id, profile_id, model ORDER BY agent_id, profile_id, model', [since]),
    ]);
    return { agents: agents.map(rowToAgentActivity), models: models.map(rowToModelActivity) };
  }

  async putAccessReview(review: AccessReviewRecord): Promise<void> {
    await this.rows(`INSERT INTO access_reviews (${ACCESS_REVIEW_COLUMNS.join(', ')}) VALUES (${ACCESS_REVIEW_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`, accessReviewValues(review));
  }

  async listAccessReviews(limit: number): Promise<AccessReviewRecord[]> {
    return (await this.rows('SELECT * FROM access_reviews ORDER BY signed_at DESC, id DESC LIMIT $1', [limit])).map(rowToAccessReview);
  }

  async revokeToken(t: RevokedToken): Promise<void> {
    await this.rows('INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING', [t.jti, t.expiresAt, t.revokedAt]);
  }

  async listRevokedTokens(now: number): Promise<RevokedToken[]> {
    // Prunes and lists in one statement. Its SELECT sees the table as before the DELETE, hence
    // the same condition, negated.
    const rows = await this.rows(
      `WITH pruned AS (DELETE FROM revoked_tokens WHERE expires_at <= $1)
       SELECT * FROM revoked_tokens WHERE expires_at > $1 ORDER BY revoked_at, jti`,
      [now],
    );
    return rows.map(rowToRevokedToken);
  }

  // --- audit events -----------------------------------------------------------------------

  /**
   * One chain for every replica: the append locks the chain head row (FOR UPDATE) in its
   * transaction, so concurrent batches from any replica queue there and each links onto the
   * last one committed. The lock is held for two short statements per group-committed batch.
   */
  async appendEvents(events: readonly AuditEvent[]): Promise<ChainedEvent[]> {
    if (events.length === 0) return [];
    // Optimistic: link onto the head this store last wrote (or read) and append in one statement
    // that moves the head only if it is still there. When another replica appended meanwhile,
    // nothing is written: read the head and link again. One round trip while this replica is the
    // only writer; two per batch that follows another replica's.
    for (;;) {
      const head = this.knownHead ?? (await this.chainHead());
      const linked = linkEvents(events, head);
      const last = linked.events.at(-1)!;
      const [row] = await this.rows(APPEND_EVENTS_SQL, [...byColumn(CHAIN_COLUMNS.length, linked.records.map(recordValues)), last.seq, last.hash, head.lastSeq, head.lastHash]);
      if (Number(row?.appended) === 1) {
        this.knownHead = { firstSeq: head.firstSeq, lastSeq: last.seq, lastHash: last.hash! };
        return linked.events;
      }
      this.knownHead = null;
    }
  }

  async listEvents(filter: EventFilter = {}): Promise<AuditEvent[]> {
    const q = eventQuery(filter, 'postgres', DEFAULT_LIMIT);
    return q ? (await this.rows(q.sql, q.params)).map(rowToEvent) : [];
  }

  async searchEvents(filter: EventFilter = {}): Promise<SequencedEvent[]> {
    const q = eventQuery(filter, 'postgres', DEFAULT_LIMIT);
    return q ? (await this.rows(q.sql, q.params)).map(rowToSequencedEvent) : [];
  }

  async chainHead(): Promise<ChainHead> {
    const r = await this.row('SELECT * FROM audit_chain_head WHERE id = 1');
    if (!r) throw new Error('the audit chain head is missing (audit_chain_head): the store was altered outside Tollgate');
    return rowToChainHead(r);
  }

  async readChain(afterSeq: number, limit: number): Promise<ChainRecord[]> {
    return (await this.rows(READ_CHAIN_SQL, [afterSeq, limit])).map(rowToRecord);
  }

  async putCheckpoint(c: AuditCheckpoint): Promise<void> {
    await this.rows(`INSERT INTO audit_checkpoints (${CHECKPOINT_COLUMNS.join(', ')}) VALUES (${CHECKPOINT_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`, checkpointValues(c));
  }

  async listCheckpoints(afterSeq: number, limit: number): Promise<AuditCheckpoint[]> {
    return (await this.rows('SELECT * FROM audit_checkpoints WHERE last_seq > $1 ORDER BY last_seq, time, id LIMIT $2', [afterSeq, limit])).map(rowToCheckpoint);
  }

  async latestCheckpoint(): Promise<AuditCheckpoint | null> {
    const r = await this.row('SELECT * FROM audit_checkpoints ORDER BY last_seq DESC, time DESC, id DESC LIMIT 1');
    return r ? rowToCheckpoint(r) : null;
  }

  // --- audit content ----------------------------------------------------------------------

  async appendContent(rows: readonly ContentRecord[]): Promise<void> {
    if (rows.length === 0) return;
    const values = rows.map((c) => [c.id, c.requestId, c.sessionId, c.agentId, c.kind, c.sha256, c.body, c.redactions, c.createdAt]);
    await this.rows(
      `INSERT INTO audit_content (id, request_id, session_id, agent_id, kind, sha256, body, redactions, created_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[])`,
      byColumn(9, values),
    );
  }

  async listContent(filter: ContentFilter): Promise<ContentRecord[]> {
    return (await this.rows(
      `SELECT * FROM audit_content WHERE ($1::text IS NULL OR request_id = $1) AND ($2::text IS NULL OR session_id = $2)
       ORDER BY created_at DESC, id DESC LIMIT $3`,
      [filter.requestId ?? null, filter.sessionId ?? null, filter.limit ?? DEFAULT_LIMIT],
    )).map(rowToContent);
  }

  async purgeContent(before: number, profileIds?: readonly string[]): Promise<number> {
    if (profileIds && profileIds.length === 0) return 0;
    const deleted = profileIds
      ? await this.rows('DELETE FROM audit_content WHERE created_at < $1 AND session_id IN (SELECT id FROM sessions WHERE profile_id = ANY($2::text[])) RETURNING 1', [before, profileIds])
      : await this.rows('DELETE FROM audit_content WHERE created_at < $1 RETURNING 1', [before]);
    return deleted.length;
  }
}
