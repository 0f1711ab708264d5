// Stages 8 and 9 — settle and record: charge the real cost, release the rest of the hold, and
// append the spend line. The returned promise resolves once the line is durable; callers hold the
// end of the response until then.
import { promptText } from '../audit/content.js';
import { spendLineEventData } from '../budget/index.js';
import { costNano } from '../providers/pricing.js';
import type { Usage, UsageOutcome, UsageRecord } from '../store/index.js';
import { newTimeOrderedId } from '../util/ids.js';
import type { StageTimes } from '../telemetry/index.js';
import type { CallContext, PipelineDeps, PromptRecord } from './context.js';

export interface Settlement {
  usage: Usage;
  estimated: boolean;
  outcome: UsageOutcome;
  httpStatus: number;
  /** The output the client received (read only when the profile logs content). */
  output?: () => string;
  /** A failed attempt a fallback follows: the rate limiter waits for the attempt that answers. */
  retrying?: boolean;
}

/**
 * Charges the call and records it. `stages`, when given, times the charge and spend line
 * (`settle`) and the call's event (`audit`) apart: the answer's path passes it; a call that
 * failed before it had an answer does not (its time since the last lap is not a settlement's).
 */
export function settle(ctx: CallContext, deps: PipelineDeps, s: Settlement, stages?: StageTimes): Promise<void> {
  const session = ctx.session!;
  const route = ctx.route!;
  const cost = costNano(s.usage, route.price);
  // The line below carries the hold's id (ctx.usageId): in a shared ledger it settles the hold.
  if (ctx.reservation) deps.ledger.settle(ctx.reservation, { tokens: s.usage.inputTokens + s.usage.outputTokens, usdNano: cost }, true);
  if (ctx.rateAdmission && !s.retrying) deps.rateLimiter.adjust(ctx.rateAdmission, s.usage.inputTokens + s.usage.outputTokens);
  const record: UsageRecord = {
    id: ctx.usageId ?? newTimeOrderedId('use'),
    requestId: ctx.requestId,
    sessionId: session.id,
    agentId: session.agentId,
    teamId: session.teamId,
    profileId: session.profileId,
    model: route.name,
    provider: route.provider.name,
    api: ctx.call!.api,
    stream: ctx.call!.stream,
    // Named, not spread: a spread inside a literal takes V8's slow path here (see store/chain.ts).
    inputTokens: s.usage.inputTokens,
    outputTokens: s.usage.outputTokens,
    cachedInputTokens: s.usage.cachedInputTokens,
    cacheWriteTokens: s.usage.cacheWriteTokens,
    reasoningTokens: s.usage.reasoningTokens,
    costUsdNano: cost,
    estimated: s.estimated,
    outcome: s.outcome,
    httpStatus: s.httpStatus,
    latencyMs: Math.round((performance.now() - ctx.startedAt) * 1000) / 1000,
    createdAt: deps.now(),
    chain: session.chain,
  };
  deps.telemetry.modelCall(record, ctx);
  const line = deps.usage.add({ usage: record });
  // Awaited below with the call's other writes; should making those throw, the line is written
  // all the same, and its failure then is not an unhandled rejection.
  line.catch(() => undefined);
  stages?.lap(ctx, 'settle');
  // The call's own event, on the chain: what was used and charged, and the decision that allowed
  // it — so chargeback data is tamper-evident too. It and the call's other events (tool checks)
  // are durable with the spend line, before the end of the response.
  const logging = contentLogging(ctx, deps);
  const prompt = preparePromptRecord(ctx, deps);
  const writes = [line, modelCallEvent(ctx, deps, record, prompt.fingerprint), deps.audit.durable(ctx.requestId)];
  // Content logging: one branch when it is off.
  if (logging) {
    const texts: ['prompt' | 'output', string][] = [['prompt', prompt.text]];
    if (s.output) texts.push(['output', s.output()]);
    writes.push(deps.content!.record(logging, { requestId: ctx.requestId, sessionId: session.id, agentId: session.agentId }, texts, ctx.toolCalls));
  }
  stages?.lap(ctx, 'audit');
  return Promise.all(writes).then(() => undefined);
}

/** The profile's content logging, when it is on and the gateway has a content log; else null. */
function contentLogging(ctx: CallContext, deps: PipelineDeps) {
  const logging = ctx.profile?.contentLogging;
  return logging !== undefined && logging.mode !== 'off' && deps.content !== undefined ? logging : null;
}

const NO_PROMPT_RECORD: PromptRecord = Object.freeze({ text: '', fingerprint: null });

/** A prompt text longer than this is fingerprinted in slices (`Fingerprinter.inSlices`): ~2.5 ms or more in one go. */
const SLICED_FINGERPRINT_CHARS = 128 * 1024;

/**
 * The prompt as the call's records hold it: its JSON text (content logging) and keyed fingerprint
 * (the retry-loop detector), made once per call. For a body of 16 KiB or more the model-call
 * handler asks for it while the call is upstream — for a prompt of 100 KiB that is ~0.5 ms the
 * answer would otherwise wait for — and settle, if it has not been made by then. A long prompt's
 * fingerprint is made in slices, so that a prompt of megabytes never holds the event loop for
 * the ~100 ms its fingerprint takes: its `model.call` event waits for it.
 */
export function preparePromptRecord(ctx: CallContext, deps: PipelineDeps): PromptRecord {
  if (ctx.promptRecord) return ctx.promptRecord;
  if (!deps.fingerprint && !contentLogging(ctx, deps)) return (ctx.promptRecord = NO_PROMPT_RECORD);
  const text = promptText(ctx.body ?? {});
  const fingerprinter = deps.fingerprint;
  let fingerprint: PromptRecord['fingerprint'] = null;
  // (A failure there, which nothing should cause, leaves the event without a fingerprint rather than unwritten.)
  if (fingerprinter) fingerprint = text.length > SLICED_FINGERPRINT_CHARS ? fingerprinter.inSlices(text).catch(() => null) : fingerprinter(text);
  return (ctx.promptRecord = { text, fingerprint });
}

/**
 * The call's `model.call` event, made now from the call as it stands (a fallback's next attempt
 * changes it); a long prompt's fingerprint may still be in the making: then the event is
 * recorded once it is (the spend line does not wait).
 */
function modelCallEvent(ctx: CallContext, deps: PipelineDeps, r: UsageRecord, promptFp: PromptRecord['fingerprint']): Promise<void> {
  const decision = ctx.policy;
  // Added to the fresh object rather than spread into a new one (cheaper on every call); the
  // stored text is canonical JSON, so the order of the keys does not matter.
  const data = spendLineEventData(r);
  data.policy = decision ? { effect: decision.effect, policies: decision.policies, cached: decision.cached, version: decision.version } : null;
  if (typeof promptFp === 'string') data.prompt_fp = promptFp;
  if (ctx.toolCalls) data.tool_calls = [...new Set(ctx.toolCalls)];
  if (ctx.attempt !== undefined) {
    data.attempt = ctx.attempt;
    data.requested_model = ctx.call!.model;
  }
  data.price_source = ctx.route!.price.source;
  // Not tracked for durable(requestId): settle's own promise (Promise.all of the call's writes) covers it.
  const event = { type: 'model.call', actor: `agent:${r.agentId}`, requestId: r.requestId, agentId: r.agentId, sessionId: r.sessionId, teamId: r.teamId, chain: r.chain, data };
  if (!(promptFp instanceof Promise)) return deps.audit.record(event, { awaited: true });
  return deps.audit.recordWhen(promptFp.then((fp) => {
    if (fp !== null) data.prompt_fp = fp;
    return event;
  }), { awaited: true });
}
