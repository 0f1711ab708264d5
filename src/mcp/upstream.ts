// One upstream MCP server, shared by every agent session that reaches it: the gateway's own MCP
// client, connected on first use with the gateway's credential (never an agent's token) and
// connected again after the server died. It times every request and remembers the tool names
// the server lists, so only those can be called.
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ListToolsResultSchema, McpError, PromptListChangedNotificationSchema, ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema, type Implementation, type Progress, type ServerCapabilities,
} from '@modelcontextprotocol/sdk/types.js';
import { ZodError, type z } from 'zod';
import type { Config } from '../config/index.js';
import type { Logger } from '../util/logger.js';
import { VERSION } from '../version.js';

/** Servers shipped with Tollgate (`builtin:`), by name: their entry points in this package. */
const BUILTIN_SERVERS = { notes: new URL('../demo/notes-server.js', import.meta.url) } as const;

export type McpServerConfig = Config['mcp_servers'][number];
export type ListKind = 'tools' | 'resources' | 'prompts';

/** The server failed as a server (unreachable, died, timed out, answered nonsense), not as an answer. */
export class UpstreamFailure extends Error {
  constructor(
    readonly kind: 'unavailable' | 'timeout' | 'bad_response' | 'cancelled',
    message: string,
  ) {
    super(message);
    this.name = 'UpstreamFailure';
  }
}

export interface UpstreamInfo {
  serverInfo: Implementation;
  capabilities: ServerCapabilities;
  instructions?: string;
}

interface Link {
  client: Client;
  info: UpstreamInfo;
  closed: boolean;
}

export interface RequestOptions {
  /** The agent cancelled (or its connection went away). */
  signal?: AbortSignal;
  onprogress?: (progress: Progress) => void;
}

/** Pages fetched at most for one list (a server that keeps paging is cut off there). */
const MAX_PAGES = 50;
/** A miss refreshes the tool list at most this often (unknown names must not hammer the server). */
const REFRESH_INTERVAL_MS = 1000;

export class Upstream {
  private link: Promise<Link> | null = null;
  private current: Link | null = null;
  private listed: Map<string, Record<string, unknown>> | null = null;
  private listedAt = 0;
  private refreshing: Promise<Map<string, Record<string, unknown>>> | null = null;
  private closing = false;
  /** Called when the server says a list changed (sessions are told in turn). */
  onListChanged: (kind: ListKind) => void = () => {};

  constructor(
    readonly config: McpServerConfig,
    private readonly env: NodeJS.ProcessEnv,
    private readonly logger: Logger,
  ) {}

  get name(): string {
    return this.config.name;
  }

  /** Who the server says it is and what it offers (connecting if needed). */
  async info(): Promise<UpstreamInfo> {
    return (await this.connect()).info;
  }

  /**
   * Sends one request, bounded by the server's `timeout_ms`. A JSON-RPC error the server answers
   * with is thrown as the SDK's McpError (to relay); anything else as an UpstreamFailure.
   */
  async request<S extends z.ZodType>(method: string, params: Record<string, unknown>, schema: S, options: RequestOptions = {}): Promise<z.output<S>> {
    const link = await this.connect();
    const timer = new AbortController();
    const timeout = setTimeout(() => timer.abort(), this.config.timeout_ms);
    const signal = options.signal ? AbortSignal.any([options.signal, timer.signal]) : timer.signal;
    try {
      // Our own timer decides (the SDK's, 60 s by default, must never fire first).
      return await link.client.request({ method, params }, schema, { signal, timeout: this.config.timeout_ms + 60_000, ...(options.onprogress ? { onprogress: options.onprogress } : {}) });
    } catch (err) {
      if (timer.signal.aborted) throw new UpstreamFailure('timeout', `MCP server "${this.name}" did not answer ${method} within ${this.config.timeout_ms} ms.`);
      if (options.signal?.aborted) throw new UpstreamFailure('cancelled', `The client cancelled ${method}.`);
      if (err instanceof ZodError) throw new UpstreamFailure('bad_response', `MCP server "${this.name}" answered ${method} with an invalid result.`);
      if (err instanceof McpError && !link.closed) throw err;
      // The connection broke (a dead process, a cut stream, a refused connection): start afresh next time.
      this.drop(link);
      throw new UpstreamFailure('unavailable', `MCP server "${this.name}" failed during ${method}: ${describe(err)}.`);
    } finally {
      clearTimeout(timeout);
    }
  }

  /** Every item of a paginated list (`tools/list`, `resources/list`…), all pages joined. */
  async listAll<S extends z.ZodType>(method: string, key: string, schema: S): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const result = (await this.request(method, cursor === undefined ? {} : { cursor }, schema)) as Record<string, unknown>;
      const list = result[key];
      if (Array.isArray(list)) items.push(...(list as Record<string, unknown>[]));
      cursor = typeof result.nextCursor === 'string' && result.nextCursor !== '' ? result.nextCursor : undefined;
      if (cursor === undefined) break;
    }
    return items;
  }

  /** The server's tools, freshly listed (which also refreshes the names callers may use). */
  async tools(): Promise<Record<string, unknown>[]> {
    const tools = await this.listAll('tools/list', 'tools', ListToolsResultSchema);
    this.listed = new Map(tools.map((t) => [String(t.name), t]));
    this.listedAt = Date.now();
    return tools;
  }

  /** The tool the server lists under exactly this name, if any (the list is refreshed once on a miss). */
  async tool(name: string): Promise<Record<string, unknown> | undefined> {
    const hit = this.listed?.get(name);
    if (hit || (this.listed && Date.now() - this.listedAt < REFRESH_INTERVAL_MS)) return hit;
    this.refreshing ??= this.tools().then(() => this.listed ?? new Map<string, Record<string, unknown>>()).finally(() => (this.refreshing = null));
    return (await this.refreshing).get(name);
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.link?.catch(() => null);
    if (this.current) this.drop(this.current);
  }

  private connect(): Promise<Link> {
    if (this.closing) return Promise.reject(new UpstreamFailure('unavailable', 'The gateway is shutting down.'));
    this.link ??= this.open().catch((err: unknown) => {
      this.link = null;
      throw err instanceof UpstreamFailure ? err : new UpstreamFailure('unavailable', `MCP server "${this.name}" could not be reached: ${describe(err)}.`);
    });
    return this.link;
  }

  private async open(): Promise<Link> {
    const client = new Client({ name: 'tollgate', version: VERSION }, { capabilities: {} });
    const link: Link = { client, info: { serverInfo: { name: this.name, version: '' }, capabilities: {} }, closed: false };
    client.onclose = () => this.forget(link);
    client.onerror = (err) => this.logger.debug({ err, mcp_server: this.name }, 'MCP upstream transport error');
    // Cached names go stale when the server says so; sessions are told too.
    const changed = (kind: ListKind) => () => {
      if (kind === 'tools') this.listed = null;
      this.onListChanged(kind);
    };
    client.setNotificationHandler(ToolListChangedNotificationSchema, changed('tools'));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, changed('resources'));
    client.setNotificationHandler(PromptListChangedNotificationSchema, changed('prompts'));
    try {
      await client.connect(this.transport(link), { timeout: this.config.timeout_ms });
    } catch (err) {
      link.closed = true;
      await client.close().catch(() => {});
      throw err;
    }
    const serverInfo = client.getServerVersion();
    const instructions = client.getInstructions();
    link.info = { serverInfo: serverInfo ?? link.info.serverInfo, capabilities: client.getServerCapabilities() ?? {}, ...(instructions ? { instructions } : {}) };
    this.logger.info({ mcp_server: this.name, upstream: link.info.serverInfo }, 'MCP upstream connected');
    this.current = link;
    return link;
  }

  private transport(link: Link): Transport {
    const c = this.config;
    // A built-in server runs on the gateway's own node, from the package's files.
    const launch = c.builtin ? { command: process.execPath, args: [fileURLToPath(BUILTIN_SERVERS[c.builtin])] } : c.command ? { command: c.command, args: c.args } : null;
    if (launch) {
      // A child process gets a minimal environment (PATH, HOME…) plus its own `env`: never the
      // gateway's secrets.
      const transport = new StdioClientTransport({ command: launch.command, args: launch.args, env: { ...getDefaultEnvironment(), ...c.env }, ...(c.cwd ? { cwd: c.cwd } : {}), stderr: 'pipe' });
      transport.stderr?.on('data', (chunk: Buffer) => this.logger.debug({ mcp_server: this.name, stderr: chunk.toString('utf8').slice(0, 2000) }, 'MCP server stderr'));
      return transport;
    }
    const headers: Record<string, string> = { ...c.headers };
    for (const [header, variable] of Object.entries(c.headers_env)) {
      const value = this.env[variable];
      if (value === undefined || value === '') throw new UpstreamFailure('unavailable', `MCP server "${this.name}": environment variable ${variable} (header ${header}) is not set.`);
      headers[header] = value;
    }
    return new StreamableHTTPClientTransport(new URL(c.url!), { requestInit: { headers }, fetch: this.watchedFetch(link) });
  }

  /**
   * fetch that notices a response stream cut half-way (the server died mid-call). The SDK would
   * wait for the response until the timeout; dropping the link fails the pending calls at once.
   */
  private watchedFetch(link: Link) {
    return async (url: string | URL, init?: RequestInit): Promise<Response> => {
      const res = await fetch(url, init);
      if (!res.body || !(res.headers.get('content-type') ?? '').includes('text/event-stream')) return res;
      const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
      res.body.pipeTo(writable).catch((err: unknown) => {
        if (link.closed) return;
        this.logger.warn({ err, mcp_server: this.name }, 'MCP upstream stream broke');
        this.drop(link);
      });
      return new Response(readable, { status: res.status, statusText: res.statusText, headers: res.headers });
    };
  }

  /** Closes a link that broke; pending calls on it fail with "connection closed". */
  private drop(link: Link): void {
    if (link.closed) return;
    this.forget(link);
    void link.client.close().catch(() => {});
  }

  private forget(link: Link): void {
    link.closed = true;
    if (this.current !== link) return;
    this.current = null;
    this.link = null;
    this.listed = null;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
