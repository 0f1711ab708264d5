import { AdminClient } from '../client.js';
import { output, printFields, printTable } from '../output.js';

interface Team { id: string; name: string; owner: string | null; created_at: string }

const fields = (t: Team): [string, unknown][] => [['id', t.id], ['name', t.name], ['owner', t.owner], ['created', t.created_at]];

export async function create(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const team = await new AdminClient(opts).post<Team>('/admin/v1/teams', { name: args[0], owner: opts.owner });
  output(opts, team, () => printFields(fields(team)));
}

export async function list(opts: Record<string, unknown>): Promise<void> {
  const { data } = await new AdminClient(opts).get<{ data: Team[] }>('/admin/v1/teams');
  output(opts, data, () => printTable(data as unknown as Record<string, unknown>[], ['id', 'name', 'owner']));
}

export async function show(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const team = await new AdminClient(opts).get<Team>(`/admin/v1/teams/${encodeURIComponent(args[0]!)}`);
  output(opts, team, () => printFields(fields(team)));
}
