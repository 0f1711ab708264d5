// HTTP around the JSON-RPC: reading and checking a message body, DNS-rebinding checks
// (Host/Origin), the RFC 9728 protected-resource metadata, and refusals answered before any
// MCP method runs.
import type { IncomingMessage } from 'node:http';
import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { GatewayError } from '../errors/index.js';
import { exceedsJsonDepth, MAX_JSON_DEPTH, readBody } from '../pipeline/index.js';
import { baseUrl } from '../util/http.js';

import { RPC, RpcError } from './errors.js';
import { MCP_METADATA_PATH } from './paths.js';

/** A refusal at the HTTP level: its status, its JSON-RPC error, and why (for the audit event). */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly error: RpcError,
    readonly reason: string,
    readonly facts: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(error.message);
    this.name = 'Refusal';
  }
}

export const refusal = (status: number, code: number, reason: string, message: string, tollgateCode: string, facts: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
  new Refusal(status, new RpcError(code, message, { code: tollgateCode }), reason, facts, headers);

/** One header's value (the first, when repeated). */
export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Reads a POST body as JSON-RPC: one message or a batch. Not JSON → -32700; JSON that is not
 * JSON-RPC → -32600 (both HTTP 400).
 */
export async function readMessage(req: IncomingMessage, limit: number, maxDepth = MAX_JSON_DEPTH): Promise<unknown> {
  const type = (header(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw refusal(415, RPC.invalidRequest, 'unsupported_media_type', 'Send the body as application/json.', 'unsupported_media_type', { content_type: type.slice(0, 100) });
  let raw: Buffer;
  try {
    raw = await readBody(req, limit);
  } catch (err) {
    if (err instanceof GatewayError) throw refusal(err.status, RPC.invalidRequest, err.code, err.message, err.code);
    throw err;
  }
  if (exceedsJsonDepth(raw, maxDepth)) {
    throw refusal(400, RPC.invalidRequest, 'json_too_deep', `Invalid Request: the body nests arrays and objects more than ${maxDepth} deep.`, 'json_too_deep');
  }
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw refusal(400, RPC.parseError, 'parse_error', `Parse error: ${(err as Error).message}`, 'invalid_json');
  }
  const messages = Array.isArray(body) ? body : [body];
  if (messages.length === 0 || !messages.every((m) => JSONRPCMessageSchema.safeParse(m).success)) {
    throw refusal(400, RPC.invalidRequest, 'invalid_request', 'Invalid Request: the body is not a JSON-RPC 2.0 message.', 'invalid_request');
  }
  return body;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1']);

export function isLoopback(host: string): boolean {
  return LOOPBACK_NAMES.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The host name of a Host header value (`[::1]:8080` → `::1`). */
function hostName(host: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  return (v6 ? v6[1]! : host.replace(/:\d+$/, '')).toLowerCase();
}

/**
 * DNS-rebinding protection, as the MCP transport spec asks: the Host must be one the gateway
 * answers to (`hostAllowed`); and a browser's `Origin`, when sent, must be the
 * gateway's own. Returns what is wrong, or null.
 */
export function originProblem(req: IncomingMessage, hostAllowed: (name: string) => boolean): string | null {
  const host = header(req, 'host');
  if (!host) return 'the Host header is missing';
  if (!hostAllowed(hostName(host))) return `Host "${host.slice(0, 100)}" is not allowed`;
  const origin = header(req, 'origin');
  if (origin === undefined) return null;
  let originHost: string | null = null;
  try {
    originHost = new URL(origin).host;
  } catch {
    // "null" and other opaque origins never match.
  }
  return originHost !== null && originHost.toLowerCase() === host.toLowerCase() ? null : `Origin "${origin.slice(0, 100)}" is not allowed`;
}

export const METADATA_PREFIX = MCP_METADATA_PATH;

/** Where the protected-resource metadata of `server` is (sent in `WWW-Authenticate` on 401). */
export const metadataUrl = (req: IncomingMessage, server: string) => `${baseUrl(req)}${METADATA_PREFIX}${encodeURIComponent(server)}`;

/**
 * RFC 9728 protected-resource metadata for `/mcp/{server}`: tokens come from this gateway
 * (`POST /oauth/token`), as a Bearer header; the scopes a delegation can ask for.
 */
export function resourceMetadata(req: IncomingMessage, server: string): Record<string, unknown> {
  const base = baseUrl(req);
  return {
    resource: `${base}/mcp/${encodeURIComponent(server)}`,
    authorization_servers: [base],
    bearer_methods_supported: ['header'],
    scopes_supported: [`tool:${server}/*`, `resource:${server}/*`, `prompt:${server}/*`],
    resource_name: `MCP server "${server}" through Tollgate`,
  };
}
