// The persisted shapes every Store implementation reads and writes. Money is held as integer
// nano-USD (1e-9 USD) so sums are exact and budget checks never depend on float rounding.

export type Timestamp = number; // milliseconds since the epoch, UTC

export interface Budget {
  tokens: number | null;
  usdNano: number | null;
}

export type Period = 'day' | 'month' | 'lifetime';

/** A budget that resets at each period boundary (or never, for `lifetime`). */
export interface PeriodBudget extends Budget {
  period: Period;
}

/** `suspended`: the team's agents may not call, nor get sessions or tokens, until it is resumed. */
export type TeamStatus = 'active' | 'suspended';

export interface Team {
  id: string;
  name: string;
  owner: string | null;
  status: TeamStatus;
  /** The team's budget per period, across all its agents; null: none. */
  budget: PeriodBudget | null;
  createdAt: Timestamp;
}

export type EnforcementMode = 'hard' | 'soft';

/** How a budget is enforced: `hard` refuses at the cap; `soft` also asks a human at a threshold. */
export interface Enforcement {
  mode: EnforcementMode;
  /** Share of the session budget (0..1) at which a soft-mode session needs an approval. */
  threshold: number;
  /** How long a call that needs approval is held waiting for the decision (0: answer 402 at once). */
  holdSeconds: number;
}

/** Data classes, least to most sensitive. */
export type DataSensitivity = 'public' | 'internal' | 'confidential' | 'restricted';

/** What a session may reach over MCP: each a stack of scopes that must all allow a name. */
export interface ToolScopes {
  /** `server/tool` names, and function tools offered in model calls (their plain names). */
  tools: string[][];
  /** `server/uri`. */
  resources: string[][];
  /** `server/name`. */
  prompts: string[][];
  /** Tool calls that need a human approval: a call matched by ANY layer (its profile's or an ancestor's) needs one. */
  approvals?: string[][];
}

export interface ProfileSpec {
  /** Model names or globs (`!` denies). */
  models: string[];
  tools: string[];
  resources: string[];
  prompts: string[];
  /** Tools offered in a model call outside the scope: refuse the call or strip them. */
  toolScope: 'refuse' | 'strip';
  /** Tool calls (`server/tool` globs) that need a human approval. */
  toolApprovals: string[];
  /** Data class of a session that does not say. */
  dataSensitivity: DataSensitivity;
  sessionBudget: { default: Budget; max: Budget };
  sessionTtlSeconds: { default: number; max: number };
  /** A child session of this profile must prove itself with an actor token. */
  requireActorToken: boolean;
  /** Each agent of this profile may spend this much per period; null: no agent-level cap. */
  agentBudget: PeriodBudget | null;
  enforcement: Enforcement;
  /** Requests and tokens per minute, per session and per agent; `{}`: none. */
  rateLimits?: RateLimits;
  /** Content logging (prompts, outputs, tool arguments and results); `off` when absent. */
  contentLogging?: ContentLogging;
  /** What an agent of this profile is expected to do (the detectors' declared baseline). */
  mission?: Mission;
}

/** A profile's declared behaviour; any field left out is learned (or not judged). */
export interface Mission {
  /** Expected spend of one agent, USD per minute. */
  usdPerMinute?: number;
  /** Expected model calls of one agent per minute. */
  callsPerMinute?: number;
  /** Expected share (0..1) of calls that fail upstream. */
  errorRate?: number;
  /** Tools (`server/tool` names or globs) the profile's agents are expected to call. */
  tools?: string[];
  /** Hours of the day (in the budgets' time zone) the agents work: `[from, to)`, `HH:MM`. */
  activeHours?: { from: string; to: string };
  /** Expected length of one task (session), in minutes. */
  sessionMinutes?: number;
  /** Deepest delegation chain expected under a session of this profile (root = 0). */
  maxDelegationDepth?: number;
  /** Most child sessions one session is expected to open. */
  maxFanout?: number;
}

export interface ContentLogging {
  mode: 'off' | 'hash' | 'full';
  retentionDays: number;
}

export const DEFAULT_CONTENT_LOGGING: ContentLogging = { mode: 'off', retentionDays: 30 };

export type ContentKind = 'prompt' | 'output' | 'tool_arguments' | 'tool_result';

/** One captured text, kept apart from the audit chain (table audit_content). */
export interface ContentRecord {
  id: string;
  requestId: string;
  sessionId: string;
  agentId: string;
  kind: ContentKind;
  /** SHA-256 (hex) of the exact, unredacted text. */
  sha256: string;
  /** The redacted text (`full` mode); null in `hash` mode. */
  body: string | null;
  /** How many matches redaction replaced. */
  redactions: number;
  createdAt: number;
}

export interface ContentFilter {
  requestId?: string;
  sessionId?: string;
  limit?: number;
}

export interface RateLimitPair {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
}

export interface RateLimits {
  session?: RateLimitPair;
  agent?: RateLimitPair;
}

export interface Profile extends ProfileSpec {
  id: string;
  name: string;
  createdAt: Timestamp;
}

export type AgentStatus = 'active' | 'suspended' | 'revoked';

export interface Agent {
  id: string;
  name: string;
  teamId: string;
  profileId: string;
  owner: string | null;
  environment: string;
  status: AgentStatus;
  createdAt: Timestamp;
}

/** `suspended`: contained (by an operator or a detector) until an approval resumes it. */
export type SessionStatus = 'active' | 'suspended' | 'closed' | 'revoked';

export interface Spend {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  usdNano: number;
  requests: number;
}

export interface Session {
  id: string;
  agentId: string;
  teamId: string;
  profileId: string;
  parentId: string | null;
  task: string;
  budget: Budget;
  /** Models this session may call (already narrowed to the profile's). */
  models: string[];
  /** Tools, resources and prompts this session may reach (its profile's, its parents', its own narrowing). */
  scopes: ToolScopes;
  /** Request context given at open (environment, data sensitivity, intended action…). */
  context: Record<string, unknown>;
  status: SessionStatus;
  createdAt: Timestamp;
  expiresAt: Timestamp;
  spent: Spend;
  /** Session ids from the root of the delegation tree down to this one (itself last). */
  chain: string[];
  /** Overrides the profile's enforcement for this session; null: the profile's. */
  enforcement: Enforcement | null;
}

export interface Usage {
  /** All input tokens, cached ones included. */
  inputTokens: number;
  /** All output tokens, reasoning included. */
  outputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
}

/** `tool_blocked`: the model's answer called a tool outside the session's scope and was withheld (still charged). */
/** `revoked`: cut in flight because its caller was revoked or suspended (what was delivered is charged). */
export type UsageOutcome = 'ok' | 'upstream_error' | 'stream_cut' | 'client_aborted' | 'refused' | 'reconciled' | 'tool_blocked' | 'revoked';

/** One metered call: the spend line that chargeback sums and investigation reads. */
export interface UsageRecord extends Usage {
  id: string;
  requestId: string;
  sessionId: string;
  agentId: string;
  teamId: string;
  profileId: string;
  /** The model the agent asked for, and the provider that served it. */
  model: string;
  provider: string;
  api: string;
  stream: boolean;
  costUsdNano: number;
  /** True when usage was counted by Tollgate's tokenizer because the upstream reported none. */
  estimated: boolean;
  outcome: UsageOutcome;
  httpStatus: number;
  latencyMs: number;
  createdAt: Timestamp;
  /** The session's delegation chain, root first (the session itself last). */
  chain: string[];
}

export interface SigningKey {
  kid: string;
  alg: string;
  privateJwk: string;
  publicJwk: string;
  createdAt: Timestamp;
  retiredAt: Timestamp | null;
}

/**
 * A hold for a call in flight, written before the call's spend line. Its id is the id the spend
 * line will have: recording the line removes the hold in the same transaction, so a hold left
 * behind means the process died mid-call, and reconciling it (charging the held worst case as an
 * estimated line with the same id) can never charge a call twice.
 */
export interface PendingReservation {
  id: string;
  requestId: string;
  sessionId: string;
  agentId: string;
  teamId: string;
  profileId: string;
  model: string;
  provider: string;
  api: string;
  stream: boolean;
  promptTokens: number;
  outputTokens: number;
  usdNano: number;
  chain: string[];
  createdAt: Timestamp;
  /** After this the call cannot still be running (its upstream timeout has passed). */
  expiresAt: Timestamp;
}

/** A client secret issued to an agent. Only a keyed hash of the secret is stored. */
export interface Credential {
  id: string;
  agentId: string;
  /** HMAC-SHA256 of the secret under the gateway's credential key, hex. */
  hash: string;
  createdAt: Timestamp;
  expiresAt: Timestamp | null;
  revokedAt: Timestamp | null;
  lastUsedAt: Timestamp | null;
  lastUsedFrom: string | null;
}

export interface RevokedToken {
  jti: string;
  /** When the token would have expired anyway; the entry can be dropped after. */
  expiresAt: Timestamp;
  revokedAt: Timestamp;
}

/** One thing that happened, with who did it and what it touched. */
export interface AuditEvent {
  id: string;
  time: Timestamp;
  /** Dotted type, e.g. `token.issued`, `auth.denied`, `session.revoked`. */
  type: string;
  /** Who acted: `admin`, `agent:<id>`, `system`, or `anonymous`. */
  actor: string;
  requestId: string | null;
  agentId: string | null;
  sessionId: string | null;
  teamId: string | null;
  chain: string[] | null;
  data: Record<string, unknown>;
}

/**
 * An audit event as the tamper-evident chain holds it: its position (`seq`, gap-free from the
 * chain's first event) and the SHA-256 links (`eventHash` in store/chain.ts). Events written
 * before the chain existed have null hashes.
 */
export interface ChainedEvent extends AuditEvent {
  seq: number;
  prevHash: string | null;
  hash: string | null;
}

/** An event on the chain as stored, `chain` and `data` as their stored canonical JSON texts. */
export interface ChainRecord {
  seq: number;
  id: string;
  time: Timestamp;
  type: string;
  actor: string;
  requestId: string | null;
  agentId: string | null;
  sessionId: string | null;
  teamId: string | null;
  chainJson: string | null;
  dataJson: string;
  prevHash: string | null;
  hash: string | null;
}

/** Where the chain starts and where it ends now (the last event's seq and hash). */
export interface ChainHead {
  /** Seq of the first chained event (events before it predate the chain). */
  firstSeq: number;
  /** Seq of the last event; firstSeq - 1 while the chain is empty. */
  lastSeq: number;
  /** Hash of the last event; GENESIS_HASH while the chain is empty. */
  lastHash: string;
}

/** A signed statement by the gateway: the chain passed through `lastHash` at `lastSeq`. */
export interface AuditCheckpoint {
  id: string;
  lastSeq: number;
  lastHash: string;
  time: Timestamp;
  /** Signing key id (the JWS header's `kid`). */
  kid: string;
  /** Compact JWS (EdDSA) of `{ last_seq, last_hash, time }`: the only part verification trusts. */
  jws: string;
}

export type ApprovalStatus = 'pending' | 'approved' | 'denied';

/** A step-up request: a soft-mode session crossed its threshold and a human must decide. */
/** `budget`: a soft-mode step-up; `tool`: one tool call with these exact arguments. */
/** `resume`: a suspended session waits for a human to let it go on (approve) or end it (deny). */
export type ApprovalKind = 'budget' | 'tool' | 'resume';

export interface Approval {
  id: string;
  kind: ApprovalKind;
  sessionId: string;
  agentId: string;
  teamId: string;
  status: ApprovalStatus;
  createdAt: Timestamp;
  decidedAt: Timestamp | null;
  decidedBy: string | null;
  reason: string | null;
  /** Budget added to the session when approved. */
  extraBudget: Budget;
  /** What the requester saw: spend, budget, threshold, the call that crossed it (or the tool and its arguments). */
  context: Record<string, unknown>;
  /** When an approved tool call used it (tool approvals are single-use); null: not yet. */
  consumedAt: Timestamp | null;
}

export const ZERO_SPEND: Readonly<Spend> = Object.freeze({
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
  usdNano: 0,
  requests: 0,
});

export type AlertSeverity = 'info' | 'warning' | 'critical';
export type AlertStatus = 'open' | 'acknowledged' | 'resolved';
/** Where a spend alert points the security team first (docs/detection.md#triage). */
export type TriageVerdict = 'legitimate_throughput' | 'prompt_loop' | 'lateral_tool_misuse';

/** One thing done about an alert: recorded, notified, throttled, suspended, revoked. */
export interface AlertAction {
  action: string;
  at: Timestamp;
  detail?: Record<string, unknown>;
}

/**
 * A detector's finding about one subject (an agent, a session, a source address). While it is
 * not resolved, further findings on the same subject update it instead of raising another.
 */
export interface Alert {
  id: string;
  detector: string;
  /** What the alert is about (`agent:…`, `session:…`, `source:…`): one unresolved alert per detector and subject. */
  subject: string;
  severity: AlertSeverity;
  status: AlertStatus;
  summary: string;
  verdict: TriageVerdict | null;
  /** Counts, rates, baselines and examples (prompts by hash only) that led to the finding. */
  evidence: Record<string, unknown>;
  actions: AlertAction[];
  /** How many findings this alert gathers. */
  occurrences: number;
  agentId: string | null;
  sessionId: string | null;
  teamId: string | null;
  profileId: string | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
  acknowledgedBy: string | null;
  resolvedBy: string | null;
}

/** What an operator may do; each role includes the ones before it (docs/operators.md). */
export const OPERATOR_ROLES = ['viewer', 'approver', 'operator', 'admin'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

/** A named human who runs Tollgate: admin-API calls and dashboard actions are attributed to them. */
export interface Operator {
  id: string;
  name: string;
  role: OperatorRole;
  /** HMAC-SHA256 of the operator's token (hex); null for operators who only sign in by OIDC. */
  tokenHash: string | null;
  createdAt: Timestamp;
  /** The actor who created it (`operator:<id>`, `admin`). */
  createdBy: string | null;
  disabledAt: Timestamp | null;
}

/** One use of a client secret (a token request), as the credential service batches them. */
export interface CredentialUse {
  credentialId: string;
  at: Timestamp;
  /** The caller's address (or workload identity); null when unknown. */
  from: string | null;
}

/** Where a client secret was used from: one row per credential and source. */
export interface CredentialSource {
  credentialId: string;
  source: string;
  firstSeen: Timestamp;
  lastSeen: Timestamp;
}

/** Per agent: sessions opened since a time, and the latest ever opened. */
export interface AgentActivity {
  agentId: string;
  sessions: number;
  lastSessionAt: Timestamp | null;
}

/** Per agent and model: metered calls since a time. */
export interface ModelActivity {
  agentId: string;
  profileId: string;
  model: string;
  calls: number;
  lastAt: Timestamp;
}

/** A finding as a signed-off review kept it. */
export interface ReviewedFinding {
  id: string;
  kind: string;
  severity: string;
  summary: string;
}

/** An access review signed off by an operator (docs/access-review.md#sign-off). */
export interface AccessReviewRecord {
  id: string;
  signedAt: Timestamp;
  /** The actor (`operator:<id>` or `admin`). */
  signedBy: string;
  operator: { id: string; name: string; role: OperatorRole } | null;
  windowDays: number;
  /** The findings open when it was signed. */
  findings: ReviewedFinding[];
  /** Finding ids accepted as they are (a reason to keep the access). */
  accepted: string[];
  /** Finding ids whose remedy was applied (revoked, suspended) in this review. */
  remediated: string[];
  note: string | null;
}
