// The MCP methods the gateway answers for one server, shared by both protocol revisions (the
// SDK's Server in session-based Streamable HTTP, direct dispatch in the stateless revision).
// Lists are narrowed to the session's scope. Everything that runs something on the server
// (tools/call, resources/read, prompts/get) is bounded in size, passes the tool gate, is
// forwarded with the server's timeout and is recorded when it ends.
import {
  CallToolRequestParamsSchema, CallToolResultSchema, GetPromptRequestParamsSchema, GetPromptResultSchema,
  ListPromptsResultSchema, ListResourcesResultSchema, ListResourceTemplatesResultSchema, McpError,
  ReadResourceRequestParamsSchema, ReadResourceResultSchema, type Progress, type ServerCapabilities,
} from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import type { AuditLog } from '../audit/index.js';
import { GatewayError } from '../errors/index.js';
import { sessionMayUse, TOOL_NAME, type ScopeKind, type ToolCallCheck, type ToolCallTicket, type ToolGate } from '../policy/index.js';
import { callerStanding } from '../pipeline/authenticate.js';
import { CallAbort } from '../pipeline/call-abort.js';
import type { PipelineDeps } from '../pipeline/context.js';
import type { InFlightCalls } from '../pipeline/in-flight.js';
import type { Logger } from '../util/logger.js';
import { recordRejection, type Caller } from './audit.js';
import { RPC, RpcError, rpcErrorFrom } from './errors.js';
import { UpstreamFailure, type ListKind, type Upstream } from './upstream.js';

/** The stateless protocol revision (no sessions, `server/discover`, `Mcp-Method` headers). */
export const STATELESS_REVISION = '2026-07-28';

export interface CallEnv {
  caller: Caller;
  /** Aborted when the agent cancels or goes away: the upstream request is cancelled too. */
  signal?: AbortSignal;
  /** Set when the agent asked for progress and can receive it. */
  progress?: (progress: Progress) => void;
}

export type Result = Record<string, unknown>;

export interface MethodDeps extends Pick<PipelineDeps, 'revocations' | 'directory' | 'approvals' | 'now'> {
  tools: ToolGate;
  audit: AuditLog;
  logger: Logger;
  /** Where a call upstream is counted in while it runs, so that a revocation cuts it. */
  runningCalls: Pick<InFlightCalls, 'track'>;
}

interface Method {
  /** The server capability the method needs (absent: always answered). */
  needs?: ListKind;
  handle(params: Record<string, unknown>, env: CallEnv): Promise<Result>;
}

/** What the gateway offers downstream: the upstream's lists (subscriptions, logging and completions are not relayed). */
export function offeredCapabilities(upstream: ServerCapabilities): ServerCapabilities {
  const offered: ServerCapabilities = {};
  for (const kind of ['tools', 'resources', 'prompts'] as const) {
    const cap = upstream[kind];
    if (cap) offered[kind] = cap.listChanged ? { listChanged: true } : {};
  }
  return offered;
}

export class McpMethods {
  private readonly table: Record<string, Method>;

  constructor(
    private readonly upstream: Upstream,
    private readonly deps: MethodDeps,
  ) {
    this.table = {
      ping: { handle: async () => ({}) },
      'server/discover': { handle: () => this.discover() },
      'tools/list': { needs: 'tools', handle: (_p, env) => this.listTools(env) },
      'tools/call': { needs: 'tools', handle: (p, env) => this.callTool(p, env) },
      'resources/list': { needs: 'resources', handle: (_p, env) => this.list('resources/list', 'resources', ListResourcesResultSchema, 'uri', env) },
      'resources/templates/list': { needs: 'resources', handle: (_p, env) => this.list('resources/templates/list', 'resourceTemplates', ListResourceTemplatesResultSchema, 'uriTemplate', env) },
      'resources/read': { needs: 'resources', handle: (p, env) => this.readResource(p, env) },
      'prompts/list': { needs: 'prompts', handle: (_p, env) => this.list('prompts/list', 'prompts', ListPromptsResultSchema, 'name', env) },
      'prompts/get': { needs: 'prompts', handle: (p, env) => this.getPrompt(p, env) },
    };
  }

  get server(): string {
    return this.upstream.name;
  }

  /** The methods answered for a server with these capabilities. */
  available(capabilities: ServerCapabilities): string[] {
    return Object.entries(this.table).filter(([, m]) => !m.needs || capabilities[m.needs]).map(([name]) => name);
  }

  /** Runs `method`; every failure comes out as an RpcError. */
  async call(method: string, params: unknown, env: CallEnv): Promise<Result> {
    try {
      const m = Object.hasOwn(this.table, method) ? this.table[method] : undefined;
      if (!m || (m.needs && !(await this.upstream.info()).capabilities[m.needs])) {
        throw new RpcError(RPC.methodNotFound, `Method not found: ${method.slice(0, 100)}.`, { code: 'not_found', request_id: env.caller.requestId });
      }
      if (params !== undefined && (params === null || typeof params !== 'object' || Array.isArray(params))) {
        throw new RpcError(RPC.invalidParams, 'params must be an object.', { code: 'invalid_request', request_id: env.caller.requestId });
      }
      return await m.handle((params ?? {}) as Record<string, unknown>, env);
    } catch (err) {
      throw this.asRpcError(err, method, env.caller.requestId);
    }
  }

  private async discover(): Promise<Result> {
    const info = await this.upstream.info();
    return {
      supportedVersions: [STATELESS_REVISION],
      capabilities: offeredCapabilities(info.capabilities),
      serverInfo: info.serverInfo,
      ...(info.instructions ? { instructions: info.instructions } : {}),
    };
  }

  private async listTools(env: CallEnv): Promise<Result> {
    const tools = await this.upstream.tools();
    // A tool whose name the gate would refuse is not offered either.
    return { tools: tools.filter((t) => typeof t.name === 'string' && TOOL_NAME.test(t.name) && this.mayUse(env, 'tools', t.name)) };
  }

  private async list(method: string, key: string, schema: z.ZodType, id: 'uri' | 'uriTemplate' | 'name', env: CallEnv): Promise<Result> {
    const kind: ScopeKind = key === 'prompts' ? 'prompts' : 'resources';
    const items = await this.upstream.listAll(method, key, schema);
    return { [key]: items.filter((item) => typeof item[id] === 'string' && this.mayUse(env, kind, item[id])) };
  }

  private async callTool(params: Record<string, unknown>, env: CallEnv): Promise<Result> {
    const { name, arguments: args, _meta } = parseParams(CallToolRequestParamsSchema, params, env);
    await this.limitArguments(name, args, 'tools/call', env);
    // A well-formed name the server does not list is unknown. A malformed one (path tricks,
    // look-alike letters) goes on to the gate, which refuses it and records why.
    const tool = TOOL_NAME.test(name) ? await this.upstream.tool(name) : undefined;
    if (TOOL_NAME.test(name) && !tool) {
      throw await this.reject(env, 'unknown_tool', { method: 'tools/call', tool: name }, new RpcError(RPC.invalidParams, `Unknown tool "${name}" on MCP server "${this.server}".`, { code: 'not_found' }));
    }
    // MCP's defaults: a tool is destructive unless it says it only reads or says it is not.
    const hints = tool?.annotations as { readOnlyHint?: unknown; destructiveHint?: unknown } | undefined;
    const destructive = hints?.readOnlyHint !== true && hints?.destructiveHint !== false;
    return this.admitAndForward({ ...this.check(env, name, args), destructive }, 'tools', 'tools/call', { name, ...(args ? { arguments: args } : {}), ...forwardedMeta(_meta) }, CallToolResultSchema, env, (r) => (r.isError === true ? 'the tool reported an error' : undefined));
  }

  private async readResource(params: Record<string, unknown>, env: CallEnv): Promise<Result> {
    const { uri, _meta } = parseParams(ReadResourceRequestParamsSchema, params, env);
    // Scopes compare text, servers parse URLs: only the canonical spelling is accepted, so
    // `NOTE://secret` or `a/./b` cannot reach what `!notes/note://secret` denies.
    const canonical = canonicalUri(uri);
    if (canonical !== uri) {
      throw await this.reject(env, 'non_canonical_uri', { method: 'resources/read', uri: uri.slice(0, 200) },
        new RpcError(RPC.invalidParams, canonical === null ? 'The resource URI is not a valid URI (at most 2048 characters).' : `Use the resource URI's canonical form: ${canonical.slice(0, 200)}`, { code: 'invalid_request', param: 'uri' }));
    }
    return this.admitAndForward(this.check(env, uri, undefined), 'resources', 'resources/read', { uri, ...forwardedMeta(_meta) }, ReadResourceResultSchema, env);
  }

  private async getPrompt(params: Record<string, unknown>, env: CallEnv): Promise<Result> {
    const { name, arguments: args, _meta } = parseParams(GetPromptRequestParamsSchema, params, env);
    await this.limitArguments(name, args, 'prompts/get', env);
    return this.admitAndForward(this.check(env, name, args), 'prompts', 'prompts/get', { name, ...(args ? { arguments: args } : {}), ...forwardedMeta(_meta) }, GetPromptResultSchema, env);
  }

  /**
   * Admits a call through the tool gate, sends it upstream and ends its ticket, exactly once,
   * however it went. It is counted in with the calls in flight from the start: a revocation of its
   * token, session, agent or team while it waits for a human's approval ends the wait, and one
   * while it runs cuts it (cancelled upstream, \`notifications/cancelled\`); either way it is
   * answered with the refusal.
   */
  private async admitAndForward(check: ToolCallCheck, kind: ScopeKind, method: string, params: Record<string, unknown>, schema: z.ZodType, env: CallEnv, failed?: (result: Result) => string | undefined): Promise<Result> {
    const cut = new CallAbort();
    const { caller } = env;
    const leave = this.deps.runningCalls.track({ claims: caller.claims, sessionId: caller.session.id, chain: caller.session.chain, agentId: caller.agent.id, agentName: caller.agent.name, abort: cut });
    try {
      const signal = env.signal ? AbortSignal.any([env.signal, cut.signal]) : cut.signal;
      const ticket = await this.deps.tools.begin({ ...check, signal }, kind);
      return await this.forward(ticket, method, params, schema, { ...env, signal }, cut, failed);
    } finally {
      leave();
    }
  }

  private async forward(ticket: ToolCallTicket, method: string, params: Record<string, unknown>, schema: z.ZodType, env: CallEnv, cut: CallAbort, failed?: (result: Result) => string | undefined): Promise<Result> {
    const { caller, signal } = env;
    let result: Result;
    try {
      // Checked again as it leaves: what was revoked before the call was counted in (between the
      // request's authentication and the tool gate) is caught here.
      await callerStanding(caller.claims, this.deps).catch((err: unknown) => {
        if (err instanceof GatewayError) cut.revoke(err);
        throw err;
      });
      result = (await this.upstream.request(method, params, schema, { signal, ...(env.progress ? { onprogress: env.progress } : {}) })) as Result;
    } catch (err) {
      // Timed out or cancelled after it was sent: the server may well have run it (and is paid).
      // Refused before it was sent (its caller lost its standing meanwhile): it did not run.
      const ran = err instanceof UpstreamFailure && (err.kind === 'timeout' || err.kind === 'cancelled');
      const revokedBy = cut.revokedBy;
      await ticket.end({ ok: false, ran, resultBytes: 0, error: revokedBy ? `cut: ${revokedBy.message}` : err instanceof Error ? err.message : String(err), ...(revokedBy ? { revoked: revokedBy.code } : {}) });
      throw revokedBy ?? err;
    }
    const error = failed?.(result);
    const resultText = JSON.stringify(result);
    await ticket.end({ ok: error === undefined, resultBytes: Buffer.byteLength(resultText), resultText, ...(error ? { error } : {}) });
    return result;
  }

  /** Refuses arguments larger than the server's `max_argument_bytes` before anything is forwarded. */
  private async limitArguments(name: string, args: unknown, method: string, env: CallEnv): Promise<void> {
    const limit = this.upstream.config.max_argument_bytes;
    const bytes = Buffer.byteLength(JSON.stringify(args ?? {}));
    if (bytes <= limit) return;
    throw await this.reject(env, 'arguments_too_large', { method, tool: name.slice(0, 200), arguments_bytes: bytes, limit_bytes: limit },
      new RpcError(RPC.invalidParams, `The arguments of "${name.slice(0, 80)}" are ${bytes} bytes; MCP server "${this.server}" accepts at most ${limit}.`, { code: 'invalid_request', param: 'arguments', arguments_bytes: bytes, limit_bytes: limit }));
  }

  private async reject(env: CallEnv, reason: string, facts: Record<string, unknown>, error: RpcError): Promise<RpcError> {
    await recordRejection(this.deps.audit, { server: this.server, reason, requestId: env.caller.requestId, source: env.caller.source, caller: env.caller, facts });
    return error;
  }

  private mayUse(env: CallEnv, kind: ScopeKind, name: string): boolean {
    return sessionMayUse(env.caller.session, kind, this.server, name);
  }

  private check(env: CallEnv, name: string, args: unknown): ToolCallCheck {
    const { session, agent, requestId, source } = env.caller;
    return { session, agent, server: this.server, tool: name, ...(args === undefined ? {} : { arguments: args }), requestId, source };
  }

  private asRpcError(err: unknown, method: string, requestId: string): RpcError {
    if (err instanceof RpcError) return new RpcError(err.code, err.message, { ...(err.data ?? {}), request_id: requestId });
    if (err instanceof GatewayError) return rpcErrorFrom(err, requestId);
    if (err instanceof UpstreamFailure) {
      const code = err.kind === 'timeout' ? 'upstream_timeout' : err.kind === 'bad_response' ? 'upstream_bad_response' : 'upstream_unavailable';
      return new RpcError(RPC.upstream, err.message, { code, request_id: requestId, server: this.server });
    }
    // The server answered with a JSON-RPC error of its own: relayed (the SDK prefixed its text).
    if (err instanceof McpError) return new RpcError(err.code, err.message.replace(/^MCP error -?\d+: /, ''), isRecord(err.data) ? err.data : undefined);
    this.deps.logger.error({ err, req_id: requestId, mcp_server: this.server, method }, 'MCP method failed');
    return new RpcError(RPC.internalError, 'Internal error.', { code: 'internal_error', request_id: requestId });
  }
}

function parseParams<S extends z.ZodType>(schema: S, params: Record<string, unknown>, env: CallEnv): z.output<S> {
  const parsed = schema.safeParse(params);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new RpcError(RPC.invalidParams, `Invalid params${issue ? `: ${issue.path.join('.') || 'params'} ${issue.message}` : ''}.`, { code: 'invalid_request', request_id: env.caller.requestId });
}

/** The agent's `_meta`, minus its progress token (the gateway's client uses its own upstream). */
function forwardedMeta(meta: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!meta) return {};
  const { progressToken: _progressToken, ...rest } = meta;
  return Object.keys(rest).length > 0 ? { _meta: rest } : {};
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const MAX_URI_LENGTH = 2048;

/** The WHATWG serialisation of a URI (scheme and host lower-cased, dot segments resolved), or null. */
function canonicalUri(uri: string): string | null {
  if (uri.length > MAX_URI_LENGTH) return null;
  try {
    return new URL(uri).href;
  } catch {
    return null;
  }
}
