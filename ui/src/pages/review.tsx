// Access review: the findings (unused or reused secrets, idle or ownerless agents, grants never
// used) with their remedies — one click for those the gateway can apply — what changed since the
// last sign-off, every agent's credentials and granted-vs-used models and tools, and the sign-off.
import { useState } from 'preact/hooks';
import { can, get, me, post, type AccessReview, type Finding } from '../api';
import { Badge, Card, ConfirmButton, Empty, ErrorNote, Loading, Page, Table } from '../components/ui';
import { relative, time } from '../format';
import { usePoll } from '../hooks';
import { href } from '../router';

export function Review() {
  const who = me.use();
  // A report that reads the window's audit events: loaded once, and again after each action or on request.
  const review = usePoll(() => get<AccessReview>('/access-review'), [], null);
  const [accepted, setAccepted] = useState<Set<string>>(new Set());
  const [remediated, setRemediated] = useState<string[]>([]);
  const [note, setNote] = useState('');
  const [signed, setSigned] = useState<string | null>(null);
  const r = review.data;
  const mayApply = can(who, 'POST', '/access-review/apply');
  const maySign = can(who, 'POST', '/access-review/sign-off');
  const apply = (f: Finding) => async (reason: string) => {
    const res = await post<{ applied: { ok: boolean; error?: string }[] }>('/access-review/apply', { findings: [f.id], ...(reason ? { reason } : {}) });
    const failed = res.applied.find((a) => !a.ok);
    if (failed) throw new Error(failed.error ?? 'not applied');
    setRemediated((list) => [...list, f.id]);
    review.reload();
  };
  const toggle = (id: string) => setAccepted((set) => {
    const next = new Set(set);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    return next;
  });
  const signOff = async () => {
    const res = await post<{ id: string; signed_at: string }>('/access-review/sign-off', { accepted: [...accepted], remediated, ...(note.trim() ? { note: note.trim() } : {}) });
    setSigned(`Signed off (${res.id}) at ${time(res.signed_at)}.`);
    setAccepted(new Set());
    setRemediated([]);
    review.reload();
  };
  if (!r) return <Page title="Access review">{review.error ? <ErrorNote error={review.error} /> : <Loading />}</Page>;
  const c = r.changes_since_last;
  return (
    <Page
      title="Access review"
      subtitle={<>Least privilege you can see: the last {r.window.days} days, unused after {r.unused_days} days. {r.summary.agents} agents, {r.summary.credentials} secrets. Generated {relative(r.generated_at)}.</>}
      actions={<button type="button" class="btn plain" onClick={review.reload}>Review again</button>}
    >
      <div class="stats">
        <div class="stat"><div class="stat-label">Findings</div><div class="stat-value" data-testid="review-findings">{r.summary.findings}</div><div class="stat-hint">{r.summary.by_severity.critical} critical · {r.summary.by_severity.warning} warning · {r.summary.by_severity.info} info</div></div>
        <div class="stat"><div class="stat-label">Last sign-off</div><div class="stat-value small">{r.last_sign_off ? relative(r.last_sign_off.signed_at) : 'never'}</div><div class="stat-hint">{r.last_sign_off ? `by ${r.last_sign_off.operator?.name ?? r.last_sign_off.signed_by}` : ''}</div></div>
        {c && <div class="stat"><div class="stat-label">Since then</div><div class="stat-value small" data-testid="review-changes">{c.new.length} new · {c.resolved.length} resolved</div><div class="stat-hint">{c.still_open.length} still open</div></div>}
      </div>
      <Card title="Findings">
        {r.findings.length === 0 ? <Empty>Nothing to review: every grant is used and every credential is live.</Empty> : (
          <Table label="Findings">
            <thead><tr><th>Severity</th><th>Finding</th><th>OWASP</th><th>Remedy</th>{maySign && <th>Accept</th>}</tr></thead>
            <tbody>
              {r.findings.map((f) => (
                <tr key={f.id} data-finding={f.id}>
                  <td><Badge value={f.severity} />{c?.new.includes(f.id) && <> <Badge value="new" /></>}</td>
                  <td>
                    <div>{f.summary}</div>
                    <div class="muted small mono">{f.id}{f.agent && <> · <a href={href(`/agents/${f.agent.id}`)}>{f.agent.name}</a></>}</div>
                    {f.remedy.diff && <pre class="diff" aria-label={`Suggested profile for ${f.profile?.name ?? ''}`}>{f.remedy.diff}</pre>}
                  </td>
                  <td>{f.owasp ?? '—'}</td>
                  <td>
                    <div class="small">{f.remedy.description}</div>
                    {f.accepted ? <span class="muted small">accepted by {f.accepted.by}</span>
                      : f.remedy.automatic && mayApply ? <ConfirmButton label={f.remedy.action === 'revoke_credential' ? 'Revoke' : 'Suspend'} confirmLabel={`Apply: ${f.remedy.action.replace('_', ' ')}`} onConfirm={apply(f)} />
                      : f.remedy.commands.length > 0 ? <code class="small">{f.remedy.commands[0]}</code> : null}
                  </td>
                  {maySign && <td><input type="checkbox" aria-label={`Accept ${f.id}`} checked={accepted.has(f.id)} onChange={() => toggle(f.id)} /></td>}
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </Card>
      {maySign && (
        <Card title="Sign off">
          <p class="muted">Signing off records who reviewed, when, which findings were accepted as they are ({accepted.size}) and which were remedied here ({remediated.length}). The next review shows what changed since.</p>
          <div class="actions">
            <input type="text" placeholder="Note (optional)" maxLength={2000} value={note} onInput={(e) => setNote(e.currentTarget.value)} aria-label="Sign-off note" />
            <ConfirmButton label="Sign off" tone="primary" withReason={false} confirmLabel="Sign off this review" onConfirm={signOff} />
          </div>
          {signed && <p role="status">{signed}</p>}
        </Card>
      )}
      <Card title="Agents">
        <Table label="Agents under review">
          <thead><tr><th>Agent</th><th>Owner</th><th>Team</th><th>Profile</th><th>Status</th><th>Secrets</th><th>Sessions</th><th>Models used / granted</th><th>Tools used / granted</th></tr></thead>
          <tbody>
            {r.agents.map((a) => (
              <tr key={a.id}>
                <td><a href={href(`/agents/${a.id}`)}>{a.name}</a></td>
                <td>{a.owner ?? <span class="error">none</span>}</td>
                <td>{a.team.name ?? a.team.id}</td>
                <td>{a.profile.name ?? a.profile.id}</td>
                <td><Badge value={a.status} /></td>
                <td class="small">{a.credentials.length === 0 ? (a.federated ? 'federated' : '—') : a.credentials.map((cr) => (
                  <div key={cr.id}><span class="mono">{cr.id.slice(0, 13)}</span> {cr.status}, {cr.last_used_at ? `used ${relative(cr.last_used_at)} from ${cr.sources.map((s) => s.source).join(', ')}` : 'never used'}</div>
                ))}</td>
                <td>{a.sessions_in_window}</td>
                <td class="small">{a.models.used.map((u) => u.name).join(', ') || '—'} / {a.models.granted.join(', ')}</td>
                <td class="small">{a.tools.used.map((u) => u.name).join(', ') || '—'} / {a.tools.granted.join(', ') || '—'}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      </Card>
    </Page>
  );
}
