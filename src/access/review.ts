// Access review: least privilege you can see. For every agent — its owner, team, profile, status,
// credentials (age, expiry, last use, from where) and sessions — and for every profile, what it
// grants against what its sessions actually called in the review window. Privilege that piles up
// silently becomes findings, each with a severity, an OWASP NHI reference where one applies, and
// a remedy: one the gateway can apply (revoke, suspend) or one it can only suggest (a narrower
// profile as a diff, per-workload secrets, workload federation). See docs/access-review.md.
import { globMatch, isPattern } from '../policy/scope.js';
import type { AccessReviewRecord, Agent, Credential, CredentialSource, Profile, Store, Team } from '../store/index.js';
import { isoTime, isoTimeOrNull } from '../util/time.js';

export interface ReviewSettings {
  /** Grants are judged by the calls made in this many days. */
  windowDays: number;
  /** A credential or agent unused this long is a finding. */
  unusedDays: number;
  /** A client secret living longer than this (or forever) is long-lived. */
  longLivedDays: number;
  /** Workload federation is configured (some issuer is trusted). */
  federationEnabled: boolean;
  /** Agents (names or ids) a trusted issuer maps a workload to. */
  federatedAgents: ReadonlySet<string>;
}

export type Severity = 'info' | 'warning' | 'critical';
export const SEVERITIES: readonly Severity[] = ['info', 'warning', 'critical'];

export type FindingKind =
  | 'credential_never_used' | 'credential_unused' | 'credential_reuse' | 'credential_long_lived' | 'static_secret'
  | 'agent_inactive' | 'agent_no_owner' | 'grant_unused';

export type RemedyAction = 'revoke_credential' | 'suspend_agent' | 'narrow_profile' | 'split_credential' | 'use_federation' | 'rotate_credential';

export interface Remedy {
  action: RemedyAction;
  /** `review --apply` (and POST /admin/v1/access-review/apply) carries it out; otherwise a suggestion. */
  automatic: boolean;
  description: string;
  /** The CLI command(s) that carry it out. */
  commands: string[];
  /** narrow_profile: the profile as suggested, and the change as a diff. */
  suggestion?: { models: string[]; tools: string[] };
  diff?: string;
}

export interface Finding {
  /** Stable across reviews (`kind:subject`), so sign-offs and the next review can refer to it. */
  id: string;
  kind: FindingKind;
  severity: Severity;
  /** OWASP Non-Human Identities Top 10 (2025) entry, where one applies. */
  owasp: string | null;
  summary: string;
  agent: { id: string; name: string } | null;
  profile: { id: string; name: string } | null;
  credential: string | null;
  evidence: Record<string, unknown>;
  remedy: Remedy;
  /** Accepted as it is at the latest sign-off. */
  accepted: { by: string; at: string } | null;
}

export interface CredentialReview {
  id: string;
  kind: 'client_secret';
  status: 'active' | 'expired' | 'revoked';
  created_at: string;
  age_days: number;
  expires_at: string | null;
  last_used_at: string | null;
  last_used_from: string | null;
  /** Every source it was used from, with when it was first and last seen. */
  sources: { source: string; first_seen: string; last_seen: string }[];
}

interface Usage { name: string; calls: number; last_at: string }

export interface AgentReview {
  id: string;
  name: string;
  owner: string | null;
  team: { id: string; name: string | null };
  profile: { id: string; name: string | null };
  status: Agent['status'];
  environment: string;
  created_at: string;
  credentials: CredentialReview[];
  /** A trusted issuer maps a workload identity to this agent. */
  federated: boolean;
  sessions_in_window: number;
  last_session_at: string | null;
  models: { granted: string[]; used: Usage[] };
  tools: { granted: string[]; used: Usage[] };
  findings: string[];
}

export interface ProfileReview {
  id: string;
  name: string;
  agents: number;
  sessions_in_window: number;
  models: { granted: string[]; used: Usage[]; unused_grants: string[] };
  tools: { granted: string[]; used: Usage[]; unused_grants: string[] };
}

export interface AccessReview {
  object: 'access_review';
  generated_at: string;
  window: { days: number; since: string; until: string };
  unused_days: number;
  summary: { agents: number; credentials: number; findings: number; by_severity: Record<Severity, number>; by_kind: Partial<Record<FindingKind, number>> };
  findings: Finding[];
  agents: AgentReview[];
  profiles: ProfileReview[];
  /** The latest sign-off, and what changed since: findings new, resolved, still open. */
  last_sign_off: { id: string; signed_at: string; signed_by: string; operator: AccessReviewRecord['operator']; accepted: string[]; remediated: string[]; note: string | null } | null;
  changes_since_last: { new: string[]; resolved: string[]; still_open: string[] } | null;
}

const DAY = 86_400_000;

/** Calls of each name (tool or model) per key (profile or agent). */
class Tally {
  private readonly by = new Map<string, Map<string, { calls: number; lastAt: number }>>();

  add(key: string, name: string, calls: number, at: number): void {
    let names = this.by.get(key);
    if (!names) this.by.set(key, (names = new Map<string, { calls: number; lastAt: number }>()));
    const t = names.get(name);
    if (!t) names.set(name, { calls, lastAt: at });
    else {
      t.calls += calls;
      t.lastAt = Math.max(t.lastAt, at);
    }
  }

  of(key: string): Usage[] {
    return [...(this.by.get(key) ?? [])].map(([name, t]) => ({ name, calls: t.calls, last_at: isoTime(t.lastAt) })).sort((a, b) => a.name.localeCompare(b.name));
  }
}

const PAGE = 1000;

/**
 * Tools called in the window, per profile and per agent: MCP tool calls (`tool.called`) and
 * function tools a model called (`tool_calls` of `model.call`). Read from the audit chain page by
 * page: a review is an occasional report, not a hot path.
 */
async function toolUse(store: Store, since: number): Promise<{ byProfile: Tally; byAgent: Tally }> {
  const byProfile = new Tally();
  const byAgent = new Tally();
  const profileOf = new Map<string, string | null>();
  const sessionProfile = async (sessionId: string | null): Promise<string | null> => {
    if (sessionId === null) return null;
    if (!profileOf.has(sessionId)) profileOf.set(sessionId, (await store.getSession(sessionId))?.profileId ?? null);
    return profileOf.get(sessionId)!;
  };
  for (const type of ['tool.called', 'model.call']) {
    let after = 0;
    for (;;) {
      const page = await store.searchEvents({ type, since, afterSeq: after, order: 'asc', limit: PAGE });
      for (const e of page) {
        const names = type === 'tool.called'
          ? (typeof e.data.tool === 'string' ? [e.data.tool] : [])
          : (Array.isArray(e.data.tool_calls) ? e.data.tool_calls.filter((t): t is string => typeof t === 'string') : []);
        if (names.length === 0) continue;
        const profile = await sessionProfile(e.sessionId);
        for (const name of names) {
          if (profile) byProfile.add(profile, name, 1, e.time);
          if (e.agentId) byAgent.add(e.agentId, name, 1, e.time);
        }
      }
      if (page.length < PAGE) break;
      after = page.at(-1)!.seq;
    }
  }
  return { byProfile, byAgent };
}

/** Allow entries (not `!` denies) of a scope that no used name matches. */
function unusedGrants(granted: readonly string[], used: readonly Usage[]): string[] {
  return granted.filter((g) => !g.startsWith('!') && !used.some((u) => globMatch(g, u.name)));
}

/**
 * The narrowest scope that still allows everything used: unused entries dropped, and a glob that
 * was used replaced by the names it was used for. Denies are kept.
 */
export function narrowScope(granted: readonly string[], used: readonly Usage[]): string[] {
  const out: string[] = [];
  for (const g of granted) {
    if (g.startsWith('!')) out.push(g);
    else if (!isPattern(g)) {
      if (used.some((u) => u.name === g)) out.push(g);
    } else for (const u of used) if (globMatch(g, u.name)) out.push(u.name);
  }
  return [...new Set(out)];
}

/** A unified-style diff of a profile's models and tools, before and after narrowing. */
function scopeDiff(profile: string, sections: { name: string; before: readonly string[]; after: readonly string[] }[]): string {
  const lines = [`--- profile ${profile} (granted)`, `+++ profile ${profile} (suggested)`];
  for (const s of sections) {
    lines.push(` ${s.name}:`);
    for (const e of s.before) lines.push(`${s.after.includes(e) ? ' ' : '-'}   - ${e}`);
    for (const e of s.after) if (!s.before.includes(e)) lines.push(`+   - ${e}`);
  }
  return lines.join('\n');
}

function credentialStatus(c: Credential, now: number): CredentialReview['status'] {
  if (c.revokedAt !== null) return 'revoked';
  return c.expiresAt !== null && c.expiresAt <= now ? 'expired' : 'active';
}

const ageDays = (ms: number, now: number) => Math.floor((now - ms) / DAY);

export interface ReviewInput {
  store: Store;
  settings: ReviewSettings;
  now: number;
}

/** Builds the access review: every agent and profile, and the findings. */
export async function buildAccessReview({ store, settings, now }: ReviewInput): Promise<AccessReview> {
  const since = now - settings.windowDays * DAY;
  const unusedBefore = now - settings.unusedDays * DAY;
  const [agents, teams, profiles, activity, sources, tools, [lastReview]] = await Promise.all([
    store.listAgents(), store.listTeams(), store.listProfiles(), store.accessActivity(since), store.listCredentialSources(), toolUse(store, since), store.listAccessReviews(1),
  ]);
  const teamById = new Map<string, Team>(teams.map((t) => [t.id, t]));
  const profileById = new Map<string, Profile>(profiles.map((p) => [p.id, p]));
  const sessionsOf = new Map(activity.agents.map((a) => [a.agentId, a]));
  const modelsByProfile = new Tally();
  const modelsByAgent = new Tally();
  for (const m of activity.models) {
    modelsByProfile.add(m.profileId, m.model, m.calls, m.lastAt);
    modelsByAgent.add(m.agentId, m.model, m.calls, m.lastAt);
  }
  const sourcesOf = new Map<string, CredentialSource[]>();
  for (const s of sources) sourcesOf.set(s.credentialId, [...(sourcesOf.get(s.credentialId) ?? []), s]);

  const findings: Finding[] = [];
  const ref = (a: Agent) => ({ id: a.id, name: a.name });
  const profileRef = (id: string) => ({ id, name: profileById.get(id)?.name ?? id });
  const finding = (f: Omit<Finding, 'accepted' | 'profile' | 'credential'> & Partial<Pick<Finding, 'profile' | 'credential'>>) => findings.push({ profile: null, credential: null, accepted: null, ...f });

  const agentReviews: AgentReview[] = [];
  for (const agent of agents) {
    const credentials = await store.listCredentials(agent.id);
    const federated = settings.federatedAgents.has(agent.name) || settings.federatedAgents.has(agent.id);
    const act = sessionsOf.get(agent.id);
    const profile = profileById.get(agent.profileId);
    const base = { agent: ref(agent), profile: profileRef(agent.profileId) };
    if (agent.status === 'active') {
      for (const c of credentials) {
        if (credentialStatus(c, now) !== 'active') continue;
        const revoke: Remedy = {
          action: 'revoke_credential', automatic: true, description: `Revoke the secret ${c.id}.`,
          commands: [`tollgate agent secret revoke ${agent.name} ${c.id} --reason "access review"`],
        };
        const age = ageDays(c.createdAt, now);
        if (c.lastUsedAt === null) {
          finding({
            ...base, id: `credential_never_used:${c.id}`, kind: 'credential_never_used', credential: c.id,
            severity: c.createdAt <= unusedBefore ? 'warning' : 'info', owasp: 'NHI1',
            summary: `Secret ${c.id} of ${agent.name} was issued ${age} day(s) ago and never used.`, evidence: { created_at: isoTime(c.createdAt), age_days: age }, remedy: revoke,
          });
        } else if (c.lastUsedAt < unusedBefore) {
          finding({
            ...base, id: `credential_unused:${c.id}`, kind: 'credential_unused', credential: c.id, severity: 'warning', owasp: 'NHI1',
            summary: `Secret ${c.id} of ${agent.name} has not been used for ${ageDays(c.lastUsedAt, now)} day(s).`, evidence: { last_used_at: isoTime(c.lastUsedAt), last_used_from: c.lastUsedFrom }, remedy: revoke,
          });
        }
        const recent = (sourcesOf.get(c.id) ?? []).filter((s) => s.lastSeen >= since);
        if (recent.length > 1) {
          finding({
            ...base, id: `credential_reuse:${c.id}`, kind: 'credential_reuse', credential: c.id, severity: 'warning', owasp: 'NHI9',
            summary: `Secret ${c.id} of ${agent.name} was used from ${recent.length} different workloads in the window.`,
            evidence: { sources: recent.map((s) => ({ source: s.source, first_seen: isoTime(s.firstSeen), last_seen: isoTime(s.lastSeen) })) },
            remedy: {
              action: 'split_credential', automatic: false,
              description: `Give each workload its own identity: one agent (or at least one secret) per workload, then revoke ${c.id}.`,
              commands: [...recent.map(() => `tollgate agent secret create ${agent.name} --expires-in ${settings.longLivedDays * 86_400}`), `tollgate agent secret revoke ${agent.name} ${c.id} --reason "split per workload"`],
            },
          });
        }
        const lifetime = c.expiresAt === null ? null : c.expiresAt - c.createdAt;
        const longLived = lifetime === null || lifetime > settings.longLivedDays * DAY;
        if (settings.federationEnabled) {
          finding({
            ...base, id: `static_secret:${c.id}`, kind: 'static_secret', credential: c.id, severity: federated ? 'warning' : 'info', owasp: 'NHI7',
            summary: federated
              ? `${agent.name} holds a static secret (${c.id}) although a trusted issuer already maps a workload identity to it.`
              : `${agent.name} holds a static secret (${c.id}); workload federation is configured and could replace it.`,
            evidence: { federated, expires_at: isoTimeOrNull(c.expiresAt) },
            remedy: {
              action: 'use_federation', automatic: false,
              description: federated
                ? `The workload can exchange its own identity token at /oauth/token (token exchange): revoke ${c.id} once it does.`
                : `Map the workload's identity to ${agent.name} (federation.issuers[].subjects) and exchange its token at /oauth/token; then revoke ${c.id}.`,
              commands: [`tollgate agent secret revoke ${agent.name} ${c.id} --reason "replaced by workload federation"`],
            },
          });
        } else if (longLived) {
          finding({
            ...base, id: `credential_long_lived:${c.id}`, kind: 'credential_long_lived', credential: c.id, severity: 'info', owasp: 'NHI7',
            summary: lifetime === null ? `Secret ${c.id} of ${agent.name} never expires.` : `Secret ${c.id} of ${agent.name} lives ${Math.round(lifetime / DAY)} days.`,
            evidence: { created_at: isoTime(c.createdAt), expires_at: isoTimeOrNull(c.expiresAt) },
            remedy: {
              action: 'rotate_credential', automatic: false,
              description: `Prefer workload federation (no static secret at all); otherwise rotate to a secret that expires within ${settings.longLivedDays} days.`,
              commands: [`tollgate agent secret create ${agent.name} --expires-in ${settings.longLivedDays * 86_400}`, `tollgate agent secret revoke ${agent.name} ${c.id} --reason "rotated"`],
            },
          });
        }
      }
      const suspend = (why: string): Remedy => ({
        action: 'suspend_agent', automatic: true, description: `Suspend ${agent.name}: its calls and token requests are refused until resumed.`,
        commands: [`tollgate agent suspend ${agent.name} --reason "${why}"`],
      });
      if (agent.owner === null || agent.owner.trim() === '') {
        finding({
          ...base, id: `agent_no_owner:${agent.id}`, kind: 'agent_no_owner', severity: 'warning', owasp: 'NHI1',
          summary: `${agent.name} has no owner: nobody is accountable for it.`, evidence: {}, remedy: suspend('access review: no owner'),
        });
      }
      const last = act?.lastSessionAt ?? null;
      if ((last ?? agent.createdAt) < unusedBefore) {
        finding({
          ...base, id: `agent_inactive:${agent.id}`, kind: 'agent_inactive', severity: 'warning', owasp: 'NHI1',
          summary: last === null ? `${agent.name} has never opened a session (created ${ageDays(agent.createdAt, now)} day(s) ago).` : `${agent.name} has opened no session for ${ageDays(last, now)} day(s).`,
          evidence: { last_session_at: isoTimeOrNull(last), created_at: isoTime(agent.createdAt) }, remedy: suspend('access review: inactive'),
        });
      }
    }
    agentReviews.push({
      id: agent.id, name: agent.name, owner: agent.owner, team: { id: agent.teamId, name: teamById.get(agent.teamId)?.name ?? null },
      profile: { id: agent.profileId, name: profile?.name ?? null }, status: agent.status, environment: agent.environment, created_at: isoTime(agent.createdAt),
      credentials: credentials.map((c) => ({
        id: c.id, kind: 'client_secret', status: credentialStatus(c, now), created_at: isoTime(c.createdAt), age_days: ageDays(c.createdAt, now),
        expires_at: isoTimeOrNull(c.expiresAt), last_used_at: isoTimeOrNull(c.lastUsedAt), last_used_from: c.lastUsedFrom,
        sources: (sourcesOf.get(c.id) ?? []).map((s) => ({ source: s.source, first_seen: isoTime(s.firstSeen), last_seen: isoTime(s.lastSeen) })),
      })),
      federated, sessions_in_window: act?.sessions ?? 0, last_session_at: isoTimeOrNull(act?.lastSessionAt ?? null),
      models: { granted: profile?.models ?? [], used: modelsByAgent.of(agent.id) },
      tools: { granted: profile?.tools ?? [], used: tools.byAgent.of(agent.id) },
      findings: [],
    });
  }

  const profileReviews: ProfileReview[] = [];
  for (const p of profiles) {
    const members = agents.filter((a) => a.profileId === p.id);
    const sessions = members.reduce((n, a) => n + (sessionsOf.get(a.id)?.sessions ?? 0), 0);
    const models = modelsByProfile.of(p.id);
    const used = tools.byProfile.of(p.id);
    const unusedModels = unusedGrants(p.models, models);
    const unusedTools = unusedGrants(p.tools, used);
    profileReviews.push({
      id: p.id, name: p.name, agents: members.length, sessions_in_window: sessions,
      models: { granted: p.models, used: models, unused_grants: unusedModels }, tools: { granted: p.tools, used, unused_grants: unusedTools },
    });
    // Grants are judged only by a profile that was used: an idle one is the inactive agents' finding.
    if (sessions === 0) continue;
    const narrowedModels = narrowScope(p.models, models);
    const narrowedTools = narrowScope(p.tools, used);
    const changed = narrowedModels.join('\n') !== p.models.join('\n') || narrowedTools.join('\n') !== p.tools.join('\n');
    if (!changed) continue;
    finding({
      id: `grant_unused:${p.id}`, kind: 'grant_unused', severity: unusedTools.length > 0 ? 'warning' : 'info', owasp: null, agent: null, profile: { id: p.id, name: p.name },
      summary: `Profile ${p.name} grants more than its sessions used in ${settings.windowDays} days: ${
        unusedModels.length + unusedTools.length > 0 ? `never called ${[...unusedModels.map((m) => `model ${m}`), ...unusedTools.map((t) => `tool ${t}`)].join(', ')}` : 'globs wider than the names called'
      }.`,
      evidence: { sessions_in_window: sessions, unused_models: unusedModels, unused_tools: unusedTools },
      remedy: {
        action: 'narrow_profile', automatic: false,
        description: `Narrow profile ${p.name} to what its sessions used (in the configuration file, or POST /admin/v1/profiles for a new profile).`,
        commands: [], suggestion: { models: narrowedModels, tools: narrowedTools },
        diff: scopeDiff(p.name, [{ name: 'models', before: p.models, after: narrowedModels }, { name: 'tools', before: p.tools, after: narrowedTools }]),
      },
    });
  }

  const accepted = new Set(lastReview?.accepted ?? []);
  for (const f of findings) {
    if (accepted.has(f.id)) f.accepted = { by: lastReview!.operator?.name ?? lastReview!.signedBy, at: isoTime(lastReview!.signedAt) };
    const a = f.agent && agentReviews.find((r) => r.id === f.agent!.id);
    if (a) a.findings.push(f.id);
  }
  findings.sort((a, b) => SEVERITIES.indexOf(b.severity) - SEVERITIES.indexOf(a.severity) || a.id.localeCompare(b.id));
  const bySeverity = { info: 0, warning: 0, critical: 0 };
  const byKind: Partial<Record<FindingKind, number>> = {};
  for (const f of findings) {
    bySeverity[f.severity]++;
    byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
  }
  const current = new Set(findings.map((f) => f.id));
  const before = new Set(lastReview?.findings.map((f) => f.id) ?? []);
  return {
    object: 'access_review',
    generated_at: isoTime(now),
    window: { days: settings.windowDays, since: isoTime(since), until: isoTime(now) },
    unused_days: settings.unusedDays,
    summary: { agents: agents.length, credentials: agentReviews.reduce((n, a) => n + a.credentials.length, 0), findings: findings.length, by_severity: bySeverity, by_kind: byKind },
    findings,
    agents: agentReviews,
    profiles: profileReviews,
    last_sign_off: lastReview
      ? { id: lastReview.id, signed_at: isoTime(lastReview.signedAt), signed_by: lastReview.signedBy, operator: lastReview.operator, accepted: lastReview.accepted, remediated: lastReview.remediated, note: lastReview.note }
      : null,
    changes_since_last: lastReview
      ? { new: [...current].filter((id) => !before.has(id)), resolved: [...before].filter((id) => !current.has(id)), still_open: [...current].filter((id) => before.has(id)) }
      : null,
  };
}

/** The findings a request picks: by id, or all at or above a severity. */
export function selectFindings(review: AccessReview, ids: readonly string[] | undefined, minSeverity: Severity): { selected: Finding[]; unknown: string[] } {
  if (ids && ids.length > 0) {
    const byId = new Map(review.findings.map((f) => [f.id, f]));
    return { selected: ids.filter((id) => byId.has(id)).map((id) => byId.get(id)!), unknown: ids.filter((id) => !byId.has(id)) };
  }
  const floor = SEVERITIES.indexOf(minSeverity);
  return { selected: review.findings.filter((f) => SEVERITIES.indexOf(f.severity) >= floor && f.accepted === null), unknown: [] };
}
