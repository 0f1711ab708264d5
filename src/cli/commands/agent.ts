import { AdminClient, query } from '../client.js';
import { output, printFields, printTable } from '../output.js';

interface Agent {
  id: string;
  name: string;
  team: { id: string; name?: string };
  profile: { id: string; name?: string };
  owner: string | null;
  environment: string;
  status: string;
  created_at: string;
}

const fields = (a: Agent): [string, unknown][] => [
  ['id', a.id], ['name', a.name], ['team', a.team.name ?? a.team.id], ['profile', a.profile.name ?? a.profile.id],
  ['owner', a.owner], ['environment', a.environment], ['status', a.status], ['created', a.created_at],
];

export async function create(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const agent = await new AdminClient(opts).post<Agent>('/admin/v1/agents', {
    name: args[0], team: opts.team, profile: opts.profile, owner: opts.owner, environment: opts.environment,
  });
  output(opts, agent, () => printFields(fields(agent)));
}

export async function list(opts: Record<string, unknown>): Promise<void> {
  const { data } = await new AdminClient(opts).get<{ data: Agent[] }>(`/admin/v1/agents${query({ team: opts.team })}`);
  output(opts, data, () => printTable(data.map((a) => ({ ...a, team: a.team.id, profile: a.profile.id })), ['id', 'name', 'team', 'profile', 'owner', 'status']));
}

export async function show(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const agent = await new AdminClient(opts).get<Agent>(`/admin/v1/agents/${encodeURIComponent(args[0]!)}`);
  output(opts, agent, () => printFields(fields(agent)));
}
