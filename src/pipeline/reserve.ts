// Stage 5 — reserve: hold the worst-case cost of the call at every level before it runs, and cap
// the output so the hard limits hold even for a long answer. Exact token counting happens only
// when the cheap upper bound would not fit: most calls in a roomy budget never pay for a
// tokenizer pass. In soft mode, crossing the session's threshold needs a human's approval first.
import { RESERVATION_LIFETIME_MS, type Amount, type ApprovalService, type Ledger, type Remaining, type Reservation } from '../budget/index.js';
import { newTimeOrderedId } from '../util/ids.js';
import type { Enforcement, PendingReservation, Session } from '../store/index.js';
import { GatewayError } from '../errors/index.js';
import { countingAhead, promptTokensUpperBound } from '../providers/prompt-tokens.js';
import { SYNC_COUNT_CHARS } from '../providers/tokenizer.js';
import { promptUpperBound } from './parse.js';
import { affordableOutputTokens, worstCaseNano, type Price } from '../providers/pricing.js';
import type { CallContext, PipelineDeps } from './context.js';

type Count = (text: string) => number;

export async function reserve(ctx: CallContext, deps: PipelineDeps): Promise<void> {
  const route = ctx.route!;
  const accounts = ctx.accounts!;
  const left = deps.ledger.remaining(accounts);
  ctx.remaining = left;
  // Never charge an unpriced model as free against money: the operator must price it first.
  if (!route.price.known && left.usdNano !== null) {
    throw new GatewayError('model_unpriced', `The model "${route.name}" has no price (not in the catalog, none in models[].price), and a USD budget applies to this call.`, { param: 'model' });
  }
  const capBefore = ctx.outputCap;
  // A long prompt's exact count, when needed, is taken ahead of pricing (`promptCount`), and at
  // most once: a shared ledger's fresh accounts may call for it where its copy did not.
  let counted: Count | null = null;
  const ahead = async (counting: Promise<Count>) => {
    counted = await counting;
    // Other calls ran while it counted: the budgets as they stand now.
    return { count: counted, left: deps.ledger.remaining(accounts) };
  };
  const countFor = (standing: Remaining): { count: Count; left: Remaining } | Promise<{ count: Count; left: Remaining }> => {
    if (counted) return { count: counted, left: standing };
    const counting = promptCount(ctx, standing);
    return counting instanceof Promise ? ahead(counting) : { count: counting, left: standing };
  };
  const first = countFor(left);
  let { count, left: now } = first instanceof Promise ? await first : first;
  // Priced and held in one synchronous step where the ledger is this process's (no other call
  // can reserve in between); a shared ledger may first read the accounts afresh.
  let amount = price(ctx, now, deps.ledger.readAfresh !== undefined, count);
  if (amount === null) {
    await deps.ledger.readAfresh!(accounts);
    ({ count, left: now } = await countFor(deps.ledger.remaining(accounts)));
    amount = price(ctx, now, false, count)!;
  }
  try {
    ctx.reservation = await holdFor(ctx, deps, amount);
  } catch (err) {
    // A shared ledger's copy learns of other replicas' spend only when it next reserves: the
    // database refused a worst case priced on a copy that did not know of it. Its answer carried
    // the accounts as they now stand (the copy is fresh): priced again from them — a smaller cap
    // where the budget still pays for one — and reserved once more. No round trip is added to a
    // call the database takes; a second refusal, or no output left to cap to, is a real 402.
    if (!deps.ledger.readAfresh || !(err instanceof GatewayError) || err.code !== 'budget_exceeded') throw err;
    // The answer may also still hold this replica's own last calls, settled here but their spend
    // lines not yet committed (the answer leaves first): those land first, then the accounts are
    // read again — only if the answer holds more than this replica's calls in flight.
    await ownWritesLanded(deps);
    await deps.ledger.readAfresh(accounts);
    ctx.outputCap = capBefore;
    ({ count, left: now } = await countFor(deps.ledger.remaining(accounts)));
    amount = price(ctx, now, false, count)!;
    ctx.reservation = await holdFor(ctx, deps, amount);
  }
  // What was left before this call, as the database's answer has it (a shared ledger's copy was
  // refreshed by it): the copy now holds this call's amount too.
  if (deps.ledger.readAfresh) ctx.remaining = plus(deps.ledger.remaining(accounts), amount);
}

/**
 * The call's worst case on the budgets `left` (and its output cap, on `ctx`): the whole request
 * when it fits, else the output it can pay for (402 when not even the least output fits). With
 * `readFirst` (a shared ledger's copy, not just read), null when it would be refused or cut on
 * `left`: the accounts are to be read afresh and the call priced again.
 */
function price(ctx: CallContext, left: Remaining, readFirst: boolean, count: Count): Amount | null {
  const call = ctx.call!;
  const route = ctx.route!;
  const session = ctx.session!;
  ctx.remaining = left;
  const producesOutput = ctx.adapter.producesOutput;
  // Limits are per choice; a call asking for n completions can write n times as much.
  const choices = call.choices;
  const requested = producesOutput ? call.maxOutputTokens : 0;
  let perChoice = outputPerChoice(ctx);
  ctx.clamped = requested !== null && perChoice < requested;

  const limited = isLimited(left);
  const fits = fitsOn(left, route.price);

  let prompt = promptUpperBound(ctx);
  // A copy holding other replicas' holds may be more cautious than the database (they may have
  // settled since): before the call is refused or its output cut on that copy, it is read afresh
  // (readAfresh reads only then). Other replicas' spend makes a copy less cautious, never more:
  // the database refuses then, and its answer refreshes the copy (reserve, above).
  if (limited && readFirst && !fits(prompt, perChoice * choices)) return null;
  if (limited && !fits(prompt, perChoice * choices)) prompt = promptTokensUpperBound(call.prompt, route.limits, count);
  if (limited && !fits(prompt, perChoice * choices)) {
    const byTokens = left.tokens === null ? Number.MAX_SAFE_INTEGER : left.tokens - prompt;
    const byUsd = left.usdNano === null ? Number.MAX_SAFE_INTEGER : affordableOutputTokens(left.usdNano, prompt, route.price);
    const affordable = Math.floor(Math.min(byTokens, byUsd) / choices);
    if (affordable < (producesOutput ? (call.minOutputTokens ?? 1) : 0) || Math.min(byTokens, byUsd) < 0) {
      const unit = byUsd <= byTokens ? 'usd' : 'tokens';
      throw new GatewayError('budget_exceeded', `The ${left.level ?? 'session'}'s ${unit === 'usd' ? 'USD' : 'token'} budget cannot cover this call.`, {
        details: { level: left.level ?? 'session', unit, session_id: session.id },
      });
    }
    perChoice = Math.min(perChoice, affordable);
    ctx.clamped = requested !== null && perChoice < requested;
  }
  // With a budget, the upstream must never produce more than was reserved: impose the cap
  // whenever the client set none or set a larger one.
  if (limited && producesOutput && (requested === null || perChoice < requested)) ctx.outputCap = perChoice;
  const output = perChoice * choices;
  ctx.heldPromptTokens = prompt;
  return { tokens: prompt + output, usdNano: worstCaseNano(prompt, output, route.price) };
}

/** The most output one choice may write before any budget cuts it: what was asked, else the model's most — never past its context window. */
function outputPerChoice(ctx: CallContext): number {
  const route = ctx.route!;
  const requested = ctx.adapter.producesOutput ? ctx.call!.maxOutputTokens : 0;
  return Math.min(requested ?? route.maxOutputTokens, route.limits.contextWindow);
}

const isLimited = (left: Remaining) => left.tokens !== null || left.usdNano !== null;

/** Whether `prompt` and `out` tokens fit the budgets `left`, at their worst-case price. */
const fitsOn = (left: Remaining, price: Price) => (prompt: number, out: number) =>
  (left.tokens === null || prompt + out <= left.tokens) &&
  (left.usdNano === null || worstCaseNano(prompt, out, price) <= left.usdNano);

/**
 * The count `price` takes a prompt's exact size with when its cheap bound does not fit. A prompt
 * long enough that counting it would hold the event loop (SYNC_COUNT_CHARS), and whose bound would
 * not fit `left`, is counted here first, in slices (`countingAhead`): a multi-megabyte prompt
 * counted in the synchronous step would hold every other call for a quarter of a second. Every
 * other call gets the tokenizer's own count at once (no promise, nothing awaited).
 */
function promptCount(ctx: CallContext, left: Remaining): Count | Promise<Count> {
  const tokenizer = ctx.route!.tokenizer;
  const bound = promptUpperBound(ctx);
  if (bound <= SYNC_COUNT_CHARS || !isLimited(left) || fitsOn(left, ctx.route!.price)(bound, outputPerChoice(ctx) * ctx.call!.choices)) return tokenizer.count;
  return countingAhead(ctx.call!.prompt, tokenizer);
}

/** Holds `amount` for the call on its accounts (the soft-mode gate first). */
function holdFor(ctx: CallContext, deps: PipelineDeps, amount: Amount): Reservation | Promise<Reservation> {
  stepUpGate(ctx, deps, amount);
  // The hold and the call's spend line share one id: the line ends the hold.
  ctx.usageId = newTimeOrderedId('use');
  const hold = pendingReservation(ctx, deps, amount);
  return deps.ledger.reserve(ctx.accounts!, amount, hold);
}

/** The longest a refused call waits for its replica's own queued writes (the store may be down). */
const OWN_WRITES_WAIT_MS = 1_000;

/** This process's spend lines and settles queued so far, committed (or a second gone by). */
async function ownWritesLanded(deps: PipelineDeps): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, OWN_WRITES_WAIT_MS);
    timer.unref();
  });
  const landed = Promise.all([deps.usage.flush(), deps.ledger.flush()]).then(() => undefined, () => undefined);
  await Promise.race([landed, waited]);
  clearTimeout(timer);
}

/** What is left plus `amount`, in each limited unit. */
const plus = (left: Remaining, amount: Amount): Remaining => ({
  tokens: left.tokens === null ? null : left.tokens + amount.tokens,
  usdNano: left.usdNano === null ? null : left.usdNano + amount.usdNano,
  level: left.level,
});

/**
 * Soft mode: a call that would take the session past its threshold is refused with
 * `approval_required` until a human approves; after a denial, every call is refused.
 */
function stepUpGate(ctx: CallContext, deps: PipelineDeps, amount: Amount): void {
  softThresholdGate(ctx.session!, ctx.enforcement ?? null, deps, amount);
}

/**
 * The soft-mode check for any charge on a session (a model call, a priced tool call). Needs the
 * session's approval state loaded (`approvals.load`).
 */
export function softThresholdGate(session: Session, enforcement: Enforcement | null, deps: { approvals: ApprovalService; ledger: Ledger }, amount: Amount): void {
  if (enforcement?.mode !== 'soft') return;
  const gate = deps.approvals.gate(session.id);
  if (gate === 'approved') return;
  if (gate === 'denied') throw new GatewayError('approval_denied', undefined, { details: { session_id: session.id } });
  const account = deps.ledger.session(session.id);
  const crosses = (['tokens', 'usdNano'] as const).some((u) => {
    const budget = account.budget[u];
    return budget !== null && account.spent[u] + account.reserved[u] + amount[u] > enforcement.threshold * budget;
  });
  if (crosses) {
    throw new GatewayError('approval_required', undefined, {
      details: {
        session_id: session.id, threshold: enforcement.threshold,
        spent_usd: account.spent.usdNano / 1e9, budget_usd: account.budget.usdNano === null ? null : account.budget.usdNano / 1e9,
        // A token budget can be the one crossed: its figures too.
        ...(account.budget.tokens === null ? {} : { spent_tokens: account.spent.tokens, budget_tokens: account.budget.tokens }),
      },
    });
  }
}

const ON_DISK = Promise.resolve(true);

export const STORE_WRITES_FAILING = 'The store could not write the last budget holds and spend lines; refusing rather than spending unrecorded.';

/**
 * Journals the call's hold so a crash mid-call leaves a trace to reconcile. Not awaited here: it
 * is written with the next group commit (within one event-loop turn), in order before the call's
 * line, while the call goes upstream; `ctx.holdDurable` says when it is on disk.
 */
export function journalReservation(ctx: CallContext, deps: PipelineDeps, fallback = false): void {
  // A shared ledger wrote the hold with the reservation itself.
  if (deps.ledger.durableHolds) {
    ctx.holdDurable = ON_DISK;
    return;
  }
  // A store that failed its last write would let the call spend unrecorded: refused, but for one
  // call now and then that tests it, going upstream only once its hold is on disk.
  // (A fallback attempt, already past that wait, is never the one to test it.)
  const admission = deps.usage.admission({ probe: !fallback });
  if (admission === 'refuse') {
    deps.ledger.settle(ctx.reservation!, { tokens: 0, usdNano: 0 });
    throw new GatewayError('store_unavailable', STORE_WRITES_FAILING);
  }
  ctx.holdFirst = admission === 'probe';
  const held = ctx.reservation!.holds[0]!.amount;
  ctx.holdDurable = deps.usage.add({ reservation: pendingReservation(ctx, deps, held) }).then(
    () => true,
    (err: unknown) => {
      deps.logger.error({ err, req_id: ctx.requestId }, 'reservation journal write failed');
      return false;
    },
  );
}

/** The call's hold as the store keeps it, to reconcile should the call never settle. */
function pendingReservation(ctx: CallContext, deps: PipelineDeps, held: Amount): PendingReservation {
  const session = ctx.session!;
  const route = ctx.route!;
  const now = deps.now();
  return {
    id: ctx.usageId!, requestId: ctx.requestId, sessionId: session.id, agentId: session.agentId, teamId: session.teamId, profileId: session.profileId,
    model: route.name, provider: route.provider.name, api: ctx.call!.api, stream: ctx.call!.stream,
    promptTokens: ctx.heldPromptTokens ?? 0, outputTokens: Math.max(0, held.tokens - (ctx.heldPromptTokens ?? 0)), usdNano: held.usdNano,
    chain: session.chain, createdAt: now, expiresAt: now + RESERVATION_LIFETIME_MS,
  };
}
