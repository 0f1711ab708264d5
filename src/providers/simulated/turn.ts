// What the simulated model answers, shared by every chat-style wire format: a request reduced to
// its canonical parts goes in, a plan (text pieces, tool call, finish reason, usage) comes out.
// The wire modules only render the plan in their own format.
import { contentText, countPromptTokens } from '../prompt-tokens.js';
import type { PromptParts } from '../prompt-tokens.js';
import { countTokens } from '../tokenizer.js';
import { DIRECTIVE_PATTERN, parseDirectives } from './directives.js';
import type { Directives } from './directives.js';
import { answerPieces, hashString } from './text.js';

/** A chat-style request reduced to what the simulated model looks at. */
export interface TurnRequest {
  model: string;
  /** Exactly what the gateway passes to `countPromptTokens` for this wire format. */
  prompt: PromptParts;
  /** Text of the last user message: where directives are read. */
  lastUserText: string;
  /** The request's output limit (`max_tokens`, `max_completion_tokens`, `max_output_tokens`). */
  maxTokens: number | undefined;
  /** Whether the request offers tools (a `[[sim:tool_call]]` directive is ignored otherwise). */
  toolsOffered: boolean;
}

/** Provider options the plan depends on (fixed per provider instance, so plans are cacheable). */
export interface TurnSettings {
  defaultOutputTokens: number;
  cachedPromptShare: number;
}

export interface TurnPlan {
  readonly model: string;
  readonly directives: Directives;
  /** `countPromptTokens(prompt)`: every input token, cached ones included. */
  readonly promptTokens: number;
  /** The part of `promptTokens` reported as read from the prompt cache. */
  readonly cachedTokens: number;
  /** Visible answer, one string per token (empty for a tool call). */
  readonly pieces: readonly string[];
  readonly text: string;
  /** Hidden reasoning tokens (reasoning models only), included in `completionTokens`. */
  readonly reasoningTokens: number;
  /** Visible tokens + reasoning tokens, or the tool calls' tokens. */
  readonly completionTokens: number;
  /** `length` when the request's limit cut the answer short. */
  readonly finish: 'stop' | 'length' | 'tool_call';
  /** Set (one or more, in order) when `finish` is `tool_call`. */
  readonly toolCalls?: readonly PlannedToolCall[];
}

export interface PlannedToolCall {
  readonly name: string;
  /** The arguments as JSON text (`{}`). */
  readonly arguments: string;
}

/** Share of completion tokens that reasoning models report as reasoning. */
const REASONING_SHARE = 0.25;

/** OpenAI's o-series (`o1`, `o3-mini`, `o4-mini`…) and any model named like a reasoning model. */
export function isReasoningModel(model: string): boolean {
  return /^o\d/.test(model) || model.includes('reasoning');
}

export function planTurn(request: TurnRequest, settings: TurnSettings): TurnPlan {
  const directives = parseDirectives(request.lastUserText);
  const promptTokens = countPromptTokens(request.prompt);
  const cachedTokens = Math.floor(promptTokens * settings.cachedPromptShare);
  const base = { model: request.model, directives, promptTokens, cachedTokens };

  if (directives.toolCalls !== undefined && request.toolsOffered) {
    // Their tokens are their names and arguments. Past the output limit, a real model stops
    // writing mid-call: the answer is cut (`length`) and the limit's tokens are what it cost.
    const toolCalls = directives.toolCalls.map((name) => ({ name, arguments: '{}' }));
    let completionTokens = 0;
    for (const call of toolCalls) completionTokens += countTokens(call.name) + countTokens(call.arguments);
    if (request.maxTokens !== undefined && completionTokens > request.maxTokens) {
      return { ...base, pieces: [], text: '', reasoningTokens: 0, completionTokens: request.maxTokens, finish: 'length' };
    }
    return { ...base, pieces: [], text: '', reasoningTokens: 0, completionTokens, finish: 'tool_call', toolCalls };
  }

  const wanted = directives.tokens ?? settings.defaultOutputTokens;
  const total = request.maxTokens === undefined ? wanted : Math.min(wanted, request.maxTokens);
  // Reasoning models spend part of the completion budget on hidden reasoning (OpenAI counts it in
  // completion_tokens and against max_completion_tokens), so the visible answer is shorter.
  const reasoningTokens = isReasoningModel(request.model) ? Math.floor(total * REASONING_SHARE) : 0;
  // The answer is seeded by model and prompt with directives removed, so answers to the same
  // prompt with different directives or limits are prefixes of one another.
  const seedText = `${request.model}\u0000${contentText(request.prompt.system)}\u0000${contentText(request.prompt.messages)}`;
  const pieces = answerPieces(hashString(seedText.replace(DIRECTIVE_PATTERN, '')), total - reasoningTokens);
  return {
    ...base,
    pieces,
    text: pieces.join(''),
    reasoningTokens,
    // Each piece is one token by construction (checked in text.ts), so this equals
    // countTokens(text) + reasoningTokens without tokenizing the answer on every request.
    completionTokens: pieces.length + reasoningTokens,
    finish: total < wanted ? 'length' : 'stop',
  };
}

/** Text of the last message with role `user` (the whole content, parts concatenated). */
export function lastUserText(messages: readonly unknown[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (isRecord(message) && message.role === 'user') return contentText(message.content);
  }
  return '';
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
