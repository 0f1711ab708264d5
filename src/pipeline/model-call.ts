// The data-plane pipeline for one model call: authenticate → parse → authorize → reserve →
// forward → meter → settle/record, then the answer. Each stage lives in its own file; this one
// only composes them and relays the upstream's answer (plain or streamed) to the client.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { asGatewayError, ERRORS, GatewayError } from '../errors/index.js';
import type { ApiAdapter, StreamMeter } from '../providers/apis/index.js';
import { SseSplitter } from '../providers/sse.js';
import type { UsageOutcome } from '../store/index.js';
import { requestIdHeaders, sendError } from '../util/http.js';
import { authenticate } from './authenticate.js';
import type { CallAbort } from './call-abort.js';
import { authorize } from './authorize.js';
import { checkPolicy } from './policy.js';
import { newCallContext, type CallContext, type PipelineDeps } from './context.js';
import { forwardWithFallbacks } from './fallback.js';
import { credentialsRefused, readErrorBody, upstreamFailure, type UpstreamResponse } from './forward.js';
import { meter, NO_USAGE } from './meter.js';
import { parse } from './parse.js';
import { rateLimit, rateLimitHeaders } from './rate-limit.js';
import { journalReservation, reserve, STORE_WRITES_FAILING } from './reserve.js';
import { resolve } from './resolve.js';
import { preparePromptRecord, settle, type Settlement } from './settle.js';
import { blockedToolCall, checkOfferedTools, strippedHeader } from './tools.js';

/** Whole nano-USD as a decimal with 9 places, exact at any size (a float's `toFixed(9)` is not above ~$4M). */
function nanoUsdText(nano: number): string {
  const whole = Math.floor(nano / 1e9);
  return `${whole}.${String(nano - whole * 1e9).padStart(9, '0')}`;
}

/** The status a spend line records for a call whose client left before its answer (nginx's "client closed request"). */
const CLIENT_CLOSED = 499;

/**
 * How a forwarded call that got no answer is recorded: revoked, its client gone (499: it got no
 * status), or failed upstream — with `status` for the first and last.
 */
function cutShort(abort: CallAbort, status: number): { outcome: UsageOutcome; httpStatus: number } {
  if (abort.revokedBy) return { outcome: 'revoked', httpStatus: status };
  if (abort.clientLeft) return { outcome: 'client_aborted', httpStatus: CLIENT_CLOSED };
  // The gateway's own cut: a time limit (`stream_too_long`), or the end of a shutdown's grace.
  if (abort.aborted) return { outcome: 'stream_cut', httpStatus: status };
  return { outcome: 'upstream_error', httpStatus: status };
}

/**
 * A call with no usable answer, charged by one rule: once the upstream had the request and did
 * not refuse it, the provider began work it bills — so the prompt is charged, counted here and
 * marked estimated, when the call is cut (its client left, its caller was revoked, the gateway
 * cut it: a time limit, a shutdown) or when a 2xx answer broke off, stalled or was not JSON
 * (leaving before the answer is no way to spend for free). Nothing is charged when the request
 * never left (cut first, no connection), or the upstream refused it or never answered its head
 * (an error status, a timeout before the headers): `charged` false.
 */
async function unansweredCharge(ctx: CallContext, charged: boolean): Promise<Pick<Settlement, 'usage' | 'estimated'>> {
  if (!charged) return { usage: NO_USAGE, estimated: false };
  return meter(ctx.call!, ctx.route!.tokenizer, null, () => '', ctx.heldPromptTokens);
}

/** A non-streamed answer larger than this is not a model answer: refused as a bad response. */
const MAX_RESPONSE_BODY = 64 * 1024 * 1024;

/**
 * The answer's headers: Tollgate's own, then `extra`. Built up in one fresh object (no spread
 * copies: on Node 20's V8 a spread that adds keys costs microseconds, see store/chain.ts;
 * Object.assign does not).
 */
function tollgateHeaders(ctx: CallContext, extra?: Record<string, string>): Record<string, string> {
  const headers = requestIdHeaders(ctx.requestId, ctx.adapter.dialect);
  if (ctx.session) headers['x-tollgate-session'] = ctx.session.id;
  const left = ctx.remaining;
  if (left?.usdNano !== null && left?.usdNano !== undefined) headers['x-tollgate-budget-remaining-usd'] = nanoUsdText(Math.max(0, left.usdNano));
  if (left?.tokens !== null && left?.tokens !== undefined) headers['x-tollgate-budget-remaining-tokens'] = String(Math.max(0, left.tokens));
  if (left?.level) headers['x-tollgate-budget-binding-level'] = left.level;
  if (ctx.outputCap !== undefined) headers['x-tollgate-max-output-tokens'] = String(ctx.outputCap);
  if (ctx.clamped) headers['x-tollgate-output-clamped'] = 'true';
  if (ctx.rateAdmission) Object.assign(headers, rateLimitHeaders(ctx));
  if (ctx.toolsStripped) headers['x-tollgate-tools-stripped'] = strippedHeader(ctx.toolsStripped);
  if (ctx.attempt !== undefined && ctx.attempt > 1) headers['x-tollgate-fallback-model'] = ctx.route!.name;
  if (extra) Object.assign(headers, extra);
  return headers;
}

function waitForDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * An upstream 4xx/5xx: nothing was generated, so nothing is charged; the body is relayed. A
 * failure the fallback loop already settled (its last attempt) is not settled twice.
 */
async function relayUpstreamError(ctx: CallContext, deps: PipelineDeps, upstream: UpstreamResponse): Promise<void> {
  const body = await readErrorBody(upstream.body);
  if (!upstream.settled) await settle(ctx, deps, { usage: NO_USAGE, estimated: false, outcome: 'upstream_error', httpStatus: upstream.status });
  const refused = credentialsRefused(upstream.status);
  if (refused) throw refused;
  const headers = tollgateHeaders(ctx, { 'content-type': String(upstream.headers['content-type'] ?? 'application/json') });
  const retryAfter = upstream.headers['retry-after'];
  if (typeof retryAfter === 'string') headers['retry-after'] = retryAfter;
  ctx.res.writeHead(upstream.status, headers);
  ctx.res.end(body);
}

async function relayJson(ctx: CallContext, deps: PipelineDeps, upstream: UpstreamResponse): Promise<void> {
  let raw: Buffer;
  try {
    const read = await upstream.body.read(MAX_RESPONSE_BODY);
    if (read.truncated) throw new GatewayError('upstream_bad_response', 'The upstream answer is too large.');
    raw = read.data;
  } catch (err) {
    // Cut while the answer came: its caller revoked (the refusal is the answer), its client left,
    // or the answer broke off or stalled. The upstream had begun answering: its prompt is charged.
    const failure = upstreamFailure(err);
    const cut = cutShort(ctx.abort, ctx.abort.revokedBy?.status ?? failure.status);
    await settle(ctx, deps, { ...(await unansweredCharge(ctx, true)), ...cut });
    throw failure;
  }
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    const bad = new GatewayError('upstream_bad_response');
    await settle(ctx, deps, { ...(await unansweredCharge(ctx, true)), outcome: 'upstream_error', httpStatus: bad.status });
    throw bad;
  }
  // A call to a tool outside the scope replaces the answer; the model's work is still charged.
  // If the check itself fails (a store error), the answer is withheld — but still charged.
  const blocked = await blockedToolCall(ctx, deps, ctx.adapter.toolCallsInResponse(json)).catch((err: unknown) => asGatewayError(err));
  deps.stages.lap(ctx, 'relay');
  const metering = meter(ctx.call!, ctx.route!.tokenizer, ctx.adapter.usageFromResponse(json), () => ctx.adapter.responseText(json), ctx.heldPromptTokens);
  // Awaited only when it counts: a call whose usage was reported is metered in the same turn.
  const metered = metering instanceof Promise ? await metering : metering;
  deps.stages.lap(ctx, 'meter');
  // Its caller revoked while the answer came in, or a blocked tool call: charged, and the refusal
  // is the answer — sent by the caller once this settles (and its events are durable).
  const revoked = ctx.abort.revokedBy;
  const refusal = revoked ?? blocked;
  if (refusal) {
    await settleAndAnswer(ctx, deps, { usage: metered.usage, estimated: metered.estimated, outcome: revoked ? 'revoked' : 'tool_blocked', httpStatus: refusal.status, output: () => ctx.adapter.responseText(json) }, () => undefined);
    throw refusal;
  }
  await settleAndAnswer(ctx, deps, { usage: metered.usage, estimated: metered.estimated, outcome: 'ok', httpStatus: upstream.status, output: () => ctx.adapter.responseText(json) }, () => {
    ctx.res.writeHead(upstream.status, tollgateHeaders(ctx, { 'content-type': 'application/json', 'content-length': String(raw.length) }));
    ctx.res.end(raw);
  });
}

/**
 * Settles the call and sends its answer (`answer`), in the order `storage.answer_after` allows.
 * `hold` (the default): once the call's hold is on disk — written while the call was upstream, so
 * usually already there — the call is billed whatever happens next (if the process dies before
 * its exact line commits, the hold is charged at restart, at its worst case, as `reconciled`), so
 * the answer leaves first and the call settles right after it, in the same turn: a request that
 * follows the answer still finds the spend settled. `line`, or a hold that could not be written:
 * settle, wait for the line and events, then answer. Times the wait (`durable`), the answer
 * (`respond`) and the synchronous settlement (`settle`, `audit`) apart.
 */
async function settleAndAnswer(ctx: CallContext, deps: PipelineDeps, s: Settlement, answer: () => void): Promise<void> {
  if (deps.answerAfter === 'hold' && ctx.holdDurable && (await ctx.holdDurable)) {
    deps.stages.lap(ctx, 'durable');
    answer();
    deps.stages.lap(ctx, 'respond');
    const failed = (err: unknown) => deps.logger.error({ err, req_id: ctx.requestId }, 'spend line write failed after the answer: its hold stays on disk, charged at restart');
    try {
      // Nobody waits for these writes: they share a commit with others (storage.settle_delay_ms).
      deps.usage.deferred(() => settle(ctx, deps, s, deps.stages)).catch(failed);
    } catch (err) {
      failed(err);
    }
    return;
  }
  const written = settle(ctx, deps, s, deps.stages);
  await written;
  deps.stages.lap(ctx, 'durable');
  answer();
  deps.stages.lap(ctx, 'respond');
}

/** From this body size on (or of unknown size), the prompt's record is made while the call is upstream. */
const EARLY_PROMPT_RECORD_BYTES = 16 * 1024;

/** A stream's headers wait this long for its first event, to leave in the same write. */
const HEADERS_ALONE_AFTER_MS = 5;

/**
 * Relays an SSE stream event by event as it arrives. The event that ends the stream is held
 * back until the charge is durable, so a client that saw the end of its answer was billed; the
 * events that arrived with it leave with it, in one write.
 * An event calling a tool outside the scope is not relayed: the stream ends there with an error
 * event, the upstream is aborted, and what the model produced until then is charged.
 */
async function relayStream(ctx: CallContext, deps: PipelineDeps, upstream: UpstreamResponse, streamMeter: StreamMeter): Promise<void> {
  const res = ctx.res;
  res.writeHead(upstream.status, tollgateHeaders(ctx, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' }));
  // The headers leave with the first event (one write where there would be two), or alone if
  // the model is slow to start.
  let headersAlone: NodeJS.Timeout | undefined = setTimeout(() => res.flushHeaders(), HEADERS_ALONE_AFTER_MS);
  const splitter = new SseSplitter();
  let terminal: string | null = null;
  /** Events that came with the terminal one, once others went before: they leave together with it. */
  let withTerminal = '';
  let blocked: GatewayError | null = null;
  /** Why the gateway cut the stream itself (`server.stream_max_seconds`), if it did. */
  let cut: GatewayError | null = null;
  let outcome: UsageOutcome = 'ok';
  try {
    for await (const chunk of upstream.body) {
      let out = '';
      for (const event of splitter.push(chunk)) {
        // After a block, events already received are metered (usage they report) but never relayed.
        if (!streamMeter.accept(event) || blocked) continue;
        const calls = streamMeter.toolCalls(event);
        if (calls.length > 0 && (blocked = await blockedToolCall(ctx, deps, calls))) continue;
        if (streamMeter.isTerminal(event)) terminal = `${event.raw}\n\n`;
        else out += `${event.raw}\n\n`;
      }
      // The first events are never held (time to first chunk); the last ones wait for the end.
      if (terminal !== null && headersAlone === undefined) {
        withTerminal += out;
      } else if (out.length > 0) {
        clearTimeout(headersAlone);
        headersAlone = undefined;
        if (!res.write(out)) await waitForDrain(res);
      }
      if (res.destroyed || blocked) break;
    }
  } catch (err) {
    outcome = 'stream_cut';
    if (err instanceof GatewayError) cut = err;
  }
  if (res.destroyed) {
    // Its client left — or the gateway cut it first and then closed its connection (a shutdown).
    outcome = ctx.abort.aborted ? cutShort(ctx.abort, 0).outcome : 'client_aborted';
    upstream.body.destroy();
  } else if (blocked) {
    outcome = 'tool_blocked';
    upstream.body.destroy();
  } else if (terminal === null || streamMeter.endedInFailure?.()) {
    // Cut short, or ended by an event saying it failed (Responses' `response.failed`).
    outcome = ctx.abort.revokedBy ? 'revoked' : 'stream_cut';
  }
  deps.stages.lap(ctx, 'relay');
  const metering = meter(ctx.call!, ctx.route!.tokenizer, streamMeter.reported(), () => streamMeter.deliveredText(), ctx.heldPromptTokens);
  const metered = metering instanceof Promise ? await metering : metering;
  deps.stages.lap(ctx, 'meter');
  await settleAndAnswer(ctx, deps, { usage: metered.usage, estimated: metered.estimated, outcome, httpStatus: upstream.status, output: () => streamMeter.deliveredText() }, () => {
    clearTimeout(headersAlone);
    if (res.destroyed) return;
    if (blocked) res.end(withTerminal + streamMeter.errorEvent(blocked.message, ERRORS[blocked.code][ctx.adapter.dialect], { code: blocked.code, ...blocked.details }));
    else if (cut) res.end(withTerminal + streamMeter.errorEvent(cut.message, ERRORS[cut.code][ctx.adapter.dialect], { code: cut.code }));
    else res.end(withTerminal + (terminal ?? streamMeter.errorEvent(ERRORS.upstream_stream_cut.message, ERRORS.upstream_stream_cut[ctx.adapter.dialect], { code: 'upstream_stream_cut' })));
  });
}

/**
 * Reserves; when a soft-mode threshold needs a human, raises (or joins) the session's pending
 * approval and, if the profile says so, holds the call for the decision before trying again.
 */
async function reserveOrStepUp(ctx: CallContext, deps: PipelineDeps): Promise<void> {
  // Journaled before the request is dispatched, so that its commit runs while the call is
  // upstream. (Journaling it after the dispatch, so the request leaves first, was measured: the
  // hold was then often not yet on disk when the answer came, +27 µs at one connection.)
  await reserveOrAsk(ctx, deps);
  journalReservation(ctx, deps);
}

async function reserveOrAsk(ctx: CallContext, deps: PipelineDeps): Promise<void> {
  try {
    await reserve(ctx, deps);
    return;
  } catch (err) {
    if (!(err instanceof GatewayError) || err.code !== 'approval_required') throw err;
    const approval = await deps.approvals.request(ctx.session!, { ...err.details, model: ctx.call!.model, request_id: ctx.requestId }, ctx.requestId);
    const holdMs = (ctx.enforcement?.holdSeconds ?? 0) * 1000;
    // A revocation (InFlightCalls cuts the call) or the client leaving ends the wait at once.
    const decided = holdMs > 0 ? await deps.approvals.wait(approval.id, holdMs, ctx.abort.signal) : null;
    // Cut while it waited: revoked, or the gateway shutting down — that is the answer.
    if (ctx.abort.reason instanceof GatewayError) throw ctx.abort.reason;
    if (decided?.status === 'approved') return await reserve(ctx, deps);
    if (decided?.status === 'denied') throw new GatewayError('approval_denied', undefined, { details: { approval_id: approval.id } });
    throw new GatewayError('approval_required', `${err.message} Approval ${approval.id} is pending.`, { details: { ...err.details, approval_id: approval.id } });
  }
}

export async function handleModelCall(
  req: IncomingMessage,
  res: ServerResponse,
  adapter: ApiAdapter,
  deps: PipelineDeps,
  requestId: string,
): Promise<void> {
  const ctx = newCallContext(requestId, req, res, adapter);
  deps.stages.start(ctx);
  const { stages } = deps;
  const { abort } = ctx;
  const onClose = () => {
    if (!res.writableFinished) abort.abort();
  };
  res.on('close', onClose);
  let forwarded = false;
  let status = 200;
  let leave: (() => void) | undefined;
  let leaveInFlight: (() => void) | undefined;
  let deadline: NodeJS.Timeout | undefined;
  try {
    await authenticate(ctx, deps);
    stages.lap(ctx, 'auth');
    leaveInFlight = deps.runningCalls.add(ctx);
    leave = deps.concurrency.enter(ctx.session!.id);
    await resolve(ctx, deps);
    stages.lap(ctx, 'resolve');
    await parse(ctx, deps);
    stages.lap(ctx, 'parse');
    authorize(ctx, deps);
    await checkPolicy(ctx, deps);
    await checkOfferedTools(ctx, deps);
    stages.lap(ctx, 'policy');
    await rateLimit(ctx, deps);
    stages.lap(ctx, 'rate_limit');
    await reserveOrStepUp(ctx, deps);
    // The meter reads the client's own options before the body is rewritten for the upstream.
    const streamMeter = ctx.call!.stream ? adapter.createStreamMeter(ctx.body!) : null;
    // The store failed its last write: this call tests it, and goes upstream only once its hold landed.
    if (ctx.holdFirst && !(await ctx.holdDurable)) throw new GatewayError('store_unavailable', STORE_WRITES_FAILING);
    stages.lap(ctx, 'reserve');
    forwarded = true;
    ctx.forwardedAt = performance.now();
    // An upstream that never stops (an endless stream, a body dribbled forever) is cut here: the
    // abort reaches the relay as this error, and what was delivered is charged.
    deadline = setTimeout(() => {
      abort.abort(new GatewayError('stream_too_long', `The upstream answer ran past ${deps.streamMaxMs / 1000} s (server.stream_max_seconds) and was cut.`));
    }, deps.streamMaxMs);
    const answer = forwardWithFallbacks(ctx, deps, abort);
    // A large prompt's record is made while the call is upstream, queued behind the request's
    // write and the hold's flush; a small one's costs a few µs in settle (made early, it measured
    // ~40 µs slower at one connection, twice).
    if (!(Number(req.headers['content-length']) < EARLY_PROMPT_RECORD_BYTES)) setImmediate(preparePromptRecord, ctx, deps);
    const upstream = await answer;
    ctx.upstreamAt = performance.now();
    stages.lap(ctx, 'forward');
    status = upstream.status;
    if (upstream.status >= 400) await relayUpstreamError(ctx, deps, upstream);
    else if (streamMeter) await relayStream(ctx, deps, upstream, streamMeter);
    else await relayJson(ctx, deps, upstream);
  } catch (err) {
    const e = asGatewayError(err);
    status = e.status;
    deps.telemetry.refused(ctx, e);
    if (ctx.reservation && !ctx.reservation.settled) {
      if (forwarded) {
        // Forwarded but nothing came back: the attempt is recorded; charged its prompt if it was
        // cut once its request had left (the upstream had it), nothing if it never left or the
        // upstream failed to answer.
        const cut = cutShort(abort, e.status);
        await unansweredCharge(ctx, abort.aborted && abort.requestSent).then((charge) => settle(ctx, deps, { ...charge, ...cut }))
          .catch((writeErr: unknown) => deps.logger.error({ err: writeErr, req_id: requestId }, 'usage record write failed'));
      } else {
        deps.ledger.settle(ctx.reservation, { tokens: 0, usdNano: 0 });
      }
    }
    // Refused before settle (e.g. 402 at reserve): nothing ran, so no tokens; the request counts.
    if (ctx.rateAdmission) deps.rateLimiter.adjust(ctx.rateAdmission, 0);
    if (e.code === 'internal_error') deps.logger.error({ err: e.cause ?? e, req_id: requestId }, 'model call failed');
    // Refused before it went upstream (a forwarded call's outcome is on its model.call event).
    if (!forwarded) deps.refusals.record(ctx, e);
    // A refusal's audit events (auth.denied, policy.decision…) are durable before the answer.
    await deps.audit.refusalDurable(requestId);
    // Refusals carry the budget headers too: a client sees what is left and which level binds.
    sendError(res, e, adapter.dialect, requestId, tollgateHeaders(ctx));
  } finally {
    clearTimeout(deadline);
    leave?.();
    leaveInFlight?.();
    res.off('close', onClose);
    if (deps.requestLog) {
      deps.requestLog.info(
        { req_id: requestId, api: adapter.kind, status, session: ctx.session?.id, agent: ctx.session?.agentId, model: ctx.call?.model, ms: Math.round((performance.now() - ctx.startedAt) * 100) / 100 },
        'model call',
      );
    }
  }
}
