// Approvals: pending step-ups (budget thresholds, held tool calls) with their context; approve,
// optionally with extra budget, or deny.
import { useState } from 'preact/hooks';
import { can, get, me, postAction, post, type Approval, type List } from '../api';
import { Badge, Card, ConfirmButton, Empty, ErrorNote, KeyValue, Loading, Page, Table } from '../components/ui';
import { relative, time, usd } from '../format';
import { usePoll } from '../hooks';
import { href } from '../router';
import { useAgentNames } from './sessions';

const KIND: Record<string, string> = { budget: 'Budget step-up', tool: 'Tool call', resume: 'Resume a suspended session' };

export function Approvals() {
  const pending = usePoll(() => get<List<Approval>>('/approvals?status=pending&limit=100'), []);
  const recent = usePoll(() => get<List<Approval>>('/approvals?limit=30'), [], 10_000);
  const names = useAgentNames();
  const decided = (recent.data?.data ?? []).filter((a) => a.status !== 'pending');
  const reload = () => {
    pending.reload();
    recent.reload();
  };
  return (
    <Page title="Approvals" subtitle="Step-up requests waiting for a human: sessions past their soft threshold, and held tool calls.">
      <ErrorNote error={pending.error} />
      {!pending.data ? <Loading /> : pending.data.data.length === 0 ? <Card><Empty>No approvals are waiting.</Empty></Card> : (
        <div class="cards">
          {pending.data.data.map((a) => <PendingApproval key={a.id} approval={a} agentName={names.get(a.agent_id)} onDone={reload} />)}
        </div>
      )}
      <Card title="Recently decided">
        <ErrorNote error={recent.error} />
        {decided.length === 0 ? <Empty>None yet.</Empty> : (
          <Table label="Decided approvals">
            <thead><tr><th>Decision</th><th>Kind</th><th>Session</th><th>Agent</th><th>Extra budget</th><th>By</th><th>Reason</th><th>When</th></tr></thead>
            <tbody>
              {decided.map((a) => (
                <tr key={a.id}>
                  <td><Badge value={a.status} /></td>
                  <td>{a.kind}</td>
                  <td><a class="mono" href={href(`/sessions/${a.session_id}`)}>{a.session_id}</a></td>
                  <td>{names.get(a.agent_id) ?? a.agent_id}</td>
                  <td>{a.extra_budget.usd !== null ? usd(a.extra_budget.usd) : a.extra_budget.tokens !== null ? `${a.extra_budget.tokens} tok` : '—'}</td>
                  <td>{a.decided_by ?? '—'}</td>
                  <td>{a.reason ?? '—'}</td>
                  <td>{relative(a.decided_at)}</td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </Card>
    </Page>
  );
}

function PendingApproval({ approval: a, agentName, onDone }: { approval: Approval; agentName: string | undefined; onDone: () => void }) {
  const [extraUsd, setExtraUsd] = useState('');
  const [extraTokens, setExtraTokens] = useState('');
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const mayDecide = can(me.use(), 'POST', '/approvals/{id}/approve');
  const approve = async () => {
    const usdValue = extraUsd.trim() === '' ? undefined : Number(extraUsd);
    const tokens = extraTokens.trim() === '' ? undefined : Number(extraTokens);
    if ((usdValue !== undefined && !(usdValue >= 0)) || (tokens !== undefined && !(Number.isInteger(tokens) && tokens >= 0))) {
      setError('Extra budget must be a non-negative amount (USD) and a whole number of tokens.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const extra = usdValue !== undefined || tokens !== undefined ? { extra_budget: { ...(usdValue !== undefined ? { usd: usdValue } : {}), ...(tokens !== undefined ? { tokens } : {}) } } : {};
      await post(`/approvals/${encodeURIComponent(a.id)}/approve`, { ...extra, ...(reason.trim() ? { reason: reason.trim() } : {}) });
      onDone();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="card approval" data-approval={a.id}>
      <div class="card-head">
        <h2><Badge value="pending" /> {KIND[a.kind] ?? a.kind}</h2>
        <span class="muted small">{relative(a.created_at)} · {time(a.created_at)}</span>
      </div>
      <p>
        Session <a class="mono" href={href(`/sessions/${a.session_id}`)}>{a.session_id}</a> of agent{' '}
        <a href={href(`/agents/${a.agent_id}`)}>{agentName ?? a.agent_id}</a>
      </p>
      <KeyValue label="Approval context" value={a.context} />
      {!mayDecide ? <p class="muted small">Deciding needs the approver role.</p> : <form class="decide" onSubmit={(e) => { e.preventDefault(); void approve(); }}>
        {a.kind === 'budget' && (
          <>
            <label>Extra budget (USD)<input type="number" min="0" step="any" inputMode="decimal" name="extra_usd" value={extraUsd} onInput={(e) => setExtraUsd(e.currentTarget.value)} /></label>
            <label>Extra tokens<input type="number" min="0" step="1" inputMode="numeric" name="extra_tokens" value={extraTokens} onInput={(e) => setExtraTokens(e.currentTarget.value)} /></label>
          </>
        )}
        <label class="grow">Reason<input type="text" maxLength={500} name="reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} /></label>
        <div class="actions">
          <button type="submit" class="btn primary" disabled={busy}>Approve</button>
          <ConfirmButton label="Deny" withReason={false} onConfirm={async () => { await postAction(`/approvals/${encodeURIComponent(a.id)}/deny`, reason); onDone(); }} />
        </div>
        {error && <p class="error" role="alert">{error}</p>}
      </form>}
    </div>
  );
}
