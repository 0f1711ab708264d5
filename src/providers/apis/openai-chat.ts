// OpenAI Chat Completions (https://platform.openai.com/docs/api-reference/chat).
import { z } from 'zod';
import type { Usage } from '../../store/index.js';
import { contentText } from '../prompt-tokens.js';
import type { SseEvent } from '../sse.js';
import {
  DeliveredEvents, dropTools, hasJsonEscapes, isObject, NO_TOOL_CALLS, num, parsedArguments, reportedUsage, validate,
  type ApiAdapter, type CanonicalCall, type MeteredUsage, type ReturnedToolCall, type StreamMeter, type UpstreamRewrite,
} from './api.js';

const outputLimit = z.number().int().positive().nullish();

const chatRequest = z.looseObject({
  model: z.string().min(1),
  messages: z.array(z.looseObject({ role: z.string() })).min(1),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  max_tokens: outputLimit,
  max_completion_tokens: outputLimit,
  tools: z.array(z.looseObject({ type: z.string().optional() })).nullish(),
  /** The deprecated form of function tools, still accepted by the API. */
  functions: z.array(z.looseObject({ name: z.string().optional() })).nullish(),
  n: z.number().int().min(1).max(128).nullish(),
});

/** Name of a tool definition: `{type:'function', function:{name}}`, `{type:'custom', custom:{name}}`, or a bare `name`. */
export function toolName(tool: Record<string, unknown>): string {
  const fn = isObject(tool.function) ? tool.function : isObject(tool.custom) ? tool.custom : null;
  if (fn && typeof fn.name === 'string') return fn.name;
  return typeof tool.name === 'string' ? tool.name : '';
}

const functionName = (fn: Record<string, unknown>): string => (typeof fn.name === 'string' ? fn.name : '');

/**
 * The tool calls in an assistant message or a stream delta: `tool_calls[].function.name`
 * (`custom.name` for custom tools) and the deprecated `function_call.name`. Only the first
 * delta of a streamed call names it; later ones (arguments only) are skipped.
 */
function collectToolCalls(message: Record<string, unknown>, out: ReturnedToolCall[]): void {
  const add = (fn: unknown): void => {
    if (!isObject(fn) || typeof fn.name !== 'string' || fn.name.length === 0) return;
    out.push({ name: fn.name, arguments: parsedArguments(fn.arguments ?? fn.input) });
  };
  if (Array.isArray(message.tool_calls)) {
    for (const call of message.tool_calls) if (isObject(call)) add(call.function ?? call.custom);
  }
  add(message.function_call);
}

/**
 * Tool-call names in a streamed chunk, joined with earlier pieces of the same call: an upstream
 * may split a name across deltas (`"dang"`, then `"er_zone"`), and clients that concatenate
 * would call the whole name — so the whole name is what gets checked.
 */
function deltaToolCalls(json: unknown, names: Map<string, string>): ReturnedToolCall[] {
  const out: ReturnedToolCall[] = [];
  const choices = isObject(json) ? json.choices : undefined;
  if (!Array.isArray(choices)) return out;
  for (const choice of choices) {
    if (!isObject(choice) || !isObject(choice.delta)) continue;
    const delta = choice.delta;
    const piece = (key: string, fn: unknown): void => {
      if (!isObject(fn) || typeof fn.name !== 'string' || fn.name.length === 0) return;
      const name = (names.get(key) ?? '') + fn.name;
      names.set(key, name);
      out.push({ name });
    };
    if (Array.isArray(delta.tool_calls)) {
      delta.tool_calls.forEach((call, i) => {
        if (isObject(call)) piece(`${String(choice.index)}:${typeof call.index === 'number' ? call.index : `#${i}`}`, call.function ?? call.custom);
      });
    }
    piece(`${String(choice.index)}:function_call`, delta.function_call);
  }
  return out;
}

/** The name `web_search_options` is scoped under. */
const WEB_SEARCH = 'web_search';

/** Calls in every choice of a completion. */
function choiceToolCalls(json: unknown): ReturnedToolCall[] {
  const out: ReturnedToolCall[] = [];
  const choices = isObject(json) ? json.choices : undefined;
  if (!Array.isArray(choices)) return out;
  for (const choice of choices) {
    const message = isObject(choice) ? choice.message : undefined;
    if (isObject(message)) collectToolCalls(message, out);
  }
  return out;
}

/**
 * The dropped tool that `tool_choice` (or the deprecated `function_call`) forces, or null. An
 * `allowed_tools` choice is narrowed to the kept tools; emptied, it forces when `required`.
 */
function forcedDroppedTool(body: Record<string, unknown>, drop: ReadonlySet<string>): string | null {
  const choice = body.tool_choice;
  if (isObject(choice)) {
    const named = isObject(choice.function) ? choice.function : isObject(choice.custom) ? choice.custom : null;
    if (named && drop.has(functionName(named))) return functionName(named);
    const allowed = isObject(choice.allowed_tools) ? choice.allowed_tools : null;
    if (allowed && Array.isArray(allowed.tools)) {
      const listed = allowed.tools.filter(isObject);
      const kept = listed.filter((t) => !drop.has(toolName(t)));
      if (kept.length === 0 && listed.length > 0 && allowed.mode === 'required') return toolName(listed[0]!);
      if (kept.length === 0) delete body.tool_choice;
      else body.tool_choice = { ...choice, allowed_tools: { ...allowed, tools: kept } };
    }
  }
  const fn = body.function_call;
  if (isObject(fn) && drop.has(functionName(fn))) return functionName(fn);
  return null;
}

const USAGE_NAMES = {
  prompt: { input: 'prompt_tokens', output: 'completion_tokens', inputDetails: 'prompt_tokens_details', outputDetails: 'completion_tokens_details' },
  // The Responses API's names for the same counts.
  input: { input: 'input_tokens', output: 'output_tokens', inputDetails: 'input_tokens_details', outputDetails: 'output_tokens_details' },
} as const;

/**
 * OpenAI `usage` → canonical usage: the input count includes the cached tokens, the output count
 * the reasoning tokens. `names`: `prompt` (Chat, Embeddings) or `input` (Responses).
 */
export function openAiUsage(usage: unknown, names: keyof typeof USAGE_NAMES = 'prompt'): Usage | null {
  if (usage === null || typeof usage !== 'object') return null;
  const u = usage as Record<string, Record<string, unknown> | undefined>;
  const k = USAGE_NAMES[names];
  return {
    inputTokens: num(u[k.input]),
    outputTokens: num(u[k.output]),
    cachedInputTokens: num(u[k.inputDetails]?.cached_tokens),
    cacheWriteTokens: 0,
    reasoningTokens: num(u[k.outputDetails]?.reasoning_tokens),
  };
}

function deltaText(chunk: Record<string, unknown>): string {
  const choices = chunk.choices;
  if (!Array.isArray(choices)) return '';
  let out = '';
  for (const choice of choices as { delta?: Record<string, unknown> }[]) {
    const delta = choice.delta;
    if (!delta) continue;
    if (typeof delta.content === 'string') out += delta.content;
    if (typeof delta.refusal === 'string') out += delta.refusal;
    if (Array.isArray(delta.tool_calls)) out += contentText(delta.tool_calls);
  }
  return out;
}

/** What asking for the usage adds to every chunk but the usage chunk. */
const USAGE_NULL = ',"usage":null';

/** One OpenAI-style SSE meter, shared by every OpenAI API whose stream ends with `[DONE]`. */
export class OpenAiChatStreamMeter implements StreamMeter {
  /** Tool-call names seen so far, by choice and call index. */
  private readonly toolNames = new Map<string, string>();
  private usage: MeteredUsage | null = null;
  private readonly delivered = new DeliveredEvents(deltaText);
  constructor(private readonly clientWantsUsage: boolean) {}

  accept(event: SseEvent): boolean {
    const data = event.data;
    // Quotes inside JSON strings are escaped, so `"usage":{` finds only a real usage object.
    // `sage":{` first: JSON is full of quotes, and a search for a pattern starting with one is
    // several times slower on every text chunk.
    if (data.includes('sage":{') && data.includes('"usage":{')) {
      const chunk = JSON.parse(data) as { usage?: unknown; choices?: unknown[] };
      const usage = openAiUsage(chunk.usage);
      if (usage) this.usage = { usage, complete: true };
      // The usage-only chunk we asked for on the client's behalf is not the client's to see.
      if (!this.clientWantsUsage && Array.isArray(chunk.choices) && chunk.choices.length === 0) return false;
    } else if (!this.clientWantsUsage) {
      // Nor the `"usage":null` that asking adds to every other chunk. OpenAI writes it after the
      // choices (then, by default, `obfuscation`): looked for from the end. Quotes inside JSON
      // strings are escaped, so the match is a key, and only a chunk's own has this value.
      const at = event.raw.lastIndexOf(USAGE_NULL);
      const next = event.raw.charCodeAt(at + USAGE_NULL.length);
      if (at > 0 && (next === 44 /* , */ || next === 125 /* } */)) event.raw = event.raw.slice(0, at) + event.raw.slice(at + USAGE_NULL.length);
    }
    if (data !== '[DONE]') this.delivered.add(data);
    return true;
  }

  isTerminal(event: SseEvent): boolean {
    return event.data === '[DONE]';
  }

  toolCalls(event: SseEvent): readonly ReturnedToolCall[] {
    const data = event.data;
    // `_call` (of `tool_calls`, `function_call`) is a cheap first test: searching for a pattern
    // that starts with a quote is several times slower, JSON being full of quotes. Then, as
    // quotes inside JSON strings are escaped, `"name"` is a key: only a delta that opens a call
    // has one (argument deltas do not), and text chunks never do.
    if ((!data.includes('_call') || !data.includes('"name"')) && !hasJsonEscapes(data)) return NO_TOOL_CALLS;
    return deltaToolCalls(JSON.parse(data), this.toolNames);
  }

  reported(): MeteredUsage | null {
    return this.usage;
  }

  deliveredText(): string {
    return this.delivered.text();
  }

  errorEvent(message: string, type: string, fields: Record<string, unknown> = {}): string {
    return `data: ${JSON.stringify({ error: { message, type, param: null, code: type, ...fields } })}\n\n`;
  }
}

export const openAiChat: ApiAdapter = {
  kind: 'openai.chat',
  dialect: 'openai',
  upstreamPath: '/chat/completions',
  producesOutput: true,

  parse(body): CanonicalCall {
    const req = validate(chatRequest, body);
    const limits = [req.max_completion_tokens, req.max_tokens].filter((v): v is number => typeof v === 'number');
    return {
      api: 'openai.chat',
      model: req.model,
      stream: req.stream === true,
      maxOutputTokens: limits.length > 0 ? Math.min(...limits) : null,
      choices: req.n ?? 1,
      // Deprecated `functions` are prompt too: counted so the reservation stays an upper bound.
      prompt: { messages: req.messages, tools: req.functions?.length ? [...(req.tools ?? []), ...req.functions] : (req.tools ?? undefined) },
      // `web_search_options` turns on OpenAI's own search tool: it is a tool like any other.
      tools: [...(req.tools ?? []).map(toolName), ...(req.functions ?? []).map(functionName), ...(body.web_search_options != null ? [WEB_SEARCH] : [])],
    };
  },

  rewrite(body, call, change: UpstreamRewrite): void {
    body.model = change.upstreamModel;
    if (change.maxOutputTokens !== null) {
      // Keep the field the client used; default to the current one (max_tokens is deprecated).
      if (body.max_tokens !== undefined && body.max_tokens !== null) body.max_tokens = change.maxOutputTokens;
      if (body.max_tokens === undefined || body.max_tokens === null || body.max_completion_tokens !== undefined) {
        body.max_completion_tokens = change.maxOutputTokens;
      }
    }
    if (call.stream) {
      // Ask for the usage chunk even when the client did not; the meter strips it again.
      // Object.assign, not a spread: this runs on every streamed call (see store/chain.ts).
      body.stream_options = Object.assign({}, body.stream_options ?? {}, { include_usage: true });
    }
  },

  stripTools(body, drop): string | null {
    const forced = forcedDroppedTool(body, drop);
    if (forced !== null) return forced;
    // `parallel_tool_calls` is only valid with tools; `function_call` only with functions.
    dropTools(body, 'tools', toolName, drop, ['tool_choice', 'parallel_tool_calls']);
    dropTools(body, 'functions', functionName, drop, ['function_call']);
    if (drop.has(WEB_SEARCH)) delete body.web_search_options;
    return null;
  },

  usageFromResponse(json): MeteredUsage | null {
    return reportedUsage(openAiUsage((json as { usage?: unknown } | null)?.usage));
  },

  toolCallsInResponse(json): ReturnedToolCall[] {
    return choiceToolCalls(json);
  },

  responseText(json): string {
    const choices = (json as { choices?: { message?: unknown }[] } | null)?.choices;
    return Array.isArray(choices) ? contentText(choices.map((c) => c.message)) : '';
  },

  createStreamMeter(body): StreamMeter {
    const options = body.stream_options as { include_usage?: unknown } | null | undefined;
    return new OpenAiChatStreamMeter(options?.include_usage === true);
  },
};
