// Agents: the list with status, team, profile, owner and spend; one agent's page with its
// credentials (never the secrets), sessions, spend chart and alerts, and the suspend / resume /
// revoke buttons.
import { useMemo, useState } from 'preact/hooks';
import { can, get, me, postAction, query, type Agent, type Credential, type List, type Profile, type Session, type SpendReport, type Team } from '../api';
import { TimeChart } from '../components/chart';
import { Badge, BudgetBar, Card, ConfirmButton, Empty, ErrorNote, Loading, Page, Segmented, Table } from '../components/ui';
import { ended, num, relative, time, usd } from '../format';
import { usePoll } from '../hooks';
import { href } from '../router';
import { columns, loadSeries, rangeOf, RANGES, type RangeKey } from '../series';
import { AlertTable } from './alerts';

export function Agents() {
  const agents = usePoll(() => get<List<Agent>>('/agents'), []);
  const spend = usePoll(() => get<SpendReport>('/reports/spend?group_by=agent'), []);
  const today = usePoll(() => get<SpendReport>(`/reports/spend${query({ group_by: 'agent', since: Date.now() - 86_400_000 })}`), []);
  const teams = usePoll(() => get<List<Team>>('/teams'), [], 30_000);
  const teamNames = new Map(teams.data?.data.map((t) => [t.id, t.name]) ?? []);
  const suspendedTeams = new Set(teams.data?.data.filter((t) => t.status === 'suspended').map((t) => t.id) ?? []);
  const profiles = usePoll(() => get<List<Profile>>('/profiles'), [], 30_000);
  const profileNames = new Map(profiles.data?.data.map((p) => [p.id, p.name]) ?? []);
  const [filter, setFilter] = useState('');
  const byAgent = new Map(spend.data?.rows.map((r) => [r.key, r]) ?? []);
  const byAgentToday = new Map(today.data?.rows.map((r) => [r.key, r]) ?? []);
  const f = filter.trim().toLowerCase();
  const list = (agents.data?.data ?? []).filter((a) => !f || [a.name, a.id, teamNames.get(a.team.id), profileNames.get(a.profile.id), a.owner, a.status].some((v) => v?.toLowerCase().includes(f)));
  return (
    <Page title="Agents" subtitle="Every non-human identity, who owns it and what it spends." actions={<input type="search" placeholder="Filter agents" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} aria-label="Filter agents" />}>
      <Card>
        <ErrorNote error={agents.error ?? spend.error} />
        {!agents.data ? <Loading /> : list.length === 0 ? <Empty>No agents match.</Empty> : (
          <Table label="Agents">
            <thead><tr><th>Agent</th><th>Status</th><th>Team</th><th>Profile</th><th>Owner</th><th>Env</th><th class="num">Calls</th><th class="num">Spend 24 h</th><th class="num">Spend total</th></tr></thead>
            <tbody>
              {list.map((a) => (
                <tr key={a.id} data-agent={a.name}>
                  <td><a href={href(`/agents/${a.id}`)}><strong>{a.name}</strong></a><div class="muted small mono">{a.id}</div></td>
                  <td><Badge value={a.status} /></td>
                  <td>{a.team.name ?? teamNames.get(a.team.id) ?? a.team.id}{suspendedTeams.has(a.team.id) && <> <Badge value="suspended" /></>}</td>
                  <td>{a.profile.name ?? profileNames.get(a.profile.id) ?? a.profile.id}</td>
                  <td>{a.owner ?? '—'}</td>
                  <td>{a.environment}</td>
                  <td class="num">{num(byAgent.get(a.id)?.requests ?? 0)}</td>
                  <td class="num">{usd(byAgentToday.get(a.id)?.usd ?? 0)}</td>
                  <td class="num spend">{usd(byAgent.get(a.id)?.usd ?? 0)}</td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </Card>
    </Page>
  );
}

export function AgentPage({ id }: { id: string }) {
  const agent = usePoll(() => get<Agent>(`/agents/${encodeURIComponent(id)}`), [id]);
  const secrets = usePoll(() => get<List<Credential>>(`/agents/${encodeURIComponent(id)}/secrets`), [id], 15_000);
  const sessions = usePoll(() => get<List<Session>>(`/sessions${query({ agent: id, limit: 50 })}`), [id]);
  const total = usePoll(() => get<SpendReport>('/reports/spend?group_by=agent'), []);
  const [range, setRange] = useState<RangeKey>('24h');
  const r = rangeOf(range);
  const series = usePoll(() => loadSeries('agent', r.ms, r.interval), [range]);
  const a = agent.data;
  const cols = useMemo(() => {
    if (!series.data || !a) return undefined;
    const mine = series.data.report.rows.filter((row) => row.key === a.id);
    const c = columns(mine, series.data.since, series.data.until, series.data.interval, { label: () => 'spend' });
    return c.series.length ? c : { x: c.x, series: [{ label: 'spend', values: c.x.map(() => 0) }] };
  }, [series.data, a?.id]);
  const mine = total.data?.rows.find((row) => row.key === a?.id);
  const mayAct = can(me.use(), 'POST', '/agents/{id}/suspend');
  const act = (verb: 'suspend' | 'resume' | 'revoke') => async (reason: string) => {
    await postAction(`/agents/${encodeURIComponent(id)}/${verb}`, reason);
    agent.reload();
    sessions.reload();
  };
  if (!a) return <Page title="Agent">{agent.error ? <ErrorNote error={agent.error} /> : <Loading />}</Page>;
  return (
    <Page
      title={a.name}
      subtitle={<><span class="mono">{a.id}</span> · owner {a.owner ?? '—'} · {a.environment}</>}
      actions={
        <div class="actions">
          <Badge value={a.status} />
          {mayAct && a.status === 'active' && <ConfirmButton label="Suspend" tone="plain" onConfirm={act('suspend')} />}
          {mayAct && a.status === 'suspended' && <ConfirmButton label="Resume" tone="primary" onConfirm={act('resume')} />}
          {mayAct && a.status !== 'revoked' && <ConfirmButton label="Revoke" onConfirm={act('revoke')} />}
        </div>
      }
    >
      <div class="stats">
        <div class="stat"><div class="stat-label">Team</div><div class="stat-value small">{a.team.name ?? a.team.id}</div></div>
        <div class="stat"><div class="stat-label">Profile</div><div class="stat-value small">{a.profile.name ?? a.profile.id}</div></div>
        <div class="stat"><div class="stat-label">Spend, all time</div><div class="stat-value" data-testid="agent-spend">{usd(mine?.usd ?? 0)}</div><div class="stat-hint">{num(mine?.requests ?? 0)} calls · {num((mine?.input_tokens ?? 0) + (mine?.output_tokens ?? 0))} tokens</div></div>
        <div class="stat"><div class="stat-label">Created</div><div class="stat-value small">{time(a.created_at)}</div></div>
      </div>
      <div class="grid two">
        <Card class="span-2" title="Spend" right={<Segmented label="Range" value={range} options={RANGES.map((x) => [x[0], x[0]] as const)} onChange={setRange} />}>
          <ErrorNote error={series.error} />
          {cols ? <TimeChart label={`Spend of ${a.name}`} x={cols.x} series={cols.series} format={usd} stepped height={200} /> : <Loading />}
        </Card>
        <Card class="span-2" title="Sessions">
          <ErrorNote error={sessions.error} />
          {!sessions.data ? <Loading /> : sessions.data.data.length === 0 ? <Empty>No sessions yet.</Empty> : (
            <Table label="Sessions of this agent">
              <thead><tr><th>Session</th><th>Status</th><th>Budget</th><th class="num">Calls</th><th>Opened</th></tr></thead>
              <tbody>
                {sessions.data.data.map((s) => (
                  <tr key={s.id}>
                    <td><a href={href(`/sessions/${s.id}`)}>{s.task}</a><div class="muted small mono">{s.id}{s.parent_id ? ' · delegated' : ''}</div></td>
                    <td><Badge value={s.status} /></td>
                    <td class="bar-cell"><BudgetBar budget={s.budget} spent={{ usd: s.spent.usd, tokens: s.spent.total_tokens }} reserved={s.reserved} ended={ended(s.status)} compact /></td>
                    <td class="num">{num(s.spent.requests)}</td>
                    <td>{relative(s.created_at)}</td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )}
        </Card>
        <Card title="Credentials" right={<span class="muted small">secrets are never shown after issue</span>}>
          <ErrorNote error={secrets.error} />
          {!secrets.data ? <Loading /> : secrets.data.data.length === 0 ? <Empty>No client secrets: this agent gets tokens from an operator or a federated identity.</Empty> : (
            <Table label="Client secrets">
              <thead><tr><th>Secret id</th><th>Status</th><th>Created</th><th>Expires</th><th>Last used</th></tr></thead>
              <tbody>
                {secrets.data.data.map((c) => (
                  <tr key={c.id}>
                    <td class="mono">{c.id}</td>
                    <td><Badge value={c.status} /></td>
                    <td>{relative(c.created_at)}</td>
                    <td>{c.expires_at ? relative(c.expires_at) : 'never'}</td>
                    <td>{c.last_used_at ? `${relative(c.last_used_at)}${c.last_used_from ? ` from ${c.last_used_from}` : ''}` : 'never'}</td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )}
        </Card>
        <Card title="Alerts">
          <AlertTable params={{ agent_id: a.id }} compact />
        </Card>
      </div>
    </Page>
  );
}
