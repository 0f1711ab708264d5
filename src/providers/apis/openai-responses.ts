// OpenAI Responses (https://platform.openai.com/docs/api-reference/responses), which the OpenAI
// Agents SDK uses. Usage: `input_tokens` (includes `input_tokens_details.cached_tokens`),
// `output_tokens` (includes `output_tokens_details.reasoning_tokens`); streamed, in the response
// carried by `response.completed` (or `response.incomplete`). Streams have no `[DONE]`.
import { z } from 'zod';
import { GatewayError } from '../../errors/index.js';
import type { Usage } from '../../store/index.js';
import { contentText } from '../prompt-tokens.js';
import { openAiUsage } from './openai-chat.js';
import type { SseEvent } from '../sse.js';
import {
  callsIn, DeliveredEvents, dropTools, hasJsonEscapes, isObject, NO_TOOL_CALLS, parsedArguments, reportedUsage, validate,
  type ApiAdapter, type CanonicalCall, type MeteredUsage, type ReturnedToolCall, type StreamMeter,
} from './api.js';

const responsesRequest = z.looseObject({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(z.looseObject({}))]).optional(),
  instructions: z.string().nullish(),
  max_output_tokens: z.number().int().positive().nullish(),
  stream: z.boolean().nullish(),
  tools: z.array(z.looseObject({ type: z.string() })).nullish(),
});

/**
 * The scope name of a built-in tool, from its type: dated and preview variants share one name
 * (`web_search_preview_2025_03_11` → `web_search`, as chat's `web_search_options`), and
 * `computer_use_preview` is `computer_use`.
 */
function builtinName(type: string): string {
  return type.replace(/_\d{4}_\d{2}_\d{2}$/, '').replace(/_preview$/, '');
}

/** Function and custom tools by `name`; built-in tools (web search, file search…) by type. */
function toolName(tool: Record<string, unknown>): string {
  const type = typeof tool.type === 'string' ? tool.type : '';
  if (type === 'function' || type === 'custom') return typeof tool.name === 'string' ? tool.name : '';
  return builtinName(type);
}

/** Output items that run a built-in tool, and the tool's scope name where `*_call` does not give it. */
const CALL_ITEM_TOOL: Readonly<Record<string, string>> = { computer_call: 'computer_use' };

/**
 * The tool an output item calls, or null: `function_call` and `custom_tool_call` by name, a
 * remote `mcp_call` as `server_label/name`, built-in `*_call` items by their tool's name.
 */
function itemToolCall(item: unknown, withArguments: boolean): ReturnedToolCall | null {
  if (!isObject(item) || typeof item.type !== 'string' || !item.type.endsWith('_call')) return null;
  const type = item.type;
  let name: string;
  let args: unknown;
  if (type === 'function_call' || type === 'custom_tool_call' || type === 'mcp_call') {
    name = typeof item.name === 'string' ? item.name : '';
    if (type === 'mcp_call' && typeof item.server_label === 'string') name = `${item.server_label}/${name}`;
    args = parsedArguments(item.arguments ?? item.input);
  } else {
    name = CALL_ITEM_TOOL[type] ?? type.slice(0, -'_call'.length);
    args = item.action;
  }
  if (name.length === 0) return null;
  return withArguments && args !== undefined ? { name, arguments: args } : { name };
}

/** Responses `usage`: chat's arithmetic under other names. */
const responsesUsage = (usage: unknown): Usage | null => openAiUsage(usage, 'input');

/** Events that end a stream; `completed` and `incomplete` carry the usage. */
const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed']);

/**
 * The event's type: its `event:` line, or — for servers that send only `data:` — the `type`
 * its JSON opens with (OpenAI writes it first).
 */
function eventType(event: SseEvent): string {
  if (event.event !== undefined) return event.event;
  const data = event.data;
  if (!data.startsWith('{"type":"')) return '';
  return data.slice(9, data.indexOf('"', 9));
}

const deltaText = (chunk: Record<string, unknown>): string => (typeof chunk.delta === 'string' ? chunk.delta : '');

class ResponsesStreamMeter implements StreamMeter {
  private usage: MeteredUsage | null = null;
  private readonly delivered = new DeliveredEvents(deltaText);
  /** Events seen: the next event's `sequence_number`, for an error the gateway adds. */
  private events = 0;
  private failed = false;

  accept(event: SseEvent): boolean {
    this.events++;
    const type = eventType(event);
    if (type.endsWith('.delta')) this.delivered.add(event.data);
    else if (TERMINAL.has(type)) {
      this.failed = type === 'response.failed';
      const usage = responsesUsage((JSON.parse(event.data) as { response?: { usage?: unknown } }).response?.usage);
      if (usage) this.usage = { usage, complete: true };
    }
    return true;
  }

  isTerminal(event: SseEvent): boolean {
    return TERMINAL.has(eventType(event));
  }

  endedInFailure(): boolean {
    return this.failed;
  }

  toolCalls(event: SseEvent): readonly ReturnedToolCall[] {
    // A call opens with its output item (`response.output_item.added`, naming the tool); its
    // arguments follow in deltas. Only items whose type ends in `_call` are calls. Judged by the
    // data's own `type`, which clients act on, whatever the event's name says.
    if (!event.data.includes('_call"') && !hasJsonEscapes(event.data)) return NO_TOOL_CALLS;
    const chunk = JSON.parse(event.data) as { type?: unknown; item?: unknown };
    const call = chunk.type === 'response.output_item.added' ? itemToolCall(chunk.item, false) : null;
    return call ? [call] : NO_TOOL_CALLS;
  }

  reported(): MeteredUsage | null {
    return this.usage;
  }

  deliveredText(): string {
    return this.delivered.text();
  }

  errorEvent(message: string, type: string, fields: Record<string, unknown> = {}): string {
    // The Responses stream's own error event: {type: 'error', code, message, param, sequence_number}.
    const data = { type: 'error', code: type, message, param: null, sequence_number: this.events, ...fields };
    return `event: error\ndata: ${JSON.stringify(data)}\n\n`;
  }
}

export const openAiResponses: ApiAdapter = {
  kind: 'openai.responses',
  dialect: 'openai',
  upstreamPath: '/responses',
  producesOutput: true,

  parse(body): CanonicalCall {
    const req = validate(responsesRequest, body);
    // A background response is fetched later (GET /v1/responses/{id}), past the gateway: its
    // usage would never be metered.
    if (body.background === true) {
      throw new GatewayError('invalid_request', 'background responses are not supported through the gateway: their usage could not be metered.', { param: 'background' });
    }
    const tools = req.tools ?? [];
    // Remote MCP servers run tools at the provider, out of the gateway's sight (as Anthropic's mcp_servers).
    if (tools.some((t) => t.type === 'mcp')) {
      throw new GatewayError('tool_not_allowed', 'Remote MCP tools (type "mcp") are not allowed: call MCP tools through the gateway at /mcp/{server}.', { param: 'tools' });
    }
    const input = req.input === undefined ? [] : typeof req.input === 'string' ? [{ role: 'user', content: req.input }] : req.input;
    return {
      api: 'openai.responses',
      model: req.model,
      stream: req.stream === true,
      maxOutputTokens: req.max_output_tokens ?? null,
      choices: 1,
      prompt: {
        system: req.instructions ?? undefined, messages: input, tools: tools.length > 0 ? tools : undefined,
        // Earlier turns the provider keeps (and bills) but the request does not carry.
        storedContext: isPresent(body.previous_response_id) || isPresent(body.conversation) || isPresent(body.prompt),
      },
      tools: tools.map(toolName),
    };
  },

  rewrite(body, _call, change): void {
    body.model = change.upstreamModel;
    if (change.maxOutputTokens !== null) body.max_output_tokens = change.maxOutputTokens;
  },

  stripTools(body, drop): string | null {
    const choice = body.tool_choice;
    if (isObject(choice)) {
      // {type: 'function', name}, {type: 'custom', name}, or a built-in tool by type.
      const forced = choice.type === 'allowed_tools' ? null : toolName(choice);
      if (forced && drop.has(forced)) return forced;
      if (choice.type === 'allowed_tools' && Array.isArray(choice.tools)) {
        const listed = choice.tools.filter(isObject);
        const kept = listed.filter((t) => !drop.has(toolName(t)));
        if (kept.length === 0 && listed.length > 0 && choice.mode === 'required') return toolName(listed[0]!);
        if (kept.length === 0) delete body.tool_choice;
        else body.tool_choice = { ...choice, tools: kept };
      }
    }
    dropTools(body, 'tools', toolName, drop, ['tool_choice', 'parallel_tool_calls']);
    return null;
  },

  usageFromResponse(json): MeteredUsage | null {
    return reportedUsage(responsesUsage((json as { usage?: unknown } | null)?.usage));
  },

  toolCallsInResponse(json): ReturnedToolCall[] {
    return callsIn(isObject(json) ? json.output : undefined, (item) => itemToolCall(item, true));
  },

  responseText(json): string {
    return contentText((json as { output?: unknown } | null)?.output);
  },

  createStreamMeter(): StreamMeter {
    return new ResponsesStreamMeter();
  },
};

const isPresent = (v: unknown): boolean => v !== undefined && v !== null && v !== '';
