// Token counting: Anthropic's `POST /v1/messages/count_tokens` (the Anthropic SDK's
// `messages.countTokens`, which coding agents call to size their context) and OpenAI's
// `POST /v1/responses/input_tokens` (`responses.inputTokens.count`). The providers answer these
// without running the model and without charge, so nothing is reserved, metered or charged here.
// They still send the prompt to a provider, so the caller is authenticated, the model must be in
// its session's scope and served on that API, and the policy judges the request as the model
// call it sizes (which provider may see which data). Forwarded with the gateway's key; the
// provider's count, or its error, comes back as it sent it; every request is recorded
// (`model.tokens_counted`, or the refusal's own event). A count is a request the provider serves:
// it counts against the session's requests-per-minute limits (using no tokens) and its calls in
// flight, as a model call does, so a looping agent cannot flood a provider, or the audit log,
// through it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { asGatewayError, GatewayError } from '../errors/index.js';
import { anthropicMessages, openAiResponses, type ApiAdapter } from '../providers/apis/index.js';
import { requestIdHeaders, sendError } from '../util/http.js';
import { authenticate } from './authenticate.js';
import { allowedRoute } from './authorize.js';
import { newCallContext, type CallContext, type PipelineDeps } from './context.js';
import { credentialsRefused, readErrorBody, upstreamFailure, upstreamHeaders } from './forward.js';
import { parseJsonObject, readBody } from './parse.js';
import { admitRequest, rateLimitHeaders } from './rate-limit.js';
import { callUpstream } from './upstream-call.js';
import type { ProviderTrouble } from './provider-trouble.js';

export interface TokenCounting {
  /** The API whose prompt is counted: its error shape, and the provider must serve it. */
  adapter: ApiAdapter;
  /** Path on the upstream, relative to the provider's API base: the API's own, and this below it. */
  upstreamPath: string;
}

/** The token-counting endpoints, by request path. */
export const TOKEN_COUNTING: Readonly<Record<string, TokenCounting>> = {
  '/v1/messages/count_tokens': { adapter: anthropicMessages, upstreamPath: `${anthropicMessages.upstreamPath}/count_tokens` },
  '/v1/responses/input_tokens': { adapter: openAiResponses, upstreamPath: `${openAiResponses.upstreamPath}/input_tokens` },
};

/** A count is a small JSON object; an answer larger than this is not one. */
const MAX_COUNT_BODY = 64 * 1024;

export async function handleTokenCount(req: IncomingMessage, res: ServerResponse, counting: TokenCounting, deps: PipelineDeps, requestId: string): Promise<void> {
  const { adapter } = counting;
  const ctx = newCallContext(requestId, req, res, adapter);
  const onClose = () => {
    if (!res.writableFinished) ctx.abort.abort();
  };
  res.on('close', onClose);
  /** Set once the request is allowed: what its event records, however it ends. */
  let facts: Record<string, unknown> | null = null;
  let requestedModel: string | null = null;
  let leave: (() => void) | undefined;
  try {
    if (req.method !== 'POST') throw new GatewayError('method_not_allowed', undefined, { headers: { allow: 'POST' } });
    await authenticate(ctx, deps);
    const session = ctx.session!;
    ctx.profile = deps.directory.profiles.peek(session.profileId) ?? (await deps.directory.profiles.get(session.profileId));
    const body = parseJsonObject(await readBody(req, deps.bodyLimitBytes), deps.maxJsonDepth);
    if (typeof body.model !== 'string' || body.model.length === 0) throw new GatewayError('invalid_request', 'model: a model name is required.', { param: 'model' });
    requestedModel = body.model.slice(0, 200);
    const route = allowedRoute(body.model, adapter.kind, session, ctx.profile, deps);
    ctx.route = route;
    // Nothing is spent: the policy judges where the prompt goes, at no cost.
    const decision = await deps.authorizer.modelCall(session, ctx.agent!, route, 0, requestId, req.socket.remoteAddress ?? null);
    leave = deps.concurrency.enter(session.id);
    await admitRequest(ctx, deps, () => 0);
    facts = { model: route.name, provider: route.provider.name, api: adapter.kind, policy: { effect: decision.effect, policies: decision.policies } };
    body.model = route.upstreamModel;
    const answer = await countUpstream(ctx, counting, body, deps.providerTrouble);
    const written = recorded(ctx, deps, { ...facts, status: answer.status, input_tokens: answer.inputTokens });
    facts = null; // recorded once: a failed write is the store's refusal, not a second event
    await written;
    const headers: Record<string, string> = { ...requestIdHeaders(requestId, adapter.dialect), 'x-tollgate-session': session.id, ...rateLimitHeaders(ctx), 'content-type': answer.contentType, 'content-length': String(answer.raw.length) };
    if (answer.retryAfter !== null) headers['retry-after'] = answer.retryAfter;
    res.writeHead(answer.status, headers);
    res.end(answer.raw);
  } catch (err) {
    const e = asGatewayError(err);
    if (facts) {
      await recorded(ctx, deps, { ...facts, status: e.status, input_tokens: null, error: e.code })
        .catch((writeErr: unknown) => deps.logger.error({ err: writeErr, req_id: requestId }, 'token count event write failed'));
    } else {
      deps.refusals.record(ctx, e, requestedModel);
    }
    await deps.audit.refusalDurable(requestId);
    sendError(res, e, adapter.dialect, requestId);
  } finally {
    leave?.();
    res.off('close', onClose);
  }
}

/**
 * Sends the count upstream; its answer — the count, or the provider's error as it sent it (with its
 * `Retry-After`), except the provider refusing the gateway's own key (`credentialsRefused`).
 */
async function countUpstream(ctx: CallContext, counting: TokenCounting, body: Record<string, unknown>, trouble: ProviderTrouble): Promise<{ status: number; raw: Buffer; contentType: string; retryAfter: string | null; inputTokens: number | null }> {
  const route = ctx.route!;
  const provider = route.provider;
  let answer;
  try {
    answer = await callUpstream(provider.pool(), {
      method: 'POST',
      path: provider.requestPath(counting.adapter.kind, counting.upstreamPath, route.upstreamModel),
      headers: upstreamHeaders(ctx, provider),
      body: JSON.stringify(body),
      headersTimeout: provider.timeoutMs,
      bodyTimeout: provider.timeoutMs,
    }, ctx.abort);
  } catch (err) {
    const failure = upstreamFailure(err);
    if (!ctx.abort.aborted) trouble.failed(provider.name, failure);
    throw failure;
  }
  const contentType = String(answer.headers['content-type'] ?? 'application/json');
  const retryAfter = typeof answer.headers['retry-after'] === 'string' ? answer.headers['retry-after'] : null;
  if (answer.status >= 400) {
    trouble.answered(provider.name, answer.status);
    const raw = await readErrorBody(answer.body);
    const refused = credentialsRefused(answer.status);
    if (refused) throw refused;
    return { status: answer.status, raw, contentType, retryAfter, inputTokens: null };
  }
  const raw = await readCount(answer.body);
  return { status: answer.status, raw, contentType, retryAfter, inputTokens: countOf(raw) };
}

async function readCount(body: Parameters<typeof readErrorBody>[0]): Promise<Buffer> {
  let read;
  try {
    read = await body.read(MAX_COUNT_BODY);
  } catch (err) {
    throw upstreamFailure(err);
  }
  if (read.truncated) throw new GatewayError('upstream_bad_response', 'The upstream answer is too large for a token count.');
  return read.data;
}

/** The count in a provider's answer (both APIs name it `input_tokens`); not one: 502. */
function countOf(raw: Buffer): number {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new GatewayError('upstream_bad_response');
  }
  const count = (json as { input_tokens?: unknown } | null)?.input_tokens;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) throw new GatewayError('upstream_bad_response', 'The upstream answer carries no token count.');
  return count;
}

/** Records the count (it sent the prompt to a provider); resolves once the event is durable. */
function recorded(ctx: CallContext, deps: PipelineDeps, data: Record<string, unknown>): Promise<void> {
  const session = ctx.session!;
  return deps.audit.record({
    type: 'model.tokens_counted', actor: `agent:${session.agentId}`, requestId: ctx.requestId, agentId: session.agentId, sessionId: session.id, teamId: session.teamId, chain: session.chain,
    data: { ...data, source: ctx.req.socket.remoteAddress ?? null },
  });
}
