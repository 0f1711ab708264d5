// Stage 7 — meter: the usage of a call, as the upstream reported it, or — when it reported none
// (cut stream, broken answer) — counted from what was actually delivered, and marked estimated.
import type { CanonicalCall, MeteredUsage } from '../providers/apis/index.js';
import { countPromptTokens, hasUncountedInput, promptTexts } from '../providers/prompt-tokens.js';
import { countedTexts, type Tokenizer } from '../providers/tokenizer.js';
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
 * which the provider bills in full but no count here can see.
 */
export async function meter(call: CanonicalCall, tokenizer: Tokenizer, reported: MeteredUsage | null, deliveredText: () => string, heldPrompt?: number): Promise<Metered> {
  if (reported?.complete) return { usage: reported.usage, estimated: false };
  const output = deliveredText();
  // One round trip to the tokenizer thread: the output, and the prompt when nothing was reported.
  const count = await countedTexts(tokenizer, reported ? [output] : [output, ...promptTexts(call.prompt)]);
  const outputTokens = count(output);
  if (reported) return { usage: { ...reported.usage, outputTokens: Math.max(reported.usage.outputTokens, outputTokens) }, estimated: true };
  const counted = countPromptTokens(call.prompt, count);
  const inputTokens = heldPrompt !== undefined && hasUncountedInput(call.prompt) ? Math.max(counted, heldPrompt) : counted;
  return { usage: { ...NO_USAGE, inputTokens, outputTokens }, estimated: true };
}
