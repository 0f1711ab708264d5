// JSON views of stored objects for the admin API (snake_case, USD as numbers, times as ISO 8601).
import type { Remaining } from '../budget/index.js';
import { nanoToUsd } from '../providers/pricing.js';
import type { ModelRoute } from '../providers/registry.js';
import type { Agent, Budget, Profile, Session, Team, UsageRecord } from '../store/index.js';

const iso = (ms: number) => new Date(ms).toISOString();
const usd = (nano: number | null) => (nano === null ? null : nanoToUsd(nano));

export const budgetView = (b: Budget) => ({ tokens: b.tokens, usd: usd(b.usdNano) });

export const teamView = (t: Team) => ({ id: t.id, name: t.name, owner: t.owner, created_at: iso(t.createdAt) });

export const profileView = (p: Profile) => ({
  id: p.id,
  name: p.name,
  models: p.models,
  session_budget: { default: budgetView(p.sessionBudget.default), max: budgetView(p.sessionBudget.max) },
  session_ttl_seconds: p.sessionTtlSeconds,
  created_at: iso(p.createdAt),
});

export const agentView = (a: Agent, names?: { team?: Team | null; profile?: Profile | null }) => ({
  id: a.id,
  name: a.name,
  team: names?.team ? { id: a.teamId, name: names.team.name } : { id: a.teamId },
  profile: names?.profile ? { id: a.profileId, name: names.profile.name } : { id: a.profileId },
  owner: a.owner,
  environment: a.environment,
  status: a.status,
  created_at: iso(a.createdAt),
});

export function sessionStatus(s: Session, now: number): string {
  return s.status === 'active' && s.expiresAt <= now ? 'expired' : s.status;
}

export const sessionView = (
  s: Session,
  now: number,
  extra: { agent?: Agent | null; team?: Team | null; remaining?: Remaining } = {},
) => ({
  id: s.id,
  status: sessionStatus(s, now),
  task: s.task,
  agent: { id: s.agentId, ...(extra.agent ? { name: extra.agent.name } : {}) },
  team: { id: s.teamId, ...(extra.team ? { name: extra.team.name } : {}) },
  profile: { id: s.profileId },
  parent_id: s.parentId,
  models: s.models,
  context: s.context,
  budget: budgetView(s.budget),
  spent: {
    input_tokens: s.spent.inputTokens,
    output_tokens: s.spent.outputTokens,
    cached_input_tokens: s.spent.cachedInputTokens,
    cache_write_tokens: s.spent.cacheWriteTokens,
    reasoning_tokens: s.spent.reasoningTokens,
    total_tokens: s.spent.inputTokens + s.spent.outputTokens,
    usd: nanoToUsd(s.spent.usdNano),
    requests: s.spent.requests,
  },
  ...(extra.remaining ? { remaining: { tokens: extra.remaining.tokens, usd: usd(extra.remaining.usdNano) } } : {}),
  created_at: iso(s.createdAt),
  expires_at: iso(s.expiresAt),
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
  created_at: iso(u.createdAt),
});

export const modelView = (m: ModelRoute) => ({
  name: m.name,
  provider: m.provider.name,
  upstream_model: m.upstreamModel,
  price_per_million: { input: m.price.input, output: m.price.output, cached_input: m.price.cachedInput, cache_write: m.price.cacheWrite },
  max_output_tokens: m.maxOutputTokens,
});
