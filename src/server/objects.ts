// Creating teams, profiles and agents from their declared form, whether they come from the
// configuration file (applied idempotently at start) or from the admin API (409 on a duplicate).
import type { AgentConfig, BudgetConfig, Config, EnforcementConfig, MissionConfig, PeriodBudgetConfig, ProfileConfig, TeamConfig } from '../config/index.js';
import { GatewayError } from '../errors/index.js';
import { isPattern, scopeProblems } from '../policy/scope.js';
import { usdToNano } from '../providers/pricing.js';
import type { Agent, Budget, Enforcement, Mission, OnExisting, PeriodBudget, Profile, RateLimits, Store, Team } from '../store/index.js';

const budget = (b: BudgetConfig | undefined): Budget => ({
  tokens: b?.tokens ?? null,
  usdNano: b?.usd === undefined ? null : usdToNano(b.usd),
});

export const periodBudget = (b: PeriodBudgetConfig | undefined): PeriodBudget | null => (b ? { ...budget(b), period: b.period } : null);

export const enforcement = (e: EnforcementConfig): Enforcement => ({ mode: e.mode, threshold: e.soft_threshold, holdSeconds: e.approval_hold_seconds });

type RateLimitsConfig = NonNullable<ProfileConfig['rate_limits']>;
const rateLimitPair = (r: RateLimitsConfig['session']) =>
  r && { requestsPerMinute: r.requests_per_minute, tokensPerMinute: r.tokens_per_minute };
const rateLimits = (r: ProfileConfig['rate_limits']): RateLimits => ({ session: rateLimitPair(r?.session), agent: rateLimitPair(r?.agent) });

const mission = (m: MissionConfig): Mission => ({
  usdPerMinute: m.usd_per_minute, callsPerMinute: m.calls_per_minute, errorRate: m.error_rate, tools: m.tools, activeHours: m.active_hours,
  sessionMinutes: m.session_minutes, maxDelegationDepth: m.max_delegation_depth, maxFanout: m.max_fanout,
});

export function putTeam(store: Store, t: TeamConfig, onExisting: OnExisting): Promise<Team> {
  return store.putTeam({ name: t.name, owner: t.owner ?? null, budget: periodBudget(t.budget) }, onExisting);
}

export function putProfile(store: Store, p: ProfileConfig, onExisting: OnExisting, knownModels: (name: string) => boolean): Promise<Profile> {
  const unknown = p.models.filter((m) => !isPattern(m) && !knownModels(m));
  if (unknown.length > 0) throw new GatewayError('invalid_request', `unknown models: ${unknown.join(', ')}`, { param: 'models' });
  for (const key of ['models', 'tools', 'resources', 'prompts', 'tool_approvals'] as const) {
    const problems = scopeProblems(p[key]);
    if (problems.length > 0) throw new GatewayError('invalid_request', `${key}: ${problems.join('; ')}`, { param: key });
  }
  if (p.session_ttl_seconds.default > p.session_ttl_seconds.max) {
    throw new GatewayError('invalid_request', 'session_ttl_seconds.default is above max', { param: 'session_ttl_seconds' });
  }
  for (const unit of ['usd', 'tokens'] as const) {
    const [given, most] = [p.session_budget.default?.[unit], p.session_budget.max?.[unit]];
    if (given !== undefined && most !== undefined && given > most) {
      throw new GatewayError('invalid_request', `session_budget.default.${unit} is above session_budget.max.${unit}`, { param: `session_budget.default.${unit}` });
    }
  }
  return store.putProfile(
    {
      name: p.name,
      models: [...new Set(p.models)],
      sessionBudget: { default: budget(p.session_budget.default), max: budget(p.session_budget.max) },
      sessionTtlSeconds: { default: p.session_ttl_seconds.default, max: p.session_ttl_seconds.max },
      requireActorToken: p.require_actor_token,
      agentBudget: periodBudget(p.agent_budget),
      enforcement: enforcement(p.enforcement),
      rateLimits: rateLimits(p.rate_limits),
      tools: [...new Set(p.tools)],
      resources: [...new Set(p.resources)],
      prompts: [...new Set(p.prompts)],
      toolScope: p.tool_scope,
      toolApprovals: [...new Set(p.tool_approvals)],
      dataSensitivity: p.data_sensitivity,
      contentLogging: { mode: p.content_logging.mode, retentionDays: p.content_logging.retention_days },
      ...(p.mission ? { mission: mission(p.mission) } : {}),
    },
    onExisting,
  );
}

export async function putAgent(store: Store, a: AgentConfig, onExisting: OnExisting): Promise<Agent> {
  const team = await store.getTeam(a.team);
  if (!team) throw new GatewayError('invalid_request', `unknown team "${a.team}"`, { param: 'team' });
  const profile = await store.getProfile(a.profile);
  if (!profile) throw new GatewayError('invalid_request', `unknown profile "${a.profile}"`, { param: 'profile' });
  return store.putAgent({ name: a.name, teamId: team.id, profileId: profile.id, owner: a.owner ?? null, environment: a.environment }, onExisting);
}

/** Applies the objects the configuration file declares; running it twice changes nothing. */
export async function applyDeclaredObjects(store: Store, config: Config): Promise<void> {
  const models = new Set(config.models.map((m) => m.name));
  for (const t of config.teams) await putTeam(store, t, 'update');
  for (const p of config.profiles) await putProfile(store, p, 'update', (m) => models.has(m));
  for (const a of config.agents) await putAgent(store, a, 'update');
}
