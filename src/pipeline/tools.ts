// Stage 4b — tools: a model call may offer the model only tools in the session's tool scope (and
// allowed by policy), and a model's answer may only call such tools. Every judgement goes through
// the one tool gate (`deps.tools`), which records each refusal as a `tool.denied` event.
// Offered tools outside the scope refuse the call, or — profile `tool_scope: strip` — are removed
// from the request before it goes upstream. Tool calls a model returns are checked by the relay
// (model-call.ts) with `blockedToolCall`.
import { GatewayError } from '../errors/index.js';
import type { ReturnedToolCall } from '../providers/apis/index.js';
import type { ToolCallCheck, ToolPhase } from '../policy/index.js';
import type { CallContext, PipelineDeps } from './context.js';

function check(ctx: CallContext, tool: string, args?: unknown): ToolCallCheck {
  return {
    session: ctx.session!, agent: ctx.agent!, server: null, tool, requestId: ctx.requestId, source: ctx.req.socket.remoteAddress ?? null,
    ...(args === undefined ? {} : { arguments: args }),
  };
}

/** Judges each tool; returns the refusals, by name. Anything but a GatewayError (a bug, a store failure) is thrown: fail closed. */
async function refusals(ctx: CallContext, deps: PipelineDeps, tools: readonly ReturnedToolCall[], phase: ToolPhase): Promise<Map<string, GatewayError>> {
  const denied = new Map<string, GatewayError>();
  const results = await Promise.allSettled(tools.map((t) => deps.tools.authorize(check(ctx, t.name, t.arguments), phase)));
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') return;
    if (!(r.reason instanceof GatewayError) || r.reason.code === 'internal_error') throw r.reason;
    if (!denied.has(tools[i]!.name)) denied.set(tools[i]!.name, r.reason);
  });
  return denied;
}

const quoted = (names: Iterable<string>): string => [...names].map((n) => `"${n.slice(0, 80)}"`).join(', ');

/** Checks the tools the request offers; refuses the call or strips them, per the profile. */
export async function checkOfferedTools(ctx: CallContext, deps: PipelineDeps): Promise<void> {
  const offered = ctx.call!.tools;
  if (offered.length === 0) return;
  const denied = await refusals(ctx, deps, [...new Set(offered)].map((name) => ({ name })), 'offered');
  if (denied.size === 0) return;
  const [first] = denied.values();
  const names = [...denied.keys()];
  if (ctx.profile?.toolScope !== 'strip') {
    const message = denied.size === 1 ? first!.message : `This session may not use the tools ${quoted(names)}.`;
    throw new GatewayError(first!.code, message, { param: 'tools', details: { tools: names } });
  }
  const forced = ctx.adapter.stripTools(ctx.body!, new Set(names));
  if (forced !== null) {
    throw new GatewayError(denied.get(forced)!.code, `tool_choice requires the tool "${forced.slice(0, 80)}", which this session may not use.`, {
      param: 'tool_choice', details: { tools: [forced] },
    });
  }
  ctx.toolsStripped = names;
  // Re-read the slimmer request so reservations and estimates count only what goes upstream.
  ctx.call = ctx.adapter.parse(ctx.body!);
  ctx.promptUpperBound = undefined;
}

/**
 * The refusal for the first tool call in `calls` that the session may not make, or null when
 * all are allowed. The error names the tool and says the model's call was blocked.
 */
export async function blockedToolCall(ctx: CallContext, deps: PipelineDeps, calls: readonly ReturnedToolCall[]): Promise<GatewayError | null> {
  if (calls.length === 0) return null;
  (ctx.toolCalls ??= []).push(...calls.map((c) => c.name));
  const denied = await refusals(ctx, deps, calls, 'returned');
  const [entry] = denied;
  if (!entry) return null;
  const [tool, err] = entry;
  return new GatewayError(err.code, `${err.message} The model's call to it was blocked.`, {
    param: err.param, details: { ...err.details, tool, blocked: 'returned_tool_call' },
  });
}

/** Header value naming the stripped tools (names outside `[A-Za-z0-9_.-]` percent-encoded). */
export function strippedHeader(names: readonly string[]): string {
  return names.map((n) => (/^[A-Za-z0-9_.-]+$/.test(n) ? n : encodeURIComponent(n))).join(',');
}
