import { AdminClient, CliError, csv, number, query } from '../client.js';
import { output, printFields, printTable, usd } from '../output.js';

interface SessionView {
  id: string;
  status: string;
  task: string;
  agent: { id: string; name?: string };
  team: { id: string; name?: string };
  models: string[];
  budget: { tokens: number | null; usd: number | null };
  spent: { input_tokens: number; output_tokens: number; cached_input_tokens: number; reasoning_tokens: number; total_tokens: number; usd: number; requests: number };
  remaining?: { tokens: number | null; usd: number | null };
  /** The session's spend with everything delegated from it. */
  spent_with_children?: { usd: number; requests: number };
  children?: string[];
  tags?: Record<string, string>;
  /** MCP scopes, each a stack: a name must be allowed by every level (the profile's, then each delegation's). */
  scopes?: { tools: string[][]; resources: string[][]; prompts: string[][] };
  created_at: string;
  expires_at: string;
}

/** A stack of scopes as read: the levels that narrow anything, joined by "and" (`all` when none does). */
function scopeText(levels: string[][] | undefined): string {
  const narrowing = (levels ?? []).filter((l) => !(l.length === 1 && l[0] === '*'));
  if (narrowing.length === 0) return 'all';
  return narrowing.map((l) => (l.length === 0 ? 'none' : l.join(', '))).map((t) => (narrowing.length > 1 ? `(${t})` : t)).join(' and ');
}

const fields = (s: SessionView): [string, unknown][] => [
  ['session', s.id],
  ['status', s.status],
  ['task', s.task],
  ['agent', s.agent.name ? `${s.agent.name} (${s.agent.id})` : s.agent.id],
  ['team', s.team.name ? `${s.team.name} (${s.team.id})` : s.team.id],
  ['models', s.models.join(', ')],
  ...(s.scopes ? [['tools', scopeText(s.scopes.tools)], ['resources', scopeText(s.scopes.resources)], ['prompts', scopeText(s.scopes.prompts)]] as [string, unknown][] : []),
  ...(s.tags && Object.keys(s.tags).length > 0 ? [['tags', Object.entries(s.tags).map(([k, v]) => `${k}=${v}`).join(', ')] as [string, unknown]] : []),
  ['budget', [s.budget.usd === null ? null : usd(s.budget.usd), s.budget.tokens === null ? null : `${s.budget.tokens} tokens`].filter(Boolean).join(' and ') || 'unlimited'],
  ['spent', `${usd(s.spent.usd)} over ${s.spent.requests} request(s)`],
  ...(s.spent_with_children && (s.children?.length ?? 0) > 0
    ? [['with children', `${usd(s.spent_with_children.usd)} over ${s.spent_with_children.requests} request(s)`] as [string, unknown]]
    : []),
  ['tokens', `${s.spent.input_tokens} in (${s.spent.cached_input_tokens} cached), ${s.spent.output_tokens} out (${s.spent.reasoning_tokens} reasoning)`],
  ...(s.remaining ? [['remaining', [s.remaining.usd === null ? null : usd(s.remaining.usd), s.remaining.tokens === null ? null : `${s.remaining.tokens} tokens`].filter(Boolean).join(' and ') || 'unlimited'] as [string, unknown]] : []),
  ['created', s.created_at],
  ['expires', s.expires_at],
];

export async function start(opts: Record<string, unknown>): Promise<void> {
  let context: unknown;
  if (typeof opts.context === 'string') {
    try {
      context = JSON.parse(opts.context);
    } catch {
      throw new CliError('--context must be a JSON object');
    }
  }
  const given = new Map<string, string>();
  for (const t of Array.isArray(opts.tag) ? (opts.tag as string[]) : []) {
    const eq = t.indexOf('=');
    if (eq <= 0) throw new CliError(`--tag ${t}: expected key=value`);
    const key = t.slice(0, eq);
    if (given.has(key)) throw new CliError(`--tag ${key} is given twice (${key}=${given.get(key)}, ${t}): a session has one value per tag`);
    given.set(key, t.slice(eq + 1));
  }
  const tags = Object.fromEntries(given);
  const budgetUsd = number(opts.budgetUsd, '--budget-usd');
  const budgetTokens = number(opts.budgetTokens, '--budget-tokens');
  const result = await new AdminClient(opts).post<{ session: SessionView; token: string; expires_at: string }>('/admin/v1/sessions', {
    agent: opts.agent,
    task: opts.task,
    ...(budgetUsd !== undefined || budgetTokens !== undefined ? { budget: { usd: budgetUsd, tokens: budgetTokens } } : {}),
    ttl_seconds: number(opts.ttl, '--ttl'),
    models: csv(opts.models),
    context,
    ...(Object.keys(tags).length > 0 ? { tags } : {}),
  }, { agent: '--agent', task: '--task', 'budget.usd': '--budget-usd', 'budget.tokens': '--budget-tokens', ttl_seconds: '--ttl', models: '--models', context: '--context', tags: '--tag' });
  if (opts.env) {
    // Ids and tokens are base64url/[a-z0-9_] only, so they need no shell quoting.
    process.stdout.write(`export TOLLGATE_SESSION=${result.session.id}\nexport TOLLGATE_TOKEN=${result.token}\n`);
    return;
  }
  output(opts, result, () => {
    printFields(fields(result.session));
    process.stdout.write(`\ntoken (expires ${result.expires_at}; use it as the API key):\n${result.token}\n`);
  });
}

export async function show(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const id = args[0] ?? process.env.TOLLGATE_SESSION;
  if (!id) throw new CliError('name a session id, or set TOLLGATE_SESSION');
  const session = await new AdminClient(opts).get<SessionView>(`/admin/v1/sessions/${encodeURIComponent(id)}`);
  output(opts, session, () => printFields(fields(session)));
}

export async function list(opts: Record<string, unknown>): Promise<void> {
  const { data } = await new AdminClient(opts).get<{ data: SessionView[] }>(
    `/admin/v1/sessions${query({ agent: opts.agent, team: opts.team, status: opts.status, limit: opts.limit })}`,
    { agent: '--agent', team: '--team', status: '--status', limit: '--limit' },
  );
  output(opts, data, () =>
    printTable(data.map((s) => ({ id: s.id, status: s.status, agent: s.agent.name ?? s.agent.id, task: s.task, spent: usd(s.spent.usd), requests: s.spent.requests, expires: s.expires_at })), ['id', 'status', 'agent', 'task', 'spent', 'requests', 'expires']),
  );
}

/** close or revoke: the session and everything delegated from it end; prints the ended ids. */
function end(action: 'close' | 'revoke') {
  const key = action === 'close' ? 'closed' : 'revoked';
  return async (opts: Record<string, unknown>, args: string[]): Promise<void> => {
    const result = await new AdminClient(opts).post<Record<string, string[]>>(`/admin/v1/sessions/${encodeURIComponent(args[0]!)}/${action}`, {
      reason: typeof opts.reason === 'string' ? opts.reason : undefined,
    });
    const ended = result[key] ?? [];
    output(opts, result, () => process.stdout.write(ended.length ? `${key}: ${ended.join(' ')}\n` : `${key}: none (already ended)\n`));
  };
}

export const close = end('close');
export const revoke = end('revoke');

interface TreeNode {
  id: string;
  agent: { id: string; name?: string };
  task: string;
  status: string;
  spent: { usd: number };
  spent_with_children: { usd: number };
  children: TreeNode[];
}

function treeLines(node: TreeNode, depth: number, lines: string[]): string[] {
  const task = node.task.replace(/\s+/g, ' ').trim();
  lines.push(`${'  '.repeat(depth)}${node.id} ${node.agent.name ?? node.agent.id} [${node.status}] ${task} — spent ${usd(node.spent.usd)} (with children ${usd(node.spent_with_children.usd)})`);
  for (const child of node.children) treeLines(child, depth + 1, lines);
  return lines;
}

export async function tree(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const id = args[0] ?? process.env.TOLLGATE_SESSION;
  if (!id) throw new CliError('name a session id, or set TOLLGATE_SESSION');
  const root = await new AdminClient(opts).get<TreeNode>(`/admin/v1/sessions/${encodeURIComponent(id)}/tree`);
  output(opts, root, () => process.stdout.write(`${treeLines(root, 0, []).join('\n')}\n`));
}

export async function renew(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const id = args[0] ?? process.env.TOLLGATE_SESSION;
  if (!id) throw new CliError('name a session id, or set TOLLGATE_SESSION');
  const addUsd = number(opts.addUsd, '--add-usd');
  const addTokens = number(opts.addTokens, '--add-tokens');
  const session = await new AdminClient(opts).post<SessionView>(`/admin/v1/sessions/${encodeURIComponent(id)}/renew`, {
    ttl_seconds: number(opts.ttl, '--ttl'),
    ...(addUsd !== undefined || addTokens !== undefined ? { budget: { usd: addUsd, tokens: addTokens } } : {}),
    reason: opts.reason,
  }, { ttl_seconds: '--ttl', 'budget.usd': '--add-usd', 'budget.tokens': '--add-tokens', reason: '--reason' });
  output(opts, session, () => printFields(fields(session)));
}

/** suspend: calls refused until a human approves the resume approval it raises. */
export async function suspend(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const result = await new AdminClient(opts).post<{ suspended: string[]; approval_id: string }>(`/admin/v1/sessions/${encodeURIComponent(args[0]!)}/suspend`, {
    reason: typeof opts.reason === 'string' ? opts.reason : undefined,
  });
  output(opts, result, () => process.stdout.write(`suspended: ${result.suspended.join(' ') || 'none'}\nresume approval: ${result.approval_id}\n`));
}

export async function resume(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const result = await new AdminClient(opts).post<{ id: string; status: string }>(`/admin/v1/sessions/${encodeURIComponent(args[0]!)}/resume`, {
    reason: typeof opts.reason === 'string' ? opts.reason : undefined,
  });
  output(opts, result, () => process.stdout.write(`${result.id}: ${result.status}\n`));
}
