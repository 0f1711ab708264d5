// JSON-RPC errors of the MCP gateway: the codes it answers with, and the one mapping from a
// Tollgate refusal (a GatewayError) to a JSON-RPC error that keeps the Tollgate code in `data`.
import type { ErrorCode, GatewayError } from '../errors/index.js';

export const RPC = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** The session token is missing or no longer valid (HTTP 401). */
  unauthenticated: -32001,
  /** Budget exhausted or a spend approval pending (Tollgate's 402 class). */
  paymentRequired: -32002,
  /** Scope, policy or a human said no (Tollgate's 403 class). */
  forbidden: -32003,
  /** The upstream MCP server failed, died or did not answer in time. */
  upstream: -32004,
  /** A rate limit of the profile (`data.retry_after` says when to come back). */
  rateLimited: -32029,
} as const;

/** A JSON-RPC error a handler throws; the SDK's Server reads `code`, `message` and `data` off it. */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'RpcError';
  }

  toJSON(): { code: number; message: string; data?: Record<string, unknown> } {
    return { code: this.code, message: this.message, ...(this.data === undefined ? {} : { data: this.data }) };
  }
}

/** Tollgate codes whose JSON-RPC code is not implied by their HTTP status. */
const BY_CODE: Partial<Record<ErrorCode, number>> = {
  invalid_json: RPC.parseError,
  upstream_unavailable: RPC.upstream,
  upstream_timeout: RPC.upstream,
  upstream_bad_response: RPC.upstream,
};

function rpcCode(err: GatewayError): number {
  const explicit = BY_CODE[err.code];
  if (explicit !== undefined) return explicit;
  switch (err.status) {
    case 401: return RPC.unauthenticated;
    case 402: return RPC.paymentRequired;
    case 403: return RPC.forbidden;
    case 429: return RPC.rateLimited;
    case 400: case 413: case 415: return RPC.invalidParams;
    case 404: return RPC.invalidParams;
    default: return RPC.internalError;
  }
}

/** `err` as a JSON-RPC error: a clear message, and `data: { code, request_id, …details }`. */
export function rpcErrorFrom(err: GatewayError, requestId: string): RpcError {
  const data: Record<string, unknown> = { code: err.code, request_id: requestId, ...(err.details ?? {}) };
  if (err.param) data.param = err.param;
  const retryAfter = Number(err.headers?.['retry-after']);
  if (Number.isFinite(retryAfter) && retryAfter > 0) data.retry_after = retryAfter;
  // An internal error's text is not the client's business (it is logged with the request id).
  return new RpcError(rpcCode(err), err.code === 'internal_error' ? 'Internal error.' : err.message, data);
}

/** The JSON-RPC error response for request `id` (null when the request could not be read). */
export function errorResponse(id: string | number | null, err: RpcError): unknown {
  return { jsonrpc: '2.0', id, error: err.toJSON() };
}
