// JSON views of stored objects for the admin API (snake_case, USD as numbers, times as ISO 8601).
import type { Remaining } from '../budget/index.js';
import { nanoToUsd } from '../providers/pricing.js';
import type { ModelRoute } from '../providers/registry.js';
import type { Agent, Approval, AuditEvent, Budget, Credential, Enforcement, Mission, PeriodBudget, Profile, RateLimitPair, RateLimits, Session, Spend, Team, UsageRecord } from '../store/index.js';
import { isoTime, isoTimeOrNull } from '../util/time.js';

/** A session's tags as stored in its context ({} when none). */
function tagsOf(s: Session): Record<string, string> {
  const t = s.context.tags;
  if (!t || typeof t !== 'object' || Array.isArray(t)) return {};
  return Object.fromEntries(Object.entries(t).filter((e): e is [string, string] => typeof e[1] === 'string'));
}
const usd = (nano: number | null) => (nano === null ? null : nanoToUsd(nano));

export const budgetView = (b: Budget) => ({ tokens: b.tokens, usd: usd(b.usdNano) });

const periodBudgetView = (b: PeriodBudget | null) => (b ? { ...budgetView(b), period: b.period } : null);
const enforcementView = (e: Enforcement) => ({ mode: e.mode, soft_threshold: e.threshold, approval_hold_seconds: e.holdSeconds });

export const teamView = (t: Team) => ({ id: t.id, name: t.name, owner: t.owner, status: t.status, budget: periodBudgetView(t.budget), created_at: isoTime(t.createdAt) });

/** `agent`, when known, names the approval's agent (`agent_name`). */
export const approvalView = (a: Approval, agent?: Agent | null) => ({
  id: a.id,
  kind: a.kind,
  status: a.status,
  session_id: a.sessionId,
  agent_id: a.agentId,
  ...(agent ? { agent_name: agent.name } : {}),
  team_id: a.teamId,
  created_at: isoTime(a.createdAt),
  decided_at: isoTimeOrNull(a.decidedAt),
  decided_by: a.decidedBy,
  reason: a.reason,
  extra_budget: budgetView(a.extraBudget),
  context: a.context,
  /** A tool approval's single use. */
  consumed_at: isoTimeOrNull(a.consumedAt),
});

const rateLimitPairView = (r: RateLimitPair | undefined) =>
  r && { requests_per_minute: r.requestsPerMinute ?? null, tokens_per_minute: r.tokensPerMinute ?? null };
const rateLimitsView = (r: RateLimits) => ({ session: rateLimitPairView(r.session) ?? null, agent: rateLimitPairView(r.agent) ?? null });

export const profileView = (p: Profile) => ({
  id: p.id,
  name: p.name,
  models: p.models,
  tools: p.tools,
  resources: p.resources,
  prompts: p.prompts,
  tool_scope: p.toolScope,
  tool_approvals: p.toolApprovals,
  data_sensitivity: p.dataSensitivity,
  session_budget: { default: budgetView(p.sessionBudget.default), max: budgetView(p.sessionBudget.max) },
  session_ttl_seconds: p.sessionTtlSeconds,
  require_actor_token: p.requireActorToken,
  agent_budget: periodBudgetView(p.agentBudget),
  enforcement: enforcementView(p.enforcement),
  rate_limits: rateLimitsView(p.rateLimits ?? {}),
  content_logging: { mode: p.contentLogging?.mode ?? 'off', retention_days: p.contentLogging?.retentionDays ?? 30 },
  mission: p.mission ? missionView(p.mission) : null,
  created_at: isoTime(p.createdAt),
});

const missionView = (m: Mission) => ({
  usd_per_minute: m.usdPerMinute ?? null, calls_per_minute: m.callsPerMinute ?? null, error_rate: m.errorRate ?? null, tools: m.tools ?? null,
  active_hours: m.activeHours ?? null, session_minutes: m.sessionMinutes ?? null, max_delegation_depth: m.maxDelegationDepth ?? null, max_fanout: m.maxFanout ?? null,
});

export { alertJson as alertView } from '../detect/view.js';

export const agentView = (a: Agent, names?: { team?: Team | null; profile?: Profile | null }) => ({
  id: a.id,
  name: a.name,
  team: names?.team ? { id: a.teamId, name: names.team.name } : { id: a.teamId },
  profile: names?.profile ? { id: a.profileId, name: names.profile.name } : { id: a.profileId },
  owner: a.owner,
  environment: a.environment,
  status: a.status,
  created_at: isoTime(a.createdAt),
});

export function sessionStatus(s: Session, now: number): string {
  return s.status === 'active' && s.expiresAt <= now ? 'expired' : s.status;
}

export const spendView = (s: Spend) => ({
  input_tokens: s.inputTokens,
  output_tokens: s.outputTokens,
  cached_input_tokens: s.cachedInputTokens,
  cache_write_tokens: s.cacheWriteTokens,
  reasoning_tokens: s.reasoningTokens,
  total_tokens: s.inputTokens + s.outputTokens,
  usd: nanoToUsd(s.usdNano),
  requests: s.requests,
});

/** The spend of a whole delegation subtree. */
export function rollup(sessions: Session[]): Spend {
  const total = { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, usdNano: 0, requests: 0 };
  for (const s of sessions) for (const k of Object.keys(total) as (keyof Spend)[]) total[k] += s.spent[k];
  return total;
}

export const credentialView = (c: Credential, now: number) => ({
  id: c.id,
  client_id: c.agentId,
  status: c.revokedAt !== null ? 'revoked' : c.expiresAt !== null && c.expiresAt <= now ? 'expired' : 'active',
  created_at: isoTime(c.createdAt),
  expires_at: isoTimeOrNull(c.expiresAt),
  revoked_at: isoTimeOrNull(c.revokedAt),
  last_used_at: isoTimeOrNull(c.lastUsedAt),
  last_used_from: c.lastUsedFrom,
});

export const eventView = (e: AuditEvent) => ({
  id: e.id,
  time: isoTime(e.time),
  type: e.type,
  actor: e.actor,
  request_id: e.requestId,
  agent_id: e.agentId,
  session_id: e.sessionId,
  team_id: e.teamId,
  chain: e.chain,
  data: e.data,
});

export const sessionView = (
  s: Session,
  now: number,
  extra: { agent?: Agent | null; team?: Team | null; remaining?: Remaining; reserved?: { tokens: number; usdNano: number } } = {},
) => ({
  id: s.id,
  status: sessionStatus(s, now),
  task: s.task,
  agent: { id: s.agentId, ...(extra.agent ? { name: extra.agent.name } : {}) },
  team: { id: s.teamId, ...(extra.team ? { name: extra.team.name } : {}) },
  profile: { id: s.profileId },
  parent_id: s.parentId,
  chain: s.chain,
  depth: s.chain.length - 1,
  models: s.models,
  /** Each a stack of scopes; a name must be allowed by every one. */
  scopes: s.scopes,
  context: s.context,
  /** Business-context tags (also in `context.tags`): {} when none. */
  tags: tagsOf(s),
  budget: budgetView(s.budget),
  enforcement: s.enforcement ? enforcementView(s.enforcement) : null,
  spent: spendView(s.spent),
  ...(extra.reserved ? { reserved: { tokens: extra.reserved.tokens, usd: usd(extra.reserved.usdNano) } } : {}),
  ...(extra.remaining ? { remaining: { tokens: extra.remaining.tokens, usd: usd(extra.remaining.usdNano) } } : {}),
  created_at: isoTime(s.createdAt),
  expires_at: isoTime(s.expiresAt),
});

export const usageView = (u: UsageRecord) => ({
  id: u.id,
  request_id: u.requestId,
  session_id: u.sessionId,
  agent_id: u.agentId,
  team_id: u.teamId,
  profile_id: u.profileId,
  model: u.model,
  provider: u.provider,
  api: u.api,
  stream: u.stream,
  input_tokens: u.inputTokens,
  output_tokens: u.outputTokens,
  cached_input_tokens: u.cachedInputTokens,
  cache_write_tokens: u.cacheWriteTokens,
  reasoning_tokens: u.reasoningTokens,
  cost_usd: nanoToUsd(u.costUsdNano),
  estimated: u.estimated,
  outcome: u.outcome,
  http_status: u.httpStatus,
  latency_ms: u.latencyMs,
  chain: u.chain,
  created_at: isoTime(u.createdAt),
});

export const modelView = (m: ModelRoute) => ({
  name: m.name,
  provider: m.provider.name,
  upstream_model: m.upstreamModel,
  // Tiered rates (by the request's input tokens) are shown as `{ base, tiers }`; null: unpriced.
  price_per_million: m.price.known ? { input: m.price.input, output: m.price.output, cached_input: m.price.cachedInput, cache_write: m.price.cacheWrite } : null,
  price_source: m.price.source,
  max_output_tokens: m.maxOutputTokens,
  fallbacks: m.fallbacks.map((f) => f.name),
});
