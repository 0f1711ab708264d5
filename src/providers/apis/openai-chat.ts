// OpenAI Chat Completions (https://platform.openai.com/docs/api-reference/chat).
import { z } from 'zod';
import type { Usage } from '../../store/index.js';
import { contentText } from '../prompt-tokens.js';
import type { SseEvent } from '../sse.js';
import { DeliveredEvents, num, validate, type ApiAdapter, type CanonicalCall, type MeteredUsage, type StreamMeter, type UpstreamRewrite } from './api.js';

const outputLimit = z.number().int().positive().nullish();

const chatRequest = z.looseObject({
  model: z.string().min(1),
  messages: z.array(z.looseObject({ role: z.string() })).min(1),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  max_tokens: outputLimit,
  max_completion_tokens: outputLimit,
  tools: z.array(z.looseObject({ type: z.string().optional() })).nullish(),
  n: z.number().int().min(1).max(128).nullish(),
});

/** Name of a tool definition: `{type:'function', function:{name}}` or a custom tool's `name`. */
export function toolName(tool: Record<string, unknown>): string {
  const fn = tool.function as Record<string, unknown> | undefined;
  if (fn && typeof fn.name === 'string') return fn.name;
  return typeof tool.name === 'string' ? tool.name : '';
}

/** OpenAI `usage` → canonical usage (prompt_tokens includes cached, completion includes reasoning). */
export function openAiUsage(usage: unknown): Usage | null {
  if (usage === null || typeof usage !== 'object') return null;
  const u = usage as Record<string, Record<string, unknown> | undefined>;
  return {
    inputTokens: num(u.prompt_tokens),
    outputTokens: num(u.completion_tokens),
    cachedInputTokens: num(u.prompt_tokens_details?.cached_tokens),
    cacheWriteTokens: 0,
    reasoningTokens: num(u.completion_tokens_details?.reasoning_tokens),
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

/** One OpenAI-style SSE meter, shared by every OpenAI API whose stream ends with `[DONE]`. */
export class OpenAiChatStreamMeter implements StreamMeter {
  private usage: MeteredUsage | null = null;
  private readonly delivered = new DeliveredEvents(deltaText);
  constructor(private readonly clientWantsUsage: boolean) {}

  accept(event: SseEvent): boolean {
    const data = event.data;
    // Quotes inside JSON strings are escaped, so this finds only a real usage object.
    if (data.includes('"usage":{')) {
      const chunk = JSON.parse(data) as { usage?: unknown; choices?: unknown[] };
      const usage = openAiUsage(chunk.usage);
      if (usage) this.usage = { usage, complete: true };
      // The usage-only chunk we asked for on the client's behalf is not the client's to see.
      if (!this.clientWantsUsage && Array.isArray(chunk.choices) && chunk.choices.length === 0) return false;
    }
    if (data !== '[DONE]') this.delivered.add(data);
    return true;
  }

  isTerminal(event: SseEvent): boolean {
    return event.data === '[DONE]';
  }

  reported(): MeteredUsage | null {
    return this.usage;
  }

  deliveredText(): string {
    return this.delivered.text();
  }

  errorEvent(message: string, type: string): string {
    return `data: ${JSON.stringify({ error: { message, type, param: null, code: type } })}\n\n`;
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
      prompt: { messages: req.messages, tools: req.tools ?? undefined },
      tools: (req.tools ?? []).map(toolName),
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
      const options = (body.stream_options ?? {}) as Record<string, unknown>;
      body.stream_options = { ...options, include_usage: true };
    }
  },

  usageFromResponse(json): MeteredUsage | null {
    const usage = openAiUsage((json as { usage?: unknown } | null)?.usage);
    return usage ? { usage, complete: true } : null;
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
