// Stage 6 — forward: send the (rewritten) request upstream over the provider's pooled keep-alive
// connections, with the provider key only the gateway holds. Client credentials never go upstream.
import { errors as undiciErrors } from 'undici';
import { DO_NOT_RETRY, GatewayError } from '../errors/index.js';
import type { ProviderRuntime } from '../providers/registry.js';
import type { CallAbort } from './call-abort.js';
import type { ProviderTrouble } from './provider-trouble.js';
import type { CallContext } from './context.js';
import { callUpstream, type UpstreamBody, type UpstreamHeaders } from './upstream-call.js';

export interface UpstreamResponse {
  status: number;
  headers: UpstreamHeaders;
  body: UpstreamBody;
  /** A failed last attempt whose spend line the fallback loop already wrote. */
  settled?: true;
}

/** Upstream error bodies are relayed, but never more than this. */
const MAX_ERROR_BODY = 64 * 1024;

/** An upstream error's body, to relay: at most 64 KiB of it; one that broke off reads as empty. */
export async function readErrorBody(body: UpstreamBody): Promise<Buffer> {
  return (await body.read(MAX_ERROR_BODY).catch(() => ({ data: Buffer.alloc(0) }))).data;
}

/** Turns a transport failure into 502 (unreachable) or 504 (too slow). */
export function upstreamFailure(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  if (
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    err instanceof undiciErrors.ConnectTimeoutError
  ) {
    return new GatewayError('upstream_timeout', undefined, { cause: err });
  }
  return new GatewayError('upstream_unavailable', undefined, { cause: err });
}

/** A request's headers upstream: the provider's key and configured headers, the request id, and the client's API versioning headers — none of its credentials. */
export function upstreamHeaders(ctx: CallContext, provider: ProviderRuntime): Record<string, string> {
  // Object.assign, not a spread inside the literal: that takes V8's slow path (see store/chain.ts).
  const headers: Record<string, string> = Object.assign({ 'content-type': 'application/json' }, provider.headers, { 'x-request-id': ctx.requestId });
  for (const name of provider.forwardHeaders) {
    const value = ctx.req.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  return headers;
}

/**
 * An upstream 401 or 403 refuses the gateway's own key: not the caller's fault (nor its business —
 * the message may quote the key), so it is answered as a 502. Null for any other status.
 */
export function credentialsRefused(status: number): GatewayError | null {
  return status === 401 || status === 403 ? new GatewayError('upstream_unavailable', 'The upstream provider refused the gateway\'s credentials.', { headers: DO_NOT_RETRY }) : null;
}

/** Sends the call upstream; a provider in trouble (a refused key, no answer) is reported to the operator (`trouble`). */
export async function forward(ctx: CallContext, signal: CallAbort, trouble: ProviderTrouble): Promise<UpstreamResponse> {
  const route = ctx.route!;
  const provider = route.provider;
  const call = ctx.call!;
  ctx.adapter.rewrite(ctx.body!, call, { upstreamModel: route.upstreamModel, maxOutputTokens: ctx.outputCap ?? null });
  const headers = upstreamHeaders(ctx, provider);
  if (call.stream) headers.accept = 'text/event-stream';
  let upstream: UpstreamResponse;
  try {
    upstream = await callUpstream(provider.pool(), {
      method: 'POST',
      path: provider.requestPath(call.api, ctx.adapter.upstreamPath, route.upstreamModel),
      headers,
      body: JSON.stringify(ctx.body),
      headersTimeout: provider.timeoutMs,
      bodyTimeout: provider.timeoutMs,
    }, signal);
  } catch (err) {
    const failure = upstreamFailure(err);
    if (!signal.aborted) trouble.failed(provider.name, failure);
    throw failure;
  }
  if (upstream.status >= 400) trouble.answered(provider.name, upstream.status);
  return upstream;
}
