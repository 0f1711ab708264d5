// Admin routes of the access review (docs/access-review.md), spread into the admin route table
// (admin.ts): the review as JSON or CSV, applying the remedies the gateway can carry out, and the
// operator's sign-off (an audit event, and the baseline the next review compares with).
import { z } from 'zod';
import { buildAccessReview, selectFindings, SEVERITIES, type AccessReview, type Finding, type Severity } from '../access/index.js';
import { GatewayError } from '../errors/index.js';
import type { AccessReviewRecord } from '../store/index.js';
import { newId } from '../util/ids.js';
import type { AdminDeps, AdminRoute, RouteInput } from './admin.js';
import { csvText, TextAnswer } from './admin-reports.js';
import { isoTime } from '../util/time.js';

// A window of 0 days would judge grants by no calls at all: 1 day is the least (query and body alike).
const days = (least: number) => z.coerce.number().int().min(least).max(3650).optional();
const rangeQuery = {
  window_days: days(1).describe('Judge grants by the calls of this many days (default access_review.window_days)'),
  unused_days: days(0).describe('Unused this long is a finding (default access_review.unused_days)'),
};
const rangeBody = {
  window_days: z.number().int().min(1).max(3650).optional(),
  unused_days: z.number().int().min(0).max(3650).optional(),
};

/** Builds the review with the request's overrides, after writing the credential uses still batched. */
async function review(d: AdminDeps, range: { window_days?: number; unused_days?: number }): Promise<AccessReview> {
  await d.credentials.flush();
  return buildAccessReview({ store: d.store, now: d.now(), settings: { ...d.review, windowDays: range.window_days ?? d.review.windowDays, unusedDays: range.unused_days ?? d.review.unusedDays } });
}

const AGENT_COLUMNS = ['agent', 'agent_id', 'owner', 'team', 'profile', 'status', 'environment', 'credentials', 'credentials_active', 'credential_last_used_at', 'credential_sources', 'federated', 'sessions_in_window', 'last_session_at', 'models_granted', 'models_used', 'tools_granted', 'tools_used', 'findings'];
const FINDING_COLUMNS = ['id', 'kind', 'severity', 'owasp', 'agent', 'profile', 'credential', 'summary', 'remedy', 'automatic', 'commands', 'accepted_by'];

/** One CSV line per agent (`rows=agents`, the default) or per finding. */
export function reviewCsv(r: AccessReview, rows: 'agents' | 'findings'): string {
  const list = (xs: readonly string[]) => xs.join(' ');
  if (rows === 'findings') {
    return csvText(FINDING_COLUMNS, r.findings.map((f) => ({
      id: f.id, kind: f.kind, severity: f.severity, owasp: f.owasp, agent: f.agent?.name, profile: f.profile?.name, credential: f.credential, summary: f.summary,
      remedy: f.remedy.action, automatic: f.remedy.automatic, commands: f.remedy.commands.join(' ; '), accepted_by: f.accepted?.by,
    })));
  }
  return csvText(AGENT_COLUMNS, r.agents.map((a) => {
    const lastUse = a.credentials.map((c) => c.last_used_at).filter((t): t is string => t !== null).sort().at(-1) ?? null;
    return {
      agent: a.name, agent_id: a.id, owner: a.owner, team: a.team.name, profile: a.profile.name, status: a.status, environment: a.environment,
      credentials: a.credentials.length, credentials_active: a.credentials.filter((c) => c.status === 'active').length, credential_last_used_at: lastUse,
      credential_sources: list([...new Set(a.credentials.flatMap((c) => c.sources.map((s) => s.source)))]), federated: a.federated,
      sessions_in_window: a.sessions_in_window, last_session_at: a.last_session_at, models_granted: list(a.models.granted), models_used: list(a.models.used.map((u) => u.name)),
      tools_granted: list(a.tools.granted), tools_used: list(a.tools.used.map((u) => u.name)), findings: list(a.findings),
    };
  }));
}

interface Applied {
  finding: string;
  action: string;
  ok: boolean;
  error?: string;
}

/** Carries out one finding's automatic remedy, attributed to the operator (reason: the finding). */
async function applyRemedy(f: Finding, i: RouteInput, d: AdminDeps): Promise<Applied> {
  const by = { ...i.by, reason: i.by.reason ?? `access review: ${f.id}` };
  try {
    if (f.remedy.action === 'revoke_credential' && f.credential && f.agent) {
      const revoked = await d.store.revokeCredential(f.credential, d.now());
      if (!revoked) throw new GatewayError('not_found', `secret "${f.credential}" does not exist`);
      await d.audit.record({ ...by, type: 'credential.revoked', agentId: f.agent.id, data: { credential: f.credential, reason: by.reason, finding: f.id } });
    } else if (f.remedy.action === 'suspend_agent' && f.agent) {
      await d.sessions.setAgentStatus(f.agent.id, 'suspended', by, { finding: f.id });
    } else {
      return { finding: f.id, action: f.remedy.action, ok: false, error: 'not automatic: see the finding\'s remedy' };
    }
    return { finding: f.id, action: f.remedy.action, ok: true };
  } catch (err) {
    // Suspended already — by another finding on the same agent in this apply, or by anyone: the remedy holds.
    if (f.remedy.action === 'suspend_agent' && err instanceof GatewayError && err.code === 'conflict' && (await d.store.getAgent(f.agent!.id))?.status === 'suspended') {
      return { finding: f.id, action: f.remedy.action, ok: true };
    }
    return { finding: f.id, action: f.remedy.action, ok: false, error: (err as Error).message };
  }
}

const findingIds = z.array(z.string().min(1).max(200)).max(1000);

export const ACCESS_REVIEW_ROUTES: AdminRoute[] = [
  {
    method: 'GET', path: '/admin/v1/access-review', tag: 'access-review',
    summary: 'The access review: every agent (owner, team, profile, status, credentials, sessions; models and tools granted vs used) and the findings, each with a severity and a remedy; CSV with format=csv',
    query: z.object({
      ...rangeQuery,
      format: z.enum(['json', 'csv']).optional().describe('json (default) or csv'),
      rows: z.enum(['agents', 'findings']).optional().describe('CSV: one line per agent (default) or per finding'),
    }),
    handle: async (i, d) => {
      const q = i.query as { window_days?: number; unused_days?: number; format?: 'json' | 'csv'; rows?: 'agents' | 'findings' };
      const r = await review(d, q);
      return q.format === 'csv' ? new TextAnswer(reviewCsv(r, q.rows ?? 'agents'), 'text/csv; charset=utf-8; header=present') : r;
    },
  },
  {
    method: 'POST', path: '/admin/v1/access-review/apply', tag: 'access-review',
    summary: 'Apply the automatic remedies (revoke a secret, suspend an agent) of the named findings, or of every unaccepted finding at or above min_severity (default warning)',
    body: z.strictObject({
      findings: findingIds.optional().describe('Finding ids (from GET /admin/v1/access-review)'),
      min_severity: z.enum(SEVERITIES as [Severity, ...Severity[]]).optional().describe('Without `findings`: apply those at or above this (default warning)'),
      reason: z.string().max(500).optional(),
      ...rangeBody,
    }),
    handle: async (i, d) => {
      const body = i.body as { findings?: string[]; min_severity?: Severity } & Parameters<typeof review>[1];
      const r = await review(d, body);
      const { selected, unknown } = selectFindings(r, body.findings, body.min_severity ?? 'warning');
      if (unknown.length > 0) throw new GatewayError('invalid_request', `no open finding ${unknown.map((u) => `"${u}"`).join(', ')} (already resolved, or a typo)`, { param: 'findings' });
      const applied: Applied[] = [];
      for (const f of selected.filter((s) => s.remedy.automatic)) applied.push(await applyRemedy(f, i, d));
      const skipped = selected.filter((s) => !s.remedy.automatic).map((f) => ({ finding: f.id, action: f.remedy.action, reason: 'a suggestion: carry it out by hand (see remedy)' }));
      await d.audit.record({ ...i.by, type: 'access_review.applied', data: { applied: applied.filter((a) => a.ok).map((a) => a.finding), failed: applied.filter((a) => !a.ok).map((a) => a.finding), reason: i.by.reason ?? null } });
      return { object: 'access_review.applied', applied, skipped };
    },
  },
  {
    method: 'POST', path: '/admin/v1/access-review/sign-off', tag: 'access-review',
    summary: 'Sign off the review: who, when, which findings were accepted as they are and which remedied; the next review shows what changed since',
    body: z.strictObject({
      accepted: findingIds.optional().describe('Findings accepted as they are (shown as accepted, and not applied by default, until the next sign-off)'),
      remediated: findingIds.optional().describe('Findings whose remedy was applied in this review'),
      note: z.string().max(2000).optional(),
      ...rangeBody,
    }),
    status: 201,
    handle: async (i, d) => {
      const body = i.body as { accepted?: string[]; remediated?: string[]; note?: string } & Parameters<typeof review>[1];
      const r = await review(d, body);
      const open = new Set(r.findings.map((f) => f.id));
      const notOpen = (body.accepted ?? []).filter((id) => !open.has(id));
      if (notOpen.length > 0) throw new GatewayError('invalid_request', `cannot accept ${notOpen.map((u) => `"${u}"`).join(', ')}: not an open finding`, { param: 'accepted' });
      const record: AccessReviewRecord = {
        id: newId('rev'), signedAt: d.now(), signedBy: i.by.actor, operator: { id: i.operator.id, name: i.operator.name, role: i.operator.role }, windowDays: r.window.days,
        findings: r.findings.map((f) => ({ id: f.id, kind: f.kind, severity: f.severity, summary: f.summary })),
        accepted: body.accepted ?? [], remediated: body.remediated ?? [], note: body.note ?? null,
      };
      await d.store.putAccessReview(record);
      await d.audit.record({
        ...i.by, type: 'access_review.signed_off',
        data: { review: record.id, window_days: record.windowDays, findings: record.findings.length, accepted: record.accepted, remediated: record.remediated, note: record.note, changes_since_last: r.changes_since_last },
      });
      return signOffView(record);
    },
  },
  {
    method: 'GET', path: '/admin/v1/access-review/sign-offs', tag: 'access-review', summary: 'Signed-off reviews, newest first',
    query: z.object({ limit: z.coerce.number().int().min(1).max(1000).optional() }),
    handle: async (i, d) => ({ object: 'list', data: (await d.store.listAccessReviews((i.query.limit as number | undefined) ?? 20)).map(signOffView) }),
  },
];

const signOffView = (r: AccessReviewRecord) => ({
  id: r.id, object: 'access_review.sign_off', signed_at: isoTime(r.signedAt), signed_by: r.signedBy, operator: r.operator,
  window_days: r.windowDays, findings: r.findings, accepted: r.accepted, remediated: r.remediated, note: r.note,
});
