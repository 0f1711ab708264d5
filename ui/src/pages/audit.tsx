// Audit explorer: filter events by agent, session (and its descendants), type and time; follow
// the log live; see whether the hash chain verifies.
import { Fragment } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, query, type AuditEvent, type AuditPage, type Verify } from '../api';
import { Badge, Card, Empty, ErrorNote, KeyValue, Loading, Page, Table } from '../components/ui';
import { num, shortId, text, time } from '../format';
import { POLL_MS } from '../hooks';
import { href, navigate, route } from '../router';

interface Filters { agent: string; session: string; descendants: boolean; type: string; since: string; until: string }

const FIELDS = ['agent', 'session', 'type', 'since', 'until'] as const;

function fromQuery(q: URLSearchParams): Filters {
  return { agent: q.get('agent') ?? '', session: q.get('session') ?? '', descendants: q.get('descendants') === 'true', type: q.get('type') ?? '', since: q.get('since') ?? '', until: q.get('until') ?? '' };
}

/** A datetime-local value (local time, no zone) as ISO 8601, or the value as typed. */
const isoOf = (v: string) => (v && !Number.isNaN(Date.parse(v)) ? new Date(v).toISOString() : v);

export function Audit() {
  const loc = route.use();
  const applied = fromQuery(loc.query);
  const [draft, setDraft] = useState<Filters>(applied);
  const [events, setEvents] = useState<AuditEvent[] | null>(null);
  const [error, setError] = useState<Error | undefined>();
  const [more, setMore] = useState<string | null>(null);
  const [follow, setFollow] = useState(true);
  const [open, setOpen] = useState<number | null>(null);
  const followCursor = useRef<string | null>(null);
  const key = loc.query.toString();

  const params = (f: Filters) => ({
    agent: f.agent || undefined, session: f.session || undefined, descendants: f.session && f.descendants ? 'true' : undefined,
    type: f.type || undefined, since: isoOf(f.since) || undefined, until: isoOf(f.until) || undefined,
  });

  // A new search: newest first, a page of 100.
  useEffect(() => {
    setDraft(applied);
    setEvents(null);
    setError(undefined);
    let live = true;
    get<AuditPage>(`/audit${query({ ...params(applied), order: 'desc', limit: 100 })}`).then(
      (page) => {
        if (!live) return;
        setEvents(page.data);
        setMore(page.next_cursor);
        followCursor.current = page.follow_cursor;
      },
      (e: unknown) => live && setError(e instanceof Error ? e : new Error(String(e))),
    );
    return () => void (live = false);
  }, [key]);

  // Following: what came after the newest event seen, polled with the API's follow cursor.
  useEffect(() => {
    if (!follow || applied.until) return;
    const timer = setInterval(() => {
      if (document.hidden || !followCursor.current) return;
      get<AuditPage>(`/audit${query({ ...params(applied), cursor: followCursor.current, limit: 500 })}`).then((page) => {
        followCursor.current = page.next_cursor ?? followCursor.current;
        if (page.data.length) setEvents((old) => [...[...page.data].reverse(), ...(old ?? [])].slice(0, 2000));
      }, (e: unknown) => setError(e instanceof Error ? e : new Error(String(e))));
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [key, follow]);

  const apply = (e: Event) => {
    e.preventDefault();
    navigate(href(`/audit${query({ ...Object.fromEntries(FIELDS.map((k) => [k, draft[k]])), descendants: draft.session && draft.descendants ? 'true' : undefined })}`));
  };
  const loadMore = () => {
    if (!more) return;
    get<AuditPage>(`/audit${query({ ...params(applied), cursor: more, limit: 100 })}`).then((page) => {
      setEvents((old) => [...(old ?? []), ...page.data]);
      setMore(page.next_cursor);
    }, (e: unknown) => setError(e instanceof Error ? e : new Error(String(e))));
  };

  return (
    <Page title="Audit" subtitle="Every grant, call, refusal and decision, hash-chained." actions={<ChainState />}>
      <Card>
        <form class="filters" onSubmit={apply}>
          <label>Agent<input name="agent" placeholder="name or agt_…" value={draft.agent} onInput={(e) => setDraft({ ...draft, agent: e.currentTarget.value })} /></label>
          <label>Session<input name="session" placeholder="ses_…" value={draft.session} onInput={(e) => setDraft({ ...draft, session: e.currentTarget.value })} /></label>
          <label class="check"><input type="checkbox" name="descendants" checked={draft.descendants} onChange={(e) => setDraft({ ...draft, descendants: e.currentTarget.checked })} />and its descendants</label>
          <label>Type<input name="type" placeholder="model.call or tool.*" value={draft.type} onInput={(e) => setDraft({ ...draft, type: e.currentTarget.value })} /></label>
          <label>Since<input type="datetime-local" name="since" value={draft.since} onInput={(e) => setDraft({ ...draft, since: e.currentTarget.value })} /></label>
          <label>Until<input type="datetime-local" name="until" value={draft.until} onInput={(e) => setDraft({ ...draft, until: e.currentTarget.value })} /></label>
          <div class="actions">
            <button class="btn primary" type="submit">Search</button>
            <a class="btn plain" href={href('/audit')}>Clear</a>
            <label class="check"><input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} />follow live</label>
          </div>
        </form>
      </Card>
      <Card>
        <ErrorNote error={error} />
        {events === null ? (error ? null : <Loading />) : events.length === 0 ? <Empty>No events match.</Empty> : (
          <>
            <Table label="Audit events">
              <thead><tr><th class="num">Seq</th><th>Time</th><th>Type</th><th>Actor</th><th>Agent</th><th>Session</th><th>Details</th></tr></thead>
              <tbody>
                {events.map((e) => (
                  <Fragment key={e.seq}>
                    <tr class={`event ${open === e.seq ? 'open' : ''}`} onClick={() => setOpen(open === e.seq ? null : e.seq)}>
                      <td class="num mono">{e.seq}</td>
                      <td class="nowrap">{time(e.time)}</td>
                      <td><span class={`type ${e.type.split('.')[0]}`}>{e.type}</span></td>
                      <td class="mono small">{shortId(e.actor)}</td>
                      <td class="mono small">{e.agent_id ? <a href={href(`/agents/${e.agent_id}`)} onClick={(x) => x.stopPropagation()}>{shortId(e.agent_id)}</a> : '—'}</td>
                      <td class="mono small">{e.session_id ? <a href={href(`/audit${query({ session: e.session_id, descendants: 'true' })}`)} onClick={(x) => x.stopPropagation()} title="Follow this session and its descendants">{shortId(e.session_id)}</a> : '—'}</td>
                      <td class="data">{text(e.data).slice(0, 140)}</td>
                    </tr>
                    {open === e.seq && (
                      <tr class="event-detail"><td colSpan={7}><KeyValue label={`Event ${e.seq}`} value={{ id: e.id, request_id: e.request_id, chain: e.chain?.join(' → ') ?? null, team: e.team_id, ...e.data }} /></td></tr>
                    )}
                  </Fragment>
                ))}
              </tbody>
            </Table>
            {more && <p><button class="btn plain" type="button" onClick={loadMore}>Older events</button></p>}
          </>
        )}
      </Card>
    </Page>
  );
}

/** Verifies the whole chain when the page opens and on demand (it reads every event: not polled). */
function ChainState() {
  const [state, setState] = useState<Verify | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = () => {
    setBusy(true);
    setError(null);
    get<Verify>('/audit/verify').then(setState, (e: unknown) => setError(e instanceof Error ? e.message : String(e))).finally(() => setBusy(false));
  };
  useEffect(run, []);
  return (
    <div class="chain-state" aria-live="polite">
      {busy && !state ? <span class="muted">verifying chain…</span> : error ? <span class="error">{error}</span> : state && (
        state.ok ? (
          <span><Badge value="ok" /> chain intact · {num(state.events)} events, {num(state.checkpoints)} signed checkpoints · {num(state.ms)} ms</span>
        ) : (
          <span><Badge value="broken" /> chain broken at event {state.first_broken?.seq}: {state.first_broken?.reason}</span>
        )
      )}
      <button type="button" class="btn plain" disabled={busy} onClick={run}>Verify again</button>
    </div>
  );
}
