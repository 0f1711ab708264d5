// Anthropic Messages (https://docs.anthropic.com/en/api/messages). Note the usage arithmetic:
// `input_tokens` EXCLUDES cache reads and writes, so total input is the sum of all three.
import { z } from 'zod';
import { GatewayError } from '../../errors/index.js';
import type { Usage } from '../../store/index.js';
import { contentText } from '../prompt-tokens.js';
import type { SseEvent } from '../sse.js';
import {
  callsIn, DeliveredEvents, dropTools, hasJsonEscapes, isObject, NO_TOOL_CALLS, num, reportedUsage, validate,
  type ApiAdapter, type CanonicalCall, type MeteredUsage, type ReturnedToolCall, type StreamMeter,
} from './api.js';

/** The least thinking budget Anthropic's API accepts. */
const MIN_THINKING_BUDGET = 1024;

/** Extended thinking's token budget, when the request enables it. */
function thinkingBudget(body: Record<string, unknown>): number | null {
  const thinking = body.thinking;
  if (thinking === null || typeof thinking !== 'object') return null;
  const t = thinking as Record<string, unknown>;
  return t.type === 'enabled' && typeof t.budget_tokens === 'number' ? t.budget_tokens : null;
}

const messagesRequest = z.looseObject({
  model: z.string().min(1),
  messages: z.array(z.looseObject({ role: z.string() })).min(1),
  max_tokens: z.number().int().positive(),
  stream: z.boolean().nullish(),
  system: z.union([z.string(), z.array(z.looseObject({}))]).nullish(),
  tools: z.array(z.looseObject({ name: z.string().optional() })).nullish(),
});

function anthropicUsage(usage: unknown, previous?: Usage): Usage | null {
  if (usage === null || typeof usage !== 'object') return null;
  const u = usage as Record<string, unknown>;
  // In streams, message_delta's usage is cumulative and may omit the input counts: keep earlier ones.
  const pick = (key: string, prev: number) => (u[key] === undefined || u[key] === null ? prev : num(u[key]));
  const cacheRead = pick('cache_read_input_tokens', previous?.cachedInputTokens ?? 0);
  const cacheWrite = pick('cache_creation_input_tokens', previous?.cacheWriteTokens ?? 0);
  const uncached = pick('input_tokens', previous ? previous.inputTokens - previous.cachedInputTokens - previous.cacheWriteTokens : 0);
  return {
    inputTokens: uncached + cacheRead + cacheWrite,
    outputTokens: pick('output_tokens', previous?.outputTokens ?? 0),
    cachedInputTokens: cacheRead,
    cacheWriteTokens: cacheWrite,
    reasoningTokens: 0,
  };
}

/** Client tools and server tools (`{type: 'web_search_20250305', name: 'web_search'}`) alike are named by `name`. */
const toolName = (tool: Record<string, unknown>): string => (typeof tool.name === 'string' ? tool.name : '');

/**
 * A content block that calls a tool: `tool_use`, `server_tool_use` for a server tool, and any
 * other `*_tool_use` (an MCP connector's `mcp_tool_use` is named `server_name/name`).
 */
function blockToolCall(block: unknown, withArguments: boolean): ReturnedToolCall | null {
  if (!isObject(block) || typeof block.type !== 'string' || !block.type.endsWith('tool_use')) return null;
  const name = typeof block.server_name === 'string' ? `${block.server_name}/${toolName(block)}` : toolName(block);
  if (name.length === 0) return null;
  return withArguments ? { name, arguments: block.input } : { name };
}

function blockDeltaText(chunk: Record<string, unknown>): string {
  if (chunk.type !== 'content_block_delta') return '';
  const delta = chunk.delta as Record<string, unknown> | undefined;
  if (!delta) return '';
  for (const key of ['text', 'partial_json', 'thinking']) if (typeof delta[key] === 'string') return delta[key];
  return '';
}

class AnthropicStreamMeter implements StreamMeter {
  private usage: MeteredUsage | null = null;
  private readonly delivered = new DeliveredEvents(blockDeltaText);

  accept(event: SseEvent): boolean {
    const type = event.event;
    if (type === 'message_start') {
      const chunk = JSON.parse(event.data) as { message?: { usage?: unknown } };
      const usage = anthropicUsage(chunk.message?.usage);
      if (usage) this.usage = { usage, complete: false };
    } else if (type === 'message_delta') {
      const chunk = JSON.parse(event.data) as { usage?: unknown };
      const usage = anthropicUsage(chunk.usage, this.usage?.usage);
      if (usage) this.usage = { usage, complete: true };
    } else if (type === 'content_block_delta') {
      this.delivered.add(event.data);
    }
    return true;
  }

  isTerminal(event: SseEvent): boolean {
    return event.event === 'message_stop';
  }

  toolCalls(event: SseEvent): readonly ReturnedToolCall[] {
    // A call opens with its block (`content_block_start`, carrying the name); deltas carry input.
    // Judged by the data's own `type`, not the event's name: clients act on the data (the SDK
    // yields the data of any named event), so a block start under another name is still a call.
    const data = event.data;
    if (!data.includes('tool_use"') && !hasJsonEscapes(data)) return NO_TOOL_CALLS;
    const chunk = JSON.parse(data) as { type?: unknown; content_block?: unknown };
    const call = chunk.type === 'content_block_start' ? blockToolCall(chunk.content_block, false) : null;
    return call ? [call] : NO_TOOL_CALLS;
  }

  reported(): MeteredUsage | null {
    return this.usage;
  }

  deliveredText(): string {
    return this.delivered.text();
  }

  errorEvent(message: string, type: string, fields: Record<string, unknown> = {}): string {
    return `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type, message, ...fields } })}\n\n`;
  }
}

export const anthropicMessages: ApiAdapter = {
  kind: 'anthropic.messages',
  dialect: 'anthropic',
  upstreamPath: '/v1/messages',
  producesOutput: true,

  parse(body): CanonicalCall {
    const req = validate(messagesRequest, body);
    // Remote MCP servers named in the request would run tools at the provider, out of the
    // gateway's sight: scope, policy and audit apply only to tools that pass through it.
    if (body.mcp_servers !== undefined && body.mcp_servers !== null) {
      throw new GatewayError('tool_not_allowed', 'Remote MCP servers in the request (mcp_servers) are not allowed: call MCP tools through the gateway at /mcp/{server}.', { param: 'mcp_servers' });
    }
    return {
      api: 'anthropic.messages',
      model: req.model,
      stream: req.stream === true,
      maxOutputTokens: req.max_tokens,
      choices: 1,
      minOutputTokens: thinkingBudget(body) === null ? undefined : MIN_THINKING_BUDGET + 1,
      prompt: { system: req.system ?? undefined, messages: req.messages, tools: req.tools ?? undefined },
      tools: (req.tools ?? []).map(toolName),
    };
  },

  rewrite(body, _call, change): void {
    body.model = change.upstreamModel;
    if (change.maxOutputTokens !== null) {
      body.max_tokens = change.maxOutputTokens;
      // Thinking must stay below the output limit, or the API refuses the request (400): a limit
      // cut to fit the budget cuts the thinking budget with it (never under its minimum: reserve
      // refuses a call that cannot afford that, `minOutputTokens`).
      // A quarter of the new limit is left for the answer, as far as the least thinking budget allows.
      const budget = thinkingBudget(body);
      if (budget !== null && budget >= change.maxOutputTokens) {
        (body.thinking as Record<string, unknown>).budget_tokens = Math.max(MIN_THINKING_BUDGET, change.maxOutputTokens - Math.ceil(change.maxOutputTokens / 4));
      }
    }
  },

  stripTools(body, drop): string | null {
    const choice = body.tool_choice;
    if (isObject(choice) && choice.type === 'tool' && typeof choice.name === 'string' && drop.has(choice.name)) return choice.name;
    dropTools(body, 'tools', toolName, drop, ['tool_choice']);
    return null;
  },

  usageFromResponse(json): MeteredUsage | null {
    return reportedUsage(anthropicUsage((json as { usage?: unknown } | null)?.usage));
  },

  toolCallsInResponse(json): ReturnedToolCall[] {
    return callsIn(isObject(json) ? json.content : undefined, (block) => blockToolCall(block, true));
  },

  responseText(json): string {
    return contentText((json as { content?: unknown } | null)?.content);
  },

  createStreamMeter(): StreamMeter {
    return new AnthropicStreamMeter();
  },
};
