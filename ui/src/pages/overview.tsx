// Overview: spend over time, live request rate, top agents, what waits for a human, budget burn-down.
import { useMemo, useState } from 'preact/hooks';
import { get, query, type Agent, type Approval, type BudgetLine, type List, type Session, type SpendReport, type Team } from '../api';
import { TimeChart } from '../components/chart';
import { Badge, BudgetBar, Card, Empty, ErrorNote, Loading, Page, Segmented, Stat, Table } from '../components/ui';
import { num, relative, usd } from '../format';
import { usePoll } from '../hooks';
import { href } from '../router';
import { columns, loadSeries, rangeOf, RANGES, type RangeKey } from '../series';
import { listAlerts } from './alerts';

const GROUPS = [['team', 'Team'], ['profile', 'Profile'], ['model', 'Model'], ['agent', 'Agent']] as const;
type Group = (typeof GROUPS)[number][0];

export function Overview() {
  const [group, setGroup] = useState<Group>('team');
  const [range, setRange] = useState<RangeKey>('24h');
  const r = rangeOf(range);
  const spend = usePoll(() => loadSeries(group, r.ms, r.interval), [group, range]);
  const rate = usePoll(() => loadSeries('model', 15 * 60_000, 10), []);
  const top = usePoll(() => get<SpendReport>(`/reports/spend${query({ group_by: 'agent', since: Date.now() - 86_400_000 })}`), []);
  const day = usePoll(() => get<SpendReport>(`/reports/spend${query({ group_by: 'team', since: Date.now() - 86_400_000 })}`), []);
  const waiting = usePoll(async () => {
    const [approvals, alerts, sessions] = await Promise.all([
      get<List<Approval>>('/approvals?status=pending&limit=100'),
      listAlerts({ status: 'open' }),
      get<List<Session>>('/sessions?status=active&limit=1000'),
    ]);
    return { approvals: approvals.data, alerts, sessions: sessions.data.filter((s) => s.status === 'active') };
  }, []);
  const budgets = usePoll(() => get<List<BudgetLine>>('/budgets'), []);
  const agents = usePoll(() => get<List<Agent>>('/agents'), [], 30_000);
  const teams = usePoll(() => get<List<Team>>('/teams'), [], 30_000);
  const teamNames = new Map(teams.data?.data.map((t) => [t.id, t.name]) ?? []);

  const spendCols = useMemo(() => spend.data && columns(spend.data.report.rows, spend.data.since, spend.data.until, spend.data.interval, { top: 8 }), [spend.data]);
  const rateCols = useMemo(() => {
    if (!rate.data) return undefined;
    const c = columns(rate.data.report.rows, rate.data.since, rate.data.until, 10, { value: (x) => x.requests * 6, keyOf: () => 'all', label: () => 'requests / min' });
    return c.series.length ? c : { x: c.x, series: [{ label: 'requests / min', values: c.x.map(() => 0) }] };
  }, [rate.data]);
  // The last full minute's metered calls.
  const perMinute = useMemo(() => {
    const v = rateCols?.series[0]?.values ?? [];
    return v.slice(-7, -1).reduce<number>((n, x) => n + (x ?? 0), 0) / 6;
  }, [rateCols]);
  const agentNames = new Map(agents.data?.data.map((a) => [a.id, a]) ?? []);
  const topAgents = [...(top.data?.rows ?? [])].sort((a, b) => b.usd - a.usd).slice(0, 8);

  return (
    <Page title="Overview" subtitle="Spend, traffic and what needs a human — live.">
      <div class="stats">
        <Stat label="Spend, last 24 h" value={day.data ? usd(day.data.total.usd) : '…'} hint={day.data ? `${num(day.data.total.requests)} calls` : undefined} />
        <Stat label="Request rate" value={rateCols ? `${num(perMinute)}/min` : '…'} hint="metered calls, last minute" />
        <Stat label="Live sessions" value={waiting.data ? num(waiting.data.sessions.length) : '…'} />
        <Stat label="Pending approvals" value={waiting.data ? <a href={href('/approvals')}>{waiting.data.approvals.length}</a> : '…'} tone={waiting.data?.approvals.length ? 'warn' : undefined} />
        <Stat
          label="Open alerts"
          value={waiting.data ? (waiting.data.alerts === null ? <span class="muted">n/a</span> : <a href={href('/alerts')}>{waiting.data.alerts.length}</a>) : '…'}
          hint={waiting.data?.alerts === null ? 'alerts API not available' : undefined}
          tone={waiting.data?.alerts?.some((a) => a.severity === 'critical') ? 'bad' : waiting.data?.alerts?.length ? 'warn' : undefined}
        />
      </div>

      <div class="grid two">
        <Card
          class="span-2"
          title="Spend over time"
          right={
            <div class="controls">
              <Segmented label="Group by" value={group} options={GROUPS} onChange={setGroup} />
              <Segmented label="Range" value={range} options={RANGES.map((x) => [x[0], x[0]] as const)} onChange={setRange} />
            </div>
          }
        >
          <ErrorNote error={spend.error} />
          {spendCols ? (spendCols.series.length ? <TimeChart label={`Spend by ${group}`} x={spendCols.x} series={spendCols.series} format={usd} stepped /> : <Empty>No spend in this range yet.</Empty>) : <Loading />}
        </Card>

        <Card title="Request rate" right={<span class="live">live</span>}>
          <ErrorNote error={rate.error} />
          {rateCols ? <TimeChart label="Requests per minute" x={rateCols.x} series={rateCols.series} format={(v) => num(v)} height={180} /> : <Loading />}
        </Card>

        <Card title="Top agents, last 24 h">
          <ErrorNote error={top.error} />
          {topAgents.length === 0 ? (
            top.data ? <Empty>No spend yet.</Empty> : <Loading />
          ) : (
            <Table label="Top agents">
              <thead><tr><th>Agent</th><th>Team</th><th class="num">Calls</th><th class="num">Spend</th></tr></thead>
              <tbody>
                {topAgents.map((r) => (
                  <tr key={r.key}>
                    <td><a href={href(`/agents/${r.key ?? ''}`)}>{r.name ?? r.key}</a></td>
                    <td>{teamNames.get(agentNames.get(r.key ?? '')?.team.id ?? '') ?? '—'}</td>
                    <td class="num">{num(r.requests)}</td>
                    <td class="num">{usd(r.usd)}</td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )}
        </Card>

        <Card title="Waiting for a human">
          <ErrorNote error={waiting.error} />
          {!waiting.data ? <Loading /> : (
            <ul class="feed">
              {waiting.data.approvals.slice(0, 5).map((a) => (
                <li key={a.id}><Badge value="pending" /> <a href={href('/approvals')}>{a.kind} approval</a> <span class="muted">for {a.session_id} · {relative(a.created_at)}</span></li>
              ))}
              {(waiting.data.alerts ?? []).slice(0, 5).map((a) => (
                <li key={a.id}><Badge value={a.severity} /> <a href={href(`/alerts/${a.id}`)}>{a.summary}</a> <span class="muted">{relative(a.created_at)}</span></li>
              ))}
              {waiting.data.approvals.length === 0 && !waiting.data.alerts?.length && <li class="muted">Nothing pending.</li>}
            </ul>
          )}
        </Card>

        <Card title="Budgets this period" class="span-2">
          <ErrorNote error={budgets.error} />
          {!budgets.data ? <Loading /> : budgets.data.data.length === 0 ? <Empty>No team or agent budgets are set (teams[].budget, profiles[].agent_budget).</Empty> : <Budgets lines={budgets.data.data} />}
        </Card>
      </div>
    </Page>
  );
}

function Budgets({ lines }: { lines: BudgetLine[] }) {
  const [selected, setSelected] = useState(0);
  const line = lines[Math.min(selected, lines.length - 1)]!;
  return (
    <div class="budgets">
      <ul class="budget-list">
        {lines.map((l, i) => (
          <li key={`${l.level}:${l.id}`} class={i === selected ? 'on' : ''}>
            <button type="button" class="linkish" onClick={() => setSelected(i)} aria-pressed={i === selected}>
              <strong>{l.name}</strong> <span class="muted">{l.level} · {l.period}</span>
            </button>
            <BudgetBar budget={l.budget} spent={l.spent} reserved={l.reserved} compact />
            <div class="muted small">
              burning {usd(l.burn_rate_per_hour.usd)}/h ·{' '}
              {l.forecast_exhausted_at ? <span class="bad-text">runs out {relative(l.forecast_exhausted_at)}</span> : 'lasts the period at this rate'}
            </div>
          </li>
        ))}
      </ul>
      <BurnDown line={line} />
    </div>
  );
}

/** Remaining budget over the period so far, and the straight line to zero at the current burn rate. */
function BurnDown({ line }: { line: BudgetLine }) {
  const unit = line.budget.usd !== null ? 'usd' : 'tokens';
  const start = line.period_start ? Date.parse(line.period_start) : Date.now() - 30 * 86_400_000;
  const end = line.period_end ? Date.parse(line.period_end) : Date.now() + 7 * 86_400_000;
  const data = usePoll(async () => {
    const span = end - start;
    const interval = Math.max(60, Math.ceil(span / 1000 / 120 / 60) * 60);
    const step = interval * 1000;
    const since = Math.floor(start / step) * step;
    const until = Math.ceil((Date.now() + 1) / step) * step;
    const report = await get<SpendReport>(`/reports/spend/series${query({ group_by: line.level, since, until, interval })}`);
    return { report, since, until, interval };
  }, [line.level, line.id, line.period_start]);
  const cols = useMemo(() => {
    if (!data.data) return undefined;
    const { report, since, until, interval } = data.data;
    const mine = report.rows.filter((r) => (line.level === 'team' ? r.executing_team === line.id : r.key === line.id));
    const value = unit === 'usd' ? (r: { usd: number }) => r.usd : (r: { input_tokens: number; output_tokens: number }) => r.input_tokens + r.output_tokens;
    const c = columns(mine, since, until, interval, { value, keyOf: () => 'spent', label: () => 'spent', cumulative: true });
    const limit = line.budget[unit] ?? 0;
    const spent = c.series[0]?.values ?? c.x.map(() => 0);
    const remaining: (number | null)[] = spent.map((v) => limit - (v ?? 0));
    const forecast: (number | null)[] = c.x.map(() => null);
    const x = [...c.x];
    // Projection: from now, at the last hour's rate, to zero or the period's end.
    const rate = (unit === 'usd' ? line.burn_rate_per_hour.usd : line.burn_rate_per_hour.tokens) / 3600;
    const nowS = Date.now() / 1000;
    const left = line.remaining[unit] ?? 0;
    forecast[forecast.length - 1] = remaining[remaining.length - 1] ?? left;
    const stopS = Math.min(end / 1000, line.forecast_exhausted_at ? Date.parse(line.forecast_exhausted_at) / 1000 : end / 1000);
    const stepS = interval;
    for (let t = x[x.length - 1]! + stepS; t <= stopS + stepS && x.length < 400; t += stepS) {
      x.push(Math.min(t, stopS));
      remaining.push(null);
      forecast.push(Math.max(0, left - rate * (Math.min(t, stopS) - nowS)));
      if (t >= stopS) break;
    }
    return { x, series: [
      { label: 'remaining', values: remaining, fill: true },
      { label: 'forecast', values: forecast, dash: [6, 4], color: '#dc2626' },
    ] };
  }, [data.data, unit, line]);
  return (
    <div class="burndown">
      <h3>{line.name} <span class="muted">— {line.level} budget, {line.period}</span></h3>
      <ErrorNote error={data.error} />
      {cols ? <TimeChart label={`Burn-down of ${line.name}`} x={cols.x} series={cols.series} format={unit === 'usd' ? usd : num} height={200} /> : <Loading />}
      <p class="muted small">
        {line.forecast_exhausted_at ? `At the last hour's rate the budget runs out ${relative(line.forecast_exhausted_at)}.` : 'At the last hour\'s rate the budget lasts the period.'}
      </p>
    </div>
  );
}
