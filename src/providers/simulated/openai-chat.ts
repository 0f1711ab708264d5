// POST /v1/chat/completions — OpenAI Chat Completions, plain and streamed.
// https://platform.openai.com/docs/api-reference/chat/create
// https://platform.openai.com/docs/api-reference/chat-streaming
import { OPENAI_STREAM_ERROR } from './errors.js';
import { sendEvents, sendJson } from './reply.js';
import type { EventSource, ReplyContext } from './reply.js';
import type { Route } from './route.js';
import { isRecord, lastUserText, planTurn } from './turn.js';
import type { TurnPlan } from './turn.js';
import { invalid, isError, optionalCount, requireModel } from './validate.js';

export const SYSTEM_FINGERPRINT = 'fp_tollgate_sim';

/** Chat Completions `usage`: prompt_tokens includes cached tokens, completion_tokens includes reasoning. */
function usage(plan: TurnPlan): unknown {
  return {
    prompt_tokens: plan.promptTokens,
    completion_tokens: plan.completionTokens,
    total_tokens: plan.promptTokens + plan.completionTokens,
    prompt_tokens_details: { cached_tokens: plan.cachedTokens, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: plan.reasoningTokens,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

function finishReason(plan: TurnPlan): string {
  return plan.finish === 'tool_call' ? 'tool_calls' : plan.finish;
}

function respondPlain(ctx: ReplyContext, plan: TurnPlan): void {
  const message =
    plan.toolCall === undefined
      ? { role: 'assistant', content: plan.text, refusal: null, annotations: [] }
      : {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: ctx.id('call_'), type: 'function', function: plan.toolCall }],
          refusal: null,
          annotations: [],
        };
  sendJson(ctx, 200, {
    id: ctx.id('chatcmpl-'),
    object: 'chat.completion',
    created: ctx.created,
    model: plan.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(plan) }],
    usage: usage(plan),
    service_tier: 'default',
    system_fingerprint: SYSTEM_FINGERPRINT,
  });
}

/**
 * Every chunk shares id, created and model; with `stream_options.include_usage` each carries
 * `usage: null` and one extra chunk with `choices: []` carries the usage before `[DONE]`.
 */
function chunkSource(ctx: ReplyContext, plan: TurnPlan, includeUsage: boolean): EventSource {
  const id = ctx.id('chatcmpl-');
  const prefix =
    `data: {"id":"${id}","object":"chat.completion.chunk","created":${ctx.created},` +
    `"model":${JSON.stringify(plan.model)},"system_fingerprint":"${SYSTEM_FINGERPRINT}","choices":[`;
  const suffix = includeUsage ? '],"usage":null}\n\n' : ']}\n\n';
  const choice = (delta: string, finish: string | null): string =>
    `${prefix}{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finish === null ? 'null' : `"${finish}"`}}${suffix}`;
  const tail = (): string =>
    choice('{}', finishReason(plan)) +
    (includeUsage ? `${prefix}],"usage":${JSON.stringify(usage(plan))}}\n\n` : '') +
    'data: [DONE]\n\n';
  const error = (): string => OPENAI_STREAM_ERROR;

  const { toolCall } = plan;
  if (toolCall !== undefined) {
    // The first chunk opens the call (id, name, empty arguments); the arguments follow as deltas.
    const opening = { index: 0, id: ctx.id('call_'), type: 'function', function: { name: toolCall.name, arguments: '' } };
    return {
      head: choice(JSON.stringify({ role: 'assistant', content: null, tool_calls: [opening], refusal: null }), null),
      count: 1,
      token: () => choice(JSON.stringify({ tool_calls: [{ index: 0, function: { arguments: toolCall.arguments } }] }), null),
      tail,
      error,
    };
  }
  return {
    head: choice('{"role":"assistant","content":"","refusal":null}', null),
    count: plan.pieces.length,
    token: (i) => choice(`{"content":${JSON.stringify(plan.pieces[i])}}`, null),
    tail,
    error,
  };
}

export const chatCompletionsRoute: Route = {
  dialect: 'openai',
  auth: 'bearer',
  model: true,
  prepare(raw, settings) {
    const checked = requireModel(raw);
    if (isError(checked)) return checked;
    const { body, model } = checked;
    const messages = body.messages;
    if (!Array.isArray(messages) || messages.length === 0) {
      return invalid("Invalid 'messages': expected a non-empty array of messages.", 'messages');
    }
    // max_completion_tokens supersedes the deprecated max_tokens.
    let maxTokens = optionalCount(body, 'max_completion_tokens');
    if (maxTokens === undefined) maxTokens = optionalCount(body, 'max_tokens');
    if (isError(maxTokens)) return maxTokens;
    const tools = Array.isArray(body.tools) ? (body.tools as unknown[]) : undefined;
    const plan = planTurn(
      {
        model,
        prompt: { messages: messages as unknown[], tools },
        lastUserText: lastUserText(messages as unknown[]),
        maxTokens,
        toolsOffered: tools !== undefined && tools.length > 0,
      },
      settings,
    );
    const stream = body.stream === true;
    const includeUsage = isRecord(body.stream_options) && body.stream_options.include_usage === true;
    return {
      directives: plan.directives,
      stream,
      respond: (ctx) =>
        stream ? sendEvents(ctx, chunkSource(ctx, plan, includeUsage), plan.directives) : respondPlain(ctx, plan),
    };
  },
};
