import { AdminClient, number, query } from '../client.js';
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
  }, { team: '--team', profile: '--profile', owner: '--owner', environment: '--environment' });
  output(opts, agent, () => printFields(fields(agent)));
}

export async function list(opts: Record<string, unknown>): Promise<void> {
  const { data } = await new AdminClient(opts).get<{ data: Agent[] }>(`/admin/v1/agents${query({ team: opts.team })}`);
  output(opts, data, () => printTable(data.map((a) => ({ ...a, team: a.team.name ?? a.team.id, profile: a.profile.name ?? a.profile.id })), ['id', 'name', 'team', 'profile', 'owner', 'status']));
}

export async function show(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const agent = await new AdminClient(opts).get<Agent>(`/admin/v1/agents/${encodeURIComponent(args[0]!)}`);
  output(opts, agent, () => printFields(fields(agent)));
}

interface Secret {
  id: string;
  client_id: string;
  status: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  last_used_from: string | null;
}

const secretsPath = (agent: string) => `/admin/v1/agents/${encodeURIComponent(agent)}/secrets`;
const reason = (opts: Record<string, unknown>) => ({ reason: typeof opts.reason === 'string' ? opts.reason : undefined });

export async function secretCreate(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const expires = number(opts.expiresIn, '--expires-in');
  const issued = await new AdminClient(opts).post<Secret & { client_secret: string }>(secretsPath(args[0]!), expires === undefined ? {} : { expires_in_seconds: expires }, { expires_in_seconds: '--expires-in' });
  output(opts, issued, () => {
    printFields([['id', issued.id], ['client_id', issued.client_id], ['expires', issued.expires_at ?? 'never']]);
    process.stdout.write(`\nclient_secret (shown only once: store it now, it cannot be read back):\n${issued.client_secret}\n`);
  });
}

export async function secretList(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const { data } = await new AdminClient(opts).get<{ data: Secret[] }>(secretsPath(args[0]!));
  output(opts, data, () => printTable(data.map((s) => ({ ...s })), ['id', 'status', 'created_at', 'expires_at', 'last_used_at', 'last_used_from']));
}

export async function secretRevoke(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const body = { ...reason(opts), ...(opts.endSessions ? { end_sessions: true } : {}) };
  const secret = await new AdminClient(opts).post<Secret & { sessions_ended: string[] }>(`${secretsPath(args[0]!)}/${encodeURIComponent(args[1]!)}/revoke`, body);
  output(opts, secret, () =>
    printFields([
      ['id', secret.id], ['client_id', secret.client_id], ['status', secret.status], ['revoked', secret.revoked_at],
      ['sessions ended', secret.sessions_ended.length ? secret.sessions_ended.join(', ') : 'none'],
    ]),
  );
}

/** suspend, resume or revoke: the agent's new status and the sessions that ended with it. */
function setStatus(action: 'suspend' | 'resume' | 'revoke') {
  return async (opts: Record<string, unknown>, args: string[]): Promise<void> => {
    const agent = await new AdminClient(opts).post<Agent & { sessions_ended: string[] }>(`/admin/v1/agents/${encodeURIComponent(args[0]!)}/${action}`, reason(opts));
    output(opts, agent, () =>
      printFields([['id', agent.id], ['name', agent.name], ['status', agent.status], ['sessions ended', agent.sessions_ended.length ? agent.sessions_ended.join(', ') : 'none']]),
    );
  };
}

export const suspend = setStatus('suspend');
export const resume = setStatus('resume');
export const revoke = setStatus('revoke');
