// `tollgate audit verify`: verifies the audit chain through the admin API, a slice at a time so
// a long log shows progress (a bar on stderr when it is a terminal). Exit code 0: intact;
// 2: broken (the first broken event is named); 1: could not verify.
import { AdminClient, number, query } from '../client.js';
import { printFields, printJson } from '../output.js';

interface BrokenLink { seq: number; id: string | null; reason: string; detail: string; checkpoint?: string }

interface VerifyAnswer {
  ok: boolean;
  events: number;
  checkpoints: number;
  first_broken?: BrokenLink;
  ms: number;
  events_per_second: number;
  chain: { first_seq: number; last_seq: number; last_hash: string };
  next?: { seq: number; hash: string };
}

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
  for (;;) {
    answer = await client.get<VerifyAnswer>(`/admin/v1/audit/verify${query({ after_seq: from?.seq, after_hash: from?.hash, limit: slice })}`);
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
    ms,
    events_per_second: serverMs > 0 ? Math.round(events / (serverMs / 1000)) : 0,
    chain: answer.chain,
  };
  if (opts.json) printJson(result);
  else if (result.ok) {
    process.stdout.write(`audit chain intact: ${events} events, ${checkpoints} signed checkpoints verified in ${(ms / 1000).toFixed(2)} s (${result.events_per_second} events/s)\n`);
  } else {
    const b = answer.first_broken!;
    process.stdout.write(`audit chain BROKEN at event ${b.seq}${b.id ? ` (${b.id})` : ''}: ${b.reason}\n`);
    printFields([['detail', b.detail], ...(b.checkpoint ? ([['checkpoint', b.checkpoint]] as [string, unknown][]) : []), ['verified before it', `${events} events, ${checkpoints} checkpoints`]]);
  }
  if (!result.ok) process.exitCode = BROKEN_EXIT_CODE;
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
