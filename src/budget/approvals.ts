// Step-up approvals: a soft-mode session that crosses its threshold stops spending until a human
// decides. Concurrent calls crossing at once raise exactly one pending approval; a call may wait
// a short while for the decision; an approval may grant extra budget; a denial stops the session.
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/index.js';
import { GatewayError } from '../errors/index.js';
import type { Approval, Budget, Session, Store } from '../store/index.js';
import { newId } from '../util/ids.js';
import { isoTime } from '../util/time.js';
import { WebhookTarget } from '../util/webhook.js';
import { growSessionBudget, type Ledger } from './ledger.js';

export type GateState = 'none' | 'pending' | 'approved' | 'denied';

export interface Decision {
  approve: boolean;
  extraBudget?: Budget;
  reason?: string;
  decidedBy: string;
  /** The named operator deciding (recorded in the audit event; checked for separation of duties). */
  operator?: { id: string; name: string; role: string };
  requestId?: string;
}

export interface ApprovalServiceOptions {
  webhookUrl?: string;
  logger: Logger;
  now?: () => number;
  /** Called after an approval changes a session's budget (to refresh caches). */
  onSessionChanged?: (session: Session) => void;
  /**
   * Separation of duties (approvals.separation_of_duties): an operator may not approve a budget
   * step-up for a session of an agent they own.
   */
  separationOfDuties?: boolean;
  /** Carries out a decided `resume` approval (resume the session, or end it). */
  onResumeDecided?: (approval: Approval, decidedBy: string) => Promise<void>;
  /** Throws when a `resume` approval could not resume its session now (an ancestor holds it suspended): checked before it is approved. */
  beforeResume?: (session: Session) => Promise<void>;
}

/** How a session ended (one past its expiry is `closed` by the minute upkeep, reason `expired`). */
export type SessionEnd = 'closed' | 'revoked';

/** Pending approvals read at a time. */
const PENDING_PAGE = 500;

const noExtra = (): Budget => ({ tokens: null, usdNano: null });

/** How a session has ended; null while it stands. */
const sessionEnd = (session: Session): SessionEnd | null => (session.status === 'closed' || session.status === 'revoked' ? session.status : null);

export class ApprovalService {
  private readonly gates = new Map<string, { state: GateState; approvalId: string | null }>();
  private readonly creating = new Map<string, Promise<Approval>>();
  private readonly waiters = new Map<string, Set<(a: Approval) => void>>();
  private readonly now: () => number;

  /** Where notices go (`approvals.webhook_url`). */
  private readonly webhook: WebhookTarget | undefined;

  constructor(
    private readonly store: Store,
    private readonly ledger: Ledger,
    private readonly audit: AuditLog,
    private readonly options: ApprovalServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.webhook = options.webhookUrl ? new WebhookTarget(options.webhookUrl) : undefined;
  }

  /** Loads a session's gate from its latest approval (once per session). */
  async load(sessionId: string): Promise<void> {
    if (this.gates.has(sessionId)) return;
    const [latest] = await this.store.listApprovals({ sessionId, kind: 'budget', limit: 1 });
    if (!this.gates.has(sessionId)) this.gates.set(sessionId, { state: latest?.status ?? 'none', approvalId: latest?.id ?? null });
  }

  gate(sessionId: string): GateState {
    return this.gates.get(sessionId)?.state ?? 'none';
  }

  /** The pending approval for the session, raised now if there is none. */
  request(session: Session, context: Record<string, unknown>, requestId: string): Promise<Approval> {
    const gate = this.gates.get(session.id);
    if (gate?.state === 'pending' && gate.approvalId) {
      return this.store.getApproval(gate.approvalId).then((a) => a ?? this.create(session, context, requestId));
    }
    // One creation per session at a time: concurrent callers share it.
    let creating = this.creating.get(session.id);
    if (!creating) {
      creating = this.create(session, context, requestId).finally(() => this.creating.delete(session.id));
      this.creating.set(session.id, creating);
    }
    return creating;
  }

  private async create(session: Session, given: Record<string, unknown>, requestId: string | null, kind: Approval['kind'] = 'budget'): Promise<Approval> {
    // Whoever decides sees which task, and which chain of agents, is asking.
    const context = { task: session.task, chain: session.chain, ...given };
    const approval: Approval = {
      id: newId('apr'), kind, consumedAt: null, sessionId: session.id, agentId: session.agentId, teamId: session.teamId, status: 'pending', createdAt: this.now(),
      decidedAt: null, decidedBy: null, reason: null, extraBudget: { tokens: null, usdNano: null }, context,
    };
    await this.store.putApproval(approval);
    if (kind === 'budget') this.gates.set(session.id, { state: 'pending', approvalId: approval.id });
    await this.audit.record({ type: 'approval.requested', actor: kind === 'resume' ? 'system' : `agent:${session.agentId}`, requestId, agentId: session.agentId, sessionId: session.id, teamId: session.teamId, chain: session.chain, data: { approval: approval.id, ...context } });
    this.notify('approval.requested', approval);
    return approval;
  }

  /**
   * The latest approval of one exact tool call on a session (same tool, same arguments hash)
   * that still counts: pending, denied, or approved within `ttlMs` and not yet used.
   */
  async findToolApproval(sessionId: string, tool: string, argumentsSha256: string, ttlMs: number): Promise<Approval | null> {
    const now = this.now();
    for (const a of await this.store.listApprovals({ sessionId, kind: 'tool', limit: 500 })) {
      if (a.context.tool !== tool || a.context.arguments_sha256 !== argumentsSha256) continue;
      if (a.status === 'pending') return a;
      if ((a.decidedAt ?? a.createdAt) + ttlMs < now) return null;
      if (a.status === 'denied' || a.consumedAt === null) return a;
      return null;
    }
    return null;
  }

  /** Raises an approval for one tool call; the approver sees the tool and its exact arguments. */
  async requestTool(session: Session, context: Record<string, unknown> & { tool: string; arguments_sha256: string }, requestId: string): Promise<Approval> {
    const key = `tool:${session.id}:${context.tool}:${context.arguments_sha256}`;
    let creating = this.creating.get(key);
    if (!creating) {
      creating = this.create(session, { kind: 'tool', ...context }, requestId, 'tool').finally(() => this.creating.delete(key));
      this.creating.set(key, creating);
    }
    return creating;
  }

  /**
   * The approval a suspended session waits on: approving resumes it, denying revokes it. One
   * pending per session — a second suspension joins the first.
   */
  async requestResume(session: Session, context: Record<string, unknown>): Promise<Approval> {
    const [pending] = await this.pendingResume(session.id);
    if (pending) return pending;
    const key = `resume:${session.id}`;
    let creating = this.creating.get(key);
    if (!creating) {
      creating = this.create(session, { kind: 'resume', ...context }, null, 'resume').finally(() => this.creating.delete(key));
      this.creating.set(key, creating);
    }
    return creating;
  }

  get(id: string): Promise<Approval | null> {
    return this.store.getApproval(id);
  }

  /**
   * Closes the pending approvals of sessions that have ended: each is denied by `system`, the
   * reason saying how the session ended (`session revoked: <why>`), recorded (`approval.denied`)
   * and notified like any decision; a call or an agent waiting on it gets the denial at once.
   * Failures are logged, never thrown (approving one later closes it; denying it is as good).
   */
  async closeForSessions(sessionIds: readonly string[], ended: SessionEnd, by: { reason?: string; requestId?: string } = {}): Promise<Approval[]> {
    const closed: Approval[] = [];
    const sessions = await this.withPending(sessionIds).catch((err: unknown) => {
      this.options.logger.warn({ err }, 'the pending approvals could not be read at once: each ended session is asked after by itself');
      return sessionIds;
    });
    for (const sessionId of sessions) {
      try {
        let session: Session | null | undefined;
        // A page at a time: each one closed (or decided meanwhile) is no longer pending.
        for (let pending = await this.pendingOf(sessionId); pending.length > 0; pending = await this.pendingOf(sessionId)) {
          session ??= await this.store.getSession(sessionId);
          if (!session) break;
          const before = closed.length;
          for (const a of pending) {
            const done = await this.close(a, session, ended, by);
            if (done) closed.push(done);
          }
          if (closed.length === before) break;
        }
      } catch (err) {
        this.options.logger.warn({ err, session: sessionId }, 'the pending approvals of an ended session could not be closed');
      }
    }
    return closed;
  }

  private pendingOf(sessionId: string): Promise<Approval[]> {
    return this.store.listApprovals({ sessionId, status: 'pending', limit: PENDING_PAGE });
  }

  /**
   * Those of `sessionIds` that may have a pending approval, in one query: pending approvals are
   * few (each waits for a person), so all of them are read and matched — a revoked tree or an
   * upkeep sweep of hundreds of sessions costs one query, not one per session. Past a page of
   * pending ones, every session is asked after by itself.
   */
  private async withPending(sessionIds: readonly string[]): Promise<readonly string[]> {
    if (sessionIds.length <= 1) return sessionIds;
    const pending = await this.store.listApprovals({ status: 'pending', limit: PENDING_PAGE });
    if (pending.length === PENDING_PAGE) return sessionIds;
    const waiting = new Set(pending.map((a) => a.sessionId));
    return sessionIds.filter((id) => waiting.has(id));
  }

  /** Denies one pending approval of an ended session as `system`; null if it was decided meanwhile. */
  private async close(approval: Approval, session: Session, ended: SessionEnd, by: { reason?: string; requestId?: string }): Promise<Approval | null> {
    const reason = `session ${ended}${by.reason ? `: ${by.reason}` : ''}`;
    const decided = await this.store.decideApproval(approval.id, { status: 'denied', decidedAt: this.now(), decidedBy: 'system', reason, extraBudget: noExtra() });
    if (!decided) return null;
    await this.recordDecision(decided, { actor: 'system', requestId: by.requestId ?? null, chain: session.chain, extra: noExtra(), sessionEnded: ended });
    this.wake(decided);
    return decided;
  }

  /** The pending `resume` approval of a suspended session (an empty list when none). */
  pendingResume(sessionId: string): Promise<Approval[]> {
    return this.store.listApprovals({ sessionId, kind: 'resume', status: 'pending', limit: 1 });
  }

  /** Uses an approved tool approval once; false when it was already used (or never approved). */
  async consume(approval: Approval, requestId: string): Promise<boolean> {
    const used = await this.store.consumeApproval(approval.id, this.now());
    if (used) {
      await this.audit.record({ type: 'approval.consumed', actor: `agent:${approval.agentId}`, requestId, agentId: approval.agentId, sessionId: approval.sessionId, teamId: approval.teamId, data: { approval: approval.id, tool: approval.context.tool ?? null } });
    }
    return used;
  }

  /** Approves (optionally adding budget) or denies a pending approval. 409 if already decided. */
  async decide(id: string, d: Decision): Promise<Approval> {
    const pending = await this.store.getApproval(id);
    if (!pending) throw new GatewayError('not_found', `approval "${id}" does not exist`);
    if (pending.status !== 'pending') throw new GatewayError('conflict', `approval "${id}" was already ${pending.status}${pending.decidedBy === 'system' && pending.reason ? ` (${pending.reason})` : ''}`);
    const asksExtra = d.extraBudget !== undefined && ((d.extraBudget.tokens ?? 0) > 0 || (d.extraBudget.usdNano ?? 0) > 0);
    if (asksExtra && pending.kind !== 'budget') {
      throw new GatewayError('invalid_request', `extra_budget applies to budget approvals; approval "${id}" is a ${pending.kind} approval`, { param: 'extra_budget' });
    }
    if (d.approve && d.operator) await this.checkSeparation(pending.agentId, pending.kind, d.operator.name, d.decidedBy);
    // A tool approval lets one call run; budget is added only by budget step-ups.
    const extra = d.approve && pending.kind === 'budget' ? (d.extraBudget ?? noExtra()) : noExtra();
    const session = await this.store.getSession(pending.sessionId);
    if (!session) throw new GatewayError('not_found', `session "${pending.sessionId}" does not exist`);
    // An ended session has nothing left to approve: its approval closes with it, as ending the
    // session does (one left pending by a gateway before this rule; a deny is the operator's).
    const ended = sessionEnd(session);
    if (d.approve && ended) {
      const closed = await this.close(pending, session, ended, {});
      throw new GatewayError('conflict', `session "${session.id}" is ${ended}: approval "${id}" was ${closed ? 'closed (denied) with it' : `already ${(await this.store.getApproval(id))?.status ?? 'decided'}`}`);
    }
    // Approved, it must be able to resume: not left `approved` on a session still held suspended.
    if (d.approve && pending.kind === 'resume') await this.options.beforeResume?.(session);
    const growth = { tokens: extra.tokens ?? 0, usdNano: extra.usdNano ?? 0 };
    const grows = d.approve && (growth.tokens > 0 || growth.usdNano > 0);
    // Carve first (a delegated session's extra comes from its parent): may refuse. Never past the
    // profile's largest session budget, as a renewal cannot go either.
    if (grows) await growSessionBudget(this.ledger, session, growth, 'extra_budget', (await this.store.getProfile(session.profileId))?.sessionBudget.max);
    const decided = await this.store.decideApproval(id, { status: d.approve ? 'approved' : 'denied', decidedAt: this.now(), decidedBy: d.decidedBy, reason: d.reason ?? null, extraBudget: extra });
    if (!decided) {
      // Someone else decided first: take back what this attempt added.
      if (grows) await this.ledger.grow(session.id, { tokens: -growth.tokens, usdNano: -growth.usdNano });
      throw new GatewayError('conflict', `approval "${id}" was already decided`);
    }
    if (grows) {
      const budget = this.ledger.session(session.id).budget;
      const updated = await this.store.updateSession(session.id, { budget });
      if (updated) this.options.onSessionChanged?.(updated);
    }
    await this.recordDecision(decided, { actor: d.decidedBy, operator: d.operator, requestId: d.requestId ?? null, chain: session.chain, extra });
    if (decided.kind === 'resume') await this.options.onResumeDecided?.(decided, d.decidedBy);
    this.wake(decided);
    return decided;
  }

  /** A decision taken: the session's gate follows it, and it goes on the record. */
  private async recordDecision(decided: Approval, by: { actor: string; operator?: Decision['operator']; requestId: string | null; chain: string[]; extra: Budget; sessionEnded?: SessionEnd }): Promise<void> {
    if (decided.kind === 'budget') this.gates.set(decided.sessionId, { state: decided.status, approvalId: decided.id });
    await this.audit.record({
      type: `approval.${decided.status}`, actor: by.actor, operator: by.operator, requestId: by.requestId, agentId: decided.agentId, sessionId: decided.sessionId, teamId: decided.teamId, chain: by.chain,
      data: { approval: decided.id, reason: decided.reason, extra_budget: { tokens: by.extra.tokens, usd: by.extra.usdNano === null ? null : by.extra.usdNano / 1e9 }, ...(by.sessionEnded ? { session_ended: by.sessionEnded } : {}) },
    });
  }

  /** Wakes the calls waiting on a decided approval, and sends its notice. */
  private wake(decided: Approval): void {
    for (const wake of this.waiters.get(decided.id) ?? []) wake(decided);
    this.waiters.delete(decided.id);
    this.notify(`approval.${decided.status}`, decided);
  }

  /**
   * An approval another replica raised or decided (the change feed): the session's gate follows
   * it, and calls here waiting on its decision wake up.
   */
  async changed(id: string): Promise<void> {
    const approval = await this.store.getApproval(id);
    if (!approval) return;
    if (approval.kind === 'budget') this.gates.set(approval.sessionId, { state: approval.status, approvalId: approval.id });
    if (approval.status === 'pending') return;
    for (const wake of this.waiters.get(id) ?? []) wake(approval);
    this.waiters.delete(id);
  }

  /**
   * Separation of duties: an operator may not approve anything (a step-up, a tool call, a resume)
   * for an agent they own — nor for one they declared through the admin API, since whoever declares
   * an agent writes its owner (an operator naming another owner would otherwise approve its own).
   */
  async checkSeparation(agentId: string, kind: Approval['kind'], operatorName: string, actor: string): Promise<void> {
    if (!this.options.separationOfDuties) return;
    const what = kind === 'budget' ? 'budget step-up' : kind === 'tool' ? 'tool call' : 'resume';
    const refuse = (why: string) => new GatewayError('forbidden', `Separation of duties: "${operatorName}" ${why} and may not approve its ${what}; another approver must decide.`, {
      details: { reason: 'separation_of_duties' },
    });
    const owner = (await this.store.getAgent(agentId))?.owner;
    if (owner && owner.trim().toLowerCase() === operatorName.trim().toLowerCase()) throw refuse('owns the agent of this session');
    const declared = await this.store.listEvents({ type: 'agent.created', agentId, limit: 100 });
    if (declared.some((e) => e.actor === actor)) throw refuse('declared the agent of this session');
  }

  /**
   * Waits up to `ms` for a decision on `id`; null when none came in time, or when `signal` ends
   * the wait first (the caller was revoked, or its client went away: nobody is left to answer).
   */
  wait(id: string, ms: number, signal?: AbortSignal): Promise<Approval | null> {
    if (signal?.aborted) return Promise.resolve(null);
    return new Promise((resolve) => {
      const set = this.waiters.get(id) ?? new Set();
      this.waiters.set(id, set);
      const done = (a: Approval | null) => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.waiters.get(id) === set) this.waiters.delete(id);
        signal?.removeEventListener('abort', ended);
        resolve(a);
      };
      const ended = () => done(null);
      const timer = setTimeout(ended, ms);
      signal?.addEventListener('abort', ended, { once: true });
      set.add(done);
    });
  }

  /** Fire-and-forget webhook notice (bounded in time; failures are logged, never block a call). */
  private notify(event: string, approval: Approval): void {
    const target = this.webhook;
    if (!target) return;
    target.post(JSON.stringify({ event, approval: approvalNotice(approval) }), {}, 5000).then(
      (res) => {
        if (!res.ok) this.options.logger.warn({ status: res.status, event }, 'approval webhook refused the notice');
      },
      (err: unknown) => this.options.logger.warn({ err: (err as Error).message, event }, 'approval webhook failed'),
    );
  }
}

/** An approval as its webhook notice carries it (docs/configuration.md#approvals). */
function approvalNotice(a: Approval): Record<string, unknown> {
  return {
    id: a.id, kind: a.kind, session_id: a.sessionId, agent_id: a.agentId, team_id: a.teamId, status: a.status, context: a.context,
    created_at: isoTime(a.createdAt), decided_at: a.decidedAt === null ? null : isoTime(a.decidedAt), decided_by: a.decidedBy, reason: a.reason,
    extra_budget: { tokens: a.extraBudget.tokens, usd: a.extraBudget.usdNano === null ? null : a.extraBudget.usdNano / 1e9 },
  };
}
