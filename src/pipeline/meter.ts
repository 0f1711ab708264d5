// Stage 7 — meter: the usage of a call, as the upstream reported it, or — when it reported none
// (cut stream, broken answer) — counted from what was actually delivered, and marked estimated.
import type { CanonicalCall, MeteredUsage } from '../providers/apis/index.js';
import { countPromptTokens } from '../providers/prompt-tokens.js';
import type { Tokenizer } from '../providers/tokenizer.js';
import type { Usage } from '../store/index.js';

export interface Metered {
  usage: Usage;
  estimated: boolean;
}

export const NO_USAGE: Usage = Object.freeze({ inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 });

/**
 * `reported`: what the upstream said (maybe partial); `deliveredText`: the output the client
 * received, for when the upstream never said how much it was.
 */
export function meter(call: CanonicalCall, tokenizer: Tokenizer, reported: MeteredUsage | null, deliveredText: () => string): Metered {
  if (reported?.complete) return { usage: reported.usage, estimated: false };
  const outputTokens = tokenizer.count(deliveredText());
  if (reported) return { usage: { ...reported.usage, outputTokens: Math.max(reported.usage.outputTokens, outputTokens) }, estimated: true };
  return { usage: { ...NO_USAGE, inputTokens: countPromptTokens(call.prompt, tokenizer.count), outputTokens }, estimated: true };
}
