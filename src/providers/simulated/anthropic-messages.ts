// POST /v1/messages — Anthropic Messages, plain and streamed.
// https://docs.anthropic.com/en/api/messages
// https://docs.anthropic.com/en/docs/build-with-claude/streaming
import type { PromptParts } from '../prompt-tokens.js';
import { ANTHROPIC_STREAM_ERROR, type ApiError } from './errors.js';
import { sendEvents, sendJson } from './reply.js';
import type { EventSource, ReplyContext } from './reply.js';
import type { Route } from './route.js';
import { lastUserText, planTurn } from './turn.js';
import type { TurnPlan } from './turn.js';
import { invalid, isError, requireModel } from './validate.js';

/**
 * Anthropic's `input_tokens` excludes cache reads and writes: total input is
 * `input_tokens + cache_creation_input_tokens + cache_read_input_tokens` (= countPromptTokens).
 */
function inputUsage(plan: TurnPlan) {
  return {
    input_tokens: plan.promptTokens - plan.cachedTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: plan.cachedTokens,
  };
}

function stopReason(plan: TurnPlan): string {
  return plan.finish === 'tool_call' ? 'tool_use' : plan.finish === 'length' ? 'max_tokens' : 'end_turn';
}

/** The content blocks of an answer: one text block, or one `tool_use` block per tool call. */
function contentBlocks(ctx: ReplyContext, plan: TurnPlan, text: string): Record<string, unknown>[] {
  return plan.toolCalls === undefined
    ? [{ type: 'text', text }]
    : plan.toolCalls.map((call) => ({ type: 'tool_use', id: ctx.id('toolu_'), name: call.name, input: {} }));
}

function respondPlain(ctx: ReplyContext, plan: TurnPlan): void {
  sendJson(ctx, 200, {
    id: ctx.id('msg_'),
    type: 'message',
    role: 'assistant',
    model: plan.model,
    content: contentBlocks(ctx, plan, plan.text),
    stop_reason: stopReason(plan),
    stop_sequence: null,
    usage: { ...inputUsage(plan), output_tokens: plan.completionTokens },
  });
}

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * message_start (input and cache counts, output_tokens 1), content_block_start, ping, one
 * content_block_delta per token, content_block_stop, message_delta (cumulative output_tokens),
 * message_stop. Tool calls: one block each (start, one input_json_delta, stop), in order.
 */
function eventSource(ctx: ReplyContext, plan: TurnPlan): EventSource {
  const message = {
    id: ctx.id('msg_'),
    type: 'message',
    role: 'assistant',
    model: plan.model,
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { ...inputUsage(plan), output_tokens: 1 },
  };
  const blocks = contentBlocks(ctx, plan, '');
  const start = (index: number) => event('content_block_start', { type: 'content_block_start', index, content_block: blocks[index] });
  const stop = (index: number) => event('content_block_stop', { type: 'content_block_stop', index });
  const head = event('message_start', { type: 'message_start', message }) + start(0) + event('ping', { type: 'ping' });
  const calls = plan.toolCalls;
  // One "token" per tool call: its input, then (if another follows) its stop and the next start.
  const token =
    calls === undefined
      ? (i: number) =>
          `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":${JSON.stringify(plan.pieces[i])}}}\n\n`
      : (k: number) =>
          event('content_block_delta', {
            type: 'content_block_delta',
            index: k,
            delta: { type: 'input_json_delta', partial_json: calls[k]!.arguments },
          }) + (k + 1 < calls.length ? stop(k) + start(k + 1) : '');
  return {
    head,
    count: calls === undefined ? plan.pieces.length : calls.length,
    token,
    tail: () =>
      stop(blocks.length - 1) +
      event('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: stopReason(plan), stop_sequence: null },
        usage: { output_tokens: plan.completionTokens },
      }) +
      event('message_stop', { type: 'message_stop' }),
    error: () => ANTHROPIC_STREAM_ERROR,
  };
}

/** A Messages request's prompt — what a call is billed for and `count_tokens` counts — or the 400 to answer. */
export function messagesPrompt(body: Record<string, unknown>): PromptParts | ApiError {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) return invalid('messages: at least one message is required');
  const system = body.system;
  if (system !== undefined && typeof system !== 'string' && !Array.isArray(system)) {
    return invalid('system: Input should be a valid string or a list of text blocks');
  }
  return { system, messages: messages as unknown[], tools: Array.isArray(body.tools) ? (body.tools as unknown[]) : undefined };
}

export const messagesRoute: Route = {
  dialect: 'anthropic',
  auth: 'bearer-or-x-api-key',
  model: true,
  prepare(raw, settings) {
    const checked = requireModel(raw);
    if (isError(checked)) return checked;
    const { body, model } = checked;
    const prompt = messagesPrompt(body);
    if (isError(prompt)) return prompt;
    const maxTokens = body.max_tokens;
    if (maxTokens === undefined) return invalid('max_tokens: Field required');
    if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) {
      return invalid('max_tokens: Input should be a valid integer greater than or equal to 1');
    }
    const { tools } = prompt;
    const plan = planTurn(
      {
        model,
        prompt,
        lastUserText: lastUserText(prompt.messages),
        maxTokens,
        toolsOffered: tools !== undefined && tools.length > 0,
      },
      settings,
    );
    const stream = body.stream === true;
    return {
      directives: plan.directives,
      stream,
      respond: (ctx) => (stream ? sendEvents(ctx, eventSource(ctx, plan), plan.directives) : respondPlain(ctx, plan)),
    };
  },
};
