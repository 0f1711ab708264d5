// What the stages of one model call share: the request, what each stage learned, and the
// services they use. Stages read and fill in the context in pipeline order.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Account, ApprovalService, Journal, Ledger, RateAdmission, RateLimit, RateLimiter, Remaining, Reservation } from '../budget/index.js';
import type { Fingerprinter } from '../detect/fingerprint.js';
import type { AuditLog } from '../audit/index.js';
import type { ContentLog } from '../audit/content.js';
import type { Directory, RevocationList, TokenClaims, TokenService } from '../identity/index.js';
import type { ApiAdapter, CanonicalCall } from '../providers/apis/index.js';
import type { ModelRoute, ProviderRegistry } from '../providers/registry.js';
import type { Agent, Enforcement, Profile, Session } from '../store/index.js';
import type { SharedCredentialWatch } from './shared-credentials.js';
import type { RefusalLog } from './refusals.js';
import type { SessionConcurrency } from './concurrency.js';
import type { InFlightCalls } from './in-flight.js';
import { CallAbort } from './call-abort.js';
import type { Authorizer, PolicyDecision, ToolGate } from '../policy/index.js';
import type { StageTimes, Telemetry } from '../telemetry/index.js';
import type { ProviderTrouble } from './provider-trouble.js';

export interface PipelineDeps {
  tokens: TokenService;
  /** Tells the operator of a provider failing calls (a refused key, out of reach, too slow). */
  providerTrouble: ProviderTrouble;
  /** Judges and records tool calls (MCP, and tool calls models return). */
  tools: ToolGate;
  /** The policy engine's front (every model call is judged by it). */
  authorizer: Authorizer;
  revocations: RevocationList;
  sharedCredentials: SharedCredentialWatch;
  audit: AuditLog;
  /** `model.refused` events for calls refused after authentication. */
  refusals: RefusalLog;
  directory: Directory;
  ledger: Ledger;
  approvals: ApprovalService;
  /** Time zone of day and month budget periods. */
  timeZone: string;
  rateLimiter: RateLimiter;
  providers: ProviderRegistry;
  /** The spend journal: reservations and spend lines, in order, group-committed. */
  usage: Journal;
  logger: Logger;
  /** Metrics and traces (no-ops unless configured). */
  telemetry: Telemetry;
  /** Per-stage timers (always on; see telemetry/stages.ts). */
  stages: StageTimes;
  /** Keyed fingerprint of a prompt's text (recorded on `model.call` for the retry-loop detector). */
  fingerprint?: Fingerprinter;
  /** Throttles detectors imposed on sessions (checked by the rate-limit stage). */
  containment?: { throttleFor(sessionId: string, agentId: string): RateLimit | null };
  /** Content logging (prompts and outputs), per the session's profile `content_logging`. */
  content?: ContentLog;
  bodyLimitBytes: number;
  /** Deepest JSON nesting accepted in a request body (`server.max_json_depth`). */
  maxJsonDepth: number;
  /** Longest an upstream answer is relayed, ms (`server.stream_max_seconds`). */
  streamMaxMs: number;
  /** Calls in flight per session, against `server.max_concurrent_calls_per_session`. */
  concurrency: SessionConcurrency;
  /** Calls in flight, cut when their caller is revoked. */
  runningCalls: InFlightCalls;
  /** Where the one line per request goes (`server.log_requests`), or null for none. */
  requestLog: Logger | null;
  /**
   * What must be on disk before the end of an answer is released (`storage.answer_after`):
   * `hold` — the call's worst-case hold (its exact line and events follow in the next group
   * commit); `line` — its exact spend line and audit events.
   */
  answerAfter: 'hold' | 'line';
  now: () => number;
}

/** A call's prompt as its records hold it: the text content logging keeps, the retry-loop fingerprint. */
export interface PromptRecord {
  /** The prompt as JSON text ('' when neither content logging nor the fingerprint needs it). */
  text: string;
  /** Pending while a long prompt's is made in slices (settle.ts `preparePromptRecord`). */
  fingerprint: string | Promise<string | null> | null;
}

export interface CallContext {
  readonly requestId: string;
  readonly startedAt: number;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly adapter: ApiAdapter;
  claims?: TokenClaims;
  session?: Session;
  agent?: Agent;
  /** The policy decision that allowed the call (carried by its `model.call` event). */
  policy?: PolicyDecision;
  /** The session's profile (null if it vanished from the store). */
  profile?: Profile | null;
  /** The parsed request body; rewritten in place for the upstream. */
  body?: Record<string, unknown>;
  call?: CanonicalCall;
  /** The prompt's token upper bound (see parse.ts `promptUpperBound`). */
  promptUpperBound?: number;
  route?: ModelRoute;
  reservation?: Reservation;
  /** Prompt tokens counted into the hold (the rest of the hold is output). */
  heldPromptTokens?: number;
  /** Id of this call's spend line, given to its reservation when it is journaled. */
  usageId?: string;
  /** Resolves true once the call's hold is on disk (false if that write failed). */
  holdDurable?: Promise<boolean>;
  /** The session the verified token named, whether or not it may call (telemetry labels a refusal with it). */
  tokenSession?: Session;
  /** What stops the call's upstream request: the client leaving, a deadline, a revocation. */
  abort: CallAbort;
  /** The store failed its last write: this call goes upstream only once its hold is on disk (`WriteQueue.admission`). */
  holdFirst: boolean;
  /** What the rate limiter admitted (its token estimate is corrected at settle). */
  rateAdmission?: RateAdmission;
  /** Output limit imposed on the upstream request, when Tollgate set one. */
  outputCap?: number;
  /** True when that limit is below what the client asked for. */
  clamped?: boolean;
  /** Budget accounts that apply: the session's, then its agent's and team's for this period. */
  accounts?: Account[];
  enforcement?: Enforcement | null;
  /** Remaining budget across the levels before this call, and the level that binds. */
  remaining?: Remaining;
  /** 1-based attempt number when the model has fallbacks (`model.call` events carry it). */
  attempt?: number;
  /** Tools the model's answer called (recorded on the call's `model.call` event). */
  toolCalls?: string[];
  /** Offered tools removed from the upstream request (profile `tool_scope: strip`). */
  toolsStripped?: string[];
  /** The prompt as the call's records hold it (settle.ts `preparePromptRecord`), once made. */
  promptRecord?: PromptRecord;
  /** performance.now() when the request went upstream, and when the upstream's headers came back. */
  forwardedAt?: number;
  upstreamAt?: number;
  /** performance.now() at the end of the last timed stage (telemetry/stages.ts). */
  lapAt?: number;
}

/**
 * A call's context with every field present from the start (unset ones undefined): one object
 * shape for the whole pipeline, its fields in the object itself, instead of a shape change and a
 * property-store reallocation each time a stage adds one.
 */
export function newCallContext(requestId: string, req: IncomingMessage, res: ServerResponse, adapter: ApiAdapter): CallContext {
  return {
    requestId, startedAt: performance.now(), req, res, adapter, abort: new CallAbort(),
    claims: undefined, session: undefined, agent: undefined, policy: undefined, profile: undefined,
    body: undefined, call: undefined, promptUpperBound: undefined, route: undefined,
    reservation: undefined, heldPromptTokens: undefined, usageId: undefined, holdDurable: undefined, tokenSession: undefined, holdFirst: false,
    rateAdmission: undefined, outputCap: undefined, clamped: undefined, accounts: undefined,
    enforcement: undefined, remaining: undefined, attempt: undefined, toolCalls: undefined,
    toolsStripped: undefined, promptRecord: undefined, forwardedAt: undefined, upstreamAt: undefined, lapAt: undefined,
  };
}
