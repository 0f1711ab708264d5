// The MCP gateway: `/mcp/{server}` for each MCP server declared in the config. The agent
// authenticates with its session token (which never goes upstream: the gateway reaches the server
// with its own client and credential), sees only what its scope allows, and every call it makes
// passes the tool gate and lands on the audit log. Speaks session-based Streamable HTTP
// (2025-06-18 / 2025-11-25) through the SDK's transport, and the stateless 2026-07-28 revision.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { asGatewayError, GatewayError } from '../errors/index.js';
import { authenticate, newCallContext, presentedToken, type InFlightCall, type PipelineDeps } from '../pipeline/index.js';
import { openAiChat } from '../providers/apis/index.js';
import { sendError, sendJson } from '../util/http.js';
import { recordRejection, type Caller } from './audit.js';
import { errorResponse, RPC, RpcError, rpcErrorFrom } from './errors.js';
import { header, isLoopback, METADATA_PREFIX, metadataUrl, originProblem, readMessage, Refusal, refusal, resourceMetadata } from './http.js';
import { McpMethods } from './methods.js';
import { MCP_PATH } from './paths.js';
import { McpSession } from './session.js';
import { answerStateless } from './stateless.js';
import { Upstream, UpstreamFailure, type ListKind, type McpServerConfig } from './upstream.js';

export interface McpGatewayOptions {
  /** Environment holding the servers' credentials (`headers_env`). */
  env: NodeJS.ProcessEnv;
  /** The address the gateway listens on: on loopback, only loopback Host names are answered. */
  listenHost: string;
  /** An MCP session unused this long is dropped (default 30 minutes). */
  idleMs?: number;
  /** Host names answered besides loopback ones; empty: a loopback bind answers loopback names only, another bind any name. */
  allowedHosts?: string[];
}

interface Target {
  upstream: Upstream;
  methods: McpMethods;
}

const DEFAULT_IDLE_MS = 30 * 60_000;
/** A revoked MCP session's transport closes this long after its notification stream (its calls answer first). */
const REVOKED_CLOSE_GRACE_MS = 2000;
/** MCP sessions one Tollgate session may hold open; opening another ends its least recently used. */
const MAX_PER_OWNER = 16;

export class McpGateway {
  /** Route prefix of the MCP endpoints. */
  static readonly PATH = MCP_PATH;
  /** Route prefix of their RFC 9728 protected-resource metadata. */
  static readonly METADATA_PATH = METADATA_PREFIX;

  private readonly targets = new Map<string, Target>();
  private readonly sessions = new Map<string, McpSession>();
  /** Each MCP session's entry among the calls in flight (see trackStanding). */
  private readonly standing = new Map<string, InFlightCall & { leave: () => void }>();
  private readonly idleMs: number;
  private readonly hostAllowed: (name: string) => boolean;
  private readonly sweeper: NodeJS.Timeout | null = null;

  constructor(
    servers: readonly McpServerConfig[],
    private readonly deps: PipelineDeps,
    options: McpGatewayOptions,
  ) {
    for (const config of servers) {
      const upstream = new Upstream(config, options.env, deps.logger);
      upstream.onListChanged = (kind) => this.listChanged(config.name, kind);
      this.targets.set(config.name, { upstream, methods: new McpMethods(upstream, deps) });
    }
    this.idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    const allowed = new Set((options.allowedHosts ?? []).map((h) => h.toLowerCase()));
    const restricted = isLoopback(options.listenHost) || allowed.size > 0;
    this.hostAllowed = (name) => !restricted || isLoopback(name) || allowed.has(name.toLowerCase());
    if (this.targets.size > 0) {
      this.sweeper = setInterval(() => void this.sweep().catch((err: unknown) => deps.logger.error({ err }, 'MCP session sweep failed')), Math.min(60_000, this.idleMs / 2));
      this.sweeper.unref();
    }
  }

  /** Answers a request to `/mcp/{serverName}`. */
  async handle(req: IncomingMessage, res: ServerResponse, serverName: string, requestId: string): Promise<void> {
    let caller: Caller | null = null;
    /** The JSON-RPC id of the request being answered, once its body is read: a refusal answers to it. */
    let rpcId: string | number | null = null;
    res.setHeader('x-request-id', requestId);
    try {
      const problem = originProblem(req, this.hostAllowed);
      if (problem) throw refusal(403, RPC.invalidRequest, 'origin_not_allowed', `Forbidden: ${problem}.`, 'forbidden');
      const target = this.targets.get(serverName);
      if (!target) throw refusal(404, RPC.invalidRequest, 'unknown_server', `No MCP server "${serverName.slice(0, 100)}" is configured.`, 'not_found');
      caller = await this.authenticate(req, res, serverName, requestId);
      if (!caller) return;
      switch (req.method) {
        case 'POST': {
          const body = await readMessage(req, this.deps.bodyLimitBytes, this.deps.maxJsonDepth);
          rpcId = requestIdOf(body);
          if (header(req, 'mcp-method') !== undefined) return await answerStateless(req, res, body, target.methods, caller);
          return await this.sessionRequest(req, res, target, caller, body);
        }
        case 'GET':
        case 'DELETE':
          return await this.sessionRequest(req, res, target, caller, undefined);
        default:
          throw refusal(405, RPC.invalidRequest, 'method_not_allowed', `Method ${String(req.method).slice(0, 20)} is not allowed.`, 'method_not_allowed', {}, { allow: 'GET, POST, DELETE' });
      }
    } catch (err) {
      await this.fail(req, res, err, serverName, requestId, caller, rpcId);
    }
  }

  /** Serves the RFC 9728 metadata of `/mcp/{serverName}`. */
  metadata(req: IncomingMessage, res: ServerResponse, serverName: string, requestId: string): void {
    if (!this.targets.has(serverName)) return sendError(res, new GatewayError('not_found', `No MCP server "${serverName.slice(0, 100)}" is configured.`), 'admin', requestId);
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, new GatewayError('method_not_allowed', undefined, { headers: { allow: 'GET' } }), 'admin', requestId);
    sendJson(res, 200, resourceMetadata(req, serverName), { 'cache-control': 'public, max-age=300', 'x-request-id': requestId });
  }

  /** At the start of a shutdown: ends the open notification streams so they do not hold it up. */
  drain(): void {
    for (const session of this.sessions.values()) session.transport.closeStandaloneSSEStream();
  }

  /** Ends every MCP session and upstream connection (stdio servers are stopped). */
  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await Promise.all([...this.sessions.values()].map((s) => this.end(s, 'shutdown')));
    await Promise.all([...this.targets.values()].map((t) => t.upstream.close()));
  }

  /** The session token as Bearer; a refusal is 401 pointing at the resource metadata. */
  private async authenticate(req: IncomingMessage, res: ServerResponse, server: string, requestId: string): Promise<Caller | null> {
    // The context type is the model pipeline's; authenticate reads only the request from it.
    const ctx = newCallContext(requestId, req, res, openAiChat);
    try {
      await authenticate(ctx, this.deps); // records its own refusals (auth.denied)
    } catch (err) {
      const e = asGatewayError(err);
      if (e.status !== 401) throw e;
      const error = presentedToken(req.headers) === null ? '' : ', error="invalid_token"';
      await this.deps.audit.refusalDurable(requestId);
      sendJson(res, 401, errorResponse(null, rpcErrorFrom(e, requestId)), { 'www-authenticate': `Bearer resource_metadata="${metadataUrl(req, server)}"${error}`, 'x-request-id': requestId });
      return null;
    }
    return { session: ctx.session!, agent: ctx.agent!, claims: ctx.claims!, requestId, source: req.socket.remoteAddress ?? null };
  }

  /** Session-based Streamable HTTP: initialize opens a session; later requests must name theirs. */
  private async sessionRequest(req: IncomingMessage, res: ServerResponse, target: Target, caller: Caller, body: unknown): Promise<void> {
    const id = header(req, 'mcp-session-id');
    if (id === undefined) {
      if (req.method === 'POST' && isInitializeRequest(body)) return this.open(req, res, target, caller, body);
      throw refusal(400, RPC.invalidRequest, 'missing_session', 'Bad Request: send initialize first and its Mcp-Session-Id on every later request (or use the stateless revision: Mcp-Method).', 'invalid_request');
    }
    const session = this.sessions.get(id);
    // Another Tollgate session's MCP session is answered as if it did not exist.
    if (!session || session.serverName !== target.upstream.name || session.ownerSessionId !== caller.session.id) {
      throw refusal(404, RPC.invalidRequest, session ? 'session_mismatch' : 'unknown_session', 'Session not found.', 'not_found', { mcp_session: id.slice(0, 100) });
    }
    if (this.deps.now() - session.lastSeen > this.idleMs) {
      await this.end(session, 'idle');
      throw refusal(404, RPC.invalidRequest, 'idle_session', 'Session not found (it was idle too long): initialize again.', 'not_found', { mcp_session: id });
    }
    session.lastSeen = this.deps.now();
    // Its standing is judged by the token it was last used with (a refreshed one replaces the first).
    const standing = this.standing.get(session.id);
    if (standing) standing.claims = caller.claims;
    await session.handle(req, res, body, caller);
    // The SDK transport refused it (wrong Accept, protocol version…): on the record too.
    if (res.statusCode >= 400) await this.audit(req, caller.requestId, target.upstream.name, 'transport_refused', caller, { status: res.statusCode, mcp_session: id });
  }

  private async open(req: IncomingMessage, res: ServerResponse, target: Target, caller: Caller, body: unknown): Promise<void> {
    const info = await target.upstream.info();
    const session = await McpSession.open(target.methods, info, caller, this.deps.now(), (id) => {
      const s = this.sessions.get(id);
      if (s) void this.end(s, 'closed');
    });
    const owned = [...this.sessions.values()].filter((s) => s.ownerSessionId === caller.session.id);
    if (owned.length >= MAX_PER_OWNER) await this.end(owned.reduce((a, b) => (a.lastSeen <= b.lastSeen ? a : b)), 'replaced');
    this.sessions.set(session.id, session);
    await session.handle(req, res, body, caller);
    if (!session.initialized) {
      this.sessions.delete(session.id);
      await session.close();
      return;
    }
    await this.deps.audit.record({ ...eventBase(caller), type: 'mcp.session.opened', data: { server: target.upstream.name, mcp_session: session.id, source: caller.source } });
    this.trackStanding(session, caller);
  }

  /**
   * An MCP session lives as long as its caller may call: counted in with the calls in flight, it
   * ends (its notification stream closed) the moment its token, session, agent or team is revoked
   * or suspended, on any replica — not at the next sweep.
   */
  private trackStanding(session: McpSession, caller: Caller): void {
    let ended = false;
    const entry: InFlightCall = {
      claims: caller.claims, sessionId: caller.session.id, chain: caller.session.chain, agentId: caller.agent.id, agentName: caller.agent.name,
      abort: {
        get aborted() {
          return ended;
        },
        revoke: () => {
          ended = true;
          void this.end(session, 'revoked').catch((err: unknown) => this.deps.logger.error({ err }, 'ending a revoked MCP session failed'));
        },
      },
    };
    const leave = this.deps.runningCalls.track(entry);
    this.standing.set(session.id, Object.assign(entry, { leave }));
  }

  private async end(session: McpSession, reason: string): Promise<void> {
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    this.standing.get(session.id)?.leave();
    this.standing.delete(session.id);
    if (reason === 'revoked') {
      // Its calls still running were cut by the same revocation and are answering with the
      // refusal: the notification stream closes now, the transport once they had time to.
      session.transport.closeStandaloneSSEStream();
      setTimeout(() => void session.close(), REVOKED_CLOSE_GRACE_MS).unref();
    } else {
      await session.close();
    }
    await this.deps.audit.record({
      type: 'mcp.session.closed', actor: 'system', sessionId: session.ownerSessionId,
      data: { server: session.serverName, mcp_session: session.id, reason },
    });
  }

  /** Drops sessions idle too long, and those whose Tollgate session has ended. */
  private async sweep(): Promise<void> {
    const now = this.deps.now();
    for (const session of [...this.sessions.values()]) {
      const owner = await this.deps.directory.sessions.get(session.ownerSessionId);
      if (now - session.lastSeen > this.idleMs) await this.end(session, 'idle');
      else if (!owner || owner.status !== 'active' || owner.expiresAt <= now) await this.end(session, 'session_ended');
    }
  }

  /** The server changed a list: its sessions are told (the gateway does not know who cares). */
  private listChanged(server: string, kind: ListKind): void {
    for (const session of this.sessions.values()) {
      if (session.serverName === server) void session.server.notification({ method: `notifications/${kind}/list_changed` }).catch(() => {});
    }
  }

  /** Answers a failure as JSON-RPC; refusals are recorded (`mcp.rejected`). */
  private async fail(req: IncomingMessage, res: ServerResponse, err: unknown, server: string, requestId: string, caller: Caller | null, rpcId: string | number | null): Promise<void> {
    let status: number;
    let error: RpcError;
    let headers: Record<string, string> = {};
    if (err instanceof Refusal) {
      await this.audit(req, requestId, server, err.reason, caller, { status: err.status, ...err.facts });
      ({ status, error, headers } = err);
    } else if (err instanceof UpstreamFailure) {
      await this.audit(req, requestId, server, 'upstream_unavailable', caller, { status: 502, error: err.message });
      status = 502;
      error = new RpcError(RPC.upstream, err.message, { code: err.kind === 'timeout' ? 'upstream_timeout' : 'upstream_unavailable', server });
    } else {
      const e = asGatewayError(err);
      if (e.code === 'internal_error') this.deps.logger.error({ err, req_id: requestId, mcp_server: server }, 'MCP request failed');
      status = e.status;
      error = rpcErrorFrom(e, requestId);
      headers = e.headers ?? {};
    }
    if (res.headersSent) {
      if (!res.writableEnded) res.end();
      return;
    }
    await this.deps.audit.refusalDurable(requestId);
    sendJson(res, status, errorResponse(rpcId, new RpcError(error.code, error.message, { ...error.data, request_id: requestId })), { ...headers, 'x-request-id': requestId });
  }

  private audit(req: IncomingMessage, requestId: string, server: string, reason: string, caller: Caller | null, facts: Record<string, unknown>): Promise<void> {
    return recordRejection(this.deps.audit, { server: server.slice(0, 100), reason, requestId, source: req.socket.remoteAddress ?? null, caller, facts: { http_method: req.method ?? null, ...facts } });
  }
}

const eventBase = (c: Caller) => ({
  actor: `agent:${c.agent.id}`, requestId: c.requestId, agentId: c.agent.id, sessionId: c.session.id, teamId: c.session.teamId, chain: c.session.chain,
});

/** The id of a single JSON-RPC request (null for a notification, a response or a batch). */
function requestIdOf(body: unknown): string | number | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || !('method' in body)) return null;
  const id = (body as { id?: unknown }).id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}
