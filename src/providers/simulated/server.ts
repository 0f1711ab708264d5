// The HTTP server: routing, API-key check, body parsing, request log, injected failures, latency
// and the request-level directives (stall, error, non-stream cut). Endpoint modules do the rest.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chatCompletionsRoute } from './openai-chat.js';
import { embeddingsRoute } from './openai-embeddings.js';
import { responsesRoute } from './openai-responses.js';
import { messagesRoute } from './anthropic-messages.js';
import { messagesCountTokensRoute, responsesInputTokensRoute } from './count-tokens.js';
import { modelRoute, modelsRoute } from './models.js';
import { sendError } from './reply.js';
import type { ReplyContext } from './reply.js';
import type { Prepared, Route } from './route.js';
import type { ApiError, Dialect } from './errors.js';
import type { TurnSettings } from './turn.js';
import { isError } from './validate.js';
import type { SimulatedProvider, SimulatedRequestLog, SimulatedServerOptions } from './types.js';

const ROUTES: ReadonlyMap<string, Route> = new Map([
  ['POST /v1/chat/completions', chatCompletionsRoute],
  ['POST /v1/responses', responsesRoute],
  ['POST /v1/embeddings', embeddingsRoute],
  ['GET /v1/models', modelsRoute],
  ['POST /v1/messages', messagesRoute],
  ['POST /v1/messages/count_tokens', messagesCountTokensRoute],
  ['POST /v1/responses/input_tokens', responsesInputTokensRoute],
]);

function lookup(method: string, path: string): Route | undefined {
  const route = ROUTES.get(`${method} ${path}`);
  if (route !== undefined || method !== 'GET' || !path.startsWith('/v1/models/')) return route;
  try {
    return modelRoute(decodeURIComponent(path.slice('/v1/models/'.length)));
  } catch {
    return undefined; // malformed percent-encoding
  }
}

/** Requests kept in `provider.requests`. */
const LOG_SIZE = 100;
/** Bodies above this are refused with 413. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;
/**
 * Model requests are deterministic in their raw body, so the parsed body and the planned answer
 * (prompt token count included) are cached: benchmarks repeat a handful of bodies, and then a
 * request costs a map lookup instead of JSON parsing and tokenizing.
 */
const CACHE_ENTRIES = 1024;
const CACHE_MAX_BODY = 64 * 1024;

interface CacheEntry {
  body: unknown;
  prepared: Prepared | ApiError;
}

function fraction(name: string, value: number | undefined): number {
  if (value === undefined) return 0;
  if (!(value >= 0 && value <= 1)) throw new RangeError(`${name} must be between 0 and 1, got ${value}`);
  return value;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(value >= 0 && Number.isFinite(value))) throw new RangeError(`${name} must be a finite number >= 0, got ${value}`);
  return value;
}

export async function createSimulatedProvider(opts: SimulatedServerOptions = {}): Promise<SimulatedProvider> {
  const settings: TurnSettings = {
    defaultOutputTokens: Math.floor(nonNegative('defaultOutputTokens', opts.defaultOutputTokens, 32)),
    cachedPromptShare: fraction('cachedPromptShare', opts.cachedPromptShare),
  };
  const latencyMs = nonNegative('latencyMs', opts.latencyMs, 0);
  const tokensPerSecond = nonNegative('tokensPerSecond', opts.tokensPerSecond, 0);
  const failureRate = fraction('failureRate', opts.failureRate);
  // Deterministic failures: every `failurePeriod`-th model request (0 = never).
  const failurePeriod = failureRate > 0 ? Math.max(1, Math.round(1 / failureRate)) : 0;
  const { apiKey } = opts;

  const requests: SimulatedRequestLog[] = [];
  const cache = new Map<string, CacheEntry>();
  const tag = randomBytes(4).toString('hex');
  let serial = 0;
  let modelRequests = 0;
  const id = (prefix: string): string => `${prefix}sim${tag}${(++serial).toString(36)}`;

  const context = (res: ServerResponse, dialect: Dialect, tps: number): ReplyContext => {
    const requestId = id('req_');
    return {
      res,
      dialect,
      headers: dialect === 'anthropic' ? { 'request-id': requestId } : { 'x-request-id': requestId },
      id,
      created: Math.floor(Date.now() / 1000),
      tokensPerSecond: tps,
    };
  };

  const authorized = (req: IncomingMessage, route: Route): boolean => {
    if (apiKey === undefined) return true;
    if (req.headers.authorization === `Bearer ${apiKey}`) return true;
    return route.auth === 'bearer-or-x-api-key' && req.headers['x-api-key'] === apiKey;
  };

  const answer = (req: IncomingMessage, res: ServerResponse, path: string, raw: string): void => {
    const method = req.method ?? 'GET';
    const route = lookup(method, path);
    const dialect: Dialect = route?.dialect ?? (path.startsWith('/v1/messages') ? 'anthropic' : 'openai');

    const cacheKey = route?.model === true && raw.length <= CACHE_MAX_BODY ? `${path}\n${raw}` : undefined;
    const cached = cacheKey === undefined ? undefined : cache.get(cacheKey);
    let body: unknown = cached?.body;
    let malformed = false;
    if (cached === undefined && raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        malformed = true;
      }
    }
    requests.push({ method, path, headers: req.headers, body });
    if (requests.length > LOG_SIZE) requests.shift();

    if (route === undefined) {
      return sendError(context(res, dialect, 0), {
        status: 404,
        message: dialect === 'anthropic' ? `Not found: ${method} ${path}` : `Invalid URL (${method} ${path})`,
      });
    }
    if (!authorized(req, route)) {
      const given = req.headers.authorization !== undefined || req.headers['x-api-key'] !== undefined;
      return sendError(context(res, dialect, 0), {
        status: 401,
        message: given ? undefined : "You didn't provide an API key.",
      });
    }
    if (malformed) {
      return sendError(context(res, dialect, 0), {
        status: 400,
        message: 'We could not parse the JSON body of your request. The body must be valid JSON.',
      });
    }

    let prepared = cached?.prepared;
    if (prepared === undefined) {
      prepared = route.prepare(body, settings, req.headers);
      if (cacheKey !== undefined) {
        // Oldest first out: Map iterates in insertion order.
        if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
        cache.set(cacheKey, { body, prepared });
      }
    }
    if (isError(prepared)) return sendError(context(res, dialect, 0), prepared);
    if (!route.model) return prepared.respond(context(res, dialect, 0));

    const { directives } = prepared;
    const failed = failurePeriod > 0 && ++modelRequests % failurePeriod === 0;
    if (directives.stall === true && !failed) return; // never answered; closed with the connection
    const ctx = context(res, dialect, directives.tokensPerSecond ?? tokensPerSecond);
    const ready = prepared;
    const go = (): void => {
      if (failed) return sendError(ctx, { status: 500 });
      if (directives.error !== undefined) return sendError(ctx, { status: directives.error });
      if (directives.cutAfter !== undefined && !ready.stream) {
        req.socket.destroy(); // the connection drops before any byte of the answer
        return;
      }
      ready.respond(ctx);
    };
    const delay = directives.latencyMs ?? latencyMs;
    if (delay <= 0) return go();
    const timer = setTimeout(go, delay);
    res.on('close', () => clearTimeout(timer));
  };

  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) {
        const dialect: Dialect = path.startsWith('/v1/messages') ? 'anthropic' : 'openai';
        return sendError(context(res, dialect, 0), { status: 413 });
      }
      const raw = chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8');
      answer(req, res, path, raw);
    });
  });
  // Keep pooled client connections open longer than clients keep them idle (undici: 4 s,
  // Node's agent: unlimited), so a benchmark never races a server-side close.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    requests,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Streams in flight and stalled requests would keep close() waiting forever.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
