// Telemetry: Prometheus metrics on `/metrics` and OpenTelemetry traces by OTLP, both off unless
// configured (docs/telemetry.md). The prom-client and OpenTelemetry modules are loaded only when
// their part is on, so a default start pays nothing and the hooks are no-ops.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';
import type { Traces } from './traces.js';
import type { ModelCallLine, ModelCallTiming, Refusal, Telemetry, ToolCallView } from './types.js';

export type { ModelCallLine, ModelCallTiming, Refusal, Telemetry, ToolCallView } from './types.js';
export { STAGES, StageTimes, type Stage, type StageReport } from './stages.js';

export interface TelemetryConfig {
  metrics: { enabled: boolean; token_env?: string | undefined };
  otlp?: { endpoint: string; headers: Record<string, string>; headers_env: Record<string, string>; service_name: string } | undefined;
}

interface Named {
  name: string;
}

export interface TelemetryOptions {
  config: TelemetryConfig;
  env: NodeJS.ProcessEnv;
  /** Team and profile names by id (the gateway's Directory). */
  directory: { teams: { get(id: string): Promise<Named | null> }; profiles: { get(id: string): Promise<Named | null> } };
  /** Configured model names (others are labelled `other`). */
  models: readonly string[];
  /** Configured MCP server names. */
  servers: readonly string[];
  version: string;
  logger: Logger;
  /** The store's rows not yet in its bulk session indexes, per table (SQLite), for a gauge. */
  sessionIndexBacklog?: () => Promise<Record<string, number>>;
}

/** Refusals counted by `tollgate_denials_total`. */
const DENIAL_STATUSES = new Set([401, 402, 403, 429]);
/** Distinct team (and profile) names labelled before further ones become `other`. */
const MAX_NAMES = 1000;
const NONE = 'none';

/** Telemetry that does nothing (neither metrics nor traces configured). */
export const NOOP_TELEMETRY: Telemetry = {
  modelCall() {},
  refused() {},
  toolCall() {},
  toolDenied() {},
  track: (done) => done,
  serveMetrics: async () => false,
  flush: async () => {},
  close: async () => {},
};

/** Builds the configured telemetry; throws when `token_env` names an unset variable. */
export async function createTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  const { config, env } = options;
  let metricsToken: Buffer | null = null;
  if (config.metrics.enabled && config.metrics.token_env) {
    const token = env[config.metrics.token_env];
    if (!token) throw new Error(`telemetry.metrics.token_env: the environment variable ${config.metrics.token_env} is not set`);
    metricsToken = digest(token);
  }
  const metrics = config.metrics.enabled ? new (await import('./metrics.js')).Metrics({ sessionIndexBacklog: options.sessionIndexBacklog }) : null;
  let traces: Traces | null = null;
  if (config.otlp) {
    const headers = { ...config.otlp.headers };
    for (const [header, variable] of Object.entries(config.otlp.headers_env)) {
      const value = env[variable];
      if (!value) throw new Error(`telemetry.otlp.headers_env: the environment variable ${variable} is not set`);
      headers[header] = value;
    }
    const endpoint = config.otlp.endpoint.replace(/\/+$/, '');
    const url = endpoint.endsWith('/v1/traces') ? endpoint : `${endpoint}/v1/traces`;
    traces = new (await import('./traces.js')).Traces({ url, headers, serviceName: config.otlp.service_name, version: options.version, logger: options.logger });
  }
  if (!metrics && !traces) return NOOP_TELEMETRY;
  return new GatewayTelemetry(metrics, traces, metricsToken, options);
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

class GatewayTelemetry implements Telemetry {
  private readonly teams = new Map<string, string>();
  private readonly profiles = new Map<string, string>();
  private readonly models: Set<string>;
  private readonly servers: Set<string>;

  constructor(
    private readonly metrics: Metrics | null,
    private readonly traces: Traces | null,
    private readonly token: Buffer | null,
    private readonly options: TelemetryOptions,
  ) {
    this.models = new Set(options.models);
    this.servers = new Set(options.servers);
  }

  modelCall(line: ModelCallLine, ctx: ModelCallTiming): void {
    const team = this.teams.get(line.teamId);
    const profile = this.profiles.get(line.profileId);
    if (team !== undefined && profile !== undefined) return this.recordModelCall(line, ctx, team, profile);
    void this.names(line.teamId, line.profileId).then(([t, p]) => this.recordModelCall(line, ctx, t, p));
  }

  private recordModelCall(line: ModelCallLine, ctx: ModelCallTiming, team: string, profile: string): void {
    try {
      if (this.metrics) {
        const ttfb = ctx.forwardedAt !== undefined && ctx.upstreamAt !== undefined ? (ctx.upstreamAt - ctx.forwardedAt) / 1000 : null;
        this.metrics.modelCall(line, this.models.has(line.model) ? line.model : 'other', team, profile, ttfb, (performance.now() - ctx.startedAt) / 1000);
      }
      this.traces?.modelCall(line, ctx, team, profile);
    } catch (err) {
      this.options.logger.warn({ err }, 'telemetry: recording a model call failed');
    }
  }

  refused(ctx: ModelCallTiming, err: Refusal): void {
    // A call that reached the upstream has (or will have) a spend line: its span comes from there.
    const span = this.traces !== null && ctx.forwardedAt === undefined;
    const counted = this.metrics !== null && DENIAL_STATUSES.has(err.status);
    if (!span && !counted) return;
    const session = ctx.session ?? ctx.tokenSession;
    if (!session) return this.recordRefusal(ctx, err, counted, span, null, null);
    const team = this.teams.get(session.teamId);
    const profile = this.profiles.get(session.profileId);
    if (team !== undefined && profile !== undefined) return this.recordRefusal(ctx, err, counted, span, team, profile);
    void this.names(session.teamId, session.profileId).then(([t, p]) => this.recordRefusal(ctx, err, counted, span, t, p));
  }

  private recordRefusal(ctx: ModelCallTiming, err: Refusal, counted: boolean, span: boolean, team: string | null, profile: string | null): void {
    try {
      if (counted) this.metrics!.denied(err.code, team ?? NONE, profile ?? NONE);
      if (span) this.traces!.refused(ctx, err, team, profile);
    } catch (e) {
      this.options.logger.warn({ err: e }, 'telemetry: recording a refusal failed');
    }
  }

  toolCall(call: ToolCallView, kind: string, ok: boolean, startedAt: number): void {
    if (kind === 'tools') this.metrics?.toolCall(this.serverLabel(call.server), ok ? 'ok' : 'error');
    if (this.traces) this.withTeam(call, (team) => this.traces!.tool(call, kind, startedAt, team, ok ? null : 'tool_error'));
  }

  toolDenied(call: ToolCallView, kind: string, code: string): void {
    if (kind === 'tools') this.metrics?.toolCall(this.serverLabel(call.server), 'denied');
    if (this.traces && call.server !== null) this.withTeam(call, (team) => this.traces!.tool(call, kind, performance.now(), team, code));
  }

  track<T>(done: Promise<T>): Promise<T> {
    const metrics = this.metrics;
    if (!metrics) return done;
    metrics.inFlight++;
    return done.finally(() => metrics.inFlight--);
  }

  async serveMetrics(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<boolean> {
    if (!this.metrics) return false;
    const headers = { 'x-request-id': requestId, 'cache-control': 'no-store' };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Method not allowed.\n');
      return true;
    }
    if (this.token && !this.authorized(req.headers.authorization)) {
      res.writeHead(401, { ...headers, 'www-authenticate': 'Bearer realm="tollgate-metrics"', 'content-type': 'text/plain; charset=utf-8' }).end('Send the metrics token as a Bearer token.\n');
      return true;
    }
    const body = await this.metrics.registry.metrics();
    res.writeHead(200, { ...headers, 'content-type': this.metrics.registry.contentType, 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }

  private authorized(header: string | undefined): boolean {
    const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    // Digests have one length, so the comparison takes the same time whatever was sent.
    return match !== null && timingSafeEqual(digest(match[1]!), this.token!);
  }

  async flush(): Promise<void> {
    await this.traces?.flush();
  }

  /** Sends the spans still buffered; a collector that does not answer delays shutdown by at most 3 s. */
  async close(): Promise<void> {
    if (!this.traces) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, 3000)));
    try {
      await Promise.race([this.traces.close().catch((err: unknown) => this.options.logger.warn({ err }, 'telemetry: sending the last spans failed')), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  private serverLabel(server: string | null): string {
    if (server === null) return 'model';
    return this.servers.has(server) ? server : 'other';
  }

  private withTeam(call: ToolCallView, fn: (team: string) => void): void {
    const team = this.teams.get(call.session.teamId);
    if (team !== undefined) return fn(team);
    void this.names(call.session.teamId, call.session.profileId).then(([t]) => fn(t));
  }

  /** Team and profile names (cached; bounded: past MAX_NAMES new names are `other`). */
  private async names(teamId: string, profileId: string): Promise<[string, string]> {
    const [team, profile] = await Promise.all([
      this.teams.get(teamId) ?? this.options.directory.teams.get(teamId).then((t) => remember(this.teams, teamId, t), () => 'unknown'),
      this.profiles.get(profileId) ?? this.options.directory.profiles.get(profileId).then((p) => remember(this.profiles, profileId, p), () => 'unknown'),
    ]);
    return [team, profile];
  }
}

function remember(cache: Map<string, string>, id: string, found: Named | null): string {
  if (!found) return 'unknown';
  const name = cache.size < MAX_NAMES ? found.name : 'other';
  cache.set(id, name);
  return name;
}
