// Row <-> object mapping shared by the SQL stores (same column names in every dialect).
import type { NewProfile } from './store.js';
import { DEFAULT_CONTENT_LOGGING } from './types.js';
import type { AccessReviewRecord, AgentActivity, CredentialSource, ModelActivity, Operator, OperatorRole, Agent, AgentStatus, Alert, AlertSeverity, AlertStatus, Approval, ApprovalStatus, PendingReservation, AuditCheckpoint, AuditEvent, ChainHead, ChainRecord, ContentKind, ContentRecord, Credential, Enforcement, PeriodBudget, Profile, ProfileSpec, RevokedToken, Session, SessionStatus, SigningKey, Team, ToolScopes, UsageOutcome, UsageRecord } from './types.js';

/** A row as a driver returns it; numeric columns may come back as strings from some drivers. */
export type Row = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
const str = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : str(v));
const json = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));

export const rowToTeam = (r: Row): Team => ({ id: str(r.id), name: str(r.name), owner: strOrNull(r.owner), status: r.status === 'suspended' ? 'suspended' : 'active', budget: r.budget === null || r.budget === undefined ? null : json<PeriodBudget>(r.budget), createdAt: num(r.created_at) });

/** Sessions stored before tool scopes existed reach no tools. */
export const NO_TOOL_SCOPES: ToolScopes = { tools: [], resources: [], prompts: [] };

/** Enforcement for profiles stored before it existed. */
export const DEFAULT_ENFORCEMENT: Enforcement = { mode: 'hard', threshold: 0.8, holdSeconds: 0 };

export function rowToProfile(r: Row): Profile {
  const spec = json<ProfileSpec>(r.spec);
  return {
    id: str(r.id),
    name: str(r.name),
    createdAt: num(r.created_at),
    models: spec.models,
    sessionBudget: spec.sessionBudget,
    sessionTtlSeconds: spec.sessionTtlSeconds,
    // Profiles stored before these fields existed: no actor tokens, no agent cap, hard mode.
    requireActorToken: spec.requireActorToken ?? false,
    agentBudget: spec.agentBudget ?? null,
    enforcement: spec.enforcement ?? DEFAULT_ENFORCEMENT,
    rateLimits: spec.rateLimits ?? {},
    tools: spec.tools ?? [],
    resources: spec.resources ?? [],
    prompts: spec.prompts ?? [],
    toolScope: spec.toolScope ?? 'refuse',
    toolApprovals: spec.toolApprovals ?? [],
    dataSensitivity: spec.dataSensitivity ?? 'internal',
    contentLogging: spec.contentLogging ?? DEFAULT_CONTENT_LOGGING,
    ...(spec.mission ? { mission: spec.mission } : {}),
  };
}

export const rowToContent = (r: Row): ContentRecord => ({
  id: str(r.id),
  requestId: str(r.request_id),
  sessionId: str(r.session_id),
  agentId: str(r.agent_id),
  kind: str(r.kind) as ContentKind,
  sha256: str(r.sha256),
  body: strOrNull(r.body),
  redactions: num(r.redactions),
  createdAt: num(r.created_at),
});

export const rowToAgent = (r: Row): Agent => ({
  id: str(r.id),
  name: str(r.name),
  teamId: str(r.team_id),
  profileId: str(r.profile_id),
  owner: strOrNull(r.owner),
  environment: str(r.environment),
  status: str(r.status) as AgentStatus,
  createdAt: num(r.created_at),
});

export const rowToSession = (r: Row): Session => ({
  id: str(r.id),
  agentId: str(r.agent_id),
  teamId: str(r.team_id),
  profileId: str(r.profile_id),
  parentId: strOrNull(r.parent_id),
  task: str(r.task),
  budget: { tokens: numOrNull(r.budget_tokens), usdNano: numOrNull(r.budget_usd_nano) },
  models: json<string[]>(r.models),
  scopes: r.scopes === null || r.scopes === undefined ? NO_TOOL_SCOPES : json<ToolScopes>(r.scopes),
  context: json<Record<string, unknown>>(r.context),
  status: str(r.status) as SessionStatus,
  createdAt: num(r.created_at),
  expiresAt: num(r.expires_at),
  spent: {
    inputTokens: num(r.spent_input_tokens),
    outputTokens: num(r.spent_output_tokens),
    cachedInputTokens: num(r.spent_cached_input_tokens),
    cacheWriteTokens: num(r.spent_cache_write_tokens),
    reasoningTokens: num(r.spent_reasoning_tokens),
    usdNano: num(r.spent_usd_nano),
    requests: num(r.spent_requests),
  },
  chain: json<string[]>(r.chain),
  enforcement: r.enforcement === null || r.enforcement === undefined ? null : json<Enforcement>(r.enforcement),
});

export const rowToUsage = (r: Row): UsageRecord => ({
  id: str(r.id),
  requestId: str(r.request_id),
  sessionId: str(r.session_id),
  agentId: str(r.agent_id),
  teamId: str(r.team_id),
  profileId: str(r.profile_id),
  model: str(r.model),
  provider: str(r.provider),
  api: str(r.api),
  stream: Boolean(num(r.stream)),
  inputTokens: num(r.input_tokens),
  outputTokens: num(r.output_tokens),
  cachedInputTokens: num(r.cached_input_tokens),
  cacheWriteTokens: num(r.cache_write_tokens),
  reasoningTokens: num(r.reasoning_tokens),
  costUsdNano: num(r.cost_usd_nano),
  estimated: Boolean(num(r.estimated)),
  outcome: str(r.outcome) as UsageOutcome,
  httpStatus: num(r.http_status),
  latencyMs: num(r.latency_ms),
  createdAt: num(r.created_at),
  chain: json<string[]>(r.chain),
});

export const rowToSigningKey = (r: Row): SigningKey => ({
  kid: str(r.kid),
  alg: str(r.alg),
  privateJwk: str(r.private_jwk),
  publicJwk: str(r.public_jwk),
  createdAt: num(r.created_at),
  retiredAt: numOrNull(r.retired_at),
});

/** Positional values of a usage record, in the column order of USAGE_COLUMNS. */
export const USAGE_COLUMNS = [
  'id', 'request_id', 'session_id', 'agent_id', 'team_id', 'profile_id', 'model', 'provider', 'api', 'stream',
  'input_tokens', 'output_tokens', 'cached_input_tokens', 'cache_write_tokens', 'reasoning_tokens',
  'cost_usd_nano', 'estimated', 'outcome', 'http_status', 'latency_ms', 'created_at', 'chain',
] as const;

export function usageValues(u: UsageRecord): unknown[] {
  return [
    u.id, u.requestId, u.sessionId, u.agentId, u.teamId, u.profileId, u.model, u.provider, u.api, u.stream ? 1 : 0,
    u.inputTokens, u.outputTokens, u.cachedInputTokens, u.cacheWriteTokens, u.reasoningTokens,
    u.costUsdNano, u.estimated ? 1 : 0, u.outcome, u.httpStatus, u.latencyMs, u.createdAt, JSON.stringify(u.chain),
  ];
}

export function profileSpecJson(p: NewProfile): string {
  const spec: ProfileSpec = {
    models: p.models, sessionBudget: p.sessionBudget, sessionTtlSeconds: p.sessionTtlSeconds, requireActorToken: p.requireActorToken,
    agentBudget: p.agentBudget, enforcement: p.enforcement, rateLimits: p.rateLimits ?? {},
    tools: p.tools ?? [], resources: p.resources ?? [], prompts: p.prompts ?? [], toolScope: p.toolScope ?? 'refuse', toolApprovals: p.toolApprovals ?? [],
    dataSensitivity: p.dataSensitivity ?? 'internal',
    contentLogging: p.contentLogging ?? DEFAULT_CONTENT_LOGGING,
    ...(p.mission ? { mission: p.mission } : {}),
  };
  return JSON.stringify(spec);
}

export const rowToCredential = (r: Row): Credential => ({
  id: str(r.id),
  agentId: str(r.agent_id),
  hash: str(r.hash),
  createdAt: num(r.created_at),
  expiresAt: numOrNull(r.expires_at),
  revokedAt: numOrNull(r.revoked_at),
  lastUsedAt: numOrNull(r.last_used_at),
  lastUsedFrom: strOrNull(r.last_used_from),
});

export const rowToRevokedToken = (r: Row): RevokedToken => ({ jti: str(r.jti), expiresAt: num(r.expires_at), revokedAt: num(r.revoked_at) });

export const rowToEvent = (r: Row): AuditEvent => ({
  id: str(r.id),
  time: num(r.time),
  type: str(r.type),
  actor: str(r.actor),
  requestId: strOrNull(r.request_id),
  agentId: strOrNull(r.agent_id),
  sessionId: strOrNull(r.session_id),
  teamId: strOrNull(r.team_id),
  chain: r.chain === null || r.chain === undefined ? null : json<string[]>(r.chain),
  data: json<Record<string, unknown>>(r.data),
});

export const rowToSequencedEvent = (r: Row): AuditEvent & { seq: number } => ({ ...rowToEvent(r), seq: num(r.seq) });

/** Columns of an event on the chain, in the order of `recordValues`. */
export const CHAIN_COLUMNS = ['seq', 'id', 'time', 'type', 'actor', 'request_id', 'agent_id', 'session_id', 'team_id', 'chain', 'data', 'prev_hash', 'hash'] as const;

export function recordValues(r: ChainRecord): unknown[] {
  return [r.seq, r.id, r.time, r.type, r.actor, r.requestId, r.agentId, r.sessionId, r.teamId, r.chainJson, r.dataJson, r.prevHash, r.hash];
}

/** A stored event row as values in CHAIN_COLUMNS order (`recordValues` read back). */
export const recordFromValues = (v: unknown[]): ChainRecord => ({
  seq: num(v[0]), id: str(v[1]), time: num(v[2]), type: str(v[3]), actor: str(v[4]),
  requestId: strOrNull(v[5]), agentId: strOrNull(v[6]), sessionId: strOrNull(v[7]), teamId: strOrNull(v[8]),
  chainJson: strOrNull(v[9]), dataJson: str(v[10]), prevHash: strOrNull(v[11]), hash: strOrNull(v[12]),
});

/** A stored event row, JSON columns read as text (`chain` and `data` must come back unparsed). */
export const rowToRecord = (r: Row): ChainRecord => ({
  seq: num(r.seq), id: str(r.id), time: num(r.time), type: str(r.type), actor: str(r.actor),
  requestId: strOrNull(r.request_id), agentId: strOrNull(r.agent_id), sessionId: strOrNull(r.session_id), teamId: strOrNull(r.team_id),
  chainJson: strOrNull(r.chain), dataJson: str(r.data), prevHash: strOrNull(r.prev_hash), hash: strOrNull(r.hash),
});

export const rowToChainHead = (r: Row): ChainHead => ({ firstSeq: num(r.first_seq), lastSeq: num(r.last_seq), lastHash: str(r.last_hash) });

export const CHECKPOINT_COLUMNS = ['id', 'last_seq', 'last_hash', 'time', 'kid', 'jws'] as const;

export function checkpointValues(c: AuditCheckpoint): unknown[] {
  return [c.id, c.lastSeq, c.lastHash, c.time, c.kid, c.jws];
}

export const rowToCheckpoint = (r: Row): AuditCheckpoint => ({ id: str(r.id), lastSeq: num(r.last_seq), lastHash: str(r.last_hash), time: num(r.time), kid: str(r.kid), jws: str(r.jws) });

export const rowToApproval = (r: Row): Approval => ({
  id: str(r.id),
  sessionId: str(r.session_id),
  agentId: str(r.agent_id),
  teamId: str(r.team_id),
  status: str(r.status) as ApprovalStatus,
  createdAt: num(r.created_at),
  decidedAt: numOrNull(r.decided_at),
  decidedBy: strOrNull(r.decided_by),
  reason: strOrNull(r.reason),
  extraBudget: { tokens: numOrNull(r.extra_tokens), usdNano: numOrNull(r.extra_usd_nano) },
  context: json<Record<string, unknown>>(r.context),
  kind: r.kind === 'tool' || r.kind === 'resume' ? r.kind : 'budget',
  consumedAt: numOrNull(r.consumed_at),
});

export const APPROVAL_COLUMNS = ['id', 'session_id', 'agent_id', 'team_id', 'status', 'created_at', 'decided_at', 'decided_by', 'reason', 'extra_tokens', 'extra_usd_nano', 'context', 'kind', 'consumed_at'] as const;

export function approvalValues(a: Approval): unknown[] {
  return [a.id, a.sessionId, a.agentId, a.teamId, a.status, a.createdAt, a.decidedAt, a.decidedBy, a.reason, a.extraBudget.tokens, a.extraBudget.usdNano, JSON.stringify(a.context), a.kind, a.consumedAt];
}

export const RESERVATION_COLUMNS = [
  'id', 'request_id', 'session_id', 'agent_id', 'team_id', 'profile_id', 'model', 'provider', 'api', 'stream',
  'prompt_tokens', 'output_tokens', 'usd_nano', 'chain', 'created_at', 'expires_at',
] as const;

export function reservationValues(r: PendingReservation): unknown[] {
  return [r.id, r.requestId, r.sessionId, r.agentId, r.teamId, r.profileId, r.model, r.provider, r.api, r.stream ? 1 : 0, r.promptTokens, r.outputTokens, r.usdNano, JSON.stringify(r.chain), r.createdAt, r.expiresAt];
}

export const rowToReservation = (r: Row): PendingReservation => ({
  id: str(r.id),
  requestId: str(r.request_id),
  sessionId: str(r.session_id),
  agentId: str(r.agent_id),
  teamId: str(r.team_id),
  profileId: str(r.profile_id),
  model: str(r.model),
  provider: str(r.provider),
  api: str(r.api),
  stream: Boolean(num(r.stream)),
  promptTokens: num(r.prompt_tokens),
  outputTokens: num(r.output_tokens),
  usdNano: num(r.usd_nano),
  chain: json<string[]>(r.chain),
  createdAt: num(r.created_at),
  expiresAt: num(r.expires_at),
});

export const rowToAlert = (r: Row): Alert => ({
  id: str(r.id),
  detector: str(r.detector),
  subject: str(r.subject),
  severity: str(r.severity) as AlertSeverity,
  status: str(r.status) as AlertStatus,
  summary: str(r.summary),
  verdict: strOrNull(r.verdict) as Alert['verdict'],
  evidence: json<Record<string, unknown>>(r.evidence),
  actions: json<Alert['actions']>(r.actions),
  occurrences: num(r.occurrences),
  agentId: strOrNull(r.agent_id),
  sessionId: strOrNull(r.session_id),
  teamId: strOrNull(r.team_id),
  profileId: strOrNull(r.profile_id),
  createdAt: num(r.created_at),
  updatedAt: num(r.updated_at),
  acknowledgedBy: strOrNull(r.acknowledged_by),
  resolvedBy: strOrNull(r.resolved_by),
});

export const ALERT_COLUMNS = [
  'id', 'detector', 'subject', 'severity', 'status', 'summary', 'verdict', 'evidence', 'actions', 'occurrences',
  'agent_id', 'session_id', 'team_id', 'profile_id', 'created_at', 'updated_at', 'acknowledged_by', 'resolved_by',
] as const;

export function alertValues(a: Alert): unknown[] {
  return [
    a.id, a.detector, a.subject, a.severity, a.status, a.summary, a.verdict, JSON.stringify(a.evidence), JSON.stringify(a.actions), a.occurrences,
    a.agentId, a.sessionId, a.teamId, a.profileId, a.createdAt, a.updatedAt, a.acknowledgedBy, a.resolvedBy,
  ];
}

/** The columns an alert filter matches exactly. */
export const alertEquals = (f: { status?: string; severity?: string; detector?: string; agentId?: string; sessionId?: string; subject?: string }) => ({
  status: f.status, severity: f.severity, detector: f.detector, agent_id: f.agentId, session_id: f.sessionId, subject: f.subject,
});

export const rowToOperator = (r: Row): Operator => ({
  id: str(r.id),
  name: str(r.name),
  role: str(r.role) as OperatorRole,
  tokenHash: strOrNull(r.token_hash),
  createdAt: num(r.created_at),
  createdBy: strOrNull(r.created_by),
  disabledAt: numOrNull(r.disabled_at),
});

export const OPERATOR_COLUMNS = ['id', 'name', 'role', 'token_hash', 'created_at', 'created_by', 'disabled_at'] as const;
export const operatorValues = (o: Operator): unknown[] => [o.id, o.name, o.role, o.tokenHash, o.createdAt, o.createdBy, o.disabledAt];

export const rowToCredentialSource = (r: Row): CredentialSource => ({ credentialId: str(r.credential_id), source: str(r.source), firstSeen: num(r.first_seen), lastSeen: num(r.last_seen) });

export const ACCESS_REVIEW_COLUMNS = ['id', 'signed_at', 'signed_by', 'operator', 'window_days', 'findings', 'accepted', 'remediated', 'note'] as const;
export const accessReviewValues = (a: AccessReviewRecord): unknown[] => [
  a.id, a.signedAt, a.signedBy, a.operator ? JSON.stringify(a.operator) : null, a.windowDays, JSON.stringify(a.findings), JSON.stringify(a.accepted), JSON.stringify(a.remediated), a.note,
];
export const rowToAccessReview = (r: Row): AccessReviewRecord => ({
  id: str(r.id),
  signedAt: num(r.signed_at),
  signedBy: str(r.signed_by),
  operator: r.operator === null || r.operator === undefined ? null : json<AccessReviewRecord['operator']>(r.operator),
  windowDays: num(r.window_days),
  findings: json<AccessReviewRecord['findings']>(r.findings),
  accepted: json<string[]>(r.accepted),
  remediated: json<string[]>(r.remediated),
  note: strOrNull(r.note),
});

/** The latest use per credential and per (credential, source) of a batch: what a flush writes. */
export function credentialUseRows(uses: readonly { credentialId: string; at: number; from: string | null }[]) {
  const latest = new Map<string, { at: number; from: string | null }>();
  const sources = new Map<string, { credentialId: string; source: string; first: number; last: number }>();
  for (const u of uses) {
    const l = latest.get(u.credentialId);
    if (!l || u.at >= l.at) latest.set(u.credentialId, { at: u.at, from: u.from });
    const source = u.from ?? 'unknown';
    const key = `${u.credentialId}\u0000${source}`;
    const s = sources.get(key);
    if (!s) sources.set(key, { credentialId: u.credentialId, source, first: u.at, last: u.at });
    else {
      s.first = Math.min(s.first, u.at);
      s.last = Math.max(s.last, u.at);
    }
  }
  return { latest: [...latest].map(([id, l]) => ({ id, ...l })), sources: [...sources.values()] };
}

export const rowToAgentActivity = (r: Row): AgentActivity => ({ agentId: str(r.agent_id), sessions: num(r.sessions), lastSessionAt: numOrNull(r.last_at) });
export const rowToModelActivity = (r: Row): ModelActivity => ({ agentId: str(r.agent_id), profileId: str(r.profile_id), model: str(r.model), calls: num(r.calls), lastAt: num(r.last_at) });
