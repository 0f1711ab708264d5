import { AdminClient, query } from '../client.js';
import { output, printTable, usdColumn } from '../output.js';

interface UsageLine {
  created_at: string; session_id: string; agent_id: string; model: string; stream: boolean;
  input_tokens: number; output_tokens: number; cost_usd: number; estimated: boolean; outcome: string;
}

export async function usage(opts: Record<string, unknown>): Promise<void> {
  const { data } = await new AdminClient(opts).get<{ data: UsageLine[] }>(
    `/admin/v1/usage${query({ session: opts.session, agent: opts.agent, team: opts.team, limit: opts.limit })}`,
  );
  // One precision for the whole cost column: a sub-micro-dollar call among dearer ones lines up.
  const cost = usdColumn(data.map((u) => u.cost_usd));
  output(opts, data, () =>
    printTable(
      data.map((u) => ({ time: u.created_at, session: u.session_id, model: u.model, in: u.input_tokens, out: u.output_tokens, cost: cost(u.cost_usd), est: u.estimated ? 'yes' : '', outcome: u.outcome })),
      ['time', 'session', 'model', 'in', 'out', 'cost', 'est', 'outcome'],
    ),
  );
}

type Rate = number | { base: number; tiers: { start: number; price: number }[] };
interface ModelLine {
  name: string; provider: string; upstream_model: string; price_source: string; fallbacks: string[];
  price_per_million: { input: Rate; output: Rate; cached_input: Rate; cache_write: Rate } | null;
}

/** A rate as text: `1.25`, or tiered by input tokens `1.25 (2.5 >200k)`. */
const rate = (r: Rate | undefined): string =>
  r === undefined ? '-' : typeof r === 'number' ? String(r) : `${r.base} (${r.tiers.map((t) => `${t.price} >${t.start >= 1000 ? `${t.start / 1000}k` : t.start}`).join(', ')})`;

export async function models(opts: Record<string, unknown>): Promise<void> {
  const { data } = await new AdminClient(opts).get<{ data: ModelLine[] }>('/admin/v1/models');
  output(opts, data, () =>
    printTable(
      data.map((m) => {
        const p = m.price_per_million;
        return {
          name: m.name, provider: m.provider, upstream: m.upstream_model,
          input: rate(p?.input), cached: rate(p?.cached_input), 'cache-write': rate(p?.cache_write), output: rate(p?.output),
          source: m.price_source === 'none' ? 'none (refused for USD budgets)' : m.price_source,
          fallbacks: m.fallbacks.join(',') || '-',
        };
      }),
      ['name', 'provider', 'upstream', 'input', 'cached', 'cache-write', 'output', 'source', 'fallbacks'],
    ),
  );
}
