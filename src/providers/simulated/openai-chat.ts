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

/**
 * How the request offered tools: `tools` (answered with `tool_calls`), or only the deprecated
 * `functions` (answered with one `function_call`, the first planned call, as the API does).
 */
type ToolStyle = 'tools' | 'functions';

function finishReason(plan: TurnPlan, style: ToolStyle): string {
  if (plan.finish !== 'tool_call') return plan.finish;
  return style === 'functions' ? 'function_call' : 'tool_calls';
}

function respondPlain(ctx: ReplyContext, plan: TurnPlan, style: ToolStyle): void {
  const calls = plan.toolCalls;
  const message =
    calls === undefined
      ? { role: 'assistant', content: plan.text, refusal: null, annotations: [] }
      : style === 'functions'
        ? { role: 'assistant', content: null, function_call: calls[0], refusal: null, annotations: [] }
        : {
            role: 'assistant',
            content: null,
            tool_calls: calls.map((call) => ({ id: ctx.id('call_'), type: 'function', function: call })),
            refusal: null,
            annotations: [],
          };
  sendJson(ctx, 200, {
    id: ctx.id('chatcmpl-'),
    object: 'chat.completion',
    created: ctx.created,
    model: plan.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(plan, style) }],
    usage: usage(plan),
    service_tier: 'default',
    system_fingerprint: SYSTEM_FINGERPRINT,
  });
}

/**
 * Every chunk shares id, created and model; with `stream_options.include_usage` each carries
 * `usage: null` and one extra chunk with `choices: []` carries the usage before `[DONE]`.
 */
function chunkSource(ctx: ReplyContext, plan: TurnPlan, includeUsage: boolean, style: ToolStyle): EventSource {
  const id = ctx.id('chatcmpl-');
  const prefix =
    `data: {"id":"${id}","object":"chat.completion.chunk","created":${ctx.created},` +
    `"model":${JSON.stringify(plan.model)},"system_fingerprint":"${SYSTEM_FINGERPRINT}","choices":[`;
  const suffix = includeUsage ? '],"usage":null}\n\n' : ']}\n\n';
  const choice = (delta: string, finish: string | null): string =>
    `${prefix}{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finish === null ? 'null' : `"${finish}"`}}${suffix}`;
  const tail = (): string =>
    choice('{}', finishReason(plan, style)) +
    (includeUsage ? `${prefix}],"usage":${JSON.stringify(usage(plan))}}\n\n` : '') +
    'data: [DONE]\n\n';
  const error = (): string => OPENAI_STREAM_ERROR;

  const calls = plan.toolCalls;
  if (calls !== undefined && style === 'functions') {
    const call = calls[0]!;
    return {
      head: choice(JSON.stringify({ role: 'assistant', content: null, function_call: { name: call.name, arguments: '' }, refusal: null }), null),
      count: 1,
      token: () => choice(JSON.stringify({ function_call: { arguments: call.arguments } }), null),
      tail,
      error,
    };
  }
  if (calls !== undefined) {
    // Each call opens with a chunk carrying its index, id and name (empty arguments; the first
    // also carries the role); its arguments follow. One "token" per call: its arguments, then
    // the opening of the next call.
    const opening = (k: number) => ({ index: k, id: ctx.id('call_'), type: 'function', function: { name: calls[k]!.name, arguments: '' } });
    const args = (k: number) => choice(JSON.stringify({ tool_calls: [{ index: k, function: { arguments: calls[k]!.arguments } }] }), null);
    return {
      head: choice(JSON.stringify({ role: 'assistant', content: null, tool_calls: [opening(0)], refusal: null }), null),
      count: calls.length,
      token: (k) => args(k) + (k + 1 < calls.length ? choice(JSON.stringify({ tool_calls: [opening(k + 1)] }), null) : ''),
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
    const functions = Array.isArray(body.functions) ? (body.functions as unknown[]) : [];
    const style: ToolStyle = (tools === undefined || tools.length === 0) && functions.length > 0 ? 'functions' : 'tools';
    const plan = planTurn(
      {
        model,
        // Deprecated `functions` are prompt too (the gateway counts them the same way).
        prompt: { messages: messages as unknown[], tools: functions.length > 0 ? [...(tools ?? []), ...functions] : tools },
        lastUserText: lastUserText(messages as unknown[]),
        maxTokens,
        toolsOffered: (tools !== undefined && tools.length > 0) || functions.length > 0,
      },
      settings,
    );
    const stream = body.stream === true;
    const includeUsage = isRecord(body.stream_options) && body.stream_options.include_usage === true;
    return {
      directives: plan.directives,
      stream,
      respond: (ctx) =>
        stream ? sendEvents(ctx, chunkSource(ctx, plan, includeUsage, style), plan.directives) : respondPlain(ctx, plan, style),
    };
  },
};
