// Alerts: findings made durable. One unresolved alert per detector and subject — later findings
// update it (evidence, summary, count) instead of raising another, and only a raise or an
// escalation runs the detector's actions for that severity (a repeat finding at that severity
// re-imposes a throttle that has run out). Every raise, escalation, action and decision is an
// audit event.
import type { AuditLog } from '../audit/index.js';
import { GatewayError } from '../errors/index.js';
import type { Alert, AlertAction, AlertSeverity, AlertStatus, Store } from '../store/index.js';
import type { AlertFilter } from '../store/store.js';
import { newId } from '../util/ids.js';
import type { Containment, ContainmentAction } from './containment.js';
import type { NoticeEvent } from './notify.js';
import type { Finding } from './types.js';

const RANK: Record<AlertSeverity, number> = { info: 0, warning: 1, critical: 2 };

export interface AlertServiceOptions {
  store: Store;
  audit: AuditLog;
  containment: Containment;
  /** The actions configured for a detector at a severity. */
  actionsFor: (detector: string, severity: AlertSeverity) => readonly ContainmentAction[];
  now: () => number;
}

/**
 * How long a repeat finding's update (count, evidence) may wait to be written with others. A storm
 * over thousands of sessions keeps that many alerts updating: each flush rewrites every one of them
 * (~7 µs an alert on SQLite, on the event loop), so at 2,000 sessions a flush a second cost the
 * loop ~15 ms a second. Reads and decisions flush first; only a crash loses the last counts.
 */
const UPDATE_FLUSH_MS = 5000;
/** Sessions an alert's evidence names, at most (the first and the latest). */
const MAX_SESSIONS_NAMED = 20;

export class AlertService {
  /** `detector|subject` → its unresolved alert, as last written or updated. */
  private readonly unresolved = new Map<string, Alert>();
  /**
   * Repeat findings that only bump an alert's count and evidence, not yet written. A detector
   * that fires on every call of a storm would otherwise cost a store write per call; these are
   * written together at most every five seconds (and before any read or decision).
   */
  private readonly pendingUpdates = new Map<string, Alert>();
  private flushTimer: NodeJS.Timeout | null = null;
  /** The last alert write asked for: writes are made in order (see `put`). */
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly o: AlertServiceOptions) {}

  /** Loads the unresolved alerts (and the throttles they hold) after a start. */
  async load(): Promise<void> {
    const alerts = [...(await this.o.store.listAlerts({ status: 'open', limit: 10_000 })), ...(await this.o.store.listAlerts({ status: 'acknowledged', limit: 10_000 }))];
    for (const a of alerts) this.unresolved.set(key(a.detector, a.subject), a);
    this.o.containment.restore(alerts);
  }

  /**
   * Updates the subject's unresolved alert with a finding that does not escalate it — its count
   * and latest evidence, written with other updates within five seconds — and returns it; null when
   * the finding needs `raise` (no unresolved alert, a higher severity, or a finding at the alert's
   * severity whose throttle has run out). Synchronous: a detector that fires on every call of a
   * storm costs no promise per call.
   */
  updateOpen(f: Finding): Alert | null {
    const k = key(f.detector, f.subject);
    const existing = this.unresolved.get(k);
    if (!existing || existing.status === 'resolved' || RANK[f.severity] > RANK[existing.severity]) return null;
    if (f.severity === existing.severity && this.throttleRanOut(existing)) return null;
    const updated = updatedAlert(existing, f, this.o.now(), false);
    this.unresolved.set(k, updated);
    this.pendingUpdates.set(updated.id, updated);
    this.flushTimer ??= setTimeout(() => void this.flush().catch(() => undefined), UPDATE_FLUSH_MS).unref();
    return updated;
  }

  /** Raises an alert for the finding, or updates the subject's unresolved one. */
  async raise(f: Finding, owner: { teamId: string | null; profileId: string | null }): Promise<Alert> {
    const repeated = this.updateOpen(f);
    if (repeated) return repeated;
    const now = this.o.now();
    const k = key(f.detector, f.subject);
    const existing = this.unresolved.get(k);
    if (existing && existing.status !== 'resolved' && RANK[f.severity] <= RANK[existing.severity]) {
      // The same severity, and the throttle it imposed has run out while the agent (or session)
      // goes on: the throttle is imposed again (the notice and other actions are not repeated).
      const updated = updatedAlert(existing, f, now, false);
      this.unresolved.set(k, updated);
      return this.act(updated, 'alert.raised', { only: ['throttle_session'], sessionId: f.sessionId });
    }
    if (existing && existing.status !== 'resolved') {
      // A higher severity than the unresolved alert's: it escalates, and runs that severity's actions.
      const updated = updatedAlert(existing, f, now, true);
      this.unresolved.set(k, updated);
      await this.o.audit.record({ type: 'alert.escalated', actor: `detector:${f.detector}`, ...refs(updated), data: { alert: updated.id, from: existing.severity, to: f.severity, summary: f.summary } });
      return this.act(updated, 'alert.escalated');
    }
    const alert: Alert = {
      id: newId('alr'), detector: f.detector, subject: f.subject, severity: f.severity, status: 'open', summary: f.summary, verdict: f.verdict ?? null,
      evidence: f.evidence, actions: [], occurrences: 1, agentId: f.agentId, sessionId: f.sessionId, teamId: owner.teamId, profileId: owner.profileId,
      createdAt: now, updatedAt: now, acknowledgedBy: null, resolvedBy: null,
    };
    this.unresolved.set(k, alert);
    await this.o.audit.record({
      type: 'alert.raised', actor: `detector:${f.detector}`, ...refs(alert),
      data: { alert: alert.id, detector: alert.detector, subject: alert.subject, severity: alert.severity, summary: alert.summary, verdict: alert.verdict, evidence: alert.evidence },
    });
    return this.act(alert, 'alert.raised');
  }

  /**
   * Whether a throttle the alert imposed has run out though its severity's actions throttle: the
   * last `throttle_session` it carried out ended before now. (While its actions still run there is
   * no such record yet: nothing is imposed twice.)
   */
  private throttleRanOut(alert: Alert): boolean {
    let last: AlertAction | undefined;
    for (let i = alert.actions.length - 1; i >= 0 && !last; i--) if (alert.actions[i]!.action === 'throttle_session') last = alert.actions[i];
    const until = last?.detail?.until_ms;
    return typeof until === 'number' && until <= this.o.now() && this.o.actionsFor(alert.detector, alert.severity).includes('throttle_session');
  }

  /**
   * Runs the actions for the alert's severity, recording each on the alert and the audit log.
   * `renewal`: only these of them, at the session of the finding that renews them.
   */
  private async act(alert: Alert, event: NoticeEvent, renewal?: { only: readonly ContainmentAction[]; sessionId: string | null }): Promise<Alert> {
    const actions = this.o.actionsFor(alert.detector, alert.severity).filter((a) => !renewal || renewal.only.includes(a));
    // Containment first, the notice last: the notice then says what was done.
    const ordered = [...actions.filter((a) => a !== 'notify'), ...actions.filter((a) => a === 'notify')];
    await this.putCurrent(alert);
    for (const action of ordered) {
      const latest = this.current(alert) ?? alert;
      const done = await this.o.containment.carryOut(action, renewal ? { ...latest, sessionId: renewal.sessionId ?? latest.sessionId } : latest, event);
      // Later findings' copies of the alert share its actions (see updatedAlert); an operator's
      // decision meanwhile made a copy of its own.
      (this.current(alert) ?? alert).actions.push(done);
      await this.putCurrent(alert);
      await this.o.audit.record({ type: 'alert.action', actor: `detector:${alert.detector}`, ...refs(alert), data: { alert: alert.id, action, ...done.detail } });
    }
    return this.current(alert) ?? alert;
  }

  /**
   * The alert as it stands: repeat findings judged while its actions ran (they run beside the
   * detection of later events) replaced it with updated copies. Null once it was resolved.
   */
  private current(alert: Alert): Alert | null {
    const latest = this.unresolved.get(key(alert.detector, alert.subject));
    return latest?.id === alert.id ? latest : null;
  }

  /** Writes the alert's latest copy — which carries any pending update of it — unless it was resolved meanwhile. */
  private putCurrent(alert: Alert): Promise<void> {
    const latest = this.current(alert);
    if (!latest) return Promise.resolve();
    this.pendingUpdates.delete(latest.id);
    return this.put([latest]);
  }

  /**
   * Alert writes in the order they were asked for: on PostgreSQL two writes of one alert (a
   * flush, an action's record) could otherwise commit in either order over two connections.
   */
  private put(alerts: readonly Alert[]): Promise<void> {
    const written = this.writes.then(() => this.o.store.putAlerts(alerts));
    this.writes = written.catch(() => undefined);
    return written;
  }

  /** Writes the repeat findings' updates not yet written. */
  async flush(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const updates = [...this.pendingUpdates.values()];
    this.pendingUpdates.clear();
    if (updates.length > 0) await this.put(updates);
  }

  async get(id: string): Promise<Alert | null> {
    await this.flush();
    return this.o.store.getAlert(id);
  }

  async list(filter: AlertFilter): Promise<Alert[]> {
    await this.flush();
    return this.o.store.listAlerts(filter);
  }

  /** An operator takes the alert (it stays unresolved: further findings still update it). */
  acknowledge(id: string, by: string, reason?: string, operator?: OperatorRef): Promise<Alert> {
    return this.decide(id, 'acknowledged', by, reason, operator);
  }

  /** Closes the alert; a throttle it imposed is lifted. The next finding raises a new alert. */
  resolve(id: string, by: string, reason?: string, operator?: OperatorRef): Promise<Alert> {
    return this.decide(id, 'resolved', by, reason, operator);
  }

  private async decide(id: string, status: Exclude<AlertStatus, 'open'>, by: string, reason?: string, operator?: OperatorRef): Promise<Alert> {
    await this.flush();
    const alert = await this.o.store.getAlert(id);
    if (!alert) throw new GatewayError('not_found', `alert "${id}" does not exist`);
    if (alert.status === 'resolved' || alert.status === status) throw new GatewayError('conflict', `alert "${id}" is already ${alert.status}`);
    const updated: Alert = { ...alert, status, updatedAt: this.o.now(), ...(status === 'acknowledged' ? { acknowledgedBy: by } : { resolvedBy: by }) };
    await this.put([updated]);
    const k = key(alert.detector, alert.subject);
    if (this.unresolved.get(k)?.id === id) {
      if (status === 'resolved') this.unresolved.delete(k);
      else this.unresolved.set(k, updated);
    }
    if (status === 'resolved') {
      if (alert.actions.some((a) => a.action === 'throttle_session')) this.o.containment.lift(alert);
    }
    await this.o.audit.record({ type: `alert.${status}`, actor: by, operator, ...refs(updated), data: { alert: id, reason: reason ?? null } });
    return updated;
  }
}

/** The named operator deciding (kept as the event's `data.operator`). */
type OperatorRef = { id: string; name: string; role: string };

const key = (detector: string, subject: string) => `${detector}|${subject}`;

/**
 * The unresolved alert with a later finding: one more occurrence, its evidence and summary (the
 * sessions the evidence names gathered over the findings), and — when it escalates — its
 * severity. `session_id` stays the session the alert was raised on. Named fields, not a spread of
 * `existing`: this runs on every call of a storm, and a spread of an object this size takes V8's
 * slow path (see store/chain.ts).
 */
function updatedAlert(existing: Alert, f: Finding, now: number, escalated: boolean): Alert {
  return {
    id: existing.id, detector: existing.detector, subject: existing.subject,
    severity: escalated ? f.severity : existing.severity, status: existing.status, summary: f.summary,
    verdict: f.verdict ?? existing.verdict, evidence: withSessions(existing.evidence, f.evidence), actions: existing.actions, occurrences: existing.occurrences + 1,
    agentId: existing.agentId, sessionId: existing.sessionId ?? f.sessionId, teamId: existing.teamId, profileId: existing.profileId,
    createdAt: existing.createdAt, updatedAt: now, acknowledgedBy: existing.acknowledgedBy, resolvedBy: existing.resolvedBy,
  };
}
/**
 * A finding's evidence, its `sessions` joined to those the alert named before (the session that
 * raised it first; at most MAX_SESSIONS_NAMED, the first and the latest). Evidence without
 * `sessions` (the per-session detectors') is taken as it is.
 */
function withSessions(before: Record<string, unknown>, after: Record<string, unknown>): Record<string, unknown> {
  const earlier: unknown = before.sessions;
  const later: unknown = after.sessions;
  if (!Array.isArray(earlier) || !Array.isArray(later)) return after;
  const all = [...new Set<unknown>([...(earlier as unknown[]), ...(later as unknown[])])];
  return { ...after, sessions: all.length > MAX_SESSIONS_NAMED ? [all[0], ...all.slice(1 - MAX_SESSIONS_NAMED)] : all };
}
const refs = (a: Alert) => ({ agentId: a.agentId, sessionId: a.sessionId, teamId: a.teamId });
