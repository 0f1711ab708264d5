// Admin routes of detection: alerts (list, show, acknowledge, resolve) and operator
// containment of a session (suspend, resume), spread into the admin route table (admin.ts).
import { z } from 'zod';
import { GatewayError } from '../errors/index.js';
import type { Alert } from '../store/index.js';
import type { AdminDeps, AdminRoute } from './admin.js';
import { timeParam } from './admin-reports.js';
import { alertView } from './views.js';

const alertsQuery = z.object({
  status: z.enum(['open', 'acknowledged', 'resolved']).optional().describe('Only alerts in this state'),
  severity: z.enum(['info', 'warning', 'critical']).optional(),
  detector: z.enum(['spend_spike', 'retry_loop', 'tool_deviation', 'out_of_task', 'credential_misuse', 'delegation']).optional(),
  agent: z.string().optional().describe('Agent id or name (as the other lists name it)'),
  agent_id: z.string().optional().describe('The same as `agent`'),
  session: z.string().optional().describe('Session id'),
  session_id: z.string().optional().describe('The same as `session`'),
  since: z.string().optional().describe('Updated at or after this time (ISO 8601 or epoch ms)'),
  limit: z.coerce.number().int().min(1).max(1000).optional().describe('At most this many (default 100), most recently updated first'),
});

const decisionBody = z.strictObject({ reason: z.string().max(500).optional() });

async function views(d: AdminDeps, alerts: Alert[]) {
  const names = new Map<string, string | null>();
  for (const a of alerts) if (a.agentId && !names.has(a.agentId)) names.set(a.agentId, (await d.directory.agents.get(a.agentId))?.name ?? null);
  return alerts.map((a) => alertView(a, a.agentId ? names.get(a.agentId) : null));
}

async function listAlerts(query: Record<string, unknown>, d: AdminDeps) {
  const q = query as z.infer<typeof alertsQuery>;
  const agentParam = oneOf(q, 'agent', 'agent_id');
  const sessionId = oneOf(q, 'session', 'session_id');
  let agentId: string | undefined;
  if (agentParam) {
    const agent = await d.store.getAgent(agentParam);
    if (!agent) throw new GatewayError('not_found', `agent "${agentParam}" does not exist`, { param: q.agent === undefined ? 'agent_id' : 'agent' });
    agentId = agent.id;
  }
  const alerts = await d.alerts.list({ status: q.status, severity: q.severity, detector: q.detector, agentId, sessionId, since: timeParam(q.since, 'since'), limit: q.limit });
  return { object: 'list', data: await views(d, alerts) };
}

/** A filter given under either of its two names (both: they must agree). */
function oneOf<K extends string>(q: Partial<Record<K, string>>, name: K, alias: K): string | undefined {
  const a = q[name];
  const b = q[alias];
  if (a !== undefined && b !== undefined && a !== b) throw new GatewayError('invalid_request', `${name} and ${alias} name the same filter: give one.`, { param: alias });
  return a ?? b;
}

async function showAlert(d: AdminDeps, alert: Alert | null, id: string) {
  if (!alert) throw new GatewayError('not_found', `alert "${id}" does not exist`);
  return (await views(d, [alert]))[0];
}

export const ALERT_ROUTES: AdminRoute[] = [
  {
    method: 'GET', path: '/admin/v1/alerts', tag: 'alerts', summary: 'Alerts raised by the detectors, most recently updated first (?status=open&severity=critical)',
    query: alertsQuery,
    handle: async (i, d) => listAlerts(i.query, d),
  },
  {
    method: 'GET', path: '/admin/v1/alerts/{id}', tag: 'alerts', summary: 'One alert with its evidence, triage verdict and the actions taken',
    handle: async (i, d) => showAlert(d, await d.alerts.get(i.params.id!), i.params.id!),
  },
  {
    method: 'POST', path: '/admin/v1/alerts/{id}/acknowledge', tag: 'alerts', summary: 'Take an alert: it stays unresolved (later findings still update it)', body: decisionBody,
    handle: async (i, d) => showAlert(d, await d.alerts.acknowledge(i.params.id!, i.by.actor, i.by.reason, i.by.operator), i.params.id!),
  },
  {
    method: 'POST', path: '/admin/v1/alerts/{id}/resolve', tag: 'alerts', summary: 'Close an alert (a throttle it imposed is lifted; the next finding raises a new alert)', body: decisionBody,
    handle: async (i, d) => showAlert(d, await d.alerts.resolve(i.params.id!, i.by.actor, i.by.reason, i.by.operator), i.params.id!),
  },
  {
    method: 'POST', path: '/admin/v1/sessions/{id}/suspend', tag: 'sessions', summary: 'Suspend a session and its subtree: calls get 403 session_suspended until its resume approval is approved', body: decisionBody,
    handle: async (i, d) => {
      const suspended = await d.sessions.suspend(i.params.id!, i.by);
      const session = (await d.store.getSession(i.params.id!))!;
      const approval = await d.approvals.requestResume(session, { suspended_by: i.by.actor, reason: i.by.reason ?? null });
      return { suspended, approval_id: approval.id };
    },
  },
  {
    method: 'POST', path: '/admin/v1/sessions/{id}/resume', tag: 'sessions', summary: 'Resume a suspended session (approves its pending resume approval)', body: decisionBody,
    handle: async (i, d) => {
      const [pending] = await d.approvals.pendingResume(i.params.id!);
      if (pending) await d.approvals.decide(pending.id, { approve: true, decidedBy: i.by.actor, operator: i.by.operator, reason: i.by.reason, requestId: i.by.requestId });
      else {
        // No resume approval to decide (suspended before there were any): separation of duties holds all the same.
        const suspended = await d.store.getSession(i.params.id!);
        if (suspended && i.by.operator) await d.approvals.checkSeparation(suspended.agentId, 'resume', i.by.operator.name, i.by.actor);
        await d.sessions.resume(i.params.id!, i.by);
      }
      const session = await d.store.getSession(i.params.id!);
      return { id: i.params.id, status: session?.status ?? null, approval_id: pending?.id ?? null };
    },
  },
];
