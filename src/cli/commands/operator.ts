// `tollgate operator`: named operators with roles (docs/operators.md). The token is printed once.
import { AdminClient } from '../client.js';
import { output, printFields, printTable } from '../output.js';

interface OperatorView { id: string; name: string; role: string; status: string; sign_in: string; created_at: string; created_by: string | null; disabled_at: string | null; token?: string }

export async function create(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const o = await new AdminClient(opts).post<OperatorView>('/admin/v1/operators', { name: args[0], role: opts.role }, { role: '--role' });
  output(opts, o, () => {
    printFields([['operator', o.id], ['name', o.name], ['role', o.role], ['token', o.token]]);
    process.stdout.write('The token is shown only this once: hand it to the operator (TOLLGATE_ADMIN_TOKEN or --admin-token, and the dashboard\'s sign-in).\n');
  });
}

export async function list(opts: Record<string, unknown>): Promise<void> {
  const { data } = await new AdminClient(opts).get<{ data: OperatorView[] }>('/admin/v1/operators');
  output(opts, data, () => printTable(data.map((o) => ({ ...o })), ['id', 'name', 'role', 'status', 'sign_in', 'created_at', 'created_by']));
}

export async function disable(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const o = await new AdminClient(opts).post<OperatorView>(`/admin/v1/operators/${encodeURIComponent(args[0]!)}/disable`, { reason: opts.reason });
  output(opts, o, () => printFields([['operator', o.id], ['name', o.name], ['status', o.status], ['disabled', o.disabled_at]]));
}

export async function whoami(opts: Record<string, unknown>): Promise<void> {
  const me = await new AdminClient(opts).get<{ id: string; name: string; role: string; via: string }>('/admin/v1/whoami');
  output(opts, me, () => printFields([['operator', me.id], ['name', me.name], ['role', me.role], ['signed in with', me.via]]));
}
