// When the session's token can no longer be refreshed (the session ended, its agent or team was
// suspended, the token expired meanwhile), a request through `session.fetch` is answered here,
// without reaching the gateway, the way the gateway itself refuses it: in the API's own error shape
// with the refusal's status and Tollgate code. The official clients then raise their typed API
// error (not a network error), which `toTollgateError` maps like any other refusal.
import { DO_NOT_RETRY, ERRORS, errorBody, GatewayError, type ErrorCode, type ErrorDialect } from '../errors/index.js';
import { errorResponse, RpcError, rpcErrorFrom } from '../mcp/errors.js';
import type { TollgateError } from './errors.js';

/** The API a request is for, as the gateway decides its error shape (MCP: JSON-RPC). */
function dialectOf(path: string, headers: Headers): ErrorDialect | 'mcp' {
  if (path.startsWith('/mcp/')) return 'mcp';
  if (path === '/v1/messages' || path.startsWith('/v1/messages/') || (path.startsWith('/v1/') && headers.has('anthropic-version'))) return 'anthropic';
  return path.startsWith('/v1/') ? 'openai' : 'admin';
}

/** The JSON-RPC id of the request being answered (null when it has none that can be read). */
function rpcId(body: unknown): string | number | null {
  if (typeof body !== 'string') return null;
  try {
    const id = (JSON.parse(body) as { id?: unknown }).id;
    return typeof id === 'string' || typeof id === 'number' ? id : null;
  } catch {
    return null;
  }
}

/**
 * The answer to a request that cannot be sent because the token could not be refreshed: `refusal`
 * (a refusal of the token endpoint) as the gateway would answer it. A code the gateway does not
 * answer requests with (an OAuth code nobody recognised) is answered as `invalid_token` (401).
 */
export function refusalResponse(refusal: TollgateError, baseUrl: string, input: string | URL | Request, init: RequestInit, headers: Headers): Response {
  const code: ErrorCode = Object.hasOwn(ERRORS, refusal.code) ? (refusal.code as ErrorCode) : 'invalid_token';
  const error = new GatewayError(code, refusal.message, { details: refusal.details });
  let path = new URL(input instanceof Request ? input.url : String(input)).pathname;
  const basePath = new URL(baseUrl).pathname.replace(/\/+$/, '');
  if (basePath && path.startsWith(basePath)) path = path.slice(basePath.length);
  const dialect = dialectOf(path, headers);
  let body: unknown;
  if (dialect === 'mcp') {
    // As the MCP gateway answers (its JSON-RPC code and `data.code`), without a request id: none was sent.
    const rpc = rpcErrorFrom(error, '');
    const { request_id: _none, ...data } = rpc.data ?? {};
    body = errorResponse(rpcId(init.body), new RpcError(rpc.code, rpc.message, data));
  } else {
    body = errorBody(error, dialect);
  }
  return new Response(JSON.stringify(body), { status: error.status, headers: { 'content-type': 'application/json', ...DO_NOT_RETRY } });
}
