import { AdminClient, csv, number } from '../client.js';
import { output, printFields, printTable } from '../output.js';

interface Profile {
  id: string;
  name: string;
  models: string[];
  session_budget: { default: { usd: number | null; tokens: number | null }; max: { usd: number | null; tokens: number | null } };
  session_ttl_seconds: { default: number; max: number };
}

const budget = (usd: number | undefined, tokens: number | undefined) =>
  usd === undefined && tokens === undefined ? undefined : { ...(usd === undefined ? {} : { usd }), ...(tokens === undefined ? {} : { tokens }) };

/** A budget as read: `$0.10 and 5000 tokens`, `none` when neither is set. */
const budgetText = (b: { usd: number | null; tokens: number | null }) =>
  [b.usd === null ? null : `$${b.usd}`, b.tokens === null ? null : `${b.tokens} tokens`].filter((x) => x !== null).join(' and ') || 'none';

const fields = (p: Profile): [string, unknown][] => [
  ['id', p.id], ['name', p.name], ['models', p.models.join(', ')],
  ['session budget', budgetText(p.session_budget.default)], ['max session budget', budgetText(p.session_budget.max)],
  ['session ttl (s)', `${p.session_ttl_seconds.default} (max ${p.session_ttl_seconds.max})`],
];

export async function create(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const ttl = number(opts.ttl, '--ttl');
  const maxTtl = number(opts.maxTtl, '--max-ttl');
  const body = {
    name: args[0],
    models: csv(opts.models),
    session_budget: {
      default: budget(number(opts.budgetUsd, '--budget-usd'), number(opts.budgetTokens, '--budget-tokens')),
      max: budget(number(opts.maxBudgetUsd, '--max-budget-usd'), number(opts.maxBudgetTokens, '--max-budget-tokens')),
    },
    ...(ttl || maxTtl ? { session_ttl_seconds: { ...(ttl ? { default: ttl } : {}), ...(maxTtl ? { max: maxTtl } : {}) } } : {}),
  };
  const profile = await new AdminClient(opts).post<Profile>('/admin/v1/profiles', body, {
    models: '--models',
    'session_budget.default.usd': '--budget-usd', 'session_budget.default.tokens': '--budget-tokens',
    'session_budget.max.usd': '--max-budget-usd', 'session_budget.max.tokens': '--max-budget-tokens',
    'session_ttl_seconds.default': '--ttl', 'session_ttl_seconds.max': '--max-ttl',
  });
  output(opts, profile, () => printFields(fields(profile)));
}

export async function list(opts: Record<string, unknown>): Promise<void> {
  const { data } = await new AdminClient(opts).get<{ data: Profile[] }>('/admin/v1/profiles');
  output(opts, data, () => printTable(data.map((p) => ({ ...p, models: p.models.join(',') })), ['id', 'name', 'models']));
}

export async function show(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const profile = await new AdminClient(opts).get<Profile>(`/admin/v1/profiles/${encodeURIComponent(args[0]!)}`);
  output(opts, profile, () => printFields(fields(profile)));
}
