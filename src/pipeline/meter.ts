// Stage 7 — meter: the usage of a call, as the upstream reported it, or — when it reported none
// (cut stream, broken answer) — counted from what was actually delivered, and marked estimated.
import type { CanonicalCall, MeteredUsage } from '../providers/apis/index.js';
import { countingAhead, countPromptTokens, hasUncountedInput } from '../providers/prompt-tokens.js';
import type { Tokenizer } from '../providers/tokenizer.js';
import type { Usage } from '../store/index.js';

export interface Metered {
  usage: Usage;
  estimated: boolean;
}

export const NO_USAGE: Usage = Object.freeze({ inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 });

/**
 * `reported`: what the upstream said (maybe partial); `deliveredText`: the output the client
 * received, for when the upstream never said how much it was; `heldPrompt`: the prompt tokens the
 * call's hold took — charged instead of the count when the prompt carries media or stored context,
 * which the provider bills in full but no count here can see. Synchronous when the upstream
 * reported all of its usage (nearly every call); a count goes through `countEach`, so a long
 * prompt or output is counted in slices, the event loop free between them.
 */
export function meter(call: CanonicalCall, tokenizer: Tokenizer, reported: MeteredUsage | null, deliveredText: () => string, heldPrompt?: number): Metered | Promise<Metered> {
  if (reported?.complete) return { usage: reported.usage, estimated: false };
  return meterByCount(call, tokenizer, reported, deliveredText(), heldPrompt);
}

async function meterByCount(call: CanonicalCall, tokenizer: Tokenizer, reported: MeteredUsage | null, delivered: string, heldPrompt?: number): Promise<Metered> {
  const outputTokens = (await tokenizer.countEach([delivered]))[0]!;
  if (reported) return { usage: { ...reported.usage, outputTokens: Math.max(reported.usage.outputTokens, outputTokens) }, estimated: true };
  const counted = countPromptTokens(call.prompt, await countingAhead(call.prompt, tokenizer));
  const inputTokens = heldPrompt !== undefined && hasUncountedInput(call.prompt) ? Math.max(counted, heldPrompt) : counted;
  return { usage: { ...NO_USAGE, inputTokens, outputTokens }, estimated: true };
}
