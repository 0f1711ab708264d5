// The stateless 2026-07-28 revision: one POST per request, no session and no initialize
// (`server/discover` instead), a plain JSON answer. The method — and for tools/call,
// resources/read and prompts/get the name or URI — is repeated in the `Mcp-Method` and `Mcp-Name`
// headers so proxies can route without reading the body; a header that says something other than
// the body is refused, so what was routed (or audited) is what runs.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '../util/http.js';
import { errorResponse, RPC, RpcError } from './errors.js';
import { header, refusal } from './http.js';
import { STATELESS_REVISION, type CallEnv, type McpMethods } from './methods.js';

/** Methods whose target is named in `Mcp-Name`, and the param that must match it. */
const NAMED: Record<string, 'name' | 'uri'> = { 'tools/call': 'name', 'resources/read': 'uri', 'prompts/get': 'name' };

interface Message {
  id?: string | number;
  method: string;
  params?: Record<string, unknown>;
}

/** Checks the body against the routing headers; throws a Refusal (HTTP 400, -32600) when they differ. */
function checkHeaders(req: IncomingMessage, body: unknown): Message {
  if (Array.isArray(body) || typeof (body as Message).method !== 'string') {
    throw refusal(400, RPC.invalidRequest, 'invalid_request', 'Invalid Request: the stateless revision takes one JSON-RPC request per POST.', 'invalid_request');
  }
  const message = body as Message;
  const method = header(req, 'mcp-method');
  if (method !== message.method) {
    throw refusal(400, RPC.invalidRequest, 'header_mismatch', `Mcp-Method "${String(method).slice(0, 100)}" does not match the body's method "${message.method.slice(0, 100)}".`, 'invalid_request', { header: 'Mcp-Method', method: message.method.slice(0, 100) });
  }
  const param = NAMED[message.method];
  if (param) {
    const name = header(req, 'mcp-name');
    const value = message.params?.[param];
    if (name === undefined || name !== value) {
      throw refusal(400, RPC.invalidRequest, 'header_mismatch', name === undefined ? `Mcp-Name is required for ${message.method}.` : `Mcp-Name "${name.slice(0, 100)}" does not match params.${param}.`, 'invalid_request', { header: 'Mcp-Name', method: message.method });
    }
  }
  return message;
}

/** Answers one stateless request through the shared methods. */
export async function answerStateless(req: IncomingMessage, res: ServerResponse, body: unknown, methods: McpMethods, caller: CallEnv['caller']): Promise<void> {
  const message = checkHeaders(req, body);
  const headers = { 'mcp-protocol-version': STATELESS_REVISION, 'x-request-id': caller.requestId };
  if (message.id === undefined) {
    // A notification: nothing to answer (there is no session it could concern).
    res.writeHead(202, headers).end();
    return;
  }
  // An agent that goes away cancels the upstream request.
  const gone = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) gone.abort();
  });
  try {
    const result = await methods.call(message.method, message.params, { caller, signal: gone.signal });
    sendJson(res, 200, { jsonrpc: '2.0', id: message.id, result: { resultType: 'complete', ...result } }, headers);
  } catch (err) {
    const e = err instanceof RpcError ? err : new RpcError(RPC.internalError, 'Internal error.');
    sendJson(res, 200, errorResponse(message.id, e), headers);
  }
}
