// POST /v1/responses — OpenAI Responses API, plain and streamed (text and function calls).
// https://platform.openai.com/docs/api-reference/responses/create
// https://platform.openai.com/docs/api-reference/responses-streaming
// A response cut by max_output_tokens has status `incomplete` (streamed: `response.incomplete`);
// a simulated mid-stream failure ends with `response.failed`. No reasoning output items are
// emitted; reasoning models only report reasoning tokens in usage.
import { defaultMessage } from './errors.js';
import { sendEvents, sendJson } from './reply.js';
import type { EventSource, ReplyContext } from './reply.js';
import type { Route } from './route.js';
import { lastUserText, planTurn } from './turn.js';
import type { TurnPlan } from './turn.js';
import { invalid, isError, optionalCount, requireModel } from './validate.js';

type Json = Record<string, unknown>;

/** Request fields the response object echoes back. */
function echoed(body: Json, maxTokens: number | undefined): Json {
  return {
    instructions: body.instructions ?? null,
    max_output_tokens: maxTokens ?? null,
    metadata: body.metadata ?? {},
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: { effort: null, summary: null },
    store: body.store ?? true,
    temperature: body.temperature ?? 1,
    text: { format: { type: 'text' } },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_p: body.top_p ?? 1,
    truncation: body.truncation ?? 'disabled',
    user: body.user ?? null,
  };
}

function usage(plan: TurnPlan): Json {
  return {
    input_tokens: plan.promptTokens,
    input_tokens_details: { cached_tokens: plan.cachedTokens },
    output_tokens: plan.completionTokens,
    output_tokens_details: { reasoning_tokens: plan.reasoningTokens },
    total_tokens: plan.promptTokens + plan.completionTokens,
  };
}

/** Ids and echoed fields of one answer. */
interface Meta {
  id: string;
  itemId: string;
  callId: string;
  created: number;
  plan: TurnPlan;
  echo: Json;
}

function newMeta(ctx: ReplyContext, plan: TurnPlan, echo: Json): Meta {
  const tool = plan.toolCall !== undefined;
  return {
    id: ctx.id('resp_'),
    itemId: ctx.id(tool ? 'fc_' : 'msg_'),
    callId: tool ? ctx.id('call_') : '',
    created: ctx.created,
    plan,
    echo,
  };
}

type Status = 'in_progress' | 'completed' | 'incomplete' | 'failed';

function responseObject(meta: Meta, status: Status, output: unknown[], extra?: Json): Json {
  return {
    id: meta.id,
    object: 'response',
    created_at: meta.created,
    status,
    background: false,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    model: meta.plan.model,
    output,
    ...meta.echo,
    usage: status === 'completed' || status === 'incomplete' ? usage(meta.plan) : null,
    ...extra,
  };
}

function textPart(text: string): Json {
  return { type: 'output_text', annotations: [], logprobs: [], text };
}

function outputItem(meta: Meta, status: 'in_progress' | 'completed' | 'incomplete', text: string | null): Json {
  const { toolCall } = meta.plan;
  if (toolCall !== undefined) {
    return {
      id: meta.itemId,
      type: 'function_call',
      status,
      arguments: status === 'in_progress' ? '' : toolCall.arguments,
      call_id: meta.callId,
      name: toolCall.name,
    };
  }
  return { id: meta.itemId, type: 'message', status, content: text === null ? [] : [textPart(text)], role: 'assistant' };
}

function finalStatus(plan: TurnPlan): 'completed' | 'incomplete' {
  return plan.finish === 'length' ? 'incomplete' : 'completed';
}

function respondPlain(ctx: ReplyContext, plan: TurnPlan, echo: Json): void {
  const meta = newMeta(ctx, plan, echo);
  const status = finalStatus(plan);
  sendJson(ctx, 200, responseObject(meta, status, [outputItem(meta, status === 'completed' ? 'completed' : 'incomplete', plan.text)]));
}

function eventSource(ctx: ReplyContext, plan: TurnPlan, echo: Json): EventSource {
  const meta = newMeta(ctx, plan, echo);
  const { toolCall } = plan;
  const event = (type: string, seq: number, data: Json): string =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq, ...data })}\n\n`;
  const at = { output_index: 0 };
  const inPart = { item_id: meta.itemId, output_index: 0, content_index: 0 };

  const opening = responseObject(meta, 'in_progress', []);
  let head =
    event('response.created', 0, { response: opening }) +
    event('response.in_progress', 1, { response: opening }) +
    event('response.output_item.added', 2, { ...at, item: outputItem(meta, 'in_progress', null) });
  if (toolCall === undefined) head += event('response.content_part.added', 3, { ...inPart, part: textPart('') });
  const headCount = toolCall === undefined ? 4 : 3;
  const count = toolCall === undefined ? plan.pieces.length : 1;

  const token =
    toolCall === undefined
      ? (i: number) =>
          event('response.output_text.delta', headCount + i, { ...inPart, delta: plan.pieces[i], logprobs: [] })
      : () =>
          event('response.function_call_arguments.delta', headCount, {
            item_id: meta.itemId,
            output_index: 0,
            delta: toolCall.arguments,
          });

  const tail = (): string => {
    let seq = headCount + count;
    const status = finalStatus(plan);
    const item = outputItem(meta, status === 'completed' ? 'completed' : 'incomplete', plan.text);
    let out = '';
    if (toolCall === undefined) {
      out += event('response.output_text.done', seq++, { ...inPart, text: plan.text, logprobs: [] });
      out += event('response.content_part.done', seq++, { ...inPart, part: textPart(plan.text) });
    } else {
      out += event('response.function_call_arguments.done', seq++, {
        item_id: meta.itemId,
        output_index: 0,
        name: toolCall.name,
        arguments: toolCall.arguments,
      });
    }
    out += event('response.output_item.done', seq++, { ...at, item });
    out += event(`response.${status}`, seq, { response: responseObject(meta, status, [item]) });
    return out;
  };

  // A failure mid-answer: the partial output, status `failed`, no usage.
  const error = (sent: number): string => {
    const partial = toolCall === undefined ? plan.pieces.slice(0, sent).join('') : null;
    const failed = responseObject(meta, 'failed', [outputItem(meta, 'incomplete', partial)], {
      error: { code: 'server_error', message: defaultMessage('openai', 500) },
    });
    return event('response.failed', headCount + sent, { response: failed });
  };

  return { head, count, token, tail, error };
}

export const responsesRoute: Route = {
  dialect: 'openai',
  auth: 'bearer',
  model: true,
  prepare(raw, settings) {
    const checked = requireModel(raw);
    if (isError(checked)) return checked;
    const { body, model } = checked;
    const input = body.input;
    if (input !== undefined && typeof input !== 'string' && !Array.isArray(input)) {
      return invalid("Invalid 'input': expected a string or an array of input items.", 'input');
    }
    const instructions = body.instructions;
    if (instructions !== undefined && instructions !== null && typeof instructions !== 'string') {
      return invalid("Invalid 'instructions': expected a string.", 'instructions');
    }
    const maxTokens = optionalCount(body, 'max_output_tokens');
    if (isError(maxTokens)) return maxTokens;
    // A string input is one user message.
    const messages: unknown[] =
      input === undefined ? [] : typeof input === 'string' ? [{ role: 'user', content: input }] : (input as unknown[]);
    const tools = Array.isArray(body.tools) ? (body.tools as unknown[]) : undefined;
    const plan = planTurn(
      {
        model,
        prompt: { system: instructions ?? undefined, messages, tools },
        lastUserText: lastUserText(messages),
        maxTokens,
        toolsOffered: tools !== undefined && tools.length > 0,
      },
      settings,
    );
    const echo = echoed(body, maxTokens);
    const stream = body.stream === true;
    return {
      directives: plan.directives,
      stream,
      respond: (ctx) =>
        stream ? sendEvents(ctx, eventSource(ctx, plan, echo), plan.directives) : respondPlain(ctx, plan, echo),
    };
  },
};
