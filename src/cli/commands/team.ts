import { AdminClient } from '../client.js';
import { output, printFields, printTable } from '../output.js';

interface Team { id: string; name: string; owner: string | null; status: string; created_at: string }

const fields = (t: Team): [string, unknown][] => [['id', t.id], ['name', t.name], ['owner', t.owner], ['status', t.status], ['created', t.created_at]];

export async function create(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const team = await new AdminClient(opts).post<Team>('/admin/v1/teams', { name: args[0], owner: opts.owner }, { owner: '--owner' });
  output(opts, team, () => printFields(fields(team)));
}

export async function list(opts: Record<string, unknown>): Promise<void> {
  const { data } = await new AdminClient(opts).get<{ data: Team[] }>('/admin/v1/teams');
  output(opts, data, () => printTable(data as unknown as Record<string, unknown>[], ['id', 'name', 'owner', 'status']));
}

export async function show(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const team = await new AdminClient(opts).get<Team>(`/admin/v1/teams/${encodeURIComponent(args[0]!)}`);
  output(opts, team, () => printFields(fields(team)));
}

/** suspend or resume: the team's new status. */
function setStatus(action: 'suspend' | 'resume') {
  return async (opts: Record<string, unknown>, args: string[]): Promise<void> => {
    const body = typeof opts.reason === 'string' ? { reason: opts.reason } : {};
    const team = await new AdminClient(opts).post<Team>(`/admin/v1/teams/${encodeURIComponent(args[0]!)}/${action}`, body);
    output(opts, team, () => printFields(fields(team)));
  };
}

export const suspend = setStatus('suspend');
export const resume = setStatus('resume');
