import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { asGatewayError, errorBody, GatewayError, type ErrorCode, type ErrorDialect } from '../errors/index.js';
import { newId } from './ids.js';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | number> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

/**
 * Answers with `err` in the caller's dialect. Unknown errors become a bare 500: their text and
 * stack never reach the client. After headers were sent there is nothing to add but the end.
 */
export function sendError(res: ServerResponse, err: unknown, dialect: ErrorDialect, requestId?: string, extraHeaders: Record<string, string> = {}): void {
  const e = asGatewayError(err);
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  const headers: Record<string, string> = { ...extraHeaders, ...(e.headers ?? {}) };
  if (requestId) Object.assign(headers, requestIdHeaders(requestId, dialect));
  sendJson(res, e.status, errorBody(e, dialect, requestId), headers);
}

/** The request's id as clients of `dialect` read it: `x-request-id`, and Anthropic's SDK `request-id` (its `requestID`). */
export function requestIdHeaders(requestId: string, dialect: ErrorDialect): Record<string, string> {
  return dialect === 'anthropic' ? { 'x-request-id': requestId, 'request-id': requestId } : { 'x-request-id': requestId };
}

/** The gateway's own base URL as this client addresses it. */
export function baseUrl(req: IncomingMessage): string {
  const secure = 'encrypted' in req.socket && req.socket.encrypted === true;
  const host = req.headers.host;
  // It ends up in a quoted header parameter: anything but a plain host[:port] is not echoed.
  return `${secure ? 'https' : 'http'}://${host !== undefined && /^[A-Za-z0-9.:[\]-]{1,255}$/.test(host) ? host : 'localhost'}`;
}

/** Node's codes for requests it refuses before any handler runs, and the catalogued error for each. */
const CLIENT_ERRORS: Record<string, ErrorCode> = {
  HPE_HEADER_OVERFLOW: 'headers_too_large',
  ERR_HTTP_REQUEST_TIMEOUT: 'request_timeout',
};

/**
 * What was wrong with bytes Node could not parse, from its parser's reason (llhttp's own words,
 * never the client's bytes): a body cut short says so, as clients mostly send one by mistake.
 */
function badRequestMessage(err: { code?: string; reason?: string }): string {
  if (err.code === 'HPE_INVALID_EOF_STATE') return 'The request ended before its body did: the connection closed with fewer bytes sent than its Content-Length (or its chunks) announced.';
  return typeof err.reason === 'string' && /^[\w '.,-]{1,120}$/.test(err.reason) ? `The request is not valid HTTP: ${err.reason}.` : 'The request is not valid HTTP.';
}

/**
 * The server's `clientError` handler: a request Node could not parse (headers past
 * `server.max_header_bytes`, too slow per `server.headers_timeout_ms` / `request_timeout_ms`,
 * not HTTP at all) gets a catalogued JSON error instead of a bare status line — in the error shape
 * of the API its path names (`dialectOf`) — then the connection is closed.
 */
export function answerClientError(err: Error & { code?: string; reason?: string; rawPacket?: unknown }, socket: Duplex, dialectOf: (path: string) => ErrorDialect = () => 'admin'): void {
  // A response already under way on this connection (Node's own default checks the same).
  const current = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || current?.headersSent === true) {
    socket.destroy();
    return;
  }
  const code = CLIENT_ERRORS[err.code ?? ''] ?? 'bad_request';
  const e = new GatewayError(code, code === 'bad_request' ? badRequestMessage(err) : undefined);
  // In the shape of the API asked for: its path is in the request line of the bytes that failed
  // (headers sent with it, as clients do), or, when the body failed, in the request being read;
  // else the admin API's.
  const line = Buffer.isBuffer(err.rawPacket) ? err.rawPacket.subarray(0, 2048).toString('latin1') : '';
  const path = /^[A-Z]+ (\/\S*) HTTP\//.exec(line)?.[1] ?? current?.req?.url;
  const dialect = path === undefined ? 'admin' : dialectOf(path);
  // A request id like every other answer's (the request's own could not be read).
  const requestId = newId('req');
  const payload = JSON.stringify(errorBody(e, dialect, requestId));
  const idLines = Object.entries(requestIdHeaders(requestId, dialect)).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.end(
    `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\n${idLines}connection: close\r\n\r\n${payload}`,
  );
}
