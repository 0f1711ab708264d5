// The embedded default Store: one SQLite file in WAL mode (better-sqlite3 is synchronous, so
// each method runs to completion without interleaving; the async signature is the contract's).
import type Database from 'better-sqlite3';
import { GatewayError } from '../../errors/index.js';
import { newId } from '../../util/ids.js';
import {
  ALERT_COLUMNS, alertEquals, alertValues, rowToAlert, APPROVAL_COLUMNS, approvalValues, CHECKPOINT_COLUMNS, checkpointValues, NO_TOOL_SCOPES, rowToApproval, rowToReservation, profileSpecJson, rowToAgent, rowToContent, rowToCredential, rowToEvent, rowToProfile, rowToRevokedToken, rowToSession,
  ACCESS_REVIEW_COLUMNS, accessReviewValues, credentialUseRows, OPERATOR_COLUMNS, operatorValues, rowToAccessReview, rowToAgentActivity, rowToCredentialSource, rowToModelActivity, rowToOperator,
  recordFromValues, rowToCheckpoint, rowToSequencedEvent, rowToSigningKey, rowToTeam, rowToUsage, type Row,
} from '../rows.js';
import { chainedEvents, type ChainPosition, type ChainWalk } from '../chain.js';
import { eventQuery, spendQuery, spendRows } from '../queries.js';
import type { AlertFilter, ApprovalFilter, EventFilter, NewAgent, NewProfile, NewSession, NewTeam, OnExisting, SequencedEvent, SessionFilter, SpendGrouping, SpendRange, SpendRow, Store, UsageFilter, WriteSet } from '../store.js';
import type { AccessReviewRecord, AgentActivity, CredentialSource, CredentialUse, ModelActivity, Operator, Agent, AgentStatus, Alert, Approval, ApprovalStatus, AuditCheckpoint, AuditEvent, Budget, ChainedEvent, ChainHead, ChainRecord, ContentFilter, ContentRecord, PendingReservation, Credential, Profile, RevokedToken, Session, SessionStatus, SigningKey, Team, TeamStatus, UsageRecord } from '../types.js';
import { SQLITE_MIGRATIONS } from './migrations.js';
import { openSqlite, PreparedStatements, READ_CHAIN_SQL, SqliteBatchWriter, type Synchronous } from './batch-writer.js';
import { WAL_BACKSTOP_PAGES } from './wal-signal.js';
import { claimForServing } from './serving-lock.js';
import { SqliteWriterThread } from './writer-thread.js';
import { spendSinceQuery } from './spend-buckets.js';
import { eventsByIndexQuery, searchesByIndex, SESSION_INDEX_LIMITS, sessionIndexBacklog, SessionIndexer, usageByIndexQuery, warnPassFailed, type SessionIndexLimits } from './session-index.js';

/** A WHERE clause from the defined filters: `equal` columns must match, `atLeast` columns be >=. */
function conditions(equal: Record<string, unknown>, atLeast: Record<string, unknown> = {}): { where: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  for (const [column, value] of Object.entries(equal)) {
    if (value === undefined) continue;
    parts.push(`${column} = ?`);
    params.push(value);
  }
  for (const [column, value] of Object.entries(atLeast)) {
    if (value === undefined) continue;
    parts.push(`${column} >= ?`);
    params.push(value);
  }
  return { where: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}

/** Without the writer thread: how long after a write the session indexes' next step runs. */
const INDEX_TICK_MS = 50;

export interface SqliteStoreOptions {
  /** File path, or ':memory:'. */
  path: string;
  /** NORMAL keeps every commit through a killed process; FULL also through power loss. */
  synchronous?: Synchronous;
  /**
   * Commit the hot path's writes (holds, spend lines, audit events) on a second connection in a
   * worker thread, off the event loop. Default: on for a file; never for ':memory:' (one
   * connection only sees it).
   */
  writeThread?: boolean;
  /** How many nice steps below the event loop the writer's threads run (thread-priority.ts; default 10). */
  threadNice?: number;
  /** How large and how often the session indexes' passes are (session-index.ts; tests tune them). */
  sessionIndex?: Partial<SessionIndexLimits>;
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  // Batches are committed in call order: inline at once, or by the writer thread in the order sent.
  readonly capabilities = { shared: false };
  private readonly db: Database.Database;
  private readonly statements: PreparedStatements;
  private readonly batches: SqliteBatchWriter;
  /** The session indexes' passes on this connection, when there is no writer thread to run them. */
  private readonly indexer: SessionIndexer;
  private readonly sessionIndex: SessionIndexLimits;
  private indexTimer: NodeJS.Timeout | null = null;
  /** Started at the first batch (after migrations), when `writeThread` is on. */
  private writer: SqliteWriterThread | null = null;
  private readonly useWriterThread: boolean;
  private releaseClaim: (() => void) | null = null;

  constructor(private readonly options: SqliteStoreOptions) {
    this.db = openSqlite(options.path, options.synchronous);
    this.statements = new PreparedStatements(this.db);
    this.batches = new SqliteBatchWriter(this.db, this.statements);
    this.sessionIndex = { ...SESSION_INDEX_LIMITS, ...options.sessionIndex };
    this.indexer = new SessionIndexer(this.db, this.statements, Date.now, this.sessionIndex);
    this.useWriterThread = options.path !== ':memory:' && (options.writeThread ?? true);
    // With the writer thread, its checkpointer thread checkpoints: a commit on this connection
    // (the event loop's) must not run a checkpoint's fsyncs only because the log is long.
    if (this.useWriterThread) this.db.pragma(`wal_autocheckpoint = ${WAL_BACKSTOP_PAGES}`);
  }

  private stmt(sql: string): Database.Statement {
    return this.statements.get(sql);
  }

  private one(sql: string, ...params: unknown[]): Row | undefined {
    return this.stmt(sql).get(...params) as Row | undefined;
  }

  private all(sql: string, ...params: unknown[]): Row[] {
    return this.stmt(sql).all(...params) as Row[];
  }

  async migrate(): Promise<number[]> {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    // IMMEDIATE takes the write lock first, so two processes starting at once apply each version once.
    return this.db.transaction(() => {
      const applied = new Set((this.db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
      const now: number[] = [];
      for (const m of SQLITE_MIGRATIONS) {
        if (applied.has(m.version)) continue;
        this.db.exec(m.sql);
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
        now.push(m.version);
      }
      return now;
    }).immediate();
  }

  async ping(): Promise<void> {
    this.one('SELECT 1');
  }

  /**
   * Claims the file for this process as the one serving it (serving-lock.ts), until close();
   * throws StoreInUseError when another process serves it.
   */
  claimForServing(): void {
    if (this.options.path === ':memory:' || this.releaseClaim) return;
    this.releaseClaim = claimForServing(this.options.path);
  }

  async close(): Promise<void> {
    this.releaseClaim?.();
    this.releaseClaim = null;
    if (this.indexTimer) clearTimeout(this.indexTimer);
    this.indexTimer = null;
    const writer = this.writer;
    this.writer = null;
    await writer?.close();
    if (this.db.open) this.db.close();
  }

  // --- teams, profiles, agents: one pattern, keyed by unique name ---------------------------

  private byIdOrName(table: 'teams' | 'profiles' | 'agents', idOrName: string): Row | undefined {
    return this.one(`SELECT * FROM ${table} WHERE id = ? OR name = ? LIMIT 1`, idOrName, idOrName);
  }

  /** Inserts, or (with onExisting=update) updates, a row keyed by name; returns the stored row. */
  private put(table: 'teams' | 'profiles' | 'agents', name: string, values: Record<string, unknown>, onExisting: OnExisting): Row {
    const existing = this.one(`SELECT id FROM ${table} WHERE name = ?`, name);
    const columns = Object.keys(values);
    if (existing) {
      if (onExisting === 'error') throw new GatewayError('conflict', `${table.slice(0, -1)} "${name}" already exists`);
      this.stmt(`UPDATE ${table} SET ${columns.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`).run(...Object.values(values), existing.id);
      return this.one(`SELECT * FROM ${table} WHERE id = ?`, existing.id)!;
    }
    const id = newId(table === 'teams' ? 'team' : table === 'profiles' ? 'prof' : 'agt');
    this.stmt(`INSERT INTO ${table} (id, name, created_at, ${columns.join(', ')}) VALUES (?, ?, ?, ${columns.map(() => '?').join(', ')})`)
      .run(id, name, Date.now(), ...Object.values(values));
    return this.one(`SELECT * FROM ${table} WHERE id = ?`, id)!;
  }

  async putTeam(team: NewTeam, onExisting: OnExisting): Promise<Team> {
    return rowToTeam(this.put('teams', team.name, { owner: team.owner ?? null, budget: team.budget ? JSON.stringify(team.budget) : null }, onExisting));
  }

  async getTeam(idOrName: string): Promise<Team | null> {
    const r = this.byIdOrName('teams', idOrName);
    return r ? rowToTeam(r) : null;
  }

  async listTeams(): Promise<Team[]> {
    return this.all('SELECT * FROM teams ORDER BY name').map(rowToTeam);
  }

  async putProfile(profile: NewProfile, onExisting: OnExisting): Promise<Profile> {
    return rowToProfile(this.put('profiles', profile.name, { spec: profileSpecJson(profile) }, onExisting));
  }

  async getProfile(idOrName: string): Promise<Profile | null> {
    const r = this.byIdOrName('profiles', idOrName);
    return r ? rowToProfile(r) : null;
  }

  async listProfiles(): Promise<Profile[]> {
    return this.all('SELECT * FROM profiles ORDER BY name').map(rowToProfile);
  }

  async putAgent(agent: NewAgent, onExisting: OnExisting): Promise<Agent> {
    const values = { team_id: agent.teamId, profile_id: agent.profileId, owner: agent.owner ?? null, environment: agent.environment };
    const existing = this.one('SELECT id FROM agents WHERE name = ?', agent.name);
    return rowToAgent(this.put('agents', agent.name, existing ? values : { ...values, status: 'active' }, onExisting));
  }

  async getAgent(idOrName: string): Promise<Agent | null> {
    const r = this.byIdOrName('agents', idOrName);
    return r ? rowToAgent(r) : null;
  }

  async listAgents(filter: { teamId?: string } = {}): Promise<Agent[]> {
    return filter.teamId
      ? this.all('SELECT * FROM agents WHERE team_id = ? ORDER BY name', filter.teamId).map(rowToAgent)
      : this.all('SELECT * FROM agents ORDER BY name').map(rowToAgent);
  }

  async setTeamStatus(id: string, status: TeamStatus): Promise<Team | null> {
    const { changes } = this.stmt('UPDATE teams SET status = ? WHERE id = ? AND status <> ?').run(status, id, status);
    return changes === 0 ? null : this.getTeam(id);
  }

  async setAgentStatus(id: string, status: AgentStatus): Promise<Agent | null> {
    if (this.stmt('UPDATE agents SET status = ? WHERE id = ? AND status <> ?').run(status, id, status).changes === 0) return null;
    return this.getAgent(id);
  }

  // --- sessions -------------------------------------------------------------------------

  async createSession(s: NewSession): Promise<Session> {
    this.stmt(
      `INSERT INTO sessions (id, agent_id, team_id, profile_id, parent_id, task, budget_tokens, budget_usd_nano, models, scopes, context, status, created_at, expires_at, chain, enforcement)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?)`,
    ).run(
      s.id, s.agentId, s.teamId, s.profileId, s.parentId, s.task, s.budget.tokens, s.budget.usdNano,
      JSON.stringify(s.models), JSON.stringify(s.scopes ?? NO_TOOL_SCOPES), JSON.stringify(s.context), s.createdAt ?? Date.now(), s.expiresAt, JSON.stringify(s.chain),
      s.enforcement ? JSON.stringify(s.enforcement) : null,
    );
    return (await this.getSession(s.id))!;
  }

  async getSession(id: string): Promise<Session | null> {
    const r = this.one('SELECT * FROM sessions WHERE id = ?', id);
    return r ? rowToSession(r) : null;
  }

  async listSessions(filter: SessionFilter = {}): Promise<Session[]> {
    const { where, params } = conditions({ agent_id: filter.agentId, team_id: filter.teamId, status: filter.status });
    return this.all(`SELECT * FROM sessions ${where} ORDER BY created_at DESC, id LIMIT ?`, ...params, filter.limit ?? 100).map(rowToSession);
  }

  async expiredSessions(now: number, limit: number): Promise<Session[]> {
    return this.all("SELECT * FROM sessions WHERE status IN ('active', 'suspended') AND expires_at <= ? ORDER BY expires_at, id LIMIT ?", now, limit).map(rowToSession);
  }

  async setSessionStatus(id: string, status: SessionStatus): Promise<Session | null> {
    this.stmt('UPDATE sessions SET status = ? WHERE id = ?').run(status, id);
    return this.getSession(id);
  }

  async sessionTree(rootId: string): Promise<Session[]> {
    return this.all(
      `WITH RECURSIVE tree(id, depth) AS (
         SELECT id, 0 FROM sessions WHERE id = ?
         UNION ALL SELECT s.id, tree.depth + 1 FROM sessions s JOIN tree ON s.parent_id = tree.id
       )
       SELECT sessions.* FROM sessions JOIN tree ON sessions.id = tree.id ORDER BY tree.depth, sessions.created_at, sessions.id`,
      rootId,
    ).map(rowToSession);
  }

  async updateSession(id: string, change: { budget?: Budget; expiresAt?: number }): Promise<Session | null> {
    if (change.budget) this.stmt('UPDATE sessions SET budget_tokens = ?, budget_usd_nano = ? WHERE id = ?').run(change.budget.tokens, change.budget.usdNano, id);
    if (change.expiresAt !== undefined) this.stmt('UPDATE sessions SET expires_at = ? WHERE id = ?').run(change.expiresAt, id);
    return this.getSession(id);
  }

  async endSessions(ids: readonly string[], status: 'closed' | 'revoked'): Promise<string[]> {
    return this.moveSessionsWhere(ids, "status IN ('active', 'suspended')", [], status);
  }

  async moveSessions(ids: readonly string[], from: SessionStatus, to: SessionStatus): Promise<string[]> {
    return this.moveSessionsWhere(ids, 'status = ?', [from], to);
  }

  private moveSessionsWhere(ids: readonly string[], condition: string, params: unknown[], to: SessionStatus): string[] {
    const update = this.stmt(`UPDATE sessions SET status = ? WHERE id = ? AND ${condition}`);
    const changed: string[] = [];
    this.db.transaction(() => {
      for (const id of new Set(ids)) if (update.run(to, id, ...params).changes === 1) changed.push(id);
    })();
    return changed;
  }

  // --- usage ----------------------------------------------------------------------------

  async recordUsage(records: readonly UsageRecord[], reservations: readonly PendingReservation[] = []): Promise<void> {
    if (records.length === 0 && reservations.length === 0) return;
    this.db.transaction(() => this.batches.writeUsageRows(records, reservations))();
    if (!this.writer) this.indexBySessionSoon();
  }

  async listReservations(before: number): Promise<PendingReservation[]> {
    return this.all('SELECT * FROM reservations WHERE expires_at < ? ORDER BY created_at, id', before).map(rowToReservation);
  }

  async listUsage(filter: UsageFilter = {}): Promise<UsageRecord[]> {
    // By session, agent or team: through their indexes kept in bulk (session-index.ts).
    const q = usageByIndexQuery(filter);
    if (q) return this.all(q.sql, ...q.params).map(rowToUsage);
    const { where, params } = conditions({}, { created_at: filter.since });
    return this.all(`SELECT * FROM usage_records ${where} ORDER BY created_at DESC, id LIMIT ?`, ...params, filter.limit ?? 100).map(rowToUsage);
  }

  async spendReport(groupBy: SpendGrouping, range: SpendRange = {}): Promise<SpendRow[]> {
    const q = spendQuery(groupBy, range, 'sqlite');
    return spendRows(this.all(q.sql, ...q.params), groupBy);
  }

  async spendSince(filter: { agentId?: string; teamId?: string }, since: number): Promise<{ tokens: number; usdNano: number }> {
    // From the quarter hours of spend kept beside the lines (spend-buckets.ts), not the lines.
    const q = spendSinceQuery(filter, since);
    const r = this.one(q.sql, ...q.params)!;
    return { tokens: Number(r.tokens), usdNano: Number(r.usd) };
  }

  // --- approvals ------------------------------------------------------------------------

  async putApproval(a: Approval): Promise<void> {
    this.stmt(`INSERT INTO approvals (${APPROVAL_COLUMNS.join(', ')}) VALUES (${APPROVAL_COLUMNS.map(() => '?').join(', ')})`).run(...approvalValues(a));
  }

  async getApproval(id: string): Promise<Approval | null> {
    const r = this.one('SELECT * FROM approvals WHERE id = ?', id);
    return r ? rowToApproval(r) : null;
  }

  async listApprovals(filter: ApprovalFilter = {}): Promise<Approval[]> {
    const { where, params } = conditions({ status: filter.status, session_id: filter.sessionId, kind: filter.kind });
    return this.all(`SELECT * FROM approvals ${where} ORDER BY created_at DESC, id LIMIT ?`, ...params, filter.limit ?? 100).map(rowToApproval);
  }

  async consumeApproval(id: string, at: number): Promise<boolean> {
    return this.stmt(`UPDATE approvals SET consumed_at = ? WHERE id = ? AND status = 'approved' AND consumed_at IS NULL`).run(at, id).changes === 1;
  }

  async decideApproval(
    id: string,
    d: { status: Exclude<ApprovalStatus, 'pending'>; decidedAt: number; decidedBy: string; reason: string | null; extraBudget: Budget },
  ): Promise<Approval | null> {
    const changed = this.stmt(
      `UPDATE approvals SET status = ?, decided_at = ?, decided_by = ?, reason = ?, extra_tokens = ?, extra_usd_nano = ? WHERE id = ? AND status = 'pending'`,
    ).run(d.status, d.decidedAt, d.decidedBy, d.reason, d.extraBudget.tokens, d.extraBudget.usdNano, id).changes;
    return changed === 1 ? this.getApproval(id) : null;
  }

  // --- alerts and baselines -------------------------------------------------------------

  async putAlerts(alerts: readonly Alert[]): Promise<void> {
    const put = this.stmt(`INSERT OR REPLACE INTO alerts (${ALERT_COLUMNS.join(', ')}) VALUES (${ALERT_COLUMNS.map(() => '?').join(', ')})`);
    this.db.transaction(() => {
      for (const a of alerts) put.run(...alertValues(a));
    })();
  }

  async getAlert(id: string): Promise<Alert | null> {
    const r = this.one('SELECT * FROM alerts WHERE id = ?', id);
    return r ? rowToAlert(r) : null;
  }

  async listAlerts(filter: AlertFilter = {}): Promise<Alert[]> {
    const { where, params } = conditions(alertEquals(filter), { updated_at: filter.since });
    return this.all(`SELECT * FROM alerts ${where} ORDER BY updated_at DESC, id LIMIT ?`, ...params, filter.limit ?? 100).map(rowToAlert);
  }

  async loadBaselines(): Promise<{ key: string; data: Record<string, unknown> }[]> {
    return this.all('SELECT key, data FROM detector_baselines').map((r) => ({ key: String(r.key), data: JSON.parse(String(r.data)) as Record<string, unknown> }));
  }

  async saveBaselines(rows: readonly { key: string; data: Record<string, unknown>; updatedAt: number }[]): Promise<void> {
    const put = this.stmt('INSERT OR REPLACE INTO detector_baselines (key, data, updated_at) VALUES (?, ?, ?)');
    this.db.transaction(() => {
      for (const r of rows) put.run(r.key, JSON.stringify(r.data), r.updatedAt);
    })();
  }

  // --- signing keys ---------------------------------------------------------------------

  async putSigningKey(k: SigningKey): Promise<void> {
    this.stmt(
      `INSERT INTO signing_keys (kid, alg, private_jwk, public_jwk, created_at, retired_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(kid) DO UPDATE SET retired_at = excluded.retired_at`,
    ).run(k.kid, k.alg, k.privateJwk, k.publicJwk, k.createdAt, k.retiredAt);
  }

  async listSigningKeys(): Promise<SigningKey[]> {
    return this.all('SELECT * FROM signing_keys ORDER BY created_at, kid').map(rowToSigningKey);
  }

  // --- credentials, revoked tokens ----------------------------------------------------------

  async putCredential(c: Credential): Promise<void> {
    this.stmt(
      `INSERT INTO credentials (id, agent_id, hash, created_at, expires_at, revoked_at, last_used_at, last_used_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(c.id, c.agentId, c.hash, c.createdAt, c.expiresAt, c.revokedAt, c.lastUsedAt, c.lastUsedFrom);
  }

  async getCredential(id: string): Promise<Credential | null> {
    const r = this.one('SELECT * FROM credentials WHERE id = ?', id);
    return r ? rowToCredential(r) : null;
  }

  async listCredentials(agentId: string): Promise<Credential[]> {
    return this.all('SELECT * FROM credentials WHERE agent_id = ? ORDER BY created_at, id', agentId).map(rowToCredential);
  }

  async revokeCredential(id: string, at: number): Promise<Credential | null> {
    this.stmt('UPDATE credentials SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?').run(at, id);
    return this.getCredential(id);
  }

  async touchCredential(id: string, at: number, from: string | null): Promise<void> {
    this.stmt('UPDATE credentials SET last_used_at = ?, last_used_from = ? WHERE id = ?').run(at, from, id);
  }

  async recordCredentialUses(uses: readonly CredentialUse[]): Promise<void> {
    if (uses.length === 0) return;
    const { latest, sources } = credentialUseRows(uses);
    const last = this.stmt('UPDATE credentials SET last_used_at = ?, last_used_from = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)');
    const seen = this.stmt(
      `INSERT INTO credential_sources (credential_id, source, first_seen, last_seen) VALUES (?, ?, ?, ?)
       ON CONFLICT (credential_id, source) DO UPDATE SET first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen)`,
    );
    this.db.transaction(() => {
      for (const l of latest) last.run(l.at, l.from, l.id, l.at);
      for (const s of sources) seen.run(s.credentialId, s.source, s.first, s.last);
    })();
  }

  async listCredentialSources(credentialIds?: readonly string[]): Promise<CredentialSource[]> {
    if (credentialIds?.length === 0) return [];
    const where = credentialIds ? `WHERE credential_id IN (${credentialIds.map(() => '?').join(', ')})` : '';
    return (this.db.prepare(`SELECT * FROM credential_sources ${where} ORDER BY credential_id, first_seen, source`).all(...(credentialIds ?? [])) as Row[]).map(rowToCredentialSource);
  }

  // --- operators, access reviews ------------------------------------------------------------

  async putOperator(o: Operator): Promise<void> {
    if (this.one('SELECT id FROM operators WHERE name = ?', o.name)) throw new GatewayError('conflict', `operator "${o.name}" already exists`);
    this.stmt(`INSERT INTO operators (${OPERATOR_COLUMNS.join(', ')}) VALUES (${OPERATOR_COLUMNS.map(() => '?').join(', ')})`).run(...operatorValues(o));
  }

  async getOperator(idOrName: string): Promise<Operator | null> {
    const r = this.one('SELECT * FROM operators WHERE id = ? OR name = ? LIMIT 1', idOrName, idOrName);
    return r ? rowToOperator(r) : null;
  }

  async listOperators(): Promise<Operator[]> {
    return this.all('SELECT * FROM operators ORDER BY name').map(rowToOperator);
  }

  async disableOperator(id: string, at: number): Promise<Operator | null> {
    this.stmt('UPDATE operators SET disabled_at = COALESCE(disabled_at, ?) WHERE id = ?').run(at, id);
    return this.getOperator(id);
  }

  async accessActivity(since: number): Promise<{ agents: AgentActivity[]; models: ModelActivity[] }> {
    const agents = this.all('SELECT agent_id, SUM(CASE WHEN created_at >= ? THEN 1 ELSE 0 END) AS sessions, MAX(created_at) AS last_at FROM sessions GROUP BY agent_id ORDER BY agent_id', since);
    const models = this.all('SELECT agent_id, profile_id, model, COUNT(*) AS calls, MAX(created_at) AS last_at FROM usage_records WHERE created_at >= ? GROUP BY agent_id, profile_id, model ORDER BY agent_id, profile_id, model', since);
    return { agents: agents.map(rowToAgentActivity), models: models.map(rowToModelActivity) };
  }

  async putAccessReview(review: AccessReviewRecord): Promise<void> {
    this.stmt(`INSERT INTO access_reviews (${ACCESS_REVIEW_COLUMNS.join(', ')}) VALUES (${ACCESS_REVIEW_COLUMNS.map(() => '?').join(', ')})`).run(...accessReviewValues(review));
  }

  async listAccessReviews(limit: number): Promise<AccessReviewRecord[]> {
    return this.all('SELECT * FROM access_reviews ORDER BY signed_at DESC, id DESC LIMIT ?', limit).map(rowToAccessReview);
  }

  async revokeToken(t: RevokedToken): Promise<void> {
    this.stmt('INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES (?, ?, ?) ON CONFLICT(jti) DO NOTHING').run(t.jti, t.expiresAt, t.revokedAt);
  }

  async listRevokedTokens(now: number): Promise<RevokedToken[]> {
    this.stmt('DELETE FROM revoked_tokens WHERE expires_at <= ?').run(now);
    return this.all('SELECT * FROM revoked_tokens ORDER BY revoked_at, jti').map(rowToRevokedToken);
  }

  // --- audit events -----------------------------------------------------------------------

  async appendEvents(events: readonly AuditEvent[]): Promise<ChainedEvent[]> {
    return this.writeBatch({ events, records: [], reservations: [] });
  }

  /** Journal rows and audit events in one transaction: one commit for a whole group of calls. */
  async writeBatch(set: WriteSet): Promise<ChainedEvent[]> {
    if (set.events.length === 0 && set.records.length === 0 && set.reservations.length === 0) return [];
    if (this.useWriterThread && this.db.open) this.writer ??= new SqliteWriterThread(this.options.path, this.options.synchronous ?? 'NORMAL', this.options.threadNice, this.sessionIndex);
    const links = this.writer ? await this.writer.write(set) : this.batches.write(set);
    if (!this.writer) this.indexBySessionSoon();
    return chainedEvents(set.events, links);
  }

  /**
   * Without the writer thread, passes of the session indexes run here, on a timer while writes
   * come (session-index.ts): not in a write's path, and a write is committed whatever a pass meets —
   * a failed pass is tried again at the next tick, its rows found by the scan above the mark meanwhile.
   */
  private indexBySessionSoon(): void {
    if (this.indexTimer) return;
    this.indexTimer = setTimeout(() => {
      this.indexTimer = null;
      if (!this.db.open || this.writer) return;
      try {
        if (this.indexer.step()) this.indexBySessionSoon();
      } catch (err) {
        warnPassFailed(err);
        this.indexBySessionSoon();
      }
    }, INDEX_TICK_MS);
    this.indexTimer.unref();
  }

  async sessionIndexBacklog(): Promise<Record<string, number>> {
    return sessionIndexBacklog(this.statements);
  }

  async listEvents(filter: EventFilter = {}): Promise<AuditEvent[]> {
    const q = this.eventSearch(filter);
    return q ? this.all(q.sql, ...q.params).map(rowToEvent) : [];
  }

  async searchEvents(filter: EventFilter = {}): Promise<SequencedEvent[]> {
    const q = this.eventSearch(filter);
    return q ? this.all(q.sql, ...q.params).map(rowToSequencedEvent) : [];
  }

  /** By session, agent or exact type, through their indexes kept in bulk (session-index.ts); otherwise as any SQL store searches. */
  private eventSearch(filter: EventFilter): { sql: string; params: unknown[] } | null {
    return searchesByIndex(filter) ? eventsByIndexQuery(filter, 100) : eventQuery(filter, 'sqlite', 100);
  }

  async chainHead(): Promise<ChainHead> {
    return this.batches.head();
  }

  async readChain(afterSeq: number, limit: number): Promise<ChainRecord[]> {
    // Rows as arrays (better-sqlite3's raw mode): verification reads the whole table, and
    // building one object per row is most of the cost of reading it.
    return (this.statements.get(READ_CHAIN_SQL, true).all(afterSeq, limit) as unknown[][]).map(recordFromValues);
  }

  /** On the checkpointer thread, once the writer thread runs (null before: the caller walks). */
  walkChain(from: ChainPosition, limit: number): Promise<ChainWalk> | null {
    return this.writer?.walk(from, limit) ?? null;
  }

  async putCheckpoint(c: AuditCheckpoint): Promise<void> {
    this.stmt(`INSERT INTO audit_checkpoints (${CHECKPOINT_COLUMNS.join(', ')}) VALUES (${CHECKPOINT_COLUMNS.map(() => '?').join(', ')})`).run(...checkpointValues(c));
  }

  async listCheckpoints(afterSeq: number, limit: number): Promise<AuditCheckpoint[]> {
    return this.all('SELECT * FROM audit_checkpoints WHERE last_seq > ? ORDER BY last_seq, time, id LIMIT ?', afterSeq, limit).map(rowToCheckpoint);
  }

  async latestCheckpoint(): Promise<AuditCheckpoint | null> {
    const r = this.one('SELECT * FROM audit_checkpoints ORDER BY last_seq DESC, time DESC, id DESC LIMIT 1');
    return r ? rowToCheckpoint(r) : null;
  }

  // --- audit content ----------------------------------------------------------------------

  async appendContent(rows: readonly ContentRecord[]): Promise<void> {
    if (rows.length === 0) return;
    const insert = this.stmt('INSERT INTO audit_content (id, request_id, session_id, agent_id, kind, sha256, body, redactions, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const c of rows) insert.run(c.id, c.requestId, c.sessionId, c.agentId, c.kind, c.sha256, c.body, c.redactions, c.createdAt);
    })();
  }

  async listContent(filter: ContentFilter): Promise<ContentRecord[]> {
    const { where, params } = conditions({ request_id: filter.requestId, session_id: filter.sessionId });
    return this.all(`SELECT * FROM audit_content ${where} ORDER BY created_at DESC, id DESC LIMIT ?`, ...params, filter.limit ?? 100).map(rowToContent);
  }

  async purgeContent(before: number, profileIds?: readonly string[]): Promise<number> {
    if (!profileIds) return this.stmt('DELETE FROM audit_content WHERE created_at < ?').run(before).changes;
    if (profileIds.length === 0) return 0;
    return this.stmt(
      `DELETE FROM audit_content WHERE created_at < ? AND session_id IN (SELECT id FROM sessions WHERE profile_id IN (${profileIds.map(() => '?').join(', ')}))`,
    ).run(before, ...profileIds).changes;
  }
}
