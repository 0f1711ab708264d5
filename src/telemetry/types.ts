// What the rest of the gateway hands telemetry: small structural views of a model call, a tool
// call and a refusal, so this folder depends on no other domain's internals (types only).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UsageRecord } from '../store/index.js';

/** A model call's spend line: the fields telemetry reads. */
export type ModelCallLine = Pick<
  UsageRecord,
  'requestId' | 'sessionId' | 'agentId' | 'teamId' | 'profileId' | 'model' | 'api' | 'stream' | 'inputTokens' | 'outputTokens' | 'cachedInputTokens' | 'reasoningTokens' | 'costUsdNano' | 'outcome' | 'httpStatus'
>;

/** What the call's context adds (`CallContext` satisfies it). */
export interface ModelCallTiming {
  readonly startedAt: number;
  /** performance.now() when the request was sent upstream, and when its headers came back. */
  forwardedAt?: number;
  upstreamAt?: number;
  readonly requestId?: string;
  session?: { id: string; agentId: string; teamId: string; profileId: string };
  /** The session a verified token named, whether or not it may call (suspended, ended): a refusal is labelled with it. */
  tokenSession?: { id: string; agentId: string; teamId: string; profileId: string };
  call?: { api: string; model: string; stream: boolean; maxOutputTokens: number | null };
  route?: { name: string; upstreamModel: string; provider: { type: string } };
}

export interface ToolCallView {
  session: { id: string; agentId: string; teamId: string; profileId: string };
  server: string | null;
  tool: string;
}

export interface Refusal {
  code: string;
  status: number;
  message: string;
}

/** The gateway's telemetry: metrics and traces. Every method is cheap and never throws. */
export interface Telemetry {
  /** A spend line was written (every call that reached the upstream, exactly once). */
  modelCall(line: ModelCallLine, ctx: ModelCallTiming): void;
  /** A model call ended in an error answer (refused, or failed). */
  refused(ctx: ModelCallTiming, err: Refusal): void;
  /** An MCP call admitted by the tool gate ended. */
  toolCall(call: ToolCallView, kind: string, ok: boolean, startedAt: number): void;
  /** The tool gate refused a tool (an MCP call, or a tool offered to or returned by a model). */
  toolDenied(call: ToolCallView, kind: string, code: string): void;
  /** Counts a model call in flight until `done` settles. */
  track<T>(done: Promise<T>): Promise<T>;
  /** Serves `GET /metrics`; false when metrics are off (the caller answers 404). */
  serveMetrics(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<boolean>;
  /** Sends buffered spans now. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
