// `tollgate alerts`: what the detectors raised, and acknowledging or resolving it.
import { AdminClient, CliError, query } from '../client.js';
import { output, printFields, printTable, text } from '../output.js';

interface AlertView {
  id: string;
  detector: string;
  subject: string;
  severity: string;
  status: string;
  summary: string;
  verdict: string | null;
  evidence: Record<string, unknown>;
  actions: { action: string; at: string; detail?: Record<string, unknown> }[];
  occurrences: number;
  agent: { id: string; name: string | null } | null;
  session_id: string | null;
  created_at: string;
  updated_at: string;
  acknowledged_by: string | null;
  resolved_by: string | null;
}

function fields(a: AlertView): [string, unknown][] {
  return [
    ['alert', a.id], ['detector', a.detector], ['severity', a.severity], ['status', a.status], ['summary', a.summary], ['triage', a.verdict],
    ['agent', a.agent ? (a.agent.name ?? a.agent.id) : null], ['session', a.session_id], ['subject', a.subject], ['occurrences', a.occurrences],
    ['raised', a.created_at], ['updated', a.updated_at], ['acknowledged by', a.acknowledged_by], ['resolved by', a.resolved_by],
    ...a.actions.map((x): [string, unknown] => [`action ${x.action}`, `${x.at}${x.detail ? ` ${text(x.detail)}` : ''}`]),
    ...Object.entries(a.evidence).map(([k, v]): [string, unknown] => [`  ${k}`, v]),
  ];
}

export async function list(opts: Record<string, unknown>): Promise<void> {
  if (opts.all && opts.status !== undefined) throw new CliError(`--all lists every status and --status ${text(opts.status)} one of them: give one or the other`);
  const status = opts.all ? undefined : (opts.status ?? 'open');
  const q = query({ status, severity: opts.severity, detector: opts.detector, agent_id: opts.agent, session_id: opts.session, since: opts.since, limit: opts.limit });
  const { data } = await new AdminClient(opts).get<{ data: AlertView[] }>(`/admin/v1/alerts${q}`, {
    status: '--status', severity: '--severity', detector: '--detector', agent_id: '--agent', session_id: '--session', since: '--since', limit: '--limit',
  });
  output(opts, data, () =>
    printTable(
      data.map((a) => ({ id: a.id, severity: a.severity, status: a.status, detector: a.detector, agent: a.agent?.name ?? a.agent?.id ?? '', triage: a.verdict ?? '', seen: a.occurrences, updated: a.updated_at, summary: a.summary })),
      ['id', 'severity', 'status', 'detector', 'agent', 'triage', 'seen', 'updated', 'summary'],
    ),
  );
}

export async function show(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const a = await new AdminClient(opts).get<AlertView>(`/admin/v1/alerts/${encodeURIComponent(args[0]!)}`);
  output(opts, a, () => printFields(fields(a)));
}

const decide = (verb: 'acknowledge' | 'resolve') => async (opts: Record<string, unknown>, args: string[]): Promise<void> => {
  const a = await new AdminClient(opts).post<AlertView>(`/admin/v1/alerts/${encodeURIComponent(args[0]!)}/${verb}`, { reason: opts.reason });
  output(opts, a, () => printFields(fields(a)));
};

export const acknowledge = decide('acknowledge');
export const resolve = decide('resolve');
