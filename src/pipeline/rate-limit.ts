// Stage 4b — rate limit: requests and tokens per minute, per session and per agent, from the
// session's profile. Runs after authorize (only calls that could run count) and before reserve.
// A refusal is 429 with `Retry-After`; budget exhaustion is never answered here (that is 402).
// The token charge is an estimate (as reserve's: prompt upper bound + output limit × choices);
// settle replaces it with the real usage, so a call that used less gives the rest back.
import type { RateAdmission, RateLimit, RateLimiter, RateStatus } from '../budget/index.js';
import type { Profile, Session } from '../store/index.js';
import { GatewayError } from '../errors/index.js';
import { promptUpperBound } from './parse.js';
import type { CallContext, PipelineDeps } from './context.js';

/** The per-minute limits a session's calls count against (its own and its agent's), from its profile. */
export function limitsFor(session: Session, profile: Profile | null): RateLimit[] {
  const limits: RateLimit[] = [];
  const { session: perSession, agent: perAgent } = profile?.rateLimits ?? {};
  if (perSession && (perSession.requestsPerMinute || perSession.tokensPerMinute)) {
    limits.push({ level: 'session', id: session.id, rpm: perSession.requestsPerMinute, tpm: perSession.tokensPerMinute });
  }
  if (perAgent && (perAgent.requestsPerMinute || perAgent.tokensPerMinute)) {
    limits.push({ level: 'agent', id: session.agentId, rpm: perAgent.requestsPerMinute, tpm: perAgent.tokensPerMinute });
  }
  return limits;
}

/** Admits a call against `limits`, or throws 429 `rate_limited` with Retry-After. */
export function admit(limiter: RateLimiter, limits: RateLimit[], estimate: number): RateAdmission {
  const decision = limiter.check(limits, estimate);
  if (decision.admitted) return decision.admission;
  const retryAfter = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
  const perMinute = decision.unit === 'requests' ? 'requests per minute' : 'tokens per minute';
  const needs = decision.unit === 'tokens' ? `, this call needs up to ${Math.min(estimate, decision.limit)}` : '';
  throw new GatewayError(
    'rate_limited',
    `Rate limit reached for ${decision.level} ${decision.id} on ${perMinute}: limit ${decision.limit}${needs}. Try again in ${retryAfter}s.`,
    {
      details: { level: decision.level, [`${decision.level}_id`]: decision.id, unit: decision.unit, limit: decision.limit, retry_after_seconds: retryAfter },
      headers: { 'retry-after': String(retryAfter), ...statusHeaders(decision.status) },
    },
  );
}

export function rateLimit(ctx: CallContext, deps: PipelineDeps): Promise<void> {
  return admitRequest(ctx, deps, estimatedTokens);
}

/**
 * Counts a request of the call's session against its limits and any containment throttle
 * (`ctx.rateAdmission`), or throws 429. `tokens`: what it may use, asked only when a token limit
 * needs it (a pass over the prompt); a token count uses none.
 */
export async function admitRequest(ctx: CallContext, deps: PipelineDeps, tokens: (ctx: CallContext) => number): Promise<void> {
  const session = ctx.session!;
  const limits = limitsFor(session, await deps.directory.profiles.get(session.profileId));
  const throttle = deps.containment?.throttleFor(session.id, session.agentId);
  if (throttle) limits.push(throttle);
  if (limits.length === 0) return;
  const estimate = limits.some((l) => l.tpm !== undefined) ? tokens(ctx) : 0;
  ctx.rateAdmission = admit(deps.rateLimiter, limits, estimate);
}

/** Worst-case tokens of the call, counted as reserve counts them before any budget clamp. */
function estimatedTokens(ctx: CallContext): number {
  const call = ctx.call!;
  const route = ctx.route!;
  const requested = ctx.adapter.producesOutput ? call.maxOutputTokens : 0;
  return promptUpperBound(ctx) + (requested ?? route.maxOutputTokens) * call.choices;
}

/** The `x-ratelimit-*` headers for an admitted call (none when no limit applies). */
export function rateLimitHeaders(ctx: CallContext): Record<string, string> {
  return ctx.rateAdmission ? statusHeaders(ctx.rateAdmission.status) : {};
}

/** OpenAI's header names, reporting the tightest level per unit. */
function statusHeaders(status: RateStatus): Record<string, string> {
  const headers: Record<string, string> = {};
  const { requests, tokens } = status;
  if (requests) {
    headers['x-ratelimit-limit-requests'] = String(requests.limit);
    headers['x-ratelimit-remaining-requests'] = String(requests.remaining);
    headers['x-ratelimit-reset-requests'] = duration(requests.resetMs);
  }
  if (tokens) {
    headers['x-ratelimit-limit-tokens'] = String(tokens.limit);
    headers['x-ratelimit-remaining-tokens'] = String(tokens.remaining);
    headers['x-ratelimit-reset-tokens'] = duration(tokens.resetMs);
  }
  return headers;
}

/** A duration as OpenAI writes it, in whole seconds rounded up: `0s`, `12s`, `1m3s`. */
export function duration(ms: number): string {
  const s = Math.ceil(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60}s`;
}
