// Sessions: one task boundary for one agent, with a budget and scope that never exceed its
// profile — or, for a delegated (child) session, never exceed what its parent holds. Ending a
// session (close or revoke) ends its whole subtree at once and returns unused budget upward.
import type { AuditLog } from '../audit/index.js';
import { growSessionBudget, type Ledger } from '../budget/index.js';
import { GatewayError } from '../errors/index.js';
import type { Agent, Budget, Enforcement, EventFilter, Profile, Session, Store, Team, TeamStatus } from '../store/index.js';
import { newId } from '../util/ids.js';
import { isoTime } from '../util/time.js';
import type { Directory } from './directory.js';
import type { ActorClaim, TokenService } from './tokens.js';
import { childContext, rootContext, type SessionContext } from '../policy/session-context.js';
import { isPattern, resolveNames, scopeProblems } from '../policy/scope.js';

export interface OpenSessionInput {
  /** Agent id or name. */
  agent: string;
  task: string;
  budget?: { tokens?: number; usdNano?: number };
  ttlSeconds?: number;
  /** Narrows the profile's models (names or globs); every plain name must be in the profile. */
  models?: string[];
  /** Narrows the profile's tool, resource and prompt scopes (globs; `!` denies). */
  tools?: string[];
  resources?: string[];
  prompts?: string[];
  /** environment (the agent's), data_sensitivity, intended_action, and free labels. */
  context?: Record<string, unknown>;
  /** Business-context tags (cost center, ticket, customer), kept in the context under `tags`. */
  tags?: Record<string, string>;
  /** Overrides the profile's enforcement for this session. */
  enforcement?: Enforcement;
}

export interface DelegateInput {
  /** The child agent (id or name); default: the parent's agent. */
  agent?: string;
  task: string;
  budget?: { tokens?: number; usdNano?: number };
  /** Narrows the parent's models; every name must be held by the parent. */
  models?: string[];
  /** Narrows the tool, resource and prompt scopes further (globs; `!` denies). */
  tools?: string[];
  resources?: string[];
  prompts?: string[];
  ttlSeconds?: number;
  context?: Record<string, unknown>;
  /** Tags added to the parent's (an inherited tag cannot be changed). */
  tags?: Record<string, string>;
}

export interface IssuedToken {
  session: Session;
  token: string;
  /** Token expiry (ms). */
  expiresAt: number;
}

export interface SessionServiceOptions {
  maxDelegationDepth: number;
  /** Let a session delegate to an agent of another team (whose budgets then pay). */
  allowCrossTeamDelegation?: boolean;
  /** Every model name the gateway serves (profile globs are resolved against it). */
  modelNames?: () => Iterable<string>;
  /** Judges opening and delegating sessions (the policy engine); absent: scope checks only. */
  policy?: SessionPolicy;
  /**
   * Sessions have just ended (`how`: closed or revoked; `closed` by the upkeep at their expiry):
   * what is still waiting on them — their pending approvals — is closed. Must not throw.
   */
  onEnded?: (sessionIds: readonly string[], how: 'closed' | 'revoked', by: { reason?: string; requestId?: string }) => Promise<void>;
  now?: () => number;
}

/** The policy checks on the session lifecycle; each throws a GatewayError to refuse. */
export interface SessionPolicy {
  authorizeOpen(agent: Agent, profile: Profile, context: SessionContext, requestId?: string): Promise<void>;
  authorizeDelegate(parent: Session, child: Agent, childProfile: Profile, context: SessionContext, requestId?: string): Promise<void>;
}

/** Not yet ended: active, or suspended until a human decides. */
export const isLive = (s: Session) => s.status === 'active' || s.status === 'suspended';

/** Who performed a control action, for the audit record. */
export interface Actor {
  actor: string;
  requestId?: string;
  reason?: string;
  /** The named operator behind an admin-plane action (kept in the audit event's data). */
  operator?: { id: string; name: string; role: string };
}

export class SessionService {
  private readonly now: () => number;
  /** Status changes running, by subject (`oneAtATime`). */
  private readonly changing = new Map<string, Promise<void>>();

  constructor(
    private readonly store: Store,
    private readonly directory: Directory,
    private readonly tokens: TokenService,
    private readonly ledger: Ledger,
    private readonly audit: AuditLog,
    private readonly options: SessionServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** The model names every layer allows, from `candidates` (default: every model served). */
  private resolveModels(scopes: string[][], candidates?: Iterable<string>): string[] {
    const names = candidates ?? this.options.modelNames?.() ?? scopes.flat().filter((m) => !isPattern(m));
    return resolveNames(scopes, names);
  }

  async activeAgent(idOrName: string, param = 'agent'): Promise<{ agent: Agent; profile: Profile }> {
    const agent = await this.store.getAgent(idOrName);
    if (!agent) throw new GatewayError('not_found', `agent "${idOrName}" does not exist`, { param });
    if (agent.status !== 'active') throw new GatewayError('forbidden', `agent "${agent.name}" is ${agent.status}`);
    await requireActiveTeam(this.directory, agent.teamId);
    return { agent, profile: (await this.store.getProfile(agent.profileId))! };
  }

  /** Opens a root session for an agent (by an operator, or by the agent with its own credential). */
  async open(input: OpenSessionInput, by: Actor): Promise<IssuedToken> {
    const { agent, profile } = await this.activeAgent(input.agent);
    const models = narrow(input.models, this.resolveModels([profile.models]), 'models', 'the profile', 'invalid_scope');
    const context = rootContext(agent, profile, input.context, input.tags);
    await this.options.policy?.authorizeOpen(agent, profile, context, by.requestId);
    const ttl = ttlWithin(input.ttlSeconds, profile);
    const budget: Budget = { tokens: unit(input.budget?.tokens, profile, 'tokens', null), usdNano: unit(input.budget?.usdNano, profile, 'usdNano', null) };
    const createdAt = this.now();
    const id = newId('ses');
    const session = await this.store.createSession({
      id, agentId: agent.id, teamId: agent.teamId, profileId: profile.id, parentId: null, task: input.task, budget, models,
      scopes: {
        tools: layers([profile.tools], input.tools), resources: layers([profile.resources], input.resources), prompts: layers([profile.prompts], input.prompts),
        approvals: [profile.toolApprovals],
      },
      context, createdAt, expiresAt: createdAt + ttl * 1000, chain: [id],
      enforcement: input.enforcement ?? null,
    });
    await this.ledger.load(session);
    this.directory.sessions.set(session.id, session);
    const issued = await this.issueToken(session);
    await this.audit.record({ ...by, type: 'session.opened', agentId: agent.id, sessionId: session.id, teamId: agent.teamId, chain: session.chain, data: { task: session.task, budget: budgetData(budget), models, jti: issued.jti } });
    return issued;
  }

  /**
   * Opens a child session under `parent` (delegation, RFC 8693 token exchange): scope a subset of
   * the parent's, budget a slice of the parent's remaining budget, expiry no later than the parent's.
   */
  async delegate(parent: Session, input: DelegateInput, by: Actor): Promise<IssuedToken> {
    if (parent.status !== 'active' || parent.expiresAt <= this.now()) throw new GatewayError('session_inactive');
    await this.requireActiveAgent(parent.agentId);
    const depth = parent.chain.length; // the child's depth
    if (depth > this.options.maxDelegationDepth) {
      throw new GatewayError('forbidden', `delegation deeper than ${this.options.maxDelegationDepth} levels is not allowed`, { details: { oauth: 'invalid_request' } });
    }
    const { agent, profile } = await this.activeAgent(input.agent ?? parent.agentId);
    if (agent.teamId !== parent.teamId && !this.options.allowCrossTeamDelegation) {
      // The child's spend would land on another team's budget: only where the operator allows it.
      throw new GatewayError('forbidden', `agent "${agent.name}" belongs to another team`, { details: { oauth: 'invalid_target' } });
    }
    const held = this.resolveModels([profile.models], parent.models);
    const models = narrow(input.models, held, 'scope', 'the parent session', 'invalid_scope');
    if (models.length === 0) throw new GatewayError('forbidden', 'the child agent may use none of the parent\'s models', { details: { oauth: 'invalid_scope' } });
    const context = { ...childContext(parent, agent, profile, input.context, input.tags), delegation_depth: depth };
    await this.options.policy?.authorizeDelegate(parent, agent, profile, context, by.requestId);
    const remaining = this.ledger.remaining([await this.ledger.load(parent)]);
    const budget = childBudget(input.budget, profile, remaining);
    for (const u of ['tokens', 'usdNano'] as const) {
      const left = remaining[u];
      if (left !== null && budget[u] !== null && budget[u] > left) {
        throw new GatewayError('budget_exceeded', `the requested ${u === 'usdNano' ? 'USD' : 'token'} budget is more than the parent session has left`, { details: { level: 'parent_session', oauth: 'invalid_target' } });
      }
    }
    const createdAt = this.now();
    const ttl = ttlWithin(input.ttlSeconds, profile);
    const id = newId('ses');
    const child = await this.store.createSession({
      id, agentId: agent.id, teamId: agent.teamId, profileId: profile.id, parentId: parent.id, task: input.task, budget, models,
      scopes: {
        tools: layers([...inherited(parent.scopes.tools), profile.tools], input.tools),
        resources: layers([...inherited(parent.scopes.resources), profile.resources], input.resources),
        prompts: layers([...inherited(parent.scopes.prompts), profile.prompts], input.prompts),
        // Approvals only accumulate: what needed a human for the parent needs one for the child.
        approvals: [...(parent.scopes.approvals ?? []), profile.toolApprovals],
      },
      context,
      createdAt, expiresAt: Math.min(createdAt + ttl * 1000, parent.expiresAt), chain: [...parent.chain, id],
    });
    // The ledger check above and this hold run in one turn for the parent: a concurrent call on
    // the parent may have reserved meanwhile, so delegate() checks again and may refuse.
    try {
      await this.ledger.delegate(parent, child);
    } catch (err) {
      await this.store.endSessions([child.id], 'revoked');
      throw err;
    }
    this.directory.sessions.set(child.id, child);
    const issued = await this.issueToken(child);
    await this.audit.record({ ...by, type: 'session.delegated', agentId: agent.id, sessionId: child.id, teamId: agent.teamId, chain: child.chain, data: { parent: parent.id, task: child.task, budget: budgetData(budget), models, depth, jti: issued.jti } });
    return issued;
  }

  /**
   * A new token for the same session (a client refreshing before expiry). A suspended session may
   * refresh too: its calls are refused while it is suspended, so the token grants nothing until a
   * human resumes it — and without it, a suspension longer than the token's lifetime would leave
   * the session unusable once resumed.
   */
  async refresh(session: Session): Promise<IssuedToken> {
    if (!isLive(session) || session.expiresAt <= this.now()) throw new GatewayError('session_inactive');
    await this.requireActiveAgent(session.agentId);
    return this.issueToken(session);
  }

  /** Refuses an agent that is not active (`agent_inactive`), or of a suspended team (`team_suspended`). */
  async requireActiveAgent(agentId: string): Promise<void> {
    const agent = await this.directory.agents.get(agentId);
    if (agent?.status !== 'active') throw new GatewayError('agent_inactive', `The agent is ${agent?.status ?? 'unknown'}.`);
    await requireActiveTeam(this.directory, agent.teamId);
  }

  async issueToken(session: Session): Promise<IssuedToken & { jti: string }> {
    const act = await this.actorChain(session);
    const { token, claims } = await this.tokens.issue({ agentId: session.agentId, sessionId: session.id, sessionExpiresAt: session.expiresAt, scope: session.models, act });
    return { session, token, expiresAt: claims.exp * 1000, jti: claims.jti };
  }

  /** RFC 8693 `act`: the delegating parent outermost, earlier delegators nested inside. */
  private async actorChain(session: Session): Promise<ActorClaim | undefined> {
    let act: ActorClaim | undefined;
    for (const id of session.chain.slice(0, -1)) {
      const ancestor = await this.directory.sessions.get(id);
      if (ancestor) act = { sub: ancestor.agentId, sid: ancestor.id, ...(act ? { act } : {}) };
    }
    return act;
  }

  /**
   * Ends a session and its whole subtree (`closed` by the agent or an operator when the task is
   * done, `revoked` to cut it off); children are settled before parents so unused budget flows up.
   */
  async end(sessionId: string, status: 'closed' | 'revoked', by: Actor): Promise<string[]> {
    const tree = await this.store.sessionTree(sessionId);
    if (tree.length === 0) throw new GatewayError('not_found', `session "${sessionId}" does not exist`);
    for (const s of tree) await this.ledger.load(s);
    const changed = await this.store.endSessions(tree.map((s) => s.id), status);
    // Out of the directory at once (its calls in flight are checked again and cut), whatever follows.
    for (const s of tree) this.directory.sessions.delete(s.id);
    // Already ended, all of it: an idempotent retry, which records nothing — unless the end it
    // retries failed after the change committed and before its event was written (then that event).
    const ended = changed.length > 0 ? changed : tree.filter((s) => s.status === status).map((s) => s.id);
    const recordedNow = changed.length > 0 ? changed : await this.unrecordedEnds(tree, ended, status);
    const root = tree[0]!;
    // Queued before the ledger settles the tree, so that a failure there cannot leave the end unrecorded.
    const recorded = recordedNow.length === 0 ? null : this.audit.record({
      ...by, type: `session.${status}`, agentId: root.agentId, sessionId: root.id, teamId: root.teamId, chain: root.chain,
      data: { sessions: recordedNow, reason: by.reason ?? null, ...(changed.length === 0 ? { recovered: true } : {}) },
    });
    for (const s of [...tree].reverse()) await this.ledger.end(s.id);
    await recorded;
    // Their approvals still pending have nobody left to decide for: closed (denied) with them. A
    // retry closes what a failed first attempt left (none, when it had not failed).
    if (ended.length > 0) await this.options.onEnded?.(ended, status, by);
    return changed;
  }

  /**
   * Those of `ended` (sessions of `tree` ended as `status`) that no `session.<status>` event names
   * — their own end's, or that of an ancestor whose tree they ended with. Only sessions on the
   * record (`session.opened`, `session.delegated`): a delegation rolled back before its event
   * ended a session nobody was told of.
   */
  private async unrecordedEnds(tree: readonly Session[], ended: readonly string[], status: 'closed' | 'revoked'): Promise<string[]> {
    if (ended.length === 0) return [];
    // An end of the same tree that this process is recording right now is written first.
    await this.audit.flush();
    const sessionIds = [...new Set([...tree[0]!.chain, ...tree.map((s) => s.id)])];
    const events = await this.store.listEvents({ type: 'session.*', sessionIds, limit: 10_000 });
    const announced = new Set(events.filter((e) => e.type === 'session.opened' || e.type === 'session.delegated').map((e) => e.sessionId));
    const named = new Set(events.filter((e) => e.type === `session.${status}`).flatMap((e): unknown[] => (Array.isArray(e.data.sessions) ? e.data.sessions : [])));
    return ended.filter((id) => announced.has(id) && !named.has(id));
  }

  /**
   * Suspends a session and its active subtree (containment): calls are refused with 403
   * `session_suspended` until `resume`. Budget holds stay; nothing is settled. Returns the
   * sessions suspended.
   */
  async suspend(sessionId: string, by: Actor, data: Record<string, unknown> = {}): Promise<string[]> {
    return this.oneAtATime(`session:${sessionId}`, () => this.move(sessionId, 'active', 'suspended', by, data));
  }

  /** Lets a suspended session (and the part of its subtree suspended with it) call again. */
  async resume(sessionId: string, by: Actor, data: Record<string, unknown> = {}): Promise<string[]> {
    return this.oneAtATime(`session:${sessionId}`, () => this.move(sessionId, 'suspended', 'active', by, data));
  }

  /**
   * Runs the status changes of one subject (`agent:<id>`, `team:<id>`, `session:<id>`) one at a
   * time in this process: the second of two at once (two alerts, an alert and an operator) then
   * finds the first's change on the record — a revoke records only after ending the agent's
   * sessions, and would otherwise look lost to the other. Replicas sharing a store may still both
   * record one, the second marked `recovered` (as for `session.revoked`).
   */
  private async oneAtATime<T>(subject: string, change: () => Promise<T>): Promise<T> {
    const before = this.changing.get(subject);
    const run = before ? before.then(change, change) : change();
    const settled = run.then(() => undefined, () => undefined);
    this.changing.set(subject, settled);
    try {
      return await run;
    } finally {
      if (this.changing.get(subject) === settled) this.changing.delete(subject);
    }
  }

  /**
   * Containment holds a whole subtree: one of its sessions resumes only with the suspended
   * ancestor that holds it (and that ancestor's resume approval). Throws 409 naming it.
   */
  async assertResumable(session: Session): Promise<void> {
    for (const ancestorId of session.chain.slice(0, -1)) {
      const ancestor = await this.store.getSession(ancestorId);
      if (ancestor?.status === 'suspended') {
        throw new GatewayError('conflict', `session "${session.id}" is suspended with its ancestor "${ancestorId}": resume that session instead`, { details: { suspended_ancestor: ancestorId } });
      }
    }
  }

  private async move(sessionId: string, from: 'active' | 'suspended', to: 'active' | 'suspended', by: Actor, data: Record<string, unknown>): Promise<string[]> {
    let tree = await this.store.sessionTree(sessionId);
    if (tree.length === 0) throw new GatewayError('not_found', `session "${sessionId}" does not exist`);
    const type = to === 'suspended' ? 'session.suspended' : 'session.resumed';
    let root = tree[0]!;
    if (root.status === from) {
      if (to === 'active') await this.assertResumable(root);
      const changed = await this.store.moveSessions(tree.map((s) => s.id), from, to);
      for (const id of changed) this.directory.sessions.delete(id);
      if (changed.length > 0) {
        await this.audit.record({ ...by, type, agentId: root.agentId, sessionId: root.id, teamId: root.teamId, chain: root.chain, data: { sessions: changed, reason: by.reason ?? null, ...data } });
        return changed;
      }
      // Another caller moved it between our read and our change: it records the move.
      tree = await this.store.sessionTree(sessionId);
      root = tree[0]!;
    }
    if (root.status !== to) throw new GatewayError('conflict', `session "${sessionId}" is ${root.status}`);
    // Already moved: by another caller (who records it), or by a request whose event a crash lost
    // between the change and its record — a retry records it now, marked `recovered`.
    const unrecorded = await this.unrecordedMoves(tree, type);
    if (unrecorded.length === 0) throw new GatewayError('conflict', `session "${sessionId}" is ${root.status}`);
    await this.audit.record({ ...by, type, agentId: root.agentId, sessionId: root.id, teamId: root.teamId, chain: root.chain, data: { sessions: unrecorded, reason: by.reason ?? null, ...data, recovered: true } });
    return [];
  }

  /**
   * Those sessions of `tree` whose present status (`type`: suspended or resumed) the record does
   * not say: the newest `session.suspended`/`session.resumed` naming them says otherwise, or — for
   * a suspension — none does.
   */
  private async unrecordedMoves(tree: readonly Session[], type: 'session.suspended' | 'session.resumed'): Promise<string[]> {
    const status = type === 'session.suspended' ? 'suspended' : 'active';
    // A move of the same tree that this process is recording right now is written first.
    await this.audit.flush();
    const sessionIds = [...new Set([...tree[0]!.chain, ...tree.map((s) => s.id)])];
    const last = new Map<unknown, string>();
    for (const e of await this.store.listEvents({ type: 'session.*', sessionIds, limit: 10_000 })) {
      if (e.type !== 'session.suspended' && e.type !== 'session.resumed') continue;
      for (const id of Array.isArray(e.data.sessions) ? e.data.sessions : []) if (!last.has(id)) last.set(id, e.type);
    }
    return tree.filter((s) => s.status === status && (last.get(s.id) ?? 'session.resumed') !== type).map((s) => s.id);
  }

  /**
   * Whether the newest status event of a subject (`filter`: its events of a type prefix; `types`:
   * its status events) is `type` — or, with none, whether `type` is `initial`. False means a status
   * changed without its event: a crash between the two.
   */
  private async statusRecorded(filter: EventFilter, types: readonly string[], type: string, initial: string): Promise<boolean> {
    await this.audit.flush();
    const events = await this.store.listEvents({ ...filter, limit: 10_000 });
    return (events.find((e) => types.includes(e.type))?.type ?? initial) === type;
  }

  /**
   * Suspends, resumes or revokes an agent. Revoking ends every session at once; suspending
   * refuses its calls (the agent check) and new tokens. A revoked agent stays revoked.
   */
  async setAgentStatus(idOrName: string, status: 'active' | 'suspended' | 'revoked', by: Actor, data: Record<string, unknown> = {}): Promise<{ agent: Agent; ended: string[] }> {
    const found = await this.store.getAgent(idOrName);
    if (!found) throw new GatewayError('not_found', `agent "${idOrName}" does not exist`);
    return this.oneAtATime(`agent:${found.id}`, () => this.changeAgentStatus(found.id, status, by, data));
  }

  private async changeAgentStatus(id: string, status: 'active' | 'suspended' | 'revoked', by: Actor, data: Record<string, unknown>): Promise<{ agent: Agent; ended: string[] }> {
    const agent = (await this.store.getAgent(id))!;
    if (agent.status === 'revoked' && status !== 'revoked') throw new GatewayError('conflict', `agent "${agent.name}" is revoked for good; create a new agent`);
    // Null when it has that status already (of two callers at once, one moves it and records it).
    const updated = await this.store.setAgentStatus(agent.id, status);
    this.directory.agents.delete(agent.id);
    this.directory.agents.delete(agent.name);
    // A repeated revoke still ends what a failed first one left live (their ends are recorded).
    const ended = status === 'revoked' ? await this.endAgentSessions(agent.id, by) : [];
    const type = `agent.${status === 'active' ? 'resumed' : status}`;
    // Already so, and on the record: nothing to do. Not on the record: a crash came between the
    // change and its event, and this retry records it, marked `recovered`.
    if (!updated && await this.statusRecorded({ type: 'agent.*', agentId: agent.id }, AGENT_STATUS_EVENTS, type, 'agent.resumed')) {
      if (status === 'revoked') return { agent, ended };
      throw new GatewayError('conflict', `agent "${agent.name}" is already ${status}`);
    }
    await this.audit.record({ ...by, type, agentId: agent.id, teamId: agent.teamId, data: { reason: by.reason ?? null, sessions_ended: ended, ...data, ...(updated ? {} : { recovered: true }) } });
    return { agent: updated ?? (await this.store.getAgent(agent.id))!, ended };
  }

  /**
   * Suspends or resumes a team: while suspended, its agents' calls are refused (`team_suspended`),
   * their calls in flight are cut, and they get no sessions or tokens. Their sessions stay as they
   * are, and resume with the team.
   */
  async setTeamStatus(idOrName: string, status: TeamStatus, by: Actor): Promise<Team> {
    const team = await this.store.getTeam(idOrName);
    if (!team) throw new GatewayError('not_found', `team "${idOrName}" does not exist`);
    return this.oneAtATime(`team:${team.id}`, () => this.changeTeamStatus(team, status, by));
  }

  private async changeTeamStatus(team: Team, status: TeamStatus, by: Actor): Promise<Team> {
    const updated = await this.store.setTeamStatus(team.id, status);
    const type = `team.${status === 'active' ? 'resumed' : 'suspended'}`;
    // As for agents: already so and on the record is a conflict; not on the record, a retry records it.
    if (!updated && await this.statusRecorded({ type: 'team.*', teamId: team.id }, TEAM_STATUS_EVENTS, type, 'team.resumed')) {
      throw new GatewayError('conflict', `team "${team.name}" is already ${status}`);
    }
    this.directory.teams.delete(team.id);
    this.directory.teams.delete(team.name);
    await this.audit.record({ ...by, type, teamId: team.id, data: { reason: by.reason ?? null, ...(updated ? {} : { recovered: true }) } });
    return updated ?? (await this.store.getTeam(team.id))!;
  }

  /**
   * Ends sessions whose time is up (status `closed`, reason `expired`), so that a delegated
   * session's unused slice returns to its parent without anyone having to close it. Returns how
   * many sessions ended.
   */
  async endExpired(limit = 500): Promise<number> {
    let ended = 0;
    for (const s of await this.store.expiredSessions(this.now(), limit)) {
      const current = await this.store.getSession(s.id);
      if (current && isLive(current)) ended += (await this.end(s.id, 'closed', { actor: 'system', reason: 'expired' })).length;
    }
    return ended;
  }

  /** Ends every active session of an agent (revoke or suspend an agent, revoke a team). */
  async endAgentSessions(agentId: string, by: Actor): Promise<string[]> {
    const ended: string[] = [];
    const live = [...(await this.store.listSessions({ agentId, status: 'active', limit: 100_000 })), ...(await this.store.listSessions({ agentId, status: 'suspended', limit: 100_000 }))];
    for (const s of live) {
      const current = await this.store.getSession(s.id);
      if (current && isLive(current)) ended.push(...(await this.end(s.id, 'revoked', by)));
    }
    return ended;
  }

  /**
   * Renews a session instead of replacing it: more time (from now, within the profile's maximum
   * and never past its parent's end) and/or more budget (added; a delegated session's addition is
   * carved from its parent). Its identity, chain and history stay one record. A renewal only ever
   * extends: a time that would end the session sooner than it ends now is refused (close or revoke
   * a session to end it early), and so is a renewal that changes nothing.
   */
  async renew(sessionId: string, change: { ttlSeconds?: number; budget?: { tokens?: number; usdNano?: number } }, by: Actor): Promise<Session> {
    const session = await this.store.getSession(sessionId);
    if (!session) throw new GatewayError('not_found', `session "${sessionId}" does not exist`);
    if (session.status !== 'active') throw new GatewayError('conflict', `session "${sessionId}" is ${session.status}`);
    const added = change.budget?.tokens || change.budget?.usdNano ? { tokens: change.budget.tokens ?? 0, usdNano: change.budget.usdNano ?? 0 } : null;
    if (change.ttlSeconds === undefined && !added) {
      throw new GatewayError('invalid_request', 'Nothing to renew: give ttl_seconds (more time, from now) and/or a budget to add.');
    }
    const profile = (await this.store.getProfile(session.profileId))!;
    let expiresAt: number | undefined;
    if (change.ttlSeconds !== undefined) {
      expiresAt = this.now() + ttlWithin(change.ttlSeconds, profile) * 1000;
      const parent = session.parentId ? await this.store.getSession(session.parentId) : null;
      if (parent) expiresAt = Math.min(expiresAt, parent.expiresAt);
      if (expiresAt < session.expiresAt) {
        const left = Math.ceil((session.expiresAt - this.now()) / 1000);
        throw new GatewayError('invalid_request', `ttl_seconds ${change.ttlSeconds} would end the session at ${isoTime(expiresAt)}, before its present end (${isoTime(session.expiresAt)}, ${left} s from now): a renewal only extends. Close or revoke the session to end it early.`, {
          param: 'ttl_seconds', details: { expires_at: isoTime(session.expiresAt) },
        });
      }
    }
    let budget: Budget | undefined;
    if (added) {
      // As when it was opened: never above the profile's maximum.
      await growSessionBudget(this.ledger, session, added, 'budget', profile.sessionBudget.max);
      budget = this.ledger.session(session.id).budget;
    }
    // Only ever later: the sessions delegated from it, which end no later than it did, still do.
    const updated = (await this.store.updateSession(session.id, { budget, expiresAt }))!;
    this.directory.sessions.set(updated.id, updated);
    await this.audit.record({
      ...by, type: 'session.renewed', agentId: updated.agentId, sessionId: updated.id, teamId: updated.teamId, chain: updated.chain,
      data: { reason: by.reason ?? null, expires_at: updated.expiresAt, budget: budgetData(updated.budget), added: { tokens: change.budget?.tokens ?? null, usd: change.budget?.usdNano === undefined ? null : change.budget.usdNano / 1e9 } },
    });
    return updated;
  }

}

const AGENT_STATUS_EVENTS = ['agent.suspended', 'agent.resumed', 'agent.revoked'];
const TEAM_STATUS_EVENTS = ['team.suspended', 'team.resumed'];

/** Narrows `allowed` to the requested names or globs; a plain name not allowed is an error. */
function narrow(requested: string[] | undefined, allowed: string[], param: string, of: string, oauth = 'invalid_request'): string[] {
  if (!requested) return allowed;
  const outside = requested.filter((m) => !isPattern(m) && !allowed.includes(m));
  if (outside.length > 0) throw new GatewayError('invalid_request', `${param} not held by ${of}: ${outside.join(', ')}`, { param, details: { oauth } });
  const problems = scopeProblems(requested);
  if (problems.length > 0) throw new GatewayError('invalid_request', `${param}: ${problems.join('; ')}`, { param, details: { oauth } });
  return resolveNames([requested], allowed);
}

/** A parent's layers as a child inherits them; a parent stored before scopes existed held nothing. */
const inherited = (parentLayers: string[][]): string[][] => (parentLayers.length === 0 ? [[]] : parentLayers);

/** Inherited scope layers, plus the requested narrowing as one more layer. */
function layers(inherited: string[][], requested: string[] | undefined): string[][] {
  if (!requested) return inherited;
  const problems = scopeProblems(requested);
  if (problems.length > 0) throw new GatewayError('invalid_request', `scope: ${problems.join('; ')}`, { param: 'scope', details: { oauth: 'invalid_scope' } });
  return [...inherited, [...new Set(requested)]];
}

function ttlWithin(requested: number | undefined, profile: Profile): number {
  const ttl = requested ?? profile.sessionTtlSeconds.default;
  if (ttl > profile.sessionTtlSeconds.max) {
    throw new GatewayError('invalid_request', `ttl_seconds is above the profile's maximum (${profile.sessionTtlSeconds.max})`, { param: 'ttl_seconds' });
  }
  return ttl;
}

/**
 * A budget unit: as requested (never above the profile's maximum), else the profile's default
 * (or maximum), capped at `cap` — for a child session, what its parent has left in that unit.
 */
function unit(requested: number | undefined, profile: Profile, u: keyof Budget, cap: number | null): number | null {
  const max = profile.sessionBudget.max[u];
  const name = u === 'usdNano' ? 'usd' : 'tokens';
  if (requested !== undefined) {
    if (max !== null && requested > max) {
      throw new GatewayError('invalid_request', `budget.${name} is above the profile's maximum (${u === 'usdNano' ? max / 1e9 : max})`, { param: `budget.${name}` });
    }
    return requested;
  }
  const value = profile.sessionBudget.default[u] ?? max;
  if (cap === null) return value;
  return value === null ? Math.max(0, cap) : Math.max(0, Math.min(value, cap));
}

/**
 * A child session's budget, carved from what its parent has left (`left`). Each unit as named;
 * a unit not named is the child profile's default (or maximum) within what the parent has left —
 * and, when the other unit is named, within the same share of what the parent has left in it
 * (naming a tenth of the parent's tokens carves at most a tenth of its dollars): a slice named in
 * one unit never takes all the parent has in the other. Where the parent is limited in the unit
 * not named but not in the one named, there is no share to take: the unit must be named (400).
 */
function childBudget(named: { tokens?: number; usdNano?: number } | undefined, profile: Profile, left: { tokens: number | null; usdNano: number | null }): Budget {
  const budget: Budget = { tokens: unit(named?.tokens, profile, 'tokens', left.tokens), usdNano: unit(named?.usdNano, profile, 'usdNano', left.usdNano) };
  for (const [u, other] of [['tokens', 'usdNano'], ['usdNano', 'tokens']] as const) {
    const amount = named?.[u];
    const otherLeft = left[other];
    if (amount === undefined || named?.[other] !== undefined || otherLeft === null) continue;
    const leftInNamed = left[u];
    if (leftInNamed === null) {
      const name = other === 'usdNano' ? 'usd' : 'tokens';
      const shown = other === 'usdNano' ? `$${(Math.max(0, otherLeft) / 1e9).toFixed(6)}` : `${Math.max(0, otherLeft)} tokens`;
      throw new GatewayError('invalid_request', `the parent session has a ${name === 'usd' ? 'USD' : 'token'} budget (${shown} left) and none in the unit named: name the child's ${name === 'usd' ? 'USD' : 'token'} slice too (budget.${name})`, { param: `budget.${name}` });
    }
    // Nothing left in the named unit: no share of the other (a positive amount is refused below).
    const share = leftInNamed <= 0 ? 0 : Math.min(1, amount / leftInNamed);
    budget[other] = Math.min(budget[other] ?? Number.POSITIVE_INFINITY, Math.floor(share * Math.max(0, otherLeft)));
  }
  return budget;
}

const budgetData = (b: Budget) => ({ tokens: b.tokens, usd: b.usdNano === null ? null : b.usdNano / 1e9 });

/** Refuses the agents of a suspended team (`team_suspended`). */
export async function requireActiveTeam(directory: Directory, teamId: string): Promise<void> {
  refuseSuspendedTeam(await directory.teams.get(teamId));
}

/** Throws `team_suspended` for a suspended team (synchronous, for the call path's cached lookups). */
export function refuseSuspendedTeam(team: Team | null | undefined): void {
  if (team?.status === 'suspended') throw new GatewayError('team_suspended', undefined, { details: { team_id: team.id } });
}
