import { AdminClient, number, query } from '../client.js';
import { output, printFields, printTable, usd } from '../output.js';

interface ApprovalView {
  id: string;
  kind: 'budget' | 'tool' | 'resume';
  status: string;
  session_id: string;
  agent_id: string;
  agent_name?: string;
  created_at: string;
  decided_at: string | null;
  decided_by: string | null;
  reason: string | null;
  extra_budget: { usd: number | null; tokens: number | null };
  context: Record<string, unknown>;
}

const fields = (a: ApprovalView): [string, unknown][] => [
  ['approval', a.id], ['kind', a.kind], ['status', a.status], ['session', a.session_id], ['agent', a.agent_name ?? a.agent_id], ['requested', a.created_at],
  // A tool approval: the approver sees exactly what will run, and where it comes from.
  ['tool', a.context.tool ?? null], ['arguments', a.kind === 'tool' ? JSON.stringify(a.context.arguments ?? {}) : null],
  ['chain', Array.isArray(a.context.chain) ? (a.context.chain as string[]).join(' → ') : null], ['task', a.context.task ?? null],
  ['spent at request', typeof a.context.spent_usd === 'number' ? usd(a.context.spent_usd) : null],
  ['budget', typeof a.context.budget_usd === 'number' ? usd(a.context.budget_usd) : null],
  ['threshold', a.context.threshold], ['decided', a.decided_at ? `${a.decided_at} by ${a.decided_by}` : null], ['reason', a.reason],
  ['extra budget', a.extra_budget.usd !== null ? usd(a.extra_budget.usd) : a.extra_budget.tokens !== null ? `${a.extra_budget.tokens} tokens` : null],
];

export async function list(opts: Record<string, unknown>): Promise<void> {
  const { data } = await new AdminClient(opts).get<{ data: ApprovalView[] }>(`/admin/v1/approvals${query({ status: opts.status, session: opts.session })}`, { status: '--status', session: '--session' });
  output(opts, data, () => printTable(data.map((a) => ({ id: a.id, kind: a.kind, status: a.status, session: a.session_id, agent: a.agent_name ?? a.agent_id, tool: a.context.tool ?? '', requested: a.created_at })), ['id', 'kind', 'status', 'session', 'agent', 'tool', 'requested']));
}

export async function show(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const a = await new AdminClient(opts).get<ApprovalView>(`/admin/v1/approvals/${encodeURIComponent(args[0]!)}`);
  output(opts, a, () => printFields(fields(a)));
}

export async function approve(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const addUsd = number(opts.addUsd, '--add-usd');
  const addTokens = number(opts.addTokens, '--add-tokens');
  const a = await new AdminClient(opts).post<ApprovalView>(`/admin/v1/approvals/${encodeURIComponent(args[0]!)}/approve`, {
    ...(addUsd !== undefined || addTokens !== undefined ? { extra_budget: { usd: addUsd, tokens: addTokens } } : {}),
    reason: opts.reason,
  }, { 'extra_budget.usd': '--add-usd', 'extra_budget.tokens': '--add-tokens', extra_budget: '--add-usd/--add-tokens', reason: '--reason' });
  output(opts, a, () => printFields(fields(a)));
}

export async function deny(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const a = await new AdminClient(opts).post<ApprovalView>(`/admin/v1/approvals/${encodeURIComponent(args[0]!)}/deny`, { reason: opts.reason });
  output(opts, a, () => printFields(fields(a)));
}
