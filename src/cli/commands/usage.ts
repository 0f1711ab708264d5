import { AdminClient, query } from '../client.js';
import { output, printTable, usd } from '../output.js';

interface UsageLine {
  created_at: string; session_id: string; agent_id: string; model: string; stream: boolean;
  input_tokens: number; output_tokens: number; cost_usd: number; estimated: boolean; outcome: string;
}

export async function usage(opts: Record<string, unknown>): Promise<void> {
  const { data } = await new AdminClient(opts).get<{ data: UsageLine[] }>(
    `/admin/v1/usage${query({ session: opts.session, agent: opts.agent, team: opts.team, limit: opts.limit })}`,
  );
  output(opts, data, () =>
    printTable(
      data.map((u) => ({ time: u.created_at, session: u.session_id, model: u.model, in: u.input_tokens, out: u.output_tokens, cost: usd(u.cost_usd), est: u.estimated ? 'yes' : '', outcome: u.outcome })),
      ['time', 'session', 'model', 'in', 'out', 'cost', 'est', 'outcome'],
    ),
  );
}

interface ModelLine { name: string; provider: string; upstream_model: string; price_per_million: { input: number; output: number; cached_input: number } }

export async function models(opts: Record<string, unknown>): Promise<void> {
  const { data } = await new AdminClient(opts).get<{ data: ModelLine[] }>('/admin/v1/models');
  output(opts, data, () =>
    printTable(
      data.map((m) => ({ name: m.name, provider: m.provider, upstream: m.upstream_model, input: m.price_per_million.input, cached: m.price_per_million.cached_input, output: m.price_per_million.output })),
      ['name', 'provider', 'upstream', 'input', 'cached', 'output'],
    ),
  );
}
