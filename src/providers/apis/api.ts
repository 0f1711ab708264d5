// An API adapter knows one wire format (OpenAI chat, Anthropic messages…): how to read a
// request into a canonical call, how to rewrite it for the upstream, and where the usage is in
// the answer, plain or streamed. Core code talks only to this interface, never to a vendor name.
import type { z } from 'zod';
import { GatewayError, type ErrorDialect } from '../../errors/index.js';
import type { Usage } from '../../store/index.js';
import type { PromptParts } from '../prompt-tokens.js';
import type { SseEvent } from '../sse.js';

export type ApiKind = 'openai.chat' | 'openai.responses' | 'openai.embeddings' | 'anthropic.messages';

/** What the pipeline needs to know of a request, whatever its wire format. */
export interface CanonicalCall {
  api: ApiKind;
  model: string;
  stream: boolean;
  /** The output limit the client set (per choice), or null. */
  maxOutputTokens: number | null;
  /** How many completions the call asks for (OpenAI's `n`): the output worst case is this many times the limit. */
  choices: number;
  /**
   * The smallest output limit the request can still run with when a budget cuts it (Anthropic's
   * extended thinking: its budget of at least 1,024 tokens must stay below `max_tokens`); 1 if unset.
   */
  minOutputTokens?: number;
  prompt: PromptParts;
  /** Tool names offered to the model (checked against the session's scope by later stages). */
  tools: string[];
}

/** A tool call a model's answer asks for. */
export interface ReturnedToolCall {
  name: string;
  /** Its arguments, when the answer carries them whole (plain answers; streams send them in pieces). */
  arguments?: unknown;
}

/** No tool calls: returned (not allocated) for the events of a plain text stream. */
export const NO_TOOL_CALLS: readonly ReturnedToolCall[] = Object.freeze([]);

/**
 * True when an SSE event's JSON uses `\u` escapes, which can spell any key or value
 * (`"n\u0061me"` is `"name"` to every JSON parser). The stream meters' cheap substring tests
 * cannot see through them, so such an event is always parsed before it is judged: otherwise an
 * escaped tool call would pass the tool gate unseen.
 */
export const hasJsonEscapes = (data: string): boolean => data.includes('\\u');

export interface UpstreamRewrite {
  upstreamModel: string;
  /** Output limit to impose (the clamp), or null to leave the client's. */
  maxOutputTokens: number | null;
}

export interface MeteredUsage {
  usage: Usage;
  /** False when the upstream reported only part (e.g. input but not output of a cut stream). */
  complete: boolean;
}

/** Watches one upstream stream, event by event. */
export interface StreamMeter {
  /** Inspects an event; returns false when it must not reach the client (usage the client did not ask for). */
  accept(event: SseEvent): boolean;
  /** True for the event that ends the stream (`[DONE]`, `message_stop`), held until the charge is durable. */
  isTerminal(event: SseEvent): boolean;
  /** Usage the upstream reported so far, or null. */
  reported(): MeteredUsage | null;
  /** The text delivered to the client so far (for estimating usage the upstream never sent). */
  deliveredText(): string;
  /**
   * Tool calls an (accepted) event starts, by name. Called on every event: a substring check
   * guards any parse, so text events cost one scan and return NO_TOOL_CALLS.
   */
  toolCalls(event: SseEvent): readonly ReturnedToolCall[];
  /**
   * An event telling the client the stream broke, in the API's own streamed-error form;
   * `fields` are added to the error object (e.g. `code`, details).
   */
  errorEvent(message: string, type: string, fields?: Record<string, unknown>): string;
  /** The terminal event said the answer failed (Responses' `response.failed`); absent: it never does. */
  endedInFailure?(): boolean;
}

export interface ApiAdapter {
  readonly kind: ApiKind;
  readonly dialect: Exclude<ErrorDialect, 'admin'>;
  /** Path on the upstream, relative to the provider's API base. */
  readonly upstreamPath: string;
  /** False for APIs without generated output (embeddings): no output tokens to reserve. */
  readonly producesOutput: boolean;
  parse(body: Record<string, unknown>): CanonicalCall;
  /** Rewrites `body` in place for the upstream. */
  rewrite(body: Record<string, unknown>, call: CanonicalCall, change: UpstreamRewrite): void;
  /**
   * Removes the offered tools named in `drop` from `body`, and whatever only they made valid
   * (with no tool left, `tools` and `tool_choice` go entirely so the upstream does not refuse
   * the request). Returns the name of a dropped tool that `tool_choice` forces — the call
   * cannot go ahead without it — or null.
   */
  stripTools(body: Record<string, unknown>, drop: ReadonlySet<string>): string | null;
  usageFromResponse(json: unknown): MeteredUsage | null;
  /** The tool calls in a complete answer (every choice). */
  toolCallsInResponse(json: unknown): ReturnedToolCall[];
  /** The generated text of a complete response (for estimating usage the upstream left out). */
  responseText(json: unknown): string;
  createStreamMeter(body: Record<string, unknown>): StreamMeter;
}

/** Validates `body` with `schema`, turning the first problem into a 400 in the API's shape. */
export function validate<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const param = issue.path.map(String).join('.');
  throw new GatewayError('invalid_request', param ? `${param}: ${issue.message}` : issue.message, { param: param || undefined });
}

export const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Filters the tool definitions in `body[key]` (named by `nameOf`), dropping those in `drop`.
 * Returns false when the list ended up empty and was deleted (so was any key in `alsoDelete`,
 * which only a non-empty list makes valid).
 */
export function dropTools(
  body: Record<string, unknown>, key: string, nameOf: (tool: Record<string, unknown>) => string, drop: ReadonlySet<string>, alsoDelete: readonly string[],
): boolean {
  const list = body[key];
  if (!Array.isArray(list)) return true;
  const kept = list.filter((t) => !(isObject(t) && drop.has(nameOf(t))));
  if (kept.length > 0) {
    body[key] = kept;
    return true;
  }
  delete body[key];
  for (const k of alsoDelete) delete body[k];
  return false;
}

/** Usage a complete (non-streamed) answer reported, or null. */
export const reportedUsage = (usage: Usage | null): MeteredUsage | null => (usage ? { usage, complete: true } : null);

/** The tool calls among `items` (content blocks, output items), with their arguments. */
export function callsIn(items: unknown, callOf: (item: unknown) => ReturnedToolCall | null): ReturnedToolCall[] {
  if (!Array.isArray(items)) return [];
  const out: ReturnedToolCall[] = [];
  for (const item of items) {
    const call = callOf(item);
    if (call) out.push(call);
  }
  return out;
}

/** Arguments sent as a JSON string (OpenAI), parsed when they are JSON, else kept as the string. */
export function parsedArguments(args: unknown): unknown {
  if (typeof args !== 'string') return args;
  try {
    return JSON.parse(args) as unknown;
  } catch {
    return args;
  }
}

/** Collects stream events' data and parses them only when asked (the rare cut-stream path). */
export class DeliveredEvents {
  /** Past this many buffered characters, events are folded into text so memory stays bounded. */
  private static readonly COMPACT_AT = 256 * 1024;
  private data: string[] = [];
  private buffered = 0;
  private folded = '';

  constructor(private readonly textOf: (chunk: Record<string, unknown>) => string) {}

  add(data: string): void {
    this.data.push(data);
    this.buffered += data.length;
    if (this.buffered > DeliveredEvents.COMPACT_AT) this.fold();
  }

  text(): string {
    this.fold();
    return this.folded;
  }

  private fold(): void {
    for (const d of this.data) {
      try {
        const parsed: unknown = JSON.parse(d);
        if (parsed !== null && typeof parsed === 'object') this.folded += this.textOf(parsed as Record<string, unknown>);
      } catch {
        // not JSON ([DONE], keep-alive comments): carries no delivered text
      }
    }
    this.data = [];
    this.buffered = 0;
  }
}
