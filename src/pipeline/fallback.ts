// Stage 6a — fallback: forward, and when the upstream fails before answering (a 5xx, a timeout,
// unreachable) try the model's fallbacks in order. Nothing has reached the client at this point
// (streams are relayed only after a successful answer's headers), so a fallback never follows
// bytes already streamed. Each failed attempt is settled on its own — a spend line and a
// `model.call` event, nothing charged — and the next one is judged by policy with its own model
// and provider and reserved afresh at its own price: a fallback the budget cannot cover is not
// tried, and the client gets the last upstream failure.
import { DO_NOT_RETRY, GatewayError } from '../errors/index.js';
import type { ModelRoute } from '../providers/registry.js';
import type { CallAbort } from './call-abort.js';
import type { CallContext, PipelineDeps } from './context.js';
import { forward, readErrorBody, type UpstreamResponse } from './forward.js';
import { NO_USAGE } from './meter.js';
import { checkPolicy } from './policy.js';
import { journalReservation, reserve } from './reserve.js';
import { settle } from './settle.js';
import { UpstreamBody } from './upstream-call.js';

const retryable = (err: unknown): err is GatewayError =>
  err instanceof GatewayError && (err.code === 'upstream_timeout' || err.code === 'upstream_unavailable');

/** Moves the call to `next`: policy judges it, then its worst case is reserved. Throws if it may not run. */
async function useRoute(ctx: CallContext, deps: PipelineDeps, next: ModelRoute): Promise<void> {
  if (next.provider.missingKey) throw new GatewayError('provider_not_configured', undefined, { headers: DO_NOT_RETRY });
  const { route, policy, outputCap, clamped, promptUpperBound } = ctx;
  ctx.route = next;
  ctx.outputCap = undefined;
  ctx.clamped = false;
  // The bound depends on the model's limits (context window, image cost).
  ctx.promptUpperBound = undefined;
  try {
    await checkPolicy(ctx, deps);
    await reserve(ctx, deps);
    journalReservation(ctx, deps, true);
  } catch (err) {
    // The failed attempt stays the call's answer: put its route back.
    Object.assign(ctx, { route, policy, outputCap, clamped, promptUpperBound });
    throw err;
  }
}

export async function forwardWithFallbacks(ctx: CallContext, deps: PipelineDeps, signal: CallAbort): Promise<UpstreamResponse> {
  const fallbacks = ctx.route!.fallbacks.filter((f) => f.provider.serves(ctx.call!.api));
  if (fallbacks.length === 0) return forward(ctx, signal, deps.providerTrouble);
  for (let i = 0; ; i++) {
    ctx.attempt = i + 1;
    let failed: UpstreamResponse | GatewayError;
    try {
      const upstream = await forward(ctx, signal, deps.providerTrouble);
      if (upstream.status < 500 || i >= fallbacks.length) return upstream;
      failed = { ...upstream, body: UpstreamBody.of(await readErrorBody(upstream.body)) };
    } catch (err) {
      if (!retryable(err) || signal.aborted || i >= fallbacks.length) throw err;
      failed = err;
    }
    const httpStatus = failed instanceof GatewayError ? failed.status : failed.status;
    await settle(ctx, deps, { usage: NO_USAGE, estimated: false, outcome: 'upstream_error', httpStatus, retrying: true });
    try {
      await useRoute(ctx, deps, fallbacks[i]!);
    } catch (err) {
      deps.logger.info({ req_id: ctx.requestId, fallback: fallbacks[i]!.name, reason: err instanceof GatewayError ? err.code : 'error' }, 'fallback not tried');
      // The attempt that failed is the answer; its line is written.
      if (failed instanceof GatewayError) throw failed;
      return { ...failed, settled: true };
    }
  }
}
