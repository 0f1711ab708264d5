// The admin API (/admin/v1): declared once as a route table, from which both the request
// handling and the OpenAPI document are derived, so the document cannot drift from the code.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { AlertService } from '../detect/index.js';
import type { AuditLog } from '../audit/index.js';
import type { ApprovalService, Ledger } from '../budget/index.js';
import { agentSchema, enforcementSchema, profileSchema, teamSchema, usdAmount } from '../config/index.js';
import { GatewayError } from '../errors/index.js';
import { operatorActor, roleAllows, type Actor, type AdminToken, type CredentialService, type Directory, type KeyRing, type OperatorIdentity, type OperatorService, type RevocationList, type SessionService } from '../identity/index.js';
import { presentedToken, readBody, parseJsonObject } from '../pipeline/index.js';
import { usdToNano } from '../providers/pricing.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { Store } from '../store/index.js';
import { sendError, sendJson } from '../util/http.js';
import { ACCESS_REVIEW_ROUTES } from './admin-review.js';
import type { StageTimes } from '../telemetry/index.js';
import { ALERT_ROUTES } from './admin-alerts.js';
import { handleOidc, OIDC_PATH, type OidcDeps } from './admin-oidc.js';
import { OPERATOR_ROUTES } from './admin-operators.js';
import { requiredRole } from './admin-roles.js';
import type { ReviewSettings } from '../access/index.js';
import { AUDIT_ROUTES } from './admin-audit.js';
import { BUDGET_ROUTES } from './admin-budgets.js';
import { REPORT_ROUTES, TextAnswer } from './admin-reports.js';
import { enforcement, putAgent, putProfile, putTeam } from './objects.js';
import { agentView, approvalView, credentialView, eventView, modelView, profileView, rollup, sessionStatus, sessionView, spendView, teamView, usageView } from './views.js';
import type { Approval, Session, SessionStatus } from '../store/index.js';
import { isoTime } from '../util/time.js';

export interface AdminDeps {
  /** Detection's alerts (docs/detection.md). */
  alerts: AlertService;
  store: Store;
  directory: Directory;
  sessions: SessionService;
  ledger: Ledger;
  approvals: ApprovalService;
  providers: ProviderRegistry;
  adminToken: AdminToken;
  bodyLimitBytes: number;
  now: () => number;
  version: string;
  keys: KeyRing;
  credentials: CredentialService;
  revocations: RevocationList;
  audit: AuditLog;
  /** Longest a session token can live, for revoked-token bookkeeping. */
  tokenTtlMs: number;
  /** Where budget periods (day, month) begin: budgets.timezone. */
  timeZone: string;
  /** Named operators and the bootstrap admin token: who is calling. */
  operators: OperatorService;
  /** Access review settings and what it may suggest (docs/access-review.md). */
  review: ReviewSettings;
  /** Dashboard sign-in by OIDC (admin.oidc); null when not configured. */
  oidc: OidcDeps | null;
  /** The pipeline's per-stage timers. */
  stages: StageTimes;
  /** Resolves once writes queued so far are committed and judged by the detectors. */
  caughtUp: () => Promise<void>;
}

export interface RouteInput {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
  /** The operator, for the audit record. */
  by: Actor;
  /** Who is calling, with their role. */
  operator: OperatorIdentity;
}

export interface AdminRoute {
  method: 'GET' | 'POST';
  path: string;
  summary: string;
  tag: string;
  body?: z.ZodType;
  query?: z.ZodObject;
  /** Status of a successful answer. */
  status?: number;
  handle(input: RouteInput, deps: AdminDeps): Promise<unknown>;
}

const limitQuery = z.coerce.number().int().min(1).max(1000).optional();

export const openSessionBody = z.strictObject({
  agent: z.string().min(1).describe('Agent id or name'),
  task: z.string().min(1).max(500).describe('What this session is for'),
  budget: z.strictObject({ tokens: z.number().int().nonnegative().optional(), usd: usdAmount.optional() }).optional(),
  ttl_seconds: z.number().int().positive().optional(),
  models: z.array(z.string().min(1)).optional().describe('Narrow the profile\'s models (names or globs; `!` denies)'),
  tools: z.array(z.string().min(1)).optional().describe('Narrow the profile\'s tools (`server/tool` globs; `!` denies)'),
  resources: z.array(z.string().min(1)).optional().describe('Narrow the profile\'s MCP resources (`server/uri` globs)'),
  prompts: z.array(z.string().min(1)).optional().describe('Narrow the profile\'s MCP prompts (`server/name` globs)'),
  context: z.record(z.string(), z.unknown()).optional().describe('Request context: environment, data sensitivity, intended action…'),
  tags: z.record(z.string(), z.string()).optional().describe('Business-context tags (cost center, ticket, customer): at most 16, keys [a-z0-9_.-]{1,64}, values up to 256 characters; inherited by delegated sessions'),
  enforcement: enforcementSchema.optional().describe('Override the profile\'s enforcement for this session'),
});

const budgetBody = z.strictObject({ tokens: z.number().int().nonnegative().optional(), usd: usdAmount.optional() });
const toBudget = (b: z.infer<typeof budgetBody> | undefined) => ({ tokens: b?.tokens ?? null, usdNano: b?.usd === undefined ? null : usdToNano(b.usd) });

async function found<T>(value: Promise<T | null>, what: string, id: string): Promise<T> {
  const v = await value;
  if (v === null) throw new GatewayError('not_found', `${what} "${id}" does not exist`);
  return v;
}

const list = <T>(data: T[]) => ({ object: 'list', data });

async function showSession(deps: AdminDeps, id: string) {
  const s = await found(deps.store.getSession(id), 'session', id);
  const [agent, team, tree] = await Promise.all([deps.store.getAgent(s.agentId), deps.store.getTeam(s.teamId), deps.store.sessionTree(s.id)]);
  const tail = { spent_with_children: spendView(rollup(tree)), children: tree.filter((c) => c.parentId === s.id).map((c) => c.id) };
  // An ended session has nothing left to spend, nor anything held: no remaining (as in the list).
  if (sessionStatus(s, deps.now()) !== 'active') return { ...sessionView(s, deps.now(), { agent, team }), ...tail };
  const account = await deps.ledger.load(s);
  // As the store has it now, not as this replica last saw it (other replicas spend on it too).
  // Read after the session's row: its spend is then never more than the account's.
  await deps.ledger.readAfresh?.([account], true);
  const remaining = deps.ledger.remaining([account]);
  return { ...sessionView(s, deps.now(), { agent, team, remaining, reserved: account.reserved }), ...tail };
}

/** A session and its descendants as a nested tree, each node with its agent, status and spend. */
async function sessionTree(deps: AdminDeps, id: string) {
  const tree = await deps.store.sessionTree(id);
  if (tree.length === 0) throw new GatewayError('not_found', `session "${id}" does not exist`);
  const agents = new Map<string, string>();
  for (const s of tree) if (!agents.has(s.agentId)) agents.set(s.agentId, (await deps.store.getAgent(s.agentId))?.name ?? s.agentId);
  const now = deps.now();
  const node = (s: Session): unknown => {
    const subtree = tree.filter((t) => t.chain.includes(s.id));
    const view = sessionView(s, now);
    return {
      id: s.id, agent: { id: s.agentId, name: agents.get(s.agentId) }, task: s.task, status: view.status,
      budget: view.budget, spent: spendView(s.spent), spent_with_children: spendView(rollup(subtree)),
      children: tree.filter((c) => c.parentId === s.id).map(node),
    };
  };
  return node(tree[0]!);
}

const reasonBody = z.strictObject({ reason: z.string().max(500).optional() });
const secretRevokeBody = reasonBody.extend({
  end_sessions: z.boolean().optional().describe('Also end every active or suspended session of the agent (and their delegated sessions).'),
});

async function setAgentStatus(deps: AdminDeps, id: string, status: 'active' | 'suspended' | 'revoked', by: Actor) {
  const { agent, ended } = await deps.sessions.setAgentStatus(id, status, by);
  return { ...agentView(agent), sessions_ended: ended };
}

export const ADMIN_ROUTES: AdminRoute[] = [
  {
    method: 'GET', path: '/admin/v1/teams', tag: 'teams', summary: 'List teams',
    handle: async (_i, d) => list((await d.store.listTeams()).map(teamView)),
  },
  {
    method: 'POST', path: '/admin/v1/teams', tag: 'teams', summary: 'Create a team', body: teamSchema, status: 201,
    handle: async (i, d) => {
      const team = await putTeam(d.store, i.body as z.infer<typeof teamSchema>, 'error');
      await d.audit.record({ ...i.by, type: 'team.created', teamId: team.id, data: { name: team.name, declared: i.body } });
      return teamView(team);
    },
  },
  {
    method: 'GET', path: '/admin/v1/teams/{id}', tag: 'teams', summary: 'Get a team by id or name',
    handle: async (i, d) => teamView(await found(d.store.getTeam(i.params.id!), 'team', i.params.id!)),
  },
  {
    method: 'GET', path: '/admin/v1/profiles', tag: 'profiles', summary: 'List profiles',
    handle: async (_i, d) => list((await d.store.listProfiles()).map(profileView)),
  },
  {
    method: 'POST', path: '/admin/v1/profiles', tag: 'profiles', summary: 'Create a profile', body: profileSchema, status: 201,
    handle: async (i, d) => {
      const profile = await putProfile(d.store, i.body as z.infer<typeof profileSchema>, 'error', (m) => d.providers.model(m) !== undefined);
      await d.audit.record({ ...i.by, type: 'profile.created', data: { profile: profile.id, name: profile.name, declared: i.body } });
      return profileView(profile);
    },
  },
  {
    method: 'GET', path: '/admin/v1/profiles/{id}', tag: 'profiles', summary: 'Get a profile by id or name',
    handle: async (i, d) => profileView(await found(d.store.getProfile(i.params.id!), 'profile', i.params.id!)),
  },
  {
    method: 'GET', path: '/admin/v1/agents', tag: 'agents', summary: 'List agents',
    query: z.object({ team: z.string().optional() }),
    handle: async (i, d) => {
      const team = typeof i.query.team === 'string' ? await found(d.store.getTeam(i.query.team), 'team', i.query.team) : null;
      const agents = await d.store.listAgents(team ? { teamId: team.id } : {});
      const teams = await d.directory.teams.many(agents.map((a) => a.teamId));
      const profiles = await d.directory.profiles.many(agents.map((a) => a.profileId));
      return list(agents.map((a) => agentView(a, { team: teams.get(a.teamId), profile: profiles.get(a.profileId) })));
    },
  },
  {
    method: 'POST', path: '/admin/v1/agents', tag: 'agents', summary: 'Create an agent', body: agentSchema, status: 201,
    handle: async (i, d) => {
      const agent = await putAgent(d.store, i.body as z.infer<typeof agentSchema>, 'error');
      await d.audit.record({ ...i.by, type: 'agent.created', agentId: agent.id, teamId: agent.teamId, data: { name: agent.name, declared: i.body } });
      return agentView(agent, { team: await d.store.getTeam(agent.teamId), profile: await d.store.getProfile(agent.profileId) });
    },
  },
  {
    method: 'GET', path: '/admin/v1/agents/{id}', tag: 'agents', summary: 'Get an agent by id or name',
    handle: async (i, d) => {
      const agent = await found(d.store.getAgent(i.params.id!), 'agent', i.params.id!);
      return agentView(agent, { team: await d.store.getTeam(agent.teamId), profile: await d.store.getProfile(agent.profileId) });
    },
  },
  {
    method: 'POST', path: '/admin/v1/sessions', tag: 'sessions', summary: 'Open a session for an agent and issue its token', body: openSessionBody, status: 201,
    handle: async (i, d) => {
      const body = i.body as z.infer<typeof openSessionBody>;
      const opened = await d.sessions.open({
        agent: body.agent,
        task: body.task,
        budget: body.budget ? { tokens: body.budget.tokens, usdNano: body.budget.usd === undefined ? undefined : usdToNano(body.budget.usd) } : undefined,
        ttlSeconds: body.ttl_seconds,
        models: body.models,
        tools: body.tools,
        resources: body.resources,
        prompts: body.prompts,
        context: body.context,
        tags: body.tags,
        enforcement: body.enforcement ? enforcement(body.enforcement) : undefined,
      }, i.by);
      return { session: await showSession(d, opened.session.id), token: opened.token, expires_at: isoTime(opened.expiresAt) };
    },
  },
  {
    method: 'POST', path: '/admin/v1/sessions/{id}/revoke', tag: 'sessions', summary: 'Revoke a session and every session delegated from it', body: reasonBody,
    handle: async (i, d) => ({ revoked: await d.sessions.end(i.params.id!, 'revoked', i.by) }),
  },
  {
    method: 'POST', path: '/admin/v1/sessions/{id}/close', tag: 'sessions', summary: 'Close a session (task done): its subtree ends, unused budget returns to the parent', body: reasonBody,
    handle: async (i, d) => ({ closed: await d.sessions.end(i.params.id!, 'closed', i.by) }),
  },
  {
    method: 'POST', path: '/admin/v1/sessions/{id}/renew', tag: 'sessions', summary: 'Renew a session: more time (from now; never sooner than it ends now) and/or more budget (added), same identity and history',
    body: z.strictObject({ ttl_seconds: z.number().int().positive().optional(), budget: budgetBody.optional(), reason: z.string().max(500).optional() }),
    handle: async (i, d) => {
      const body = i.body as { ttl_seconds?: number; budget?: z.infer<typeof budgetBody> };
      const added = toBudget(body.budget);
      await d.sessions.renew(i.params.id!, { ttlSeconds: body.ttl_seconds, budget: { tokens: added.tokens ?? undefined, usdNano: added.usdNano ?? undefined } }, i.by);
      return showSession(d, i.params.id!);
    },
  },
  {
    method: 'GET', path: '/admin/v1/approvals', tag: 'approvals', summary: 'Approvals (budget step-ups, tool calls, resumes of suspended sessions), newest first (?status=pending&kind=tool)',
    query: z.object({ status: z.enum(['pending', 'approved', 'denied']).optional(), kind: z.enum(['budget', 'tool', 'resume']).optional(), session: z.string().optional(), limit: limitQuery }),
    handle: async (i, d) => {
      const q = i.query as { status?: 'pending' | 'approved' | 'denied'; kind?: 'budget' | 'tool' | 'resume'; session?: string; limit?: number };
      const approvals = await d.store.listApprovals({ status: q.status, kind: q.kind, sessionId: q.session, limit: q.limit });
      const agents = await d.directory.agents.many(approvals.map((a) => a.agentId));
      return list(approvals.map((a) => approvalView(a, agents.get(a.agentId))));
    },
  },
  {
    method: 'GET', path: '/admin/v1/approvals/{id}', tag: 'approvals', summary: 'One approval with its context',
    handle: async (i, d) => namedApproval(d, await found(d.store.getApproval(i.params.id!), 'approval', i.params.id!)),
  },
  {
    method: 'POST', path: '/admin/v1/approvals/{id}/approve', tag: 'approvals', summary: 'Approve further spend, optionally adding budget to the session',
    body: z.strictObject({ extra_budget: budgetBody.optional(), reason: z.string().max(500).optional() }),
    handle: async (i, d) => {
      const body = i.body as { extra_budget?: z.infer<typeof budgetBody>; reason?: string };
      return namedApproval(d, await d.approvals.decide(i.params.id!, { approve: true, extraBudget: toBudget(body.extra_budget), reason: body.reason, decidedBy: i.by.actor, operator: i.by.operator, requestId: i.by.requestId }));
    },
  },
  {
    method: 'POST', path: '/admin/v1/approvals/{id}/deny', tag: 'approvals', summary: 'Deny further spend: the session\'s calls get 402 from then on', body: reasonBody,
    handle: async (i, d) => namedApproval(d, await d.approvals.decide(i.params.id!, { approve: false, reason: i.by.reason, decidedBy: i.by.actor, operator: i.by.operator, requestId: i.by.requestId })),
  },
  {
    method: 'GET', path: '/admin/v1/sessions/{id}/tree', tag: 'sessions', summary: 'The delegation tree under a session, with each node\'s spend',
    handle: async (i, d) => sessionTree(d, i.params.id!),
  },
  {
    method: 'GET', path: '/admin/v1/sessions', tag: 'sessions', summary: 'List sessions, newest first',
    query: z.object({ agent: z.string().optional(), team: z.string().optional(), status: z.enum(['active', 'suspended', 'closed', 'revoked']).optional().describe('The stored status (a session past its expiry stays `active` here, shown `expired`, until the upkeep closes it within a minute)'), limit: limitQuery }),
    handle: async (i, d) => {
      const q = i.query as { agent?: string; team?: string; status?: SessionStatus; limit?: number };
      const agent = q.agent ? await found(d.store.getAgent(q.agent), 'agent', q.agent) : null;
      const team = q.team ? await found(d.store.getTeam(q.team), 'team', q.team) : null;
      const sessions = await d.store.listSessions({ agentId: agent?.id, teamId: team?.id, status: q.status, limit: q.limit });
      const now = d.now();
      // Agents and teams by name too (cached in the directory; a list names few of each).
      const agents = await d.directory.agents.many(sessions.map((s) => s.agentId));
      const teams = await d.directory.teams.many(sessions.map((s) => s.teamId));
      // Live sessions carry the ledger's view (held for calls in flight and children's slices,
      // left), as the store has it now: all their accounts read afresh at once, after the rows.
      const live = sessions.filter((s) => sessionStatus(s, now) === 'active');
      const accounts = new Map(await Promise.all(live.map(async (s) => [s.id, await d.ledger.load(s)] as const)));
      await d.ledger.readAfresh?.([...accounts.values()], true);
      return list(sessions.map((s) => {
        const names = { agent: agents.get(s.agentId) ?? null, team: teams.get(s.teamId) ?? null };
        const account = accounts.get(s.id);
        if (!account) return sessionView(s, now, names);
        return sessionView(s, now, { ...names, remaining: d.ledger.remaining([account]), reserved: account.reserved });
      }));
    },
  },
  {
    method: 'GET', path: '/admin/v1/sessions/{id}', tag: 'sessions', summary: 'Get a session: status, budget, spend, agent and team',
    handle: async (i, d) => showSession(d, i.params.id!),
  },
  {
    method: 'POST', path: '/admin/v1/agents/{id}/secrets', tag: 'credentials', summary: 'Issue a client secret (shown once)', status: 201,
    body: z.strictObject({ expires_in_seconds: z.number().int().positive().optional() }),
    handle: async (i, d) => {
      const agent = await found(d.store.getAgent(i.params.id!), 'agent', i.params.id!);
      const { expires_in_seconds: ttl } = i.body as { expires_in_seconds?: number };
      const issued = await d.credentials.issue(agent.id, ttl ? d.now() + ttl * 1000 : null);
      await d.audit.record({ ...i.by, type: 'credential.issued', agentId: agent.id, teamId: agent.teamId, data: { credential: issued.credential.id, expires_at: issued.credential.expiresAt } });
      return { ...credentialView(issued.credential, d.now()), client_secret: issued.clientSecret };
    },
  },
  {
    method: 'GET', path: '/admin/v1/agents/{id}/secrets', tag: 'credentials', summary: 'List an agent\'s client secrets (never the secrets themselves)',
    handle: async (i, d) => {
      const agent = await found(d.store.getAgent(i.params.id!), 'agent', i.params.id!);
      await d.credentials.flush();
      return list((await d.store.listCredentials(agent.id)).map((c) => credentialView(c, d.now())));
    },
  },
  {
    method: 'POST', path: '/admin/v1/agents/{id}/secrets/{secret}/revoke', tag: 'credentials',
    summary: 'Revoke one client secret; with end_sessions, also end every live session of the agent (a leaked secret may have opened any)',
    body: secretRevokeBody,
    handle: async (i, d) => {
      const agent = await found(d.store.getAgent(i.params.id!), 'agent', i.params.id!);
      const credential = await d.store.getCredential(i.params.secret!);
      if (!credential || credential.agentId !== agent.id) throw new GatewayError('not_found', `secret "${i.params.secret}" does not exist for this agent`);
      const revoked = (await d.store.revokeCredential(credential.id, d.now()))!;
      // Sessions do not record the secret that opened them: after a leak, every live session of
      // the agent is suspect. Ended first, so the event below names them.
      const ended = (i.body as z.infer<typeof secretRevokeBody>).end_sessions ? await d.sessions.endAgentSessions(agent.id, i.by) : [];
      await d.audit.record({ ...i.by, type: 'credential.revoked', agentId: agent.id, teamId: agent.teamId, data: { credential: credential.id, reason: i.by.reason ?? null, sessions_ended: ended } });
      return { ...credentialView(revoked, d.now()), sessions_ended: ended };
    },
  },
  {
    method: 'POST', path: '/admin/v1/agents/{id}/suspend', tag: 'agents', summary: 'Suspend an agent: its calls and token requests are refused until resumed', body: reasonBody,
    handle: async (i, d) => setAgentStatus(d, i.params.id!, 'suspended', i.by),
  },
  {
    method: 'POST', path: '/admin/v1/agents/{id}/resume', tag: 'agents', summary: 'Resume a suspended agent', body: reasonBody,
    handle: async (i, d) => setAgentStatus(d, i.params.id!, 'active', i.by),
  },
  {
    method: 'POST', path: '/admin/v1/agents/{id}/revoke', tag: 'agents', summary: 'Revoke an agent for good and end all its sessions', body: reasonBody,
    handle: async (i, d) => setAgentStatus(d, i.params.id!, 'revoked', i.by),
  },
  {
    method: 'POST', path: '/admin/v1/teams/{id}/revoke', tag: 'teams', summary: 'Revoke every active session of the team\'s agents', body: reasonBody,
    handle: async (i, d) => {
      const team = await found(d.store.getTeam(i.params.id!), 'team', i.params.id!);
      const revoked: string[] = [];
      for (const agent of await d.store.listAgents({ teamId: team.id })) revoked.push(...(await d.sessions.endAgentSessions(agent.id, i.by)));
      await d.audit.record({ ...i.by, type: 'team.revoked', teamId: team.id, data: { sessions: revoked, reason: i.by.reason ?? null } });
      return { revoked };
    },
  },
  {
    method: 'POST', path: '/admin/v1/teams/{id}/suspend', tag: 'teams', summary: 'Suspend a team: the calls of its agents are refused (403 team_suspended) and cut in flight, and they get no sessions or tokens, until it is resumed', body: reasonBody,
    handle: async (i, d) => teamView(await d.sessions.setTeamStatus(i.params.id!, 'suspended', i.by)),
  },
  {
    method: 'POST', path: '/admin/v1/teams/{id}/resume', tag: 'teams', summary: 'Resume a suspended team: its agents and their sessions call again', body: reasonBody,
    handle: async (i, d) => teamView(await d.sessions.setTeamStatus(i.params.id!, 'active', i.by)),
  },
  {
    method: 'POST', path: '/admin/v1/tokens/{jti}/revoke', tag: 'tokens', summary: 'Revoke one session token by its id (jti)',
    body: z.strictObject({ reason: z.string().max(500).optional(), expires_at: z.iso.datetime().optional().describe('The token\'s expiry, if known (the entry is kept until then)') }),
    handle: async (i, d) => {
      const { expires_at } = i.body as { expires_at?: string };
      // Tollgate's token ids are `tok_` + 32 hex digits: anything else is a typo, not a revocation.
      if (!/^tok_[0-9a-f]{32}$/.test(i.params.jti!)) throw new GatewayError('invalid_request', `"${i.params.jti!.slice(0, 100)}" is not a Tollgate token id: tok_ and 32 hex digits, the token's jti claim`, { param: 'jti' });
      const until = expires_at ? Date.parse(expires_at) : d.now() + d.tokenTtlMs;
      await d.revocations.revoke(i.params.jti!, until);
      await d.audit.record({ ...i.by, type: 'token.revoked', data: { jti: i.params.jti, reason: i.by.reason ?? null } });
      return { revoked: i.params.jti };
    },
  },
  {
    method: 'POST', path: '/admin/v1/keys/rotate', tag: 'keys', summary: 'Rotate the token signing key (the old one verifies through the overlap window)',
    handle: async (i, d) => {
      const kid = await d.keys.rotate();
      await d.audit.record({ ...i.by, type: 'keys.rotated', data: { kid } });
      return { kid, keys: d.keys.jwks().keys.map((k) => k.kid) };
    },
  },
  {
    method: 'GET', path: '/admin/v1/audit/events', tag: 'audit', summary: 'Audit events, newest first',
    query: z.object({ type: z.string().optional(), agent: z.string().optional(), session: z.string().optional(), team: z.string().optional(), limit: limitQuery }),
    handle: async (i, d) => {
      const q = i.query as { type?: string; agent?: string; session?: string; team?: string; limit?: number };
      const agent = q.agent ? await found(d.store.getAgent(q.agent), 'agent', q.agent) : null;
      const team = q.team ? await found(d.store.getTeam(q.team), 'team', q.team) : null;
      return list((await d.store.listEvents({ type: q.type, agentId: agent?.id, sessionId: q.session, teamId: team?.id, limit: q.limit })).map(eventView));
    },
  },
  {
    method: 'GET', path: '/admin/v1/usage', tag: 'usage', summary: 'Spend lines (one per metered call), newest first',
    query: z.object({ session: z.string().optional(), agent: z.string().optional(), team: z.string().optional(), limit: limitQuery }),
    handle: async (i, d) => {
      const q = i.query as { session?: string; agent?: string; team?: string; limit?: number };
      const agent = q.agent ? await found(d.store.getAgent(q.agent), 'agent', q.agent) : null;
      const team = q.team ? await found(d.store.getTeam(q.team), 'team', q.team) : null;
      return list((await d.store.listUsage({ sessionId: q.session, agentId: agent?.id, teamId: team?.id, limit: q.limit })).map(usageView));
    },
  },
  {
    method: 'GET', path: '/admin/v1/models', tag: 'models', summary: 'Models agents may be granted, with prices (USD per 1M tokens)',
    handle: async (_i, d) => list(d.providers.listModels().map(modelView)),
  },
  {
    method: 'GET', path: '/admin/v1/debug/stages', tag: 'debug',
    summary: 'Where model calls spend their time: per pipeline stage, calls timed, mean, and (log2-bucketed) p50 and p99 in µs, since start or the last reset',
    handle: async (_i, d) => d.stages.report(),
  },
  {
    method: 'POST', path: '/admin/v1/debug/stages/reset', tag: 'debug', summary: 'Starts the per-stage timers afresh',
    handle: async (_i, d) => {
      d.stages.reset();
      return d.stages.report();
    },
  },
  ...AUDIT_ROUTES,
  ...REPORT_ROUTES,
  ...ALERT_ROUTES,
  ...BUDGET_ROUTES,
  ...OPERATOR_ROUTES,
  ...ACCESS_REVIEW_ROUTES,
];

interface CompiledRoute {
  route: AdminRoute;
  pattern: RegExp;
  names: string[];
  /** The route's query parameters, strict: a misspelt filter is refused rather than ignored (an unfiltered answer). */
  query: z.ZodObject | null;
}

const compiled: CompiledRoute[] = ADMIN_ROUTES.map((route) => {
  const names: string[] = [];
  const source = route.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { route, pattern: new RegExp(`^${source}$`), names, query: route.query ? route.query.strict() : null };
});

/** An approval's view with its agent's name. */
const namedApproval = async (d: AdminDeps, approval: Approval) => approvalView(approval, await d.directory.agents.get(approval.agentId));

function validationError(error: z.ZodError, where: string): GatewayError {
  const issue = error.issues[0]!;
  const path = issue.path.map(String).join('.');
  const message = issue.code === 'unrecognized_keys' ? `unknown key(s): ${issue.keys.join(', ')}` : issue.message;
  return new GatewayError('invalid_request', `${where}${path ? `.${path}` : ''}: ${message}`, { param: path || undefined });
}

/** How long an admin request waits for queued writes to commit. */
const CATCH_UP_MS = 2_000;

/** Waits for `work` to settle, at most `ms`; never rejects. */
async function settledWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** Handles a request under /admin/v1 (the caller has matched the prefix). */
export async function handleAdmin(req: IncomingMessage, res: ServerResponse, url: URL, deps: AdminDeps, requestId: string): Promise<void> {
  try {
    if (url.pathname === '/admin/v1/openapi.json' && req.method === 'GET') {
      sendJson(res, 200, openApiDocument(deps.version), { 'x-request-id': requestId });
      return;
    }
    if (url.pathname.startsWith(`${OIDC_PATH}/`)) {
      await handleOidc(req, res, url, deps.oidc, requestId);
      return;
    }
    const token = presentedToken(req.headers);
    const operator = token ? await deps.operators.authenticate(token) : null;
    if (!operator) {
      throw new GatewayError('unauthenticated', token
        ? 'The token is not a valid admin or operator token (unknown, revoked or mistyped; a session token is for the data plane).'
        : 'Send the admin token or an operator token as a Bearer token.');
    }
    // An operator reading after an answer sees what it wrote (storage.answer_after: hold releases
    // answers before their lines commit): queued writes go first — bounded, so a store outage
    // never hangs the admin API.
    await settledWithin(deps.caughtUp(), CATCH_UP_MS);
    const matches = compiled.filter((c) => c.pattern.test(url.pathname));
    if (matches.length === 0) throw new GatewayError('not_found', `No admin route ${url.pathname}.`);
    const match = matches.find((c) => c.route.method === req.method);
    if (!match) throw new GatewayError('method_not_allowed', undefined, { headers: { allow: matches.map((c) => c.route.method).join(', ') } });
    // Roles are checked here, from one table (admin-roles.ts), before anything is read or run.
    const needed = requiredRole(match.route.method, match.route.path);
    if (!roleAllows(operator.role, needed)) {
      throw new GatewayError('forbidden', `Operator "${operator.name}" (${operator.role}) may not ${match.route.method} ${match.route.path}: it needs the ${needed} role.`, { details: { role: operator.role, required_role: needed } });
    }
    const values = match.pattern.exec(url.pathname)!;
    const params: Record<string, string> = {};
    match.names.forEach((name, i) => (params[name] = decodeURIComponent(values[i + 1]!)));
    let query: Record<string, unknown> = Object.fromEntries(url.searchParams);
    if (match.query) {
      const parsed = match.query.safeParse(query);
      if (!parsed.success) throw validationError(parsed.error, 'query');
      query = parsed.data;
    } else if (url.search.length > 1) {
      throw new GatewayError('invalid_request', `${match.route.method} ${match.route.path} takes no query parameters (got: ${[...url.searchParams.keys()].join(', ').slice(0, 200)}).`);
    }
    let body: unknown;
    if (match.route.body) {
      const raw = await readBody(req, deps.bodyLimitBytes);
      const parsed = match.route.body.safeParse(raw.length === 0 ? {} : parseJsonObject(raw));
      if (!parsed.success) throw validationError(parsed.error, 'body');
      body = parsed.data;
    }
    const reason = (body as { reason?: unknown } | undefined)?.reason;
    const by: Actor = { actor: operatorActor(operator), operator: { id: operator.id, name: operator.name, role: operator.role }, requestId, reason: typeof reason === 'string' ? reason : undefined };
    const result = await match.route.handle({ params, query, body, by, operator }, deps);
    if (result instanceof TextAnswer) {
      // A report as CSV: the one kind of answer that is not JSON.
      res.writeHead(match.route.status ?? 200, { 'x-request-id': requestId, 'cache-control': 'no-store', 'content-type': result.contentType, 'content-length': Buffer.byteLength(result.text) });
      res.end(result.text);
      return;
    }
    sendJson(res, match.route.status ?? 200, result, { 'x-request-id': requestId, 'cache-control': 'no-store' });
  } catch (err) {
    sendError(res, err, 'admin', requestId);
  }
}

/** A query parameter with the schema and description its zod field declares. */
function queryParameter(name: string, field: z.ZodType) {
  const { description, $schema: _, ...schema } = z.toJSONSchema(field, { io: 'input' }) as { description?: string; $schema?: string };
  return { name, in: 'query', required: !field.safeParse(undefined).success, ...(description ? { description } : {}), schema };
}

/** OpenAPI 3.1 description of the admin API, derived from the route table. */
export function openApiDocument(version: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ADMIN_ROUTES) {
    const parameters = [
      ...[...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } })),
      ...Object.entries(r.query?.shape ?? {}).map(([name, field]) => queryParameter(name, field as z.ZodType)),
    ];
    (paths[r.path] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary,
      tags: [r.tag],
      'x-tollgate-role': requiredRole(r.method, r.path),
      ...(parameters.length ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: z.toJSONSchema(r.body, { io: 'input' }) } } } } : {}),
      responses: {
        [String(r.status ?? 200)]: { description: 'Success', content: { 'application/json': { schema: { type: 'object' } } } },
        default: { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Tollgate admin API', version },
    servers: [{ url: '/' }],
    security: [{ adminToken: [] }],
    paths,
    components: {
      securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'The bootstrap admin token (TOLLGATE_ADMIN_TOKEN or <data_dir>/admin-token) or an operator\'s token (tgo_…); `x-tollgate-role` on each operation is the role it needs' } },
      schemas: {
        Error: {
          type: 'object',
          properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, param: { type: 'string' } }, required: ['code', 'message'] } },
        },
      },
    },
  };
}
