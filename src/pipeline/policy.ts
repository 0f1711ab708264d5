// Stage 4a — policy: the policy engine judges the call with its context (the session's
// environment, data sensitivity and intended action, the worst-case cost, delegation depth,
// time, source). Runs after the scope check and before rate limits and reservations, so a
// denied call costs nothing and holds nothing.
import { promptUpperBound } from './parse.js';
import { worstCaseNano } from '../providers/pricing.js';
import type { CallContext, PipelineDeps } from './context.js';

export async function checkPolicy(ctx: CallContext, deps: PipelineDeps): Promise<void> {
  const call = ctx.call!;
  const route = ctx.route!;
  const output = (ctx.adapter.producesOutput ? (call.maxOutputTokens ?? route.maxOutputTokens) : 0) * call.choices;
  const estimate = worstCaseNano(promptUpperBound(ctx), output, route.price);
  ctx.policy = await deps.authorizer.modelCall(ctx.session!, ctx.agent!, route, estimate, ctx.requestId, ctx.req.socket.remoteAddress ?? null);
}
