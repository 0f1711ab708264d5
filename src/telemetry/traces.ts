// OpenTelemetry traces, exported by OTLP/HTTP (JSON) when `telemetry.otlp` is configured. This
// module is imported only then, so a gateway without it never loads the SDK. Spans follow the
// GenAI semantic conventions: one `chat {model}` (or `embeddings {model}`) span per model call,
// one `execute_tool {name}` span per MCP tool call, with Tollgate's identity attributes. The
// provider is private to the gateway (never registered globally).
import { SpanKind, SpanStatusCode, type Attributes, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';
import { LogThrottle } from '../util/log-throttle.js';
import type { ModelCallLine, ModelCallTiming, Refusal, ToolCallView } from './types.js';

export interface TracesOptions {
  /** The full traces URL (…/v1/traces). */
  url: string;
  headers: Record<string, string>;
  serviceName: string;
  version: string;
  /** Where a failed export is said (spans dropped): the SDK itself says nothing. */
  logger: Logger;
}

/** A failed export is logged at most this often (a collector down fails every batch). */
const EXPORT_FAILURE_LOG_EVERY_MS = 60_000;

/**
 * The OTLP exporter, with its failures logged: a collector out of reach, or refusing the
 * gateway's headers, otherwise drops every span without a word. One line a minute at most, with
 * how many batches failed since.
 */
class LoggedExporter implements SpanExporter {
  private readonly throttle = new LogThrottle(EXPORT_FAILURE_LOG_EVERY_MS);

  /** The endpoint as logged: its origin only (credentials may sit in its userinfo, path or query), as webhooks are. */
  private readonly url: string;

  constructor(private readonly inner: SpanExporter, url: string, private readonly logger: Logger) {
    this.url = new URL(url).origin;
  }

  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    this.inner.export(spans, (result) => {
      // ExportResultCode.FAILED is 1 (@opentelemetry/core, not a dependency of ours).
      if ((result.code as number) !== 0) this.failed(spans.length, result.error);
      done(result);
    });
  }

  private failed(spans: number, err: Error | undefined): void {
    const heldBack = this.throttle.due('export');
    if (heldBack === null) return;
    // The URL only: the headers may carry the collector's credentials.
    this.logger.warn({ url: this.url, spans_dropped: spans, failed_batches: heldBack + 1, err: err?.message ?? null }, 'telemetry: exporting spans to the OTLP endpoint failed; they are dropped');
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** `gen_ai.provider.name` for the provider types Tollgate knows. */
const PROVIDER: Record<string, string> = { openai: 'openai', anthropic: 'anthropic', simulated: 'tollgate.simulated' };

const operation = (api: string): string => (api.includes('embeddings') ? 'embeddings' : 'chat');

export class Traces {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;

  constructor(options: TracesOptions) {
    const exporter = new LoggedExporter(new OTLPTraceExporter({ url: options.url, headers: options.headers }), options.url, options.logger);
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': options.serviceName, 'service.version': options.version }),
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 2000, maxQueueSize: 8192 })],
    });
    this.tracer = this.provider.getTracer('tollgate', options.version);
  }

  modelCall(line: ModelCallLine, ctx: ModelCallTiming, team: string, profile: string): void {
    const op = operation(line.api);
    const attributes: Attributes = {
      ...this.requestAttributes(ctx, op),
      'gen_ai.response.model': ctx.route?.upstreamModel ?? line.model,
      'gen_ai.usage.input_tokens': line.inputTokens,
      'gen_ai.usage.output_tokens': line.outputTokens,
      'tollgate.agent.id': line.agentId,
      'tollgate.session.id': line.sessionId,
      'tollgate.team': team,
      'tollgate.profile': profile,
      'tollgate.request.id': line.requestId,
      'tollgate.outcome': line.outcome,
      'tollgate.cost_usd': line.costUsdNano / 1e9,
      'http.response.status_code': line.httpStatus,
    };
    if (line.cachedInputTokens > 0) attributes['gen_ai.usage.cache_read.input_tokens'] = line.cachedInputTokens;
    const span = this.tracer.startSpan(`${op} ${line.model}`, { kind: SpanKind.CLIENT, startTime: ctx.startedAt, attributes });
    if (line.outcome !== 'ok' || line.httpStatus >= 400) {
      span.setAttribute('error.type', line.outcome === 'ok' ? String(line.httpStatus) : line.outcome);
      span.setStatus({ code: SpanStatusCode.ERROR, message: line.outcome });
    }
    span.end();
  }

  /** A call answered with an error before anything reached the upstream. */
  refused(ctx: ModelCallTiming, err: Refusal, team: string | null, profile: string | null): void {
    const op = operation(ctx.call?.api ?? 'chat');
    const attributes: Attributes = { ...this.requestAttributes(ctx, op), 'error.type': err.code, 'http.response.status_code': err.status };
    if (ctx.requestId) attributes['tollgate.request.id'] = ctx.requestId;
    const session = ctx.session ?? ctx.tokenSession;
    if (session) {
      attributes['tollgate.agent.id'] = session.agentId;
      attributes['tollgate.session.id'] = session.id;
    }
    if (team !== null) attributes['tollgate.team'] = team;
    if (profile !== null) attributes['tollgate.profile'] = profile;
    const span = this.tracer.startSpan(ctx.call ? `${op} ${ctx.call.model}` : op, { kind: SpanKind.CLIENT, startTime: ctx.startedAt, attributes });
    span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
    span.end();
  }

  tool(call: ToolCallView, kind: string, startedAt: number, team: string, error: string | null): void {
    const name = call.server === null ? call.tool : `${call.server}/${call.tool}`;
    const span = this.tracer.startSpan(kind === 'tools' ? `execute_tool ${call.tool}` : `${kind} ${name}`, {
      kind: SpanKind.INTERNAL,
      startTime: startedAt,
      attributes: {
        'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': call.tool, 'gen_ai.tool.type': call.server === null ? 'function' : 'extension',
        'tollgate.mcp.server': call.server ?? '', 'tollgate.mcp.kind': kind,
        'tollgate.agent.id': call.session.agentId, 'tollgate.session.id': call.session.id, 'tollgate.team': team,
      },
    });
    if (error !== null) {
      span.setAttribute('error.type', error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    }
    span.end();
  }

  private requestAttributes(ctx: ModelCallTiming, op: string): Attributes {
    const attributes: Attributes = { 'gen_ai.operation.name': op };
    const provider = ctx.route ? (PROVIDER[ctx.route.provider.type] ?? ctx.route.provider.type) : undefined;
    if (provider) {
      attributes['gen_ai.provider.name'] = provider;
      attributes['gen_ai.system'] = provider;
    }
    if (ctx.call) {
      attributes['gen_ai.request.model'] = ctx.call.model;
      if (ctx.call.maxOutputTokens !== null) attributes['gen_ai.request.max_tokens'] = ctx.call.maxOutputTokens;
      attributes['tollgate.api'] = ctx.call.api;
      attributes['tollgate.stream'] = ctx.call.stream;
    }
    return attributes;
  }

  flush(): Promise<void> {
    return this.provider.forceFlush();
  }

  close(): Promise<void> {
    return this.provider.shutdown();
  }
}
