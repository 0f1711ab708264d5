// Containment: what an alert's actions do. Throttling is held here (the rate-limit stage asks on
// every call: a Map lookup); suspension and revocation go through the session service, so they
// take effect on the very next request like an operator's would, and are audit events.
import type { AuditLog } from '../audit/index.js';
import type { ApprovalService, RateLimit } from '../budget/index.js';
import { GatewayError } from '../errors/index.js';
import type { SessionService } from '../identity/index.js';
import type { Alert, AlertAction, Session } from '../store/index.js';
import type { Notifier, NoticeEvent } from './notify.js';
import { isoTime } from '../util/time.js';

export type ContainmentAction = 'notify' | 'throttle_session' | 'suspend_session' | 'revoke_agent';

export interface ContainmentOptions {
  sessions: SessionService;
  approvals: ApprovalService;
  audit: AuditLog;
  notifier: Notifier;
  throttle: { requestsPerMinute: number; durationMs: number };
  agentName: (agentId: string) => Promise<string | null>;
  getSession: (id: string) => Promise<Session | null>;
  now: () => number;
}

interface Throttle {
  rpm: number;
  until: number;
}

export class Containment {
  private readonly throttles = new Map<string, Throttle>();

  constructor(private readonly o: ContainmentOptions) {}

  /** The throttle on a session now in force, as a rate limit (null: none). On the hot path. */
  throttleFor(sessionId: string): RateLimit | null {
    if (this.throttles.size === 0) return null;
    const t = this.throttles.get(sessionId);
    if (!t) return null;
    if (t.until <= this.o.now()) {
      this.throttles.delete(sessionId);
      return null;
    }
    return { level: 'throttle', id: sessionId, rpm: t.rpm };
  }

  /** Lifts a session's throttle (its alert was resolved). */
  lift(sessionId: string): void {
    this.throttles.delete(sessionId);
  }

  /** Puts back throttles recorded on unresolved alerts (after a restart). */
  restore(alerts: readonly Alert[]): void {
    const now = this.o.now();
    for (const a of alerts) {
      for (const x of a.actions) {
        const until = x.detail?.until_ms;
        if (x.action === 'throttle_session' && a.sessionId && typeof until === 'number' && until > now) {
          this.throttles.set(a.sessionId, { rpm: Number(x.detail?.requests_per_minute) || this.o.throttle.requestsPerMinute, until });
        }
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
          const delivered = await this.o.notifier.send(event, alert, alert.agentId ? await this.o.agentName(alert.agentId) : null);
          return { action, at, detail: { delivered } };
        }
        case 'throttle_session': {
          if (!alert.sessionId) return skipped(action, at, 'the alert names no session');
          const t = { rpm: this.o.throttle.requestsPerMinute, until: at + this.o.throttle.durationMs };
          this.throttles.set(alert.sessionId, t);
          await this.o.audit.record({ type: 'session.throttled', actor: by.actor, agentId: alert.agentId, sessionId: alert.sessionId, teamId: alert.teamId, data: { alert: alert.id, requests_per_minute: t.rpm, until: isoTime(t.until) } });
          return { action, at, detail: { session: alert.sessionId, requests_per_minute: t.rpm, until_ms: t.until, until: isoTime(t.until) } };
        }
        case 'suspend_session': {
          if (!alert.sessionId) return skipped(action, at, 'the alert names no session');
          const suspended = await this.o.sessions.suspend(alert.sessionId, by, { alert: alert.id });
          const session = await this.o.getSession(alert.sessionId);
          const approval = session ? await this.o.approvals.requestResume(session, { alert: alert.id, detector: alert.detector, severity: alert.severity, summary: alert.summary }) : null;
          return { action, at, detail: { session: alert.sessionId, suspended, approval_id: approval?.id ?? null } };
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

const skipped = (action: string, at: number, reason: string): AlertAction => ({ action, at, detail: { skipped: reason } });
