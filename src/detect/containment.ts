// Containment: what an alert's actions do. Throttling is held here (the rate-limit stage asks on
// every call: Map lookups) and follows the alert's subject: an alert about a session throttles
// that session, one about an agent (a spend spike) throttles the agent — every session of it, one
// opened after the alert included, sharing one bucket. Suspension and revocation go through the
// session service, so they take effect on the very next request like an operator's would, and are
// audit events.
import type { AuditLog } from '../audit/index.js';
import type { ApprovalService, RateLimit } from '../budget/index.js';
import { GatewayError } from '../errors/index.js';
import type { SessionService } from '../identity/index.js';
import type { Agent, Alert, AlertAction, Session } from '../store/index.js';
import type { Notifier, NoticeEvent } from './notify.js';
import { isoTime } from '../util/time.js';

export type ContainmentAction = 'notify' | 'throttle_session' | 'suspend_session' | 'suspend_agent' | 'revoke_agent';

export interface ContainmentOptions {
  sessions: SessionService;
  approvals: ApprovalService;
  audit: AuditLog;
  notifier: Notifier;
  throttle: { requestsPerMinute: number; durationMs: number };
  /** The agent as the store has it now (its name for notices, its status for suspend_agent). */
  agent: (agentId: string) => Promise<Pick<Agent, 'name' | 'status'> | null>;
  getSession: (id: string) => Promise<Session | null>;
  now: () => number;
}

interface Throttle {
  rpm: number;
  until: number;
  /** The alert that imposed it (resolving that alert lifts it). */
  alert: string;
}

/** A throttle on every session of an agent. */
interface AgentThrottle extends Throttle {
  detector: string;
  teamId: string | null;
  /** Sessions it has met (each gets one `session.throttled` event), at most MAX_COVERED. */
  sessions: Set<string>;
}

/** Sessions of one throttled agent recorded one by one; past this the throttle still holds, unrecorded. */
const MAX_COVERED = 10_000;

export class Containment {
  /** Throttles on one session, by session id. */
  private readonly throttles = new Map<string, Throttle>();
  /** Throttles on an agent, by agent id: they hold for every session of it. */
  private readonly agentThrottles = new Map<string, AgentThrottle>();

  constructor(private readonly o: ContainmentOptions) {}

  /**
   * The throttle on a session of `agentId` now in force — its agent's, else its own — as a rate
   * limit (null: none). On the hot path: Map lookups only, and none at all while nothing is
   * throttled. An agent's throttle is one bucket for all its sessions (a new session is no way
   * out of it), and as tight as a session throttle of the same rate, so it is the one applied
   * when both are.
   */
  throttleFor(sessionId: string, agentId: string): RateLimit | null {
    if (this.agentThrottles.size > 0) {
      const t = this.agentThrottles.get(agentId);
      if (t !== undefined) {
        if (t.until > this.o.now()) {
          if (!t.sessions.has(sessionId) && t.sessions.size < MAX_COVERED) this.cover(t, agentId, sessionId);
          return { level: 'agent_throttle', id: agentId, rpm: t.rpm };
        }
        this.agentThrottles.delete(agentId);
      }
    }
    if (this.throttles.size === 0) return null;
    const t = this.throttles.get(sessionId);
    if (!t) return null;
    if (t.until <= this.o.now()) {
      this.throttles.delete(sessionId);
      return null;
    }
    return { level: 'throttle', id: sessionId, rpm: t.rpm };
  }

  /** A session of a throttled agent met its throttle for the first time: recorded, once. */
  private cover(t: AgentThrottle, agentId: string, sessionId: string): void {
    t.sessions.add(sessionId);
    // Not awaited: the call goes on to be counted against the throttle; a failed write is logged by the audit log.
    void this.o.audit.record({
      type: 'session.throttled', actor: `detector:${t.detector}`, agentId, sessionId, teamId: t.teamId,
      data: { alert: t.alert, scope: 'agent', agent: agentId, requests_per_minute: t.rpm, until: isoTime(t.until) },
    });
  }

  /** Lifts the throttle the alert imposed (it was resolved); one another alert imposed since stays. */
  lift(alert: Alert): void {
    if (isAgentSubject(alert)) {
      if (this.agentThrottles.get(alert.agentId!)?.alert === alert.id) this.agentThrottles.delete(alert.agentId!);
    }
    if (alert.sessionId && this.throttles.get(alert.sessionId)?.alert === alert.id) this.throttles.delete(alert.sessionId);
  }

  /**
   * Puts `alert`'s throttle in force on its subject: an agent (every session of it; the alert's
   * own session counts as met, its `session.throttled` is the imposing one) or one session.
   */
  private impose(alert: Alert, subject: { agent: string } | { session: string }, rpm: number, until: number): void {
    if ('agent' in subject) {
      const met = alert.sessionId ? [alert.sessionId] : [];
      this.agentThrottles.set(subject.agent, { rpm, until, alert: alert.id, detector: alert.detector, teamId: alert.teamId, sessions: new Set(met) });
    } else {
      this.throttles.set(subject.session, { rpm, until, alert: alert.id });
    }
  }

  /** Puts back throttles recorded on unresolved alerts (after a restart). */
  restore(alerts: readonly Alert[]): void {
    const now = this.o.now();
    for (const a of alerts) {
      for (const x of a.actions) {
        const until = x.detail?.until_ms;
        if (x.action !== 'throttle_session' || typeof until !== 'number' || until <= now) continue;
        const rpm = Number(x.detail?.requests_per_minute) || this.o.throttle.requestsPerMinute;
        const agent = x.detail?.agent;
        if (x.detail?.scope === 'agent' && typeof agent === 'string') this.impose(a, { agent }, rpm, until);
        else if (a.sessionId) this.impose(a, { session: a.sessionId }, rpm, until);
      }
    }
  }

  /** Carries out one action for an alert; what happened is the returned record (never throws). */
  async carryOut(action: ContainmentAction, alert: Alert, event: NoticeEvent): Promise<AlertAction> {
    const at = this.o.now();
    const by = { actor: `detector:${alert.detector}`, reason: `alert ${alert.id}: ${alert.summary}` };
    try {
      switch (action) {
        case 'notify': {
          // Nowhere to send it: said so, rather than a delivery that failed.
          if (!this.o.notifier.enabled) return skipped(action, at, 'no webhook is configured (detection.notify.webhook_url)');
          const delivered = await this.o.notifier.send(event, alert, alert.agentId ? ((await this.o.agent(alert.agentId))?.name ?? null) : null);
          return { action, at, detail: { delivered } };
        }
        case 'throttle_session': {
          const rpm = this.o.throttle.requestsPerMinute;
          const until = at + this.o.throttle.durationMs;
          if (isAgentSubject(alert)) {
            // The alert is about the agent: so is the throttle — every session of it, later ones too.
            const agentId = alert.agentId!;
            this.impose(alert, { agent: agentId }, rpm, until);
            await this.o.audit.record({ type: 'session.throttled', actor: by.actor, agentId, sessionId: alert.sessionId, teamId: alert.teamId, data: { alert: alert.id, scope: 'agent', agent: agentId, requests_per_minute: rpm, until: isoTime(until) } });
            return { action, at, detail: { scope: 'agent', agent: agentId, session: alert.sessionId, requests_per_minute: rpm, until_ms: until, until: isoTime(until) } };
          }
          if (!alert.sessionId) return skipped(action, at, 'the alert names no session');
          this.impose(alert, { session: alert.sessionId }, rpm, until);
          await this.o.audit.record({ type: 'session.throttled', actor: by.actor, agentId: alert.agentId, sessionId: alert.sessionId, teamId: alert.teamId, data: { alert: alert.id, scope: 'session', requests_per_minute: rpm, until: isoTime(until) } });
          return { action, at, detail: { scope: 'session', session: alert.sessionId, requests_per_minute: rpm, until_ms: until, until: isoTime(until) } };
        }
        case 'suspend_session': {
          if (!alert.sessionId) return skipped(action, at, 'the alert names no session');
          const suspended = await this.o.sessions.suspend(alert.sessionId, by, { alert: alert.id });
          const session = await this.o.getSession(alert.sessionId);
          const approval = session ? await this.o.approvals.requestResume(session, { alert: alert.id, detector: alert.detector, severity: alert.severity, summary: alert.summary }) : null;
          return { action, at, detail: { session: alert.sessionId, suspended, approval_id: approval?.id ?? null } };
        }
        case 'suspend_agent': {
          // Every session of the agent, and what it delegated, until an operator resumes the agent:
          // the middle ground between a throttle and revoking it for good.
          if (!alert.agentId) return skipped(action, at, 'the alert names no agent');
          if ((await this.o.agent(alert.agentId))?.status === 'suspended') return skipped(action, at, `agent "${alert.agentId}" is already suspended`);
          await this.o.sessions.setAgentStatus(alert.agentId, 'suspended', by, { alert: alert.id });
          return { action, at, detail: { agent: alert.agentId, suspended: true, resume: `POST /admin/v1/agents/${alert.agentId}/resume` } };
        }
        case 'revoke_agent': {
          if (!alert.agentId) return skipped(action, at, 'the alert names no agent');
          const { ended } = await this.o.sessions.setAgentStatus(alert.agentId, 'revoked', by, { alert: alert.id });
          return { action, at, detail: { agent: alert.agentId, sessions_ended: ended } };
        }
      }
    } catch (err) {
      // Already suspended, ended or revoked: the containment is in force anyway; say so.
      if (err instanceof GatewayError && (err.code === 'conflict' || err.code === 'not_found')) return skipped(action, at, err.message);
      return { action, at, detail: { failed: err instanceof Error ? err.message : String(err) } };
    }
  }
}

/** An alert about an agent (`agent:<id>`, e.g. a spend spike): its containment covers all the agent's sessions. */
const isAgentSubject = (alert: Alert) => alert.agentId !== null && alert.subject === `agent:${alert.agentId}`;

const skipped = (action: string, at: number, reason: string): AlertAction => ({ action, at, detail: { skipped: reason } });
