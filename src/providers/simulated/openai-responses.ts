// POST /v1/responses — OpenAI Responses API, plain and streamed (text and function calls).
// https://platform.openai.com/docs/api-reference/responses/create
// https://platform.openai.com/docs/api-reference/responses-streaming
// A response cut by max_output_tokens has status `incomplete` (streamed: `response.incomplete`);
// a simulated mid-stream failure ends with `response.failed`. No reasoning output items are
// emitted; reasoning models only report reasoning tokens in usage.
import type { PromptParts } from '../prompt-tokens.js';
import { defaultMessage, type ApiError } from './errors.js';
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
  /** One output item per tool call, or the one message item. */
  itemIds: string[];
  callIds: string[];
  created: number;
  plan: TurnPlan;
  echo: Json;
}

function newMeta(ctx: ReplyContext, plan: TurnPlan, echo: Json): Meta {
  const calls = plan.toolCalls;
  return {
    id: ctx.id('resp_'),
    itemIds: calls === undefined ? [ctx.id('msg_')] : calls.map(() => ctx.id('fc_')),
    callIds: calls === undefined ? [] : calls.map(() => ctx.id('call_')),
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

type ItemStatus = 'in_progress' | 'completed' | 'incomplete';

/** Output item `k`: the k-th function call, or (k = 0) the message. */
function outputItem(meta: Meta, k: number, status: ItemStatus, text: string | null): Json {
  const call = meta.plan.toolCalls?.[k];
  if (call !== undefined) {
    return {
      id: meta.itemIds[k],
      type: 'function_call',
      status,
      arguments: status === 'in_progress' ? '' : call.arguments,
      call_id: meta.callIds[k],
      name: call.name,
    };
  }
  return { id: meta.itemIds[0], type: 'message', status, content: text === null ? [] : [textPart(text)], role: 'assistant' };
}

function outputItems(meta: Meta, status: ItemStatus, text: string | null, count = meta.itemIds.length): Json[] {
  return meta.itemIds.slice(0, count).map((_, k) => outputItem(meta, k, status, text));
}

function finalStatus(plan: TurnPlan): 'completed' | 'incomplete' {
  return plan.finish === 'length' ? 'incomplete' : 'completed';
}

function respondPlain(ctx: ReplyContext, plan: TurnPlan, echo: Json): void {
  const meta = newMeta(ctx, plan, echo);
  const status = finalStatus(plan);
  sendJson(ctx, 200, responseObject(meta, status, outputItems(meta, status === 'completed' ? 'completed' : 'incomplete', plan.text)));
}

function eventSource(ctx: ReplyContext, plan: TurnPlan, echo: Json): EventSource {
  const meta = newMeta(ctx, plan, echo);
  const calls = plan.toolCalls;
  const event = (type: string, seq: number, data: Json): string =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq, ...data })}\n\n`;
  const inPart = { item_id: meta.itemIds[0], output_index: 0, content_index: 0 };
  const status = finalStatus(plan);
  const itemStatus = status === 'completed' ? 'completed' : 'incomplete';

  const opening = responseObject(meta, 'in_progress', []);
  const added = (k: number, seq: number) =>
    event('response.output_item.added', seq, { output_index: k, item: outputItem(meta, k, 'in_progress', null) });
  let head = event('response.created', 0, { response: opening }) + event('response.in_progress', 1, { response: opening }) + added(0, 2);
  if (calls === undefined) head += event('response.content_part.added', 3, { ...inPart, part: textPart('') });
  const headCount = calls === undefined ? 4 : 3;
  const completed = (seq: number) => event(`response.${status}`, seq, { response: responseObject(meta, status, outputItems(meta, itemStatus, plan.text)) });

  // A failure mid-answer: the partial output, status `failed`, no usage.
  const failed = (seq: number, output: Json[]): string =>
    event('response.failed', seq, {
      response: responseObject(meta, 'failed', output, { error: { code: 'server_error', message: defaultMessage('openai', 500) } }),
    });

  if (calls !== undefined) {
    // Per call: its arguments delta; then, unless it is the last, its done events and the next
    // call's output_item.added (4 events). The last call's done events open the tail.
    const n = calls.length;
    const done = (k: number, seq: number) =>
      event('response.function_call_arguments.done', seq, { item_id: meta.itemIds[k], output_index: k, name: calls[k]!.name, arguments: calls[k]!.arguments }) +
      event('response.output_item.done', seq + 1, { output_index: k, item: outputItem(meta, k, itemStatus, null) });
    const seqOf = (k: number) => headCount + 4 * k;
    return {
      head,
      count: n,
      token: (k) =>
        event('response.function_call_arguments.delta', seqOf(k), { item_id: meta.itemIds[k], output_index: k, delta: calls[k]!.arguments }) +
        (k + 1 < n ? done(k, seqOf(k) + 1) + added(k + 1, seqOf(k) + 3) : ''),
      tail: () => done(n - 1, seqOf(n - 1) + 1) + completed(seqOf(n - 1) + 3),
      error: (sent) => failed(sent < n ? seqOf(sent) : seqOf(n - 1) + 1, outputItems(meta, 'incomplete', null, Math.min(n, sent + 1))),
    };
  }

  return {
    head,
    count: plan.pieces.length,
    token: (i) => event('response.output_text.delta', headCount + i, { ...inPart, delta: plan.pieces[i], logprobs: [] }),
    tail: () => {
      let seq = headCount + plan.pieces.length;
      let out = event('response.output_text.done', seq++, { ...inPart, text: plan.text, logprobs: [] });
      out += event('response.content_part.done', seq++, { ...inPart, part: textPart(plan.text) });
      out += event('response.output_item.done', seq++, { output_index: 0, item: outputItem(meta, 0, itemStatus, plan.text) });
      return out + completed(seq);
    },
    error: (sent) => failed(headCount + sent, outputItems(meta, 'incomplete', plan.pieces.slice(0, sent).join(''))),
  };
}

/**
 * A Responses request's prompt — what a response is billed for and `input_tokens` counts — or the
 * 400 to answer. `nullInput`: `input: null` means none (counting accepts it; creating does not).
 */
export function responsesPrompt(body: Record<string, unknown>, nullInput = false): PromptParts | ApiError {
  const input = nullInput && body.input === null ? undefined : body.input;
  if (input !== undefined && typeof input !== 'string' && !Array.isArray(input)) {
    return invalid("Invalid 'input': expected a string or an array of input items.", 'input');
  }
  const instructions = body.instructions;
  if (instructions !== undefined && instructions !== null && typeof instructions !== 'string') {
    return invalid("Invalid 'instructions': expected a string.", 'instructions');
  }
  // A string input is one user message.
  const messages: unknown[] = input === undefined ? [] : typeof input === 'string' ? [{ role: 'user', content: input }] : (input as unknown[]);
  return { system: instructions ?? undefined, messages, tools: Array.isArray(body.tools) ? (body.tools as unknown[]) : undefined };
}

export const responsesRoute: Route = {
  dialect: 'openai',
  auth: 'bearer',
  model: true,
  prepare(raw, settings) {
    const checked = requireModel(raw);
    if (isError(checked)) return checked;
    const { body, model } = checked;
    const prompt = responsesPrompt(body);
    if (isError(prompt)) return prompt;
    const maxTokens = optionalCount(body, 'max_output_tokens');
    if (isError(maxTokens)) return maxTokens;
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
