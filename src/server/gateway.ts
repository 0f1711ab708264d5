// Composition root: builds the store, identity, budget, providers and pipeline from the
// configuration, and serves the data plane, the admin API and health endpoints on one port.
import { createHash } from 'node:crypto';
import { newId } from '../util/ids.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { join, isAbsolute, resolve as resolvePath } from 'node:path';
import { ApprovalService, MemoryLedger, RateLimiter, reconcileReservations, recordMissingSpendEvents, SharedLedger, type Journal, type Ledger } from '../budget/index.js';
import type { Config } from '../config/index.js';
import { GatewayError, isStoreUnavailable, type ErrorDialect } from '../errors/index.js';
import { AuditLog, createExportSinks, storedCheckpointKeys } from '../audit/index.js';
import { AlertService, Containment, DetectionEngine, Notifier, promptFingerprinter, type DetectorName } from '../detect/index.js';
import { ContentLog, purgeExpiredContent, redactionPatterns } from '../audit/content.js';
import { AdminToken, CredentialService, Directory, FederationVerifier, KeyRing, MasterKey, OidcLogin, OperatorService, RevocationList, SessionService, TokenService, isLive } from '../identity/index.js';
import { authenticate, handleModelCall, handleTokenCount, InFlightCalls, newCallContext, ProviderTrouble, RefusalLog, SessionConcurrency, SharedCredentialWatch, TOKEN_COUNTING, type PipelineDeps } from '../pipeline/index.js';
import { anthropicMessages, openAiChat, openAiEmbeddings, openAiResponses, type ApiAdapter } from '../providers/apis/index.js';
import { Authorizer, PolicyEngine, ToolGate } from '../policy/index.js';
import type { McpGateway } from '../mcp/index.js';
import { MCP_METADATA_PATH, MCP_PATH } from '../mcp/paths.js';
import { ProviderRegistry } from '../providers/registry.js';
import { isSqliteOutage, openStore, PostgresStore, SqliteStore, WriteQueue, type Store } from '../store/index.js';
import { createTelemetry, StageTimes, type Telemetry } from '../telemetry/index.js';
import { answerClientError, baseUrl, requestIdHeaders, sendError, sendJson } from '../util/http.js';
import { createLogger, requestLogger, type Logger } from '../util/logger.js';
import { VERSION } from '../version.js';
import { handleAdmin, type AdminDeps } from './admin.js';
import { handleAgentApi } from './agent-api.js';
import { applyDeclaredObjects } from './objects.js';
import { handleRevoke, handleToken, type OAuthDeps } from './oauth.js';
import { Dashboard, UI_PATH } from './ui.js';
import { ChangeFeed, type Change } from './change-feed.js';
import { Replica } from './replica.js';
import { isoTime } from '../util/time.js';

export interface GatewayOptions {
  config: Config;
  /** Absolute data directory (SQLite file, generated admin token). */
  dataDir: string;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  now?: () => number;
  /** Use this store instead of the configured one. */
  store?: Store;
  /** Directory that relative paths in the configuration (JWKS files) are resolved against. */
  configDir?: string;
  /** The built dashboard (default: dist/ui of this package). */
  uiDir?: string;
}

/** How long calls cut at a shutdown's deadline get to settle and send their last words before their connections close. */
const SHUTDOWN_CUT_MS = 1_000;
/**
 * How long calls cut and disconnected may still take to settle before the store closes: settling
 * is bounded work, but a long prompt's count runs in slices (providers/tokenizer.ts) and several
 * of them can take seconds together; only a call that never settles waits this long.
 */
const SHUTDOWN_SETTLE_MS = 10_000;

const DATA_PLANE: Record<string, ApiAdapter> = {
  '/v1/chat/completions': openAiChat,
  '/v1/responses': openAiResponses,
  '/v1/embeddings': openAiEmbeddings,
  '/v1/messages': anthropicMessages,
};

/**
 * A request's path without its query: an API is named by the path alone (clients add query
 * parameters of their own: `?api-version=` from Azure clients, `?beta=true` from older Anthropic
 * SDKs, `defaultQuery`).
 */
function withoutQuery(path: string): string {
  const query = path.indexOf('?');
  return query < 0 ? path : path.slice(0, query);
}

/** The error shape for a path: its API's, OpenAI's elsewhere under /v1/, else the admin API's. */
const dialectOfPath = (path: string): ErrorDialect =>
  DATA_PLANE[withoutQuery(path)]?.dialect ?? (path.startsWith('/v1/messages/') ? 'anthropic' : path.startsWith('/v1/') ? 'openai' : 'admin');

/** A path segment decoded, or null when it is not valid percent-encoding. */
function decodedOrNull(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

/** RFC 8414 metadata, so MCP clients that follow RFC 9728 discovery find the token endpoint. */
function authorizationServerMetadata(base: string) {
  return {
    issuer: base,
    token_endpoint: `${base}/oauth/token`,
    revocation_endpoint: `${base}/oauth/revoke`,
    jwks_uri: `${base}/.well-known/jwks.json`,
    grant_types_supported: ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    revocation_endpoint_auth_methods_supported: ['none'],
    response_types_supported: [],
  };
}

/** A resume decided after the session ended or resumed otherwise: nothing left to do. */
const ignoreConflict = (err: unknown) => {
  if (!(err instanceof GatewayError && err.code === 'conflict')) throw err;
};

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export class Gateway {
  readonly server: Server;
  private shuttingDown = false;
  private maintenance: NodeJS.Timeout | null = null;
  private inFlight = 0;
  private idle: (() => void) | null = null;

  private constructor(
    readonly config: Config,
    readonly store: Store,
    readonly providers: ProviderRegistry,
    readonly adminToken: AdminToken,
    readonly logger: Logger,
    private readonly pipeline: PipelineDeps,
    private readonly admin: AdminDeps,
    private readonly oauth: OAuthDeps,
    private readonly usage: Journal,
    private readonly audit: AuditLog,
    readonly policy: PolicyEngine,
    /** The MCP gateway once loaded; `load` makes it (see create). */
    private readonly mcp: { loaded: McpGateway | null; load: () => Promise<McpGateway>; loading?: Promise<McpGateway> },
    readonly telemetry: Telemetry,
    /** The detectors (tests wait on `detection.idle()`). */
    readonly detection: DetectionEngine,
    private readonly dashboard: Dashboard,
    /** With a shared store: this replica's heartbeat and the change feed from the others. */
    readonly replication: { replica: Replica; feed: ChangeFeed } | null,
    private readonly ledger: Ledger,
  ) {
    const { max_header_bytes: maxHeaderSize, headers_timeout_ms: headersTimeout, request_timeout_ms: requestTimeout } = config.server;
    this.server = createServer({
      keepAliveTimeout: 65_000,
      maxHeaderSize,
      requestTimeout,
      headersTimeout: Math.min(headersTimeout, requestTimeout),
      // How often those two timeouts are checked (Node's default, 30 s, would let a slow client
      // hold its connection up to that much longer).
      connectionsCheckingInterval: 1000,
    }, (req, res) => this.handle(req, res));
    this.server.on('clientError', (err: Error, socket: Duplex) => answerClientError(err, socket, dialectOfPath));
  }

  static async create(options: GatewayOptions): Promise<Gateway> {
    // What the start has opened — the store and its threads, the built-in simulated providers'
    // ports, timers, watchers — closed (last first) if a later step fails: a gateway that did not
    // start must not keep them, or the process hangs instead of exiting with its error.
    const opened: (() => unknown)[] = [];
    try {
      return await Gateway.build(options, opened);
    } catch (err) {
      for (const close of opened.reverse()) await Promise.resolve().then(close).catch(() => undefined);
      throw err;
    }
  }

  private static async build(options: GatewayOptions, opened: (() => unknown)[]): Promise<Gateway> {
    const { config, dataDir } = options;
    const env = options.env ?? process.env;
    const now = options.now ?? Date.now;
    const logger = options.logger ?? createLogger(config.logging.level);
    // Policies first: a bad policy file stops the start before anything else is touched.
    const policyFiles = config.policy.files.map((f) => (isAbsolute(f) ? f : resolvePath(options.configDir ?? process.cwd(), f)));
    let onPolicyReload: (outcome: { ok: boolean }) => void = () => undefined;
    const policyEngine = new PolicyEngine({
      defaults: config.policy.defaults, files: policyFiles, cacheSize: config.policy.cache_size, watch: config.policy.reload,
      onReload: (outcome) => onPolicyReload(outcome),
    });
    opened.push(() => policyEngine.close());
    const store = options.store ?? openStore(config.storage, dataDir, env);
    if (!options.store) opened.push(() => store.close());
    // A private store is served by one process: claimed before anything is read or written.
    if (!options.store && store instanceof SqliteStore) store.claimForServing();
    // Under an advisory lock on PostgreSQL: replicas starting at once apply each version once.
    await store.migrate();
    // Several replicas share one database: budgets, holds and liveness live there too.
    const shared = store instanceof PostgresStore ? store : null;
    const replicaId = config.storage.postgres?.replica_id ?? newId('rep');
    await applyDeclaredObjects(store, config);
    const adminToken = AdminToken.fromEnvOrDataDir(dataDir, env);
    const master = MasterKey.fromEnvOrDataDir(dataDir, env);
    const ttlMs = config.tokens.ttl_seconds * 1000;
    const keys = new KeyRing(store, master, {
      // A rotated-out key must outlive every token it signed.
      overlapMs: Math.max(config.tokens.key_overlap_seconds * 1000, ttlMs),
      rotationMs: config.tokens.rotation_days * 86_400_000,
      now,
    });
    await keys.load();
    const tokens = new TokenService(keys, { issuer: config.tokens.issuer, audience: config.tokens.audience, ttlSeconds: config.tokens.ttl_seconds }, now);
    const revocations = new RevocationList(store, now);
    await revocations.load();
    const { jsonl_path: jsonlPath, webhook_url: webhookUrl, webhook_batch_size: webhookBatchSize, webhook_max_queue: webhookMaxQueue } = config.audit.export;
    // Audit events, holds and spend lines share one group commit: one transaction per batch.
    // Writes wait out an outage (kept in memory and retried) rather than fail: on PostgreSQL the
    // server out of reach, on SQLite a full disk or a file that cannot be written for now.
    const writes = new WriteQueue(store, logger, shared ? isStoreUnavailable : isSqliteOutage, config.storage.settle_delay_ms);
    const audit = new AuditLog(store, now, {
      queue: writes, logger, signer: keys, keys: storedCheckpointKeys(store, master), checkpointIntervalMs: config.audit.checkpoint_interval_seconds * 1000,
      sinks: createExportSinks({ jsonlPath: jsonlPath && jsonlPath !== '-' && !isAbsolute(jsonlPath) ? join(dataDir, jsonlPath) : jsonlPath, webhookUrl, webhookBatchSize, webhookMaxQueue }, logger),
    });
    // Calls that were in flight when a previous process died: settle their holds now. A private
    // store has no other live process, so every hold left is from the dead one; on a shared one,
    // the replica settles its predecessor's (same id) and those of replicas that stopped beating.
    const replica = shared ? new Replica(shared, { id: replicaId, timeoutMs: (config.storage.postgres?.replica_timeout_seconds ?? 30) * 1000, audit, logger, now }) : null;
    if (replica) {
      await replica.start();
      opened.push(() => replica.stop(true));
    } else {
      await reconcileReservations(store, Number.POSITIVE_INFINITY, now(), audit, logger);
    }
    // And lines whose audit event the crash lost get it (on a shared store, another replica's
    // calls may be between the two writes right now: not there).
    if (!shared) await recordMissingSpendEvents(store, audit, logger);
    const directory = new Directory(store);
    const ledger: Ledger = shared ? new SharedLedger(shared, replicaId, logger, now) : new MemoryLedger(store, now);
    const providers = new ProviderRegistry(config, env);
    // Not fatal (the other providers serve on), but every call to these models will be refused.
    for (const name of providers.withoutKey()) {
      const keyEnv = config.providers.find((p) => p.name === name)?.api_key_env;
      logger.warn({ provider: name, api_key_env: keyEnv ?? null }, `provider "${name}" has no API key (${keyEnv ? `${keyEnv} is not set` : 'no api_key_env'}): its models answer 503 provider_not_configured`);
    }
    await providers.start();
    opened.push(() => providers.close());
    const usage: Journal = writes;
    const approvals = new ApprovalService(store, ledger, audit, {
      webhookUrl: config.approvals.webhook_url, logger, now, separationOfDuties: config.approvals.separation_of_duties,
      onSessionChanged: (session) => directory.sessions.set(session.id, session),
      // A suspended session's fate: approved, it calls again; denied, it is revoked.
      onResumeDecided: async (approval, decidedBy) => {
        const by = { actor: decidedBy, reason: approval.reason ?? undefined };
        if (approval.status === 'approved') await sessions.resume(approval.sessionId, by, { approval: approval.id }).catch(ignoreConflict);
        // Denied: revoked — unless it has ended meanwhile (nothing to revoke, no event to write).
        else if (await store.getSession(approval.sessionId).then((s) => s !== null && isLive(s))) await sessions.end(approval.sessionId, 'revoked', { ...by, reason: approval.reason ?? 'resume denied' });
      },
      beforeResume: (session) => sessions.assertResumable(session),
    });
    const authorizer = new Authorizer({ engine: policyEngine, audit, directory, timeZone: config.budgets.timezone, now });
    onPolicyReload = (outcome) => {
      if (outcome.ok) logger.info({ policy: outcome }, 'policies reloaded');
      else logger.error({ policy: outcome }, 'policy reload refused: the previous policies stay in force');
      void audit.record({ type: outcome.ok ? 'policy.reloaded' : 'policy.reload_failed', actor: 'system', data: { ...outcome } });
    };
    const sessions = new SessionService(store, directory, tokens, ledger, audit, {
      maxDelegationDepth: config.delegation.max_depth, allowCrossTeamDelegation: config.delegation.allow_cross_team,
      modelNames: () => providers.listModels().map((m) => m.name), policy: authorizer, now,
      // Ended sessions' pending approvals have nobody left to decide for: closed (denied) with them.
      onEnded: async (ids, how, by) => void (await approvals.closeForSessions(ids, how, by)),
    });
    const credentials = new CredentialService(store, master, now, { logger });
    const operators = new OperatorService(store, master, adminToken, now);
    const federation = new FederationVerifier(config.federation.issuers, config.tokens.audience, options.configDir, { logger, now });
    const rateLimiter = new RateLimiter({ now });
    const mcpTools = new Map(config.mcp_servers.map((s) => [s.name, s.tools]));
    const telemetry = await createTelemetry({
      config: config.telemetry, env, directory, logger, version: VERSION, models: providers.listModels().map((m) => m.name), servers: config.mcp_servers.map((s) => s.name),
      sessionIndexBacklog: store.sessionIndexBacklog ? () => store.sessionIndexBacklog!() : undefined,
    });
    opened.push(() => telemetry.close());
    const content = new ContentLog(store, redactionPatterns(config.audit.redaction), now, logger);
    const tools = new ToolGate({
      audit, content, now, telemetry, authorizer, approvals, directory, rateLimiter, ledger, usage, timeZone: config.budgets.timezone,
      toolSettings: (server, tool) => mcpTools.get(server)?.[tool],
      approvalTtlMs: config.approvals.tool_approval_ttl_seconds * 1000,
    });
    // Detect and contain (docs/detection.md): the engine reads the durable audit stream.
    const notifier = new Notifier(config.detection.notify.webhook_url, config.detection.notify.format, logger);
    const containment = new Containment({
      sessions, approvals, audit, notifier, now,
      throttle: { requestsPerMinute: config.detection.throttle.requests_per_minute, durationMs: config.detection.throttle.duration_seconds * 1000 },
      agent: (id) => store.getAgent(id),
      getSession: (id) => store.getSession(id),
    });
    const alerts = new AlertService({
      store, audit, containment, now,
      actionsFor: (detector, severity) => (severity === 'info' ? [] : config.detection.detectors[detector as DetectorName].actions[severity]),
    });
    const detection = new DetectionEngine({ config: config.detection, store, directory, alerts, timeZone: config.budgets.timezone, logger, now });
    await detection.start();
    opened.push(() => detection.close());
    if (config.detection.enabled) audit.addSink(detection);
    const stages = new StageTimes();
    const pipeline: PipelineDeps = {
      // Fingerprints feed the retry-loop detector: not computed when it cannot run.
      fingerprint: config.detection.enabled && config.detection.detectors.retry_loop.enabled ? promptFingerprinter(master.derive('prompt-fingerprint')) : undefined,
      containment,
      tools, content, authorizer, tokens, revocations, audit, directory, ledger, approvals, providers, usage, logger, now, telemetry, stages,
      timeZone: config.budgets.timezone,
      rateLimiter,
      sharedCredentials: new SharedCredentialWatch(config.identity.shared_credential_window_seconds * 1000, audit, now),
      refusals: new RefusalLog(audit, now),
      bodyLimitBytes: config.server.body_limit_bytes,
      maxJsonDepth: config.server.max_json_depth,
      streamMaxMs: config.server.stream_max_seconds * 1000,
      concurrency: new SessionConcurrency(config.server.max_concurrent_calls_per_session),
      runningCalls: new InFlightCalls({ revocations, directory, approvals, now, logger }),
      providerTrouble: new ProviderTrouble(logger, now),
      requestLog: config.server.log_requests ? requestLogger(logger) : null,
      answerAfter: config.storage.answer_after,
    };
    const admin: AdminDeps = {
      stages, alerts, store, directory, sessions, ledger, approvals, providers, adminToken, keys, credentials, revocations, audit, now,
      bodyLimitBytes: config.server.body_limit_bytes, version: VERSION, tokenTtlMs: ttlMs, timeZone: config.budgets.timezone, operators,
      review: {
        windowDays: config.access_review.window_days, unusedDays: config.access_review.unused_days, longLivedDays: config.access_review.long_lived_days,
        federationEnabled: federation.enabled, federatedAgents: federation.mappedAgents(),
      },
      oidc: oidcDeps(config, env, operators, audit, now),
      // Answers may be released before their lines and events commit (storage.answer_after): an
      // admin read first lets queued writes commit and the detectors judge them — and a shared
      // ledger write the settles it owes (a hold released without a line, one a database outage
      // left in doubt), so the accounts it reads are the ones the calls left.
      caughtUp: async () => {
        await Promise.all([audit.flush(), content.flush(), ledger.flush()]);
        await detection.idle();
      },
    };
    const oauth: OAuthDeps = { sessions, credentials, federation, tokens, revocations, directory, approvals, audit, logger, bodyLimitBytes: config.server.body_limit_bytes, now };
    const mcpOptions = { env, listenHost: config.server.host, idleMs: config.mcp.session_idle_seconds * 1000, allowedHosts: config.mcp.allowed_hosts };
    const loadMcp = async () => new (await import('../mcp/index.js')).McpGateway(config.mcp_servers, pipeline, mcpOptions);
    // Without an MCP server configured, the MCP gateway (and the SDK it brings, ~10 MB resident)
    // loads only if a request asks for it.
    const mcp = config.mcp_servers.length > 0 ? await loadMcp() : null;
    if (mcp) opened.push(() => mcp.close());
    let replication: { replica: Replica; feed: ChangeFeed } | null = null;
    if (shared && replica) {
      // What the other replicas change reaches this one's caches (docs/operations.md#running-several-replicas).
      const feed = new ChangeFeed(shared, {
        resyncMs: (config.storage.postgres?.resync_seconds ?? 30) * 1000, logger,
        onChange: (change) => applyChange(change, { directory, revocations, ledger, keys, approvals }),
        onResync: async () => {
          await Promise.all([revocations.load(), keys.load()]);
          directory.clear();
        },
      });
      await feed.start();
      opened.push(() => feed.close());
      replication = { replica, feed };
    }
    // What this process runs with — the configuration (hashed: it names env vars, never secrets)
    // and the policies in force — once everything it needs has started: a start that fails
    // records nothing.
    await audit.record({
      type: 'config.applied', actor: 'system',
      data: { sha256: createHash('sha256').update(JSON.stringify(config)).digest('hex'), teams: config.teams.length, profiles: config.profiles.length, agents: config.agents.length, mcp_servers: config.mcp_servers.map((s) => s.name), policies: policyEngine.policyIds, policy_version: policyEngine.version },
    });
    return new Gateway(config, store, providers, adminToken, logger, pipeline, admin, oauth, usage, audit, policyEngine, { loaded: mcp, load: loadMcp }, telemetry, detection, new Dashboard(options.uiDir), replication, ledger);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const presented = req.headers['x-request-id'];
    const requestId = typeof presented === 'string' && REQUEST_ID.test(presented) ? presented : newId('req');
    if (this.shuttingDown) {
      res.setHeader('connection', 'close');
      sendError(res, new GatewayError('shutting_down'), 'openai', requestId);
      return;
    }
    // A request is in flight until its connection is done with it and its handler has finished
    // (a call whose client left still settles after): a shutdown waits for both.
    this.inFlight++;
    let toEnd = 2;
    const ended = () => {
      if (--toEnd === 0 && --this.inFlight === 0 && this.idle) this.idle();
    };
    res.once('close', ended);
    // One handler pair, not catch + finally: a promise less per request.
    this.route(req, res, requestId).then(ended, (err: unknown) => {
      this.logger.error({ err, req_id: requestId }, 'unhandled request error');
      sendError(res, err, 'openai', requestId);
      ended();
    });
  }

  /** The MCP gateway, loaded on first use (once, however many requests ask at the same time). */
  private async mcpGateway(): Promise<McpGateway> {
    if (this.mcp.loaded) return this.mcp.loaded;
    this.mcp.loading ??= this.mcp.load().then((gateway) => (this.mcp.loaded = gateway));
    return this.mcp.loading;
  }

  private async route(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const path = req.url ?? '/';
    const bare = withoutQuery(path);
    const adapter = DATA_PLANE[bare];
    if (adapter) {
      if (req.method !== 'POST') return sendError(res, new GatewayError('method_not_allowed', undefined, { headers: { allow: 'POST' } }), adapter.dialect, requestId);
      return this.telemetry.track(handleModelCall(req, res, adapter, this.pipeline, requestId));
    }
    const counting = TOKEN_COUNTING[bare];
    if (counting) return handleTokenCount(req, res, counting, this.pipeline, requestId);
    // Every answer names its request (the data plane sets it with its own headers, above).
    res.setHeader('x-request-id', requestId);
    const url = new URL(path, 'http://gateway');
    if (url.pathname.startsWith('/admin/')) return handleAdmin(req, res, url, this.admin, requestId);
    if (url.pathname.startsWith('/agent/')) return handleAgentApi(req, res, url, this.pipeline, requestId);
    if (url.pathname === UI_PATH || url.pathname.startsWith(`${UI_PATH}/`)) return this.dashboard.handle(req, res, url.pathname, requestId);
    if (url.pathname.startsWith(MCP_PATH)) return (await this.mcpGateway()).handle(req, res, url.pathname.slice(MCP_PATH.length), requestId);
    if (url.pathname.startsWith(MCP_METADATA_PATH)) return (await this.mcpGateway()).metadata(req, res, url.pathname.slice(MCP_METADATA_PATH.length), requestId);
    switch (url.pathname) {
      case '/oauth/token':
        return handleToken(req, res, this.oauth, requestId);
      case '/oauth/revoke':
        return handleRevoke(req, res, this.oauth, requestId);
      case '/v1/models':
        return this.models(req, res, requestId, null);
      case '/':
        // A browser pointed at the gateway finds the dashboard.
        if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, new GatewayError('method_not_allowed', undefined, { headers: { allow: 'GET, HEAD' } }), 'admin', requestId);
        res.writeHead(302, { location: `${UI_PATH}/`, 'content-length': 0 });
        return void res.end();
      case '/healthz':
        return sendJson(res, 200, { status: 'ok', version: VERSION });
      case '/readyz':
        return this.ready(res);
      case '/metrics':
        if (await this.telemetry.serveMetrics(req, res, requestId)) return;
        return sendError(res, new GatewayError('not_found', 'Metrics are off (telemetry.metrics.enabled).'), 'admin', requestId);
      case '/.well-known/oauth-authorization-server':
        return sendJson(res, 200, authorizationServerMetadata(baseUrl(req)), { 'cache-control': 'public, max-age=300' });
      case '/.well-known/jwks.json':
        return sendJson(res, 200, this.admin.keys.jwks(), { 'cache-control': 'public, max-age=300' });
      default:
        if (url.pathname.startsWith('/v1/models/')) return this.models(req, res, requestId, decodedOrNull(url.pathname.slice('/v1/models/'.length)) ?? '');
        return sendError(res, new GatewayError('not_found', `No route ${req.method ?? ''} ${url.pathname}.`), dialectOfPath(url.pathname), requestId);
    }
  }

  /**
   * The model list (`only` null), or one model of it (`GET /v1/models/{id}`), narrowed to what the
   * calling session may use: OpenAI's shape, or Anthropic's when the client sends
   * `anthropic-version` (as the Anthropic SDK does).
   */
  private async models(req: IncomingMessage, res: ServerResponse, requestId: string, only: string | null): Promise<void> {
    const anthropic = typeof req.headers['anthropic-version'] === 'string';
    try {
      if (req.method !== 'GET') throw new GatewayError('method_not_allowed', undefined, { headers: { allow: 'GET' } });
      const ctx = newCallContext(requestId, req, res, anthropic ? anthropicMessages : openAiChat);
      await authenticate(ctx, this.pipeline);
      const session = ctx.session!;
      const models = session.models.filter((name) => only === null || name === only).map((name) => this.providers.model(name)).filter((m) => m !== undefined);
      const created = Math.floor(session.createdAt / 1000);
      const entry = (m: (typeof models)[number]) => anthropic
        ? { type: 'model', id: m.name, display_name: m.name, created_at: isoTime(session.createdAt) }
        : { id: m.name, object: 'model', created, owned_by: m.provider.name };
      if (only !== null) {
        if (models.length === 0) throw new GatewayError('model_not_found', `The model "${only}" does not exist or this session may not use it.`, { param: 'model' });
        return sendJson(res, 200, entry(models[0]!), requestIdHeaders(requestId, anthropic ? 'anthropic' : 'openai'));
      }
      const body = anthropic
        ? { data: models.map(entry), has_more: false, first_id: models[0]?.name ?? null, last_id: models.at(-1)?.name ?? null }
        : { object: 'list', data: models.map(entry) };
      sendJson(res, 200, body, requestIdHeaders(requestId, anthropic ? 'anthropic' : 'openai'));
    } catch (err) {
      // The refusal's audit event is durable before the answer goes out.
      await this.audit.refusalDurable(requestId);
      sendError(res, err, anthropic ? 'anthropic' : 'openai', requestId);
    }
  }

  private async ready(res: ServerResponse): Promise<void> {
    if (this.shuttingDown) return sendJson(res, 503, { status: 'shutting_down' });
    try {
      await this.store.ping();
      // Reachable but not taking writes (a full disk): the data plane refuses calls meanwhile. (After
      // a write that failed for good, the gateway stays ready: the next call tests the store.)
      if (this.usage.stalled) return sendJson(res, 503, { status: 'store_unavailable', detail: 'the store is not taking writes' });
      sendJson(res, 200, { status: 'ready' });
    } catch {
      sendJson(res, 503, { status: 'store_unavailable' });
    }
  }

  /** Upkeep, run every minute: reload signing keys (rotating when due) and revoked token ids, end expired sessions. */
  async runMaintenance(): Promise<void> {
    await Promise.all([this.admin.keys.load(), this.admin.revocations.load()]);
    // Sessions whose time is up end, returning unused delegated budget to their parents.
    await this.admin.sessions.endExpired();
    // Captured content past its profile's retention (docs/audit.md#content-logging).
    const purged = await purgeExpiredContent(this.store, this.pipeline.now());
    if (purged > 0) this.logger.info({ purged }, 'audit content purged by retention');
  }

  private startMaintenance(): void {
    this.maintenance = setInterval(() => {
      this.runMaintenance().catch((err: unknown) => this.logger.error({ err }, 'maintenance failed'));
    }, 60_000);
    this.maintenance.unref();
  }

  async listen(port: number, host: string): Promise<string> {
    this.startMaintenance();
    this.audit.start();
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.url;
  }

  get url(): string {
    const address = this.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  /** Resolves once no request is in flight, or after `ms`. */
  private untilIdle(ms: number): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.idle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * Graceful stop: refuse new work, let in-flight calls (streams included) finish for up to
   * `graceMs`, then cut what is left; every settled charge is flushed before the store closes.
   */
  async close(graceMs = this.config.server.shutdown_grace_ms): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    if (this.maintenance) clearInterval(this.maintenance);
    this.policy.close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    this.mcp.loaded?.drain();
    await this.untilIdle(graceMs);
    // What is still running is cut by the gateway (each stream ends with the reason, each call is
    // charged as cut, not as abandoned by its client), then the connections are closed.
    if (this.inFlight > 0) {
      this.pipeline.runningCalls.cutAll(new GatewayError('shutting_down', `The gateway is shutting down: the call was cut at the end of its grace period (${graceMs} ms, server.shutdown_grace_ms).`));
      await this.untilIdle(SHUTDOWN_CUT_MS);
    }
    this.server.closeAllConnections();
    await closed;
    // Calls whose connection closed settle on their way out: they do, then all is flushed and sealed.
    await this.untilIdle(SHUTDOWN_SETTLE_MS);
    await this.mcp.loading?.catch(() => undefined);
    await this.mcp.loaded?.close();
    await this.usage.flush();
    await this.admin.credentials.flush().catch((err: unknown) => this.logger.warn({ err }, 'credential uses could not be written at shutdown'));
    await this.ledger.flush();
    await this.replication?.feed.close();
    await this.replication?.replica.stop(true);
    // Refusals folded and not yet written go on the record.
    this.pipeline.refusals.close();
    // Findings on the last calls become alerts; learned baselines are saved.
    await this.audit.flush();
    await this.detection.close();
    // Writes what is queued, signs a last checkpoint, empties the export sinks.
    await this.audit.close();
    // Sends the spans still buffered.
    await this.telemetry.close().catch((err: unknown) => this.logger.warn({ err }, 'telemetry shutdown failed'));
    await this.providers.close();
    await this.store.close();
  }
}

/** Applies one change another replica announced: what is cached of it is dropped or updated. */
async function applyChange(change: Change, caches: { directory: Directory; revocations: RevocationList; ledger: Ledger; keys: KeyRing; approvals: ApprovalService }): Promise<void> {
  switch (change.table) {
    case 'revoked_tokens':
      caches.revocations.remember(change.id, Number(change.expires_at));
      return;
    case 'sessions':
      caches.directory.sessions.delete(change.id);
      caches.ledger.forget(change.id);
      return;
    case 'agents':
      return caches.directory.agents.delete(change.id);
    case 'teams':
      return caches.directory.teams.delete(change.id);
    case 'profiles':
      return caches.directory.profiles.delete(change.id);
    case 'signing_keys':
      return caches.keys.load();
    case 'approvals':
      return caches.approvals.changed(change.id);
    default:
      // credentials are read from the store on each use: nothing cached to drop.
      return;
  }
}

/** Dashboard sign-in by OIDC, when admin.oidc is configured (the client secret from its env var). */
function oidcDeps(config: Config, env: NodeJS.ProcessEnv, operators: OperatorService, audit: AuditLog, now: () => number): AdminDeps['oidc'] {
  const o = config.admin.oidc;
  if (!o) return null;
  const clientSecret = o.client_secret_env ? env[o.client_secret_env] : undefined;
  if (o.client_secret_env && !clientSecret) throw new Error(`admin.oidc.client_secret_env names ${o.client_secret_env}, which is not set`);
  const login = new OidcLogin({ issuer: o.issuer, clientId: o.client_id, clientSecret, groupsClaim: o.groups_claim, nameClaim: o.name_claim, roleMapping: o.role_mapping, scopes: o.scopes }, now);
  return { login, operators, audit, sessionTtlMs: o.session_ttl_seconds * 1000, redirectUri: o.redirect_uri ?? null };
}
