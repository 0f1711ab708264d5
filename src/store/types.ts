// The persisted shapes every Store implementation reads and writes. Money is held as integer
// nano-USD (1e-9 USD) so sums are exact and budget checks never depend on float rounding.

export type Timestamp = number; // milliseconds since the epoch, UTC

export interface Budget {
  tokens: number | null;
  usdNano: number | null;
}

export interface Team {
  id: string;
  name: string;
  owner: string | null;
  createdAt: Timestamp;
}

export interface ProfileSpec {
  models: string[];
  sessionBudget: { default: Budget; max: Budget };
  sessionTtlSeconds: { default: number; max: number };
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

export type SessionStatus = 'active' | 'closed' | 'revoked';

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
  /** Request context given at open (environment, data sensitivity, intended action…). */
  context: Record<string, unknown>;
  status: SessionStatus;
  createdAt: Timestamp;
  expiresAt: Timestamp;
  spent: Spend;
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

export type UsageOutcome = 'ok' | 'upstream_error' | 'stream_cut' | 'client_aborted' | 'refused';

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
}

export interface SigningKey {
  kid: string;
  alg: string;
  privateJwk: string;
  publicJwk: string;
  createdAt: Timestamp;
  retiredAt: Timestamp | null;
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
