// Sessions: live sessions with budget bars (spent / reserved / remaining); one session's page
// with its delegation tree, each node's agent, spend and status, and revoking a branch.
import { useState } from 'preact/hooks';
import { can, get, me, postAction, query, type Agent, type Amounts, type List, type Session, type TreeNode } from '../api';
import { Badge, BudgetBar, Card, ConfirmButton, Empty, ErrorNote, KeyValue, Loading, Page, Segmented, Table } from '../components/ui';
import { ended, num, plural, relative, time, usd } from '../format';
import { usePoll } from '../hooks';
import { href } from '../router';
import { AlertTable } from './alerts';

/**
 * What the session's budget has paid for: its own calls and those of its ended children (the
 * ledger's view, budget − reserved − remaining, when the API gives it), else its own spend.
 */
export function settled(s: Session): Amounts {
  const own = { usd: s.spent.usd, tokens: s.spent.total_tokens };
  const { remaining, reserved } = s;
  if (!remaining || !reserved) return own;
  const of = (unit: 'usd' | 'tokens') => {
    const limit = s.budget[unit];
    const left = remaining[unit];
    // To the nano-USD the ledger keeps: no float dust in what is shown.
    return limit === null || left === null ? own[unit] : Math.round((limit - reserved[unit] - left) * 1e9) / 1e9;
  };
  return { usd: of('usd'), tokens: of('tokens') };
}

const STATUSES = [['active', 'Live'], ['suspended', 'Suspended'], ['closed', 'Closed'], ['revoked', 'Revoked'], ['all', 'All']] as const;
type StatusFilter = (typeof STATUSES)[number][0];

export function useAgentNames() {
  const agents = usePoll(() => get<List<Agent>>('/agents'), [], 30_000);
  return new Map(agents.data?.data.map((a) => [a.id, a.name]) ?? []);
}

export function Sessions() {
  const [status, setStatus] = useState<StatusFilter>('active');
  const asked = status === 'all' ? undefined : status;
  const sessions = usePoll(() => get<List<Session>>(`/sessions${query({ status: asked, limit: 200 })}`), [status]);
  const names = useAgentNames();
  // An `active` session past its expiry shows as `expired` until the upkeep closes it.
  const list = (sessions.data?.data ?? []).filter((s) => status === 'all' || s.status === status || (status !== 'active' && status !== 'suspended' && s.status === 'expired'));
  return (
    <Page title="Sessions" subtitle="Each task an agent runs, with its budget and delegation." actions={<Segmented label="Status" value={status} options={STATUSES} onChange={setStatus} />}>
      <Card>
        <ErrorNote error={sessions.error} />
        {!sessions.data ? <Loading /> : list.length === 0 ? <Empty>No {status === 'all' ? '' : `${status} `}sessions.</Empty> : (
          <Table label="Sessions">
            <thead><tr><th>Task</th><th>Agent</th><th>Status</th><th class="bar-col">Budget</th><th class="num">Calls</th><th>Expires</th></tr></thead>
            <tbody>
              {list.map((s) => (
                <tr key={s.id} data-session={s.id}>
                  <td><a href={href(`/sessions/${s.id}`)}>{s.task}</a><div class="muted small mono">{s.id}{s.depth > 0 ? ` · depth ${s.depth}` : ''}</div></td>
                  <td class="nowrap"><a href={href(`/agents/${s.agent.id}`)}>{names.get(s.agent.id) ?? s.agent.id}</a></td>
                  <td><Badge value={s.status} /></td>
                  <td class="bar-cell"><BudgetBar budget={s.budget} spent={settled(s)} reserved={s.reserved} ended={ended(s.status)} compact /></td>
                  <td class="num">{num(s.spent.requests)}</td>
                  <td>{s.status === 'active' || s.status === 'suspended' ? relative(s.expires_at) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </Card>
    </Page>
  );
}

export function SessionPage({ id }: { id: string }) {
  const session = usePoll(() => get<Session>(`/sessions/${encodeURIComponent(id)}`), [id]);
  const s = session.data;
  const root = s?.chain[0] ?? id;
  const tree = usePoll(() => get<TreeNode>(`/sessions/${encodeURIComponent(root)}/tree`), [root]);
  const mayAct = can(me.use(), 'POST', '/sessions/{id}/revoke');
  const revoke = (target: string) => async (reason: string) => {
    await postAction(`/sessions/${encodeURIComponent(target)}/revoke`, reason);
    session.reload();
    tree.reload();
  };
  // Suspending holds the session and its subtree (resumed by approving its `resume` approval).
  const containment = (verb: 'suspend' | 'resume') => async (reason: string) => {
    await postAction(`/sessions/${encodeURIComponent(id)}/${verb}`, reason);
    session.reload();
    tree.reload();
  };
  if (!s) return <Page title="Session">{session.error ? <ErrorNote error={session.error} /> : <Loading />}</Page>;
  return (
    <Page
      title={s.task}
      subtitle={<><span class="mono">{s.id}</span> · agent <a href={href(`/agents/${s.agent.id}`)}>{s.agent.name ?? s.agent.id}</a> · team {s.team.name ?? s.team.id}</>}
      actions={
        <div class="actions">
          <Badge value={s.status} />
          <a class="btn plain" href={href(`/audit${query({ session: s.id, descendants: 'true' })}`)}>Audit trail</a>
          {mayAct && s.status === 'active' && <ConfirmButton label="Suspend" tone="plain" onConfirm={containment('suspend')} />}
          {mayAct && s.status === 'suspended' && <ConfirmButton label="Resume" tone="primary" onConfirm={containment('resume')} />}
          {mayAct && (s.status === 'active' || s.status === 'suspended') && <ConfirmButton label="Revoke" confirmLabel="Revoke session and its children" onConfirm={revoke(s.id)} />}
        </div>
      }
    >
      <div class="grid two">
        <Card title="Budget" class="span-2">
          <BudgetBar budget={s.budget} spent={settled(s)} reserved={s.reserved} ended={ended(s.status)} />
          <div class="facts">
            <span>own spend <strong>{usd(s.spent.usd)}</strong></span>
            <span>with children <strong>{usd(s.spent_with_children?.usd)}</strong></span>
            <span>{plural(s.spent.requests, 'call')}</span>
            <span>{num(s.spent.input_tokens)} in / {num(s.spent.output_tokens)} out tokens</span>
            <span>opened {time(s.created_at)}</span>
            <span>{s.status === 'active' || s.status === 'suspended' ? `expires ${relative(s.expires_at)}` : `ended · was due ${time(s.expires_at)}`}</span>
          </div>
        </Card>
        <Card title="Delegation tree" class="span-2" right={<span class="muted small">revoking a branch ends it and everything below it</span>}>
          <ErrorNote error={tree.error} />
          {tree.data ? <ul class="tree" aria-label="Delegation tree"><Node node={tree.data} current={s.id} revoke={revoke} /></ul> : <Loading />}
        </Card>
        <Card title="Scope and context">
          <KeyValue label="Session scope" value={{ models: s.models.join(', '), tags: s.tags, ...s.context }} />
        </Card>
        <Card title="Alerts">
          <AlertTable params={{ session_id: s.id }} compact />
        </Card>
      </div>
    </Page>
  );
}

function Node({ node, current, revoke }: { node: TreeNode; current: string; revoke: (id: string) => (reason: string) => Promise<void> }) {
  return (
    <li>
      <div class={`node ${node.id === current ? 'current' : ''} ${node.status}`} data-node={node.id}>
        <div class="node-head">
          <a href={href(`/agents/${node.agent.id}`)} class="node-agent">{node.agent.name ?? node.agent.id}</a>
          <Badge value={node.status} />
        </div>
        <a href={href(`/sessions/${node.id}`)} class="node-task">{node.task}</a>
        <div class="muted small mono">{node.id}</div>
        <div class="node-spend">
          <span>{usd(node.spent.usd)} own</span>
          {node.children.length > 0 && <span>{usd(node.spent_with_children.usd)} with children</span>}
          <span class="muted">{node.budget.usd !== null ? `of ${usd(node.budget.usd)}` : node.budget.tokens !== null ? `of ${num(node.budget.tokens)} tok` : 'no limit'}</span>
        </div>
        {can(me.get(), 'POST', '/sessions/{id}/revoke') && (node.status === 'active' || node.status === 'suspended') && <ConfirmButton label="Revoke branch" confirmLabel="Revoke branch" onConfirm={revoke(node.id)} />}
      </div>
      {node.children.length > 0 && (
        <ul>
          {node.children.map((c) => <Node key={c.id} node={c} current={current} revoke={revoke} />)}
        </ul>
      )}
    </li>
  );
}
