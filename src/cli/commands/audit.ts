// `tollgate audit verify`: verifies the audit chain through the admin API, a slice at a time so
// a long log shows progress (a bar on stderr when it is a terminal). Exit code 0: intact;
// 2: broken (the first broken event is named); 1: could not verify.
import { AdminClient, CliError, number, query } from '../client.js';
import type { AcknowledgedBreak, VerifyResult } from '../../audit/verify.js';
import { output, printFields, printJson, printTable } from '../output.js';

/** The answer of GET /admin/v1/audit/verify (a type only: the CLI loads none of the audit code). */
type VerifyAnswer = VerifyResult;

/** Exit code of a broken chain (1 is kept for "could not verify"). */
export const BROKEN_EXIT_CODE = 2;

export async function verify(opts: Record<string, unknown>): Promise<void> {
  const client = new AdminClient(opts);
  const slice = number(opts.slice, '--slice') ?? 50_000;
  const bar = process.stderr.isTTY && !opts.json ? progressBar() : null;
  const started = performance.now();
  let events = 0;
  let checkpoints = 0;
  let serverMs = 0;
  let from: { seq: number; hash: string } | undefined;
  let answer: VerifyAnswer;
  let total: number | null = null;
  const acknowledged: AcknowledgedBreak[] = [];
  for (;;) {
    answer = await client.get<VerifyAnswer>(`/admin/v1/audit/verify${query({ after_seq: from?.seq, after_hash: from?.hash, limit: slice })}`, { limit: '--slice' });
    acknowledged.push(...(answer.acknowledged ?? []));
    events += answer.events;
    checkpoints += answer.checkpoints;
    serverMs += answer.ms;
    total ??= answer.chain.last_seq - answer.chain.first_seq + 1;
    bar?.update(events, Math.max(total, events));
    if (!answer.ok || !answer.next) break;
    from = answer.next;
  }
  bar?.done();
  const ms = Math.round(performance.now() - started);
  const result = {
    ok: answer.ok,
    events,
    checkpoints,
    ...(answer.first_broken ? { first_broken: answer.first_broken } : {}),
    ...(acknowledged.length > 0 ? { acknowledged } : {}),
    ms,
    events_per_second: serverMs > 0 ? Math.round(events / (serverMs / 1000)) : 0,
    chain: answer.chain,
  };
  if (opts.json) printJson(result);
  else if (result.ok) {
    const but = acknowledged.length > 0 ? ` but for ${acknowledged.length} acknowledged break${acknowledged.length === 1 ? '' : 's'}` : '';
    process.stdout.write(`audit chain intact${but}: ${events} events, ${checkpoints} signed checkpoints verified in ${(ms / 1000).toFixed(2)} s (${result.events_per_second} events/s)\n`);
    for (const a of acknowledged) process.stdout.write(`  acknowledged break at event ${a.seq} (${a.reason}) by ${a.by} at ${new Date(a.at).toISOString()}: ${a.note}\n`);
  } else {
    const b = answer.first_broken!;
    process.stdout.write(`audit chain BROKEN at event ${b.seq}${b.id ? ` (${b.id})` : ''}: ${b.reason}\n`);
    printFields([['detail', b.detail], ...(b.checkpoint ? ([['checkpoint', b.checkpoint]] as [string, unknown][]) : []), ['verified before it', `${events} events, ${checkpoints} checkpoints`]]);
  }
  if (!result.ok) process.exitCode = BROKEN_EXIT_CODE;
}

/** `tollgate audit acknowledge <seq> --reason …`: lets checkpoints go on past a break once it was looked into. */
export async function acknowledge(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const seq = number(args[0], 'seq');
  if (seq === undefined || !Number.isSafeInteger(seq) || seq < 1) throw new CliError('name the broken event by its seq (as `audit verify` reports it)');
  const answer = await new AdminClient(opts).post<{ acknowledged: { seq: number; reason: string; detail: string }; checkpoint: { id: string } }>(
    `/admin/v1/audit/breaks/${seq}/acknowledge`, { reason: opts.reason }, { reason: '--reason' },
  );
  output(opts, answer, () => {
    process.stdout.write(`acknowledged the ${answer.acknowledged.reason} break at event ${answer.acknowledged.seq}: checkpoint ${answer.checkpoint.id} anchors the chain there; what follows is sealed from it\n`);
  });
}

/** A one-line bar redrawn in place on stderr. */
function progressBar() {
  const width = 30;
  let last = 0;
  const draw = (done: number, total: number) => {
    const share = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(share * width);
    process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(share * 100).toFixed(0).padStart(3)}%  ${done}/${total} events`);
  };
  return {
    update(done: number, total: number) {
      // At most ~20 redraws a second.
      const now = performance.now();
      if (now - last < 50 && done < total) return;
      last = now;
      draw(done, total);
    },
    done() {
      process.stderr.write('\n');
    },
  };
}

// `tollgate audit search` and `tollgate audit tail`: GET /admin/v1/audit, a page at a time.

interface AuditEventLine {
  seq: number;
  id: string;
  time: string;
  type: string;
  actor: string;
  agent_id: string | null;
  session_id: string | null;
  chain: string[] | null;
  data: Record<string, unknown>;
}

interface AuditPage { order: 'asc' | 'desc'; data: AuditEventLine[]; has_more: boolean; next_cursor: string | null; follow_cursor: string }

const searchParams = (opts: Record<string, unknown>) => ({
  agent: opts.agent, session: opts.session, team: opts.team, type: opts.type, since: opts.since, until: opts.until,
});

/** The options behind searchParams' parameters, for errors about them. */
const SEARCH_FLAGS = { agent: '--agent', session: '--session', team: '--team', type: '--type', since: '--since', until: '--until' };

/** One event as one line: time, seq, type, actor, session, then its data (shortened). */
function eventLine(e: AuditEventLine): string {
  const data = JSON.stringify(e.data);
  return `${e.time}  ${String(e.seq).padStart(6)}  ${e.type.padEnd(22)} ${e.actor.padEnd(14)} ${e.session_id ?? '-'}  ${data.length > 160 ? `${data.slice(0, 157)}...` : data}\n`;
}

export async function search(opts: Record<string, unknown>): Promise<void> {
  const limit = number(opts.limit, '--limit') ?? 50;
  const page = await new AdminClient(opts).get<AuditPage>(`/admin/v1/audit${query({
    ...searchParams(opts), descendants: opts.descendants ? 'true' : undefined, order: opts.order, cursor: opts.cursor, limit,
  })}`, { ...SEARCH_FLAGS, descendants: '--descendants', order: '--order', cursor: '--cursor', limit: '--limit' });
  output(opts, page, () => {
    printTable(page.data.map((e) => ({ seq: e.seq, time: e.time, type: e.type, actor: e.actor, session: e.session_id, data: JSON.stringify(e.data).slice(0, 80) })), ['seq', 'time', 'type', 'actor', 'session', 'data']);
    if (page.has_more && page.next_cursor) process.stdout.write(`more: --cursor ${page.next_cursor}\n`);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The latest events, oldest first; with --follow, then every event as it is written (polls the
 * API once a second with an oldest-first cursor). --json prints one JSON object per line.
 */
export async function tail(opts: Record<string, unknown>): Promise<void> {
  const client = new AdminClient(opts);
  const print = (e: AuditEventLine) => process.stdout.write(opts.json ? `${JSON.stringify(e)}\n` : eventLine(e));
  const first = await client.get<AuditPage>(`/admin/v1/audit${query({ ...searchParams(opts), limit: number(opts.lines, '--lines') ?? 20 })}`, { ...SEARCH_FLAGS, limit: '--lines' });
  for (const e of [...first.data].reverse()) print(e);
  if (!opts.follow) return;
  const interval = number(opts.interval, '--interval') ?? 1;
  let cursor = first.follow_cursor;
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    while (!stop) {
      const page = await client.get<AuditPage>(`/admin/v1/audit${query({ ...searchParams(opts), cursor, limit: 1000 })}`, SEARCH_FLAGS);
      for (const e of page.data) print(e);
      if (page.next_cursor) cursor = page.next_cursor;
      if (!page.has_more) await sleep(interval * 1000);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
