// An alert as the admin API, the CLI and webhook notices show it (snake_case, ISO times).
import type { Alert } from '../store/index.js';
import { isoTime } from '../util/time.js';

export const alertJson = (a: Alert, agentName?: string | null) => ({
  id: a.id,
  object: 'alert' as const,
  detector: a.detector,
  subject: a.subject,
  severity: a.severity,
  status: a.status,
  summary: a.summary,
  verdict: a.verdict,
  evidence: a.evidence,
  actions: a.actions.map((x) => ({ action: x.action, at: isoTime(x.at), ...(x.detail ? { detail: x.detail } : {}) })),
  occurrences: a.occurrences,
  agent: a.agentId ? { id: a.agentId, name: agentName ?? null } : null,
  session_id: a.sessionId,
  team_id: a.teamId,
  profile_id: a.profileId,
  created_at: isoTime(a.createdAt),
  updated_at: isoTime(a.updatedAt),
  acknowledged_by: a.acknowledgedBy,
  resolved_by: a.resolvedBy,
});
