// Alerts: detectors' findings, their evidence and the actions taken; acknowledge or resolve.
// A gateway without the alerts API (it answers 404) gets an explanation, not an error.
import { useState } from 'preact/hooks';
import { ApiError, can, get, me, postAction, query, type Alert, type List } from '../api';
import { Badge, Card, ConfirmButton, Empty, ErrorNote, KeyValue, Loading, Page, Segmented, Table } from '../components/ui';
import { relative, text, time } from '../format';
import { usePoll } from '../hooks';
import { href } from '../router';

/** The alerts, or null when this gateway has no alerts API (it answers 404). */
export async function listAlerts(params: Record<string, string | undefined>): Promise<Alert[] | null> {
  try {
    return (await get<List<Alert>>(`/alerts${query({ limit: 200, ...params })}`)).data;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

const Unavailable = () => <Empty>This gateway has no alerts API yet: detectors' findings will appear here once it does.</Empty>;

export function AlertTable({ params, compact = false }: { params: Record<string, string | undefined>; compact?: boolean }) {
  const alerts = usePoll(() => listAlerts(params), [JSON.stringify(params)]);
  if (alerts.error) return <ErrorNote error={alerts.error} />;
  if (alerts.data === undefined) return <Loading />;
  if (alerts.data === null) return <Unavailable />;
  if (alerts.data.length === 0) return <Empty>No alerts.</Empty>;
  return (
    <Table label="Alerts">
      <thead><tr><th>Severity</th><th>Alert</th><th>Status</th>{!compact && <><th>Detector</th><th>Agent</th><th>Session</th></>}<th>Raised</th></tr></thead>
      <tbody>
        {alerts.data.map((a) => (
          <tr key={a.id} data-alert={a.id}>
            <td><Badge value={a.severity} /></td>
            <td><a href={href(`/alerts/${a.id}`)}>{a.summary}</a>{a.verdict && <div class="muted small">verdict: {a.verdict}</div>}</td>
            <td><Badge value={a.status} /></td>
            {!compact && (
              <>
                <td class="mono small">{a.detector}</td>
                <td>{a.agent ? <a href={href(`/agents/${a.agent.id}`)}>{a.agent.name}</a> : '—'}</td>
                <td>{a.session_id ? <a class="mono small" href={href(`/sessions/${a.session_id}`)}>{a.session_id}</a> : '—'}</td>
              </>
            )}
            <td>{relative(a.created_at)}</td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}

const STATUS = [['open', 'Open'], ['acknowledged', 'Acknowledged'], ['resolved', 'Resolved'], ['', 'All']] as const;
const SEVERITY = [['', 'Any severity'], ['critical', 'Critical'], ['warning', 'Warning'], ['info', 'Info']] as const;

export function Alerts() {
  const [status, setStatus] = useState<(typeof STATUS)[number][0]>('open');
  const [severity, setSeverity] = useState<(typeof SEVERITY)[number][0]>('');
  return (
    <Page
      title="Alerts"
      subtitle="When an agent's behaviour leaves its profile: what a detector saw and what it did."
      actions={
        <div class="controls">
          <Segmented label="Status" value={status} options={STATUS} onChange={setStatus} />
          <Segmented label="Severity" value={severity} options={SEVERITY} onChange={setSeverity} />
        </div>
      }
    >
      <Card>
        <AlertTable params={{ status: status || undefined, severity: severity || undefined }} />
      </Card>
    </Page>
  );
}

export function AlertPage({ id }: { id: string }) {
  const alert = usePoll(async () => {
    try {
      return await get<Alert>(`/alerts/${encodeURIComponent(id)}`);
    } catch (e) {
      // No such alert, or no alerts API at all: say which.
      if (e instanceof ApiError && e.status === 404 && (await listAlerts({ limit: '1' })) === null) return null;
      throw e;
    }
  }, [id]);
  const a = alert.data;
  const mayAct = can(me.use(), 'POST', '/alerts/{id}/resolve');
  const act = (verb: 'acknowledge' | 'resolve') => async (reason: string) => {
    await postAction(`/alerts/${encodeURIComponent(id)}/${verb}`, reason);
    alert.reload();
  };
  if (a === null) return <Page title="Alert"><Card><Unavailable /></Card></Page>;
  if (!a) return <Page title="Alert">{alert.error ? <ErrorNote error={alert.error} /> : <Loading />}</Page>;
  return (
    <Page
      title={a.summary}
      subtitle={<><span class="mono">{a.id}</span> · detector <span class="mono">{a.detector}</span> · raised {time(a.created_at)}</>}
      actions={
        <div class="actions">
          <Badge value={a.severity} />
          <Badge value={a.status} />
          {mayAct && a.status === 'open' && <ConfirmButton label="Acknowledge" tone="plain" onConfirm={act('acknowledge')} />}
          {mayAct && a.status !== 'resolved' && <ConfirmButton label="Resolve" tone="primary" onConfirm={act('resolve')} />}
        </div>
      }
    >
      <div class="grid two">
        <Card title="Evidence" class="span-2">
          <KeyValue label="Evidence" value={a.evidence} />
        </Card>
        <Card title="Subject">
          <KeyValue
            label="Alert subject"
            value={{
              verdict: a.verdict ?? '—',
              subject: a.subject ?? '—',
              occurrences: a.occurrences ?? 1,
              agent: a.agent ? `${a.agent.name} (${a.agent.id})` : '—',
              session: a.session_id ?? '—',
              team: a.team_id ?? '—',
              profile: a.profile_id ?? '—',
              acknowledged_by: a.acknowledged_by ?? '—',
              resolved_by: a.resolved_by ?? '—',
              updated: time(a.updated_at),
            }}
          />
          <p class="links">
            {a.agent && <a href={href(`/agents/${a.agent.id}`)}>Agent page</a>}
            {a.session_id && <a href={href(`/sessions/${a.session_id}`)}>Session and its tree</a>}
            {a.session_id && <a href={href(`/audit${query({ session: a.session_id, descendants: 'true' })}`)}>Audit trail</a>}
          </p>
        </Card>
        <Card title="Actions taken">
          {a.actions.length === 0 ? <Empty>None.</Empty> : (
            <ol class="timeline">
              {a.actions.map((x, i) => (
                <li key={i}><strong>{x.action}</strong> <span class="muted">{time(x.at)}</span>{x.detail !== undefined && <div class="small">{x.detail !== null && typeof x.detail === 'object' ? <KeyValue label={`Action ${i + 1}`} value={x.detail} /> : text(x.detail)}</div>}</li>
              ))}
            </ol>
          )}
        </Card>
      </div>
    </Page>
  );
}
