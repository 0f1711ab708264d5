// One MCP session of the session-based protocol (2025-06-18 / 2025-11-25): the SDK's low-level
// Server on a Streamable HTTP transport of its own, bound to the Tollgate session that opened it.
// Its request handlers are the shared methods; who is calling comes with each HTTP request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { ServerCapabilities, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { newId } from '../util/ids.js';
import type { Caller } from './audit.js';
import { RPC, RpcError } from './errors.js';
import { offeredCapabilities, type CallEnv, type McpMethods } from './methods.js';
import type { UpstreamInfo } from './upstream.js';

const CALLER = 'tollgate.caller';

type HandlerExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export class McpSession {
  lastSeen: number;
  private constructor(
    readonly id: string,
    readonly serverName: string,
    /** The Tollgate session that opened it: the only one that may use it. */
    readonly ownerSessionId: string,
    readonly server: Server,
    readonly transport: StreamableHTTPServerTransport,
    now: number,
  ) {
    this.lastSeen = now;
  }

  /** A new session for `caller`; `onClose` runs when it ends (DELETE, idle, shutdown). */
  static async open(methods: McpMethods, info: UpstreamInfo, caller: Caller, now: number, onClose: (id: string) => void): Promise<McpSession> {
    // The id is ours, so the session can be registered before the SDK hands it out.
    const id = newId('mcps');
    const server = downstreamServer(methods, info);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => id });
    server.onclose = () => onClose(id);
    await server.connect(transport);
    return new McpSession(id, methods.server, caller.session.id, server, transport, now);
  }

  /** True once the initialize request was accepted (the client holds the id). */
  get initialized(): boolean {
    return this.transport.sessionId === this.id;
  }

  /** Hands an HTTP request (already authenticated as `caller`) to the SDK transport. */
  handle(req: IncomingMessage, res: ServerResponse, body: unknown, caller: Caller): Promise<void> {
    // The caller reaches the handlers as the SDK's auth info (the token itself is not kept).
    const auth: AuthInfo = { token: '', clientId: caller.agent.id, scopes: [], extra: { [CALLER]: caller } };
    return this.transport.handleRequest(Object.assign(req, { auth }), res, body);
  }

  async close(): Promise<void> {
    await this.server.close().catch(() => {});
  }
}

function downstreamServer(methods: McpMethods, info: UpstreamInfo): Server {
  const capabilities: ServerCapabilities = offeredCapabilities(info.capabilities);
  const server = new Server(info.serverInfo, { capabilities, ...(info.instructions ? { instructions: info.instructions } : {}) });
  for (const method of methods.available(info.capabilities)) {
    // Params are checked by the methods themselves, so a bad one is -32602, not a parse failure.
    const schema = z.looseObject({ method: z.literal(method), params: z.unknown().optional() });
    server.setRequestHandler(schema, (request, extra) => methods.call(method, request.params, envOf(extra)));
  }
  // Any other method is refused by the methods themselves, in the shape of every refusal
  // (`data: { code, request_id }`), as in stateless mode — not by the SDK's bare -32601.
  server.fallbackRequestHandler = (request, extra) => methods.call(request.method, request.params, envOf(extra));
  return server;
}

function envOf(extra: HandlerExtra): CallEnv {
  const caller = extra.authInfo?.extra?.[CALLER] as Caller | undefined;
  if (!caller) throw new RpcError(RPC.internalError, 'Internal error.');
  const token = extra._meta?.progressToken;
  return {
    caller,
    signal: extra.signal,
    ...(token === undefined
      ? {}
      : { progress: (p) => void extra.sendNotification({ method: 'notifications/progress', params: { ...p, progressToken: token } }).catch(() => {}) }),
  };
}
