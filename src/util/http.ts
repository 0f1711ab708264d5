import type { IncomingMessage, ServerResponse } from 'node:http';
import { asGatewayError, errorBody, type ErrorDialect } from '../errors/index.js';

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
  if (requestId) headers['x-request-id'] = requestId;
  sendJson(res, e.status, errorBody(e, dialect, requestId), headers);
}

/** The gateway's own base URL as this client addresses it. */
export function baseUrl(req: IncomingMessage): string {
  const secure = 'encrypted' in req.socket && req.socket.encrypted === true;
  const host = req.headers.host;
  // It ends up in a quoted header parameter: anything but a plain host[:port] is not echoed.
  return `${secure ? 'https' : 'http'}://${host !== undefined && /^[A-Za-z0-9.:[\]-]{1,255}$/.test(host) ? host : 'localhost'}`;
}
