// What the stages of one model call share: the request, what each stage learned, and the
// services they use. Stages read and fill in the context in pipeline order.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { BudgetLedger, Reservation } from '../budget/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Directory, RevocationList, TokenClaims, TokenService } from '../identity/index.js';
import type { ApiAdapter, CanonicalCall } from '../providers/apis/index.js';
import type { ModelRoute, ProviderRegistry } from '../providers/registry.js';
import type { Agent, GroupCommit, Session, UsageRecord } from '../store/index.js';
import type { SharedCredentialWatch } from './shared-credentials.js';

export interface PipelineDeps {
  tokens: TokenService;
  revocations: RevocationList;
  sharedCredentials: SharedCredentialWatch;
  audit: AuditLog;
  directory: Directory;
  ledger: BudgetLedger;
  providers: ProviderRegistry;
  usage: GroupCommit<UsageRecord>;
  logger: Logger;
  bodyLimitBytes: number;
  logRequests: boolean;
  now: () => number;
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
  /** The parsed request body; rewritten in place for the upstream. */
  body?: Record<string, unknown>;
  call?: CanonicalCall;
  route?: ModelRoute;
  reservation?: Reservation;
  /** Output limit imposed on the upstream request, when Tollgate set one. */
  outputCap?: number;
  /** True when that limit is below what the client asked for. */
  clamped?: boolean;
  /** Remaining session budget when the answer's headers were sent (not counting this call). */
  remaining?: { tokens: number | null; usdNano: number | null };
}
