import { profileSchema } from '../../config/schema.js';
import { AdminClient, CliError, csv, number } from '../client.js';
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

/** A profile's session TTLs where it declares none (the schema's defaults: 3600 s, at most 86400 s). */
const TTL_DEFAULTS = profileSchema.shape.session_ttl_seconds.parse(undefined);

/**
 * --ttl above --max-ttl, said with the options given: the API judges the pair as one field
 * (`session_ttl_seconds.default is above max`), which names neither option, nor the default
 * that stands for the one not given.
 */
function checkTtls(ttl: number | undefined, maxTtl: number | undefined): void {
  // A TTL that is no TTL at all (0, -5, 1.5): the API's error names its option.
  if ([ttl, maxTtl].some((v) => v !== undefined && !(Number.isSafeInteger(v) && v > 0))) return;
  const [given, most] = [ttl ?? TTL_DEFAULTS.default, maxTtl ?? TTL_DEFAULTS.max];
  if (given <= most) return;
  if (ttl !== undefined && maxTtl !== undefined) throw new CliError(`--ttl ${ttl} is above --max-ttl ${maxTtl}`);
  if (ttl !== undefined) throw new CliError(`--ttl ${ttl} is above the longest session TTL, ${most} s unless --max-ttl says more`);
  throw new CliError(`--max-ttl ${maxTtl} is below the default session TTL, ${given} s: pass a --ttl of at most ${maxTtl} too`);
}

export async function create(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const ttl = number(opts.ttl, '--ttl');
  const maxTtl = number(opts.maxTtl, '--max-ttl');
  checkTtls(ttl, maxTtl);
  const body = {
    name: args[0],
    models: csv(opts.models),
    session_budget: {
      default: budget(number(opts.budgetUsd, '--budget-usd'), number(opts.budgetTokens, '--budget-tokens')),
      max: budget(number(opts.maxBudgetUsd, '--max-budget-usd'), number(opts.maxBudgetTokens, '--max-budget-tokens')),
    },
    ...(ttl !== undefined || maxTtl !== undefined ? { session_ttl_seconds: { default: ttl, max: maxTtl } } : {}),
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
