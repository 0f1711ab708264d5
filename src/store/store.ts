// The Store contract: everything Tollgate persists goes through it. Two implementations (SQLite
// embedded, PostgreSQL scale-out) pass one shared contract suite (test/store/contract.ts).
// Methods are async so a networked store fits the same contract.
import type { AccessReviewRecord, Agent, AgentActivity, AgentStatus, CredentialSource, CredentialUse, ModelActivity, Operator, Alert, AlertSeverity, AlertStatus, Approval, ApprovalKind, PendingReservation, ApprovalStatus, AuditCheckpoint, AuditEvent, Budget, ChainedEvent, ChainHead, ChainRecord, ContentFilter, ContentRecord, Credential, PeriodBudget, Profile, ProfileSpec, RevokedToken, Session, SessionStatus, SigningKey, Team, TeamStatus, UsageRecord } from './types.js';
import type { ChainPosition, ChainWalk } from './chain.js';

export interface NewTeam { name: string; owner?: string | null; budget?: PeriodBudget | null }
/** Tool fields left out take their defaults (no tools, refuse out-of-scope offers, `internal` data). */
export type NewProfile = Omit<ProfileSpec, ToolSpecKey> & Partial<Pick<ProfileSpec, ToolSpecKey>> & { name: string };
type ToolSpecKey = 'tools' | 'resources' | 'prompts' | 'toolScope' | 'toolApprovals' | 'dataSensitivity';
export interface NewAgent { name: string; teamId: string; profileId: string; owner?: string | null; environment: string }
export type NewSession = Omit<Session, 'spent' | 'status' | 'createdAt' | 'enforcement' | 'scopes'> & { createdAt?: number; enforcement?: Session['enforcement']; scopes?: Session['scopes'] };

export interface ApprovalFilter {
  status?: ApprovalStatus;
  sessionId?: string;
  kind?: ApprovalKind;
  limit?: number;
}

export interface AlertFilter {
  status?: AlertStatus;
  severity?: AlertSeverity;
  detector?: string;
  agentId?: string;
  sessionId?: string;
  subject?: string;
  /** Alerts updated at or after this time (ms). */
  since?: number;
  limit?: number;
}

export interface SessionFilter {
  agentId?: string;
  teamId?: string;
  status?: SessionStatus;
  limit?: number;
}

export interface EventFilter {
  /** An exact type, or a prefix ending in `*`: `tool.*` is every type that starts with `tool.`. */
  type?: string;
  agentId?: string;
  sessionId?: string;
  /** Events of any of these sessions (a session and its descendants); an empty list matches nothing. */
  sessionIds?: readonly string[];
  teamId?: string;
  /** Events at or after this time (ms). */
  since?: number;
  /** Events before this time (ms). */
  until?: number;
  /** Events with seq > afterSeq (a cursor, oldest first). */
  afterSeq?: number;
  /** Events with seq < beforeSeq (a cursor, newest first). */
  beforeSeq?: number;
  /** By seq: `desc` (newest first, the default) or `asc`. */
  order?: 'asc' | 'desc';
  limit?: number;
}

/** An audit event with its position on the chain (what cursors point at). */
export type SequencedEvent = AuditEvent & { seq: number };

/**
 * What a spend report groups by. `team` is the team of the root session of the delegation tree
 * a call ran in (chain[0]: who pays), with the executing team (the agent's own) beside it;
 * `agent`, `profile` and `session` are those of the session that made the call; `day` is the UTC
 * day; `tag` a session tag's value (null where the session has none).
 */
export type SpendGrouping = 'team' | 'agent' | 'profile' | 'session' | 'model' | 'day' | { tag: string };

/** One group of usage lines, summed. */
export interface SpendRow {
  key: string | null;
  /** For `team`: the team whose agent made the calls (equal to `key` unless delegated across teams). */
  executingTeam?: string;
  /** With `bucketMs`: the start (ms) of the time bucket these lines fall in. */
  bucket?: number;
  usdNano: number;
  inputTokens: number;
  outputTokens: number;
  requests: number;
}

/** Which usage lines a spend report sums: created in [since, until); with `bucketMs`, per time bucket too. */
export interface SpendRange {
  since?: number;
  until?: number;
  /** Also group by time: buckets of this many ms, aligned to the epoch (a time series). */
  bucketMs?: number;
}

export interface UsageFilter {
  sessionId?: string;
  agentId?: string;
  teamId?: string;
  since?: number;
  limit?: number;
}

/** How a create behaves when an object of that name exists: fail (`conflict`) or update it. */
export type OnExisting = 'error' | 'update';

/** What one group commit writes: holds of calls now starting, spend lines, audit events. */
export interface WriteSet {
  events: readonly AuditEvent[];
  records: readonly UsageRecord[];
  reservations: readonly PendingReservation[];
}

export interface StoreCapabilities {
  /** Several gateway processes may share this store. */
  shared: boolean;
}

export interface Store {
  readonly kind: string;
  readonly capabilities: StoreCapabilities;
  /**
   * Rows written but not yet in the session indexes a store keeps in bulk, per table (SQLite:
   * sqlite/session-index.ts); absent where every index is kept in each commit.
   */
  sessionIndexBacklog?(): Promise<Record<string, number>>;

  /** Applies pending migrations; safe to call on every start (and by replicas at once). Returns the versions applied. */
  migrate(): Promise<number[]>;
  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;

  putTeam(team: NewTeam, onExisting: OnExisting): Promise<Team>;
  /** By id or by name. */
  getTeam(idOrName: string): Promise<Team | null>;
  listTeams(): Promise<Team[]>;
  /** Moves a team to `status`; null when it does not exist or already has it (two operators at once: one moves it). */
  setTeamStatus(id: string, status: TeamStatus): Promise<Team | null>;

  putProfile(profile: NewProfile, onExisting: OnExisting): Promise<Profile>;
  getProfile(idOrName: string): Promise<Profile | null>;
  listProfiles(): Promise<Profile[]>;

  putAgent(agent: NewAgent, onExisting: OnExisting): Promise<Agent>;
  getAgent(idOrName: string): Promise<Agent | null>;
  listAgents(filter?: { teamId?: string }): Promise<Agent[]>;
  /** Moves an agent to `status`; null when it does not exist or already has it (two callers at once: one moves it). */
  setAgentStatus(id: string, status: AgentStatus): Promise<Agent | null>;

  createSession(session: NewSession): Promise<Session>;
  getSession(id: string): Promise<Session | null>;
  listSessions(filter?: SessionFilter): Promise<Session[]>;
  setSessionStatus(id: string, status: SessionStatus): Promise<Session | null>;
  /** Sessions still `active` whose expiry is at or before `now`, earliest expiry first. */
  expiredSessions(now: number, limit: number): Promise<Session[]>;
  /** The session and every session delegated from it, at any depth (the root first). */
  sessionTree(rootId: string): Promise<Session[]>;
  /** Changes a session's budget and/or expiry (renewal). */
  updateSession(id: string, change: { budget?: Budget; expiresAt?: number }): Promise<Session | null>;
  /** Ends every listed session that is still active or suspended; returns those changed. */
  endSessions(ids: readonly string[], status: 'closed' | 'revoked'): Promise<string[]>;
  /** Moves every listed session whose status is `from` to `to` (suspend, resume); returns those changed. */
  moveSessions(ids: readonly string[], from: SessionStatus, to: SessionStatus): Promise<string[]>;

  /**
   * Writes `reservations` (holds of calls now starting), then appends usage records and adds each
   * to its session's spend, atomically: either a record and its spend land together or neither
   * does. Each record removes the reservation with its id. Records whose id is already stored
   * are skipped, so a retried batch never charges twice.
   */
  recordUsage(records: readonly UsageRecord[], reservations?: readonly PendingReservation[]): Promise<void>;
  /** Reservations whose spend line was never written, expiring before `before` (oldest first). */
  listReservations(before: number): Promise<PendingReservation[]>;
  listUsage(filter?: UsageFilter): Promise<UsageRecord[]>;
  /**
   * Usage lines created in [since, until), summed per group — and per time bucket with
   * `bucketMs` — sorted by bucket, key, then executing team. Every line falls in exactly one
   * group, so the rows add up to the lines' total.
   */
  spendReport(groupBy: SpendGrouping, range?: SpendRange): Promise<SpendRow[]>;
  /** What an agent or a team spent since `since` (input + output tokens, nano-USD). */
  spendSince(filter: { agentId?: string; teamId?: string }, since: number): Promise<{ tokens: number; usdNano: number }>;

  putApproval(approval: Approval): Promise<void>;
  getApproval(id: string): Promise<Approval | null>;
  listApprovals(filter?: ApprovalFilter): Promise<Approval[]>;
  /** Marks an approved, unused approval used; false when it was not (already used, or not approved). */
  consumeApproval(id: string, at: number): Promise<boolean>;
  /** Decides a pending approval; null when it was not pending (already decided by someone else). */
  decideApproval(id: string, decision: { status: Exclude<ApprovalStatus, 'pending'>; decidedAt: number; decidedBy: string; reason: string | null; extraBudget: Budget }): Promise<Approval | null>;

  /**
   * Inserts or replaces alerts (by id; the ids distinct), in as few writes as the store allows —
   * one transaction on SQLite, statements of 1,000 rows on PostgreSQL (each row stands alone): the
   * detectors' repeat findings update many open alerts at once (one per looping session in a
   * storm), and a write each cost a commit each.
   */
  putAlerts(alerts: readonly Alert[]): Promise<void>;
  getAlert(id: string): Promise<Alert | null>;
  /** Alerts, most recently updated first. */
  listAlerts(filter?: AlertFilter): Promise<Alert[]>;
  /** The detectors' learned baselines, by key (loaded at start). */
  loadBaselines(): Promise<{ key: string; data: Record<string, unknown> }[]>;
  /** Saves learned baselines (each replaces the one stored under its key). */
  saveBaselines(rows: readonly { key: string; data: Record<string, unknown>; updatedAt: number }[]): Promise<void>;

  putSigningKey(key: SigningKey): Promise<void>;
  listSigningKeys(): Promise<SigningKey[]>;

  putCredential(credential: Credential): Promise<void>;
  getCredential(id: string): Promise<Credential | null>;
  listCredentials(agentId: string): Promise<Credential[]>;
  revokeCredential(id: string, at: number): Promise<Credential | null>;
  /** Records a use (time, source) of a credential. */
  touchCredential(id: string, at: number, from: string | null): Promise<void>;
  /**
   * Records a batch of uses in one transaction: each credential's last use (the latest of the
   * batch, never moving back) and, per source, when it was first and last seen.
   */
  recordCredentialUses(uses: readonly CredentialUse[]): Promise<void>;
  /** Where client secrets were used from: of the given credentials, or of all. */
  listCredentialSources(credentialIds?: readonly string[]): Promise<CredentialSource[]>;

  /** Adds an operator; `conflict` when the name is taken. */
  putOperator(operator: Operator): Promise<void>;
  /** By id or by name. */
  getOperator(idOrName: string): Promise<Operator | null>;
  listOperators(): Promise<Operator[]>;
  /** Disables an operator (its token stops working); the first time stands. */
  disableOperator(id: string, at: number): Promise<Operator | null>;

  /** Sessions per agent opened since `since` (with each agent's latest ever), and metered calls per agent and model since `since`. */
  accessActivity(since: number): Promise<{ agents: AgentActivity[]; models: ModelActivity[] }>;
  putAccessReview(review: AccessReviewRecord): Promise<void>;
  /** Signed-off reviews, newest first. */
  listAccessReviews(limit: number): Promise<AccessReviewRecord[]>;

  /** Adds a revoked token id (idempotent). */
  revokeToken(token: RevokedToken): Promise<void>;
  /** Revoked token ids not yet expired at `now` (expired entries may be dropped). */
  listRevokedTokens(now: number): Promise<RevokedToken[]>;

  /**
   * Appends audit events in one transaction, in order, onto the one audit chain: with the chain
   * head locked (so concurrent appends, from this process or another replica, queue), each event
   * gets the next seq and is linked to the one before (`linkEvents` in store/chain.ts). Returns
   * the events as stored.
   */
  appendEvents(events: readonly AuditEvent[]): Promise<ChainedEvent[]>;
  /**
   * Optional: `recordUsage` and `appendEvents` of one group of calls in a single transaction (one
   * commit instead of two, and a call's spend line and its audit event land together or not at
   * all). Stores without it get the two writes (write-queue.ts).
   */
  writeBatch?(set: WriteSet): Promise<ChainedEvent[]>;
  /** Events, newest first (or as `order` says), filtered. */
  listEvents(filter?: EventFilter): Promise<AuditEvent[]>;
  /** listEvents, each event with its seq (for cursor pagination). */
  searchEvents(filter?: EventFilter): Promise<SequencedEvent[]>;
  /** The chain's first seq and its current last seq and hash. */
  chainHead(): Promise<ChainHead>;
  /** Events with seq > `afterSeq` as stored (JSON columns as their text), in seq order, at most `limit`. */
  readChain(afterSeq: number, limit: number): Promise<ChainRecord[]>;
  /**
   * Optional: checks up to `limit` events after `from` as ChainWalker does, away from the event
   * loop (the SQLite store's checkpointer thread). Null when it cannot now: the caller reads the
   * events with readChain and walks them itself.
   */
  walkChain?(from: ChainPosition, limit: number): Promise<ChainWalk> | null;
  putCheckpoint(checkpoint: AuditCheckpoint): Promise<void>;
  /** Checkpoints with last_seq > `afterSeq`, in last_seq order, at most `limit`. */
  listCheckpoints(afterSeq: number, limit: number): Promise<AuditCheckpoint[]>;
  /** The checkpoint with the highest last_seq (the latest written among equals), or null. */
  latestCheckpoint(): Promise<AuditCheckpoint | null>;

  /** Appends captured content (content logging), in one transaction. Kept apart from the chain. */
  appendContent(rows: readonly ContentRecord[]): Promise<void>;
  /** Captured content, newest first, by request and/or session (limit default 100). */
  listContent(filter: ContentFilter): Promise<ContentRecord[]>;
  /**
   * Deletes captured content created before `before` (ms); with `profileIds`, only content of
   * sessions of those profiles. Returns how many rows went. Never touches audit_events.
   */
  purgeContent(before: number, profileIds?: readonly string[]): Promise<number>;
}
