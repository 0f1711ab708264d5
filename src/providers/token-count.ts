// Token counts in the calling thread: the tokenizer thread's (tokenizer-thread.ts), the simulated
// provider's and the tests'. The gateway's pipeline counts through `Tokenizer` (tokenizer.ts), off
// the event loop; only a simulated provider running inside the gateway loads the ranks there.
import { createRequire } from 'node:module';

type Count = (text: string) => number;
type Encode = (text: string, options: { disallowedSpecial: Set<string> }) => number;
/**
 * Special-token strings (`<|endoftext|>`) in a prompt are text to the providers' APIs, which
 * tokenize them as such: counted the same way (gpt-tokenizer throws on them by default).
 */
const AS_TEXT = { disallowedSpecial: new Set<string>() };
const load = (encoding: string): Count => {
  const count = (createRequire(import.meta.url)(`gpt-tokenizer/cjs/encoding/${encoding}`) as { countTokens: Encode }).countTokens;
  return (text) => count(text, AS_TEXT);
};

let countO200k: Count | null = null;
let countCl100k: Count | null = null;

const o200k = (): Count => (countO200k ??= load('o200k_base'));

/**
 * Loads the o200k ranks in this thread now rather than at its first count (~0.4 s): for a
 * simulated provider, which counts every prompt, before it serves.
 */
export function preloadRanks(): void {
  o200k();
}

/** Exact o200k_base token count of `text`, in this thread (loads the ranks on first use). */
export function countTokens(text: string): number {
  if (text.length === 0) return 0;
  return o200k()(text);
}

/**
 * A cheap upper bound on the token count of `text` for any byte-level BPE tokenizer: every
 * token covers at least one UTF-8 byte. Used to reserve budget without tokenizing when the
 * bound fits comfortably; the exact count is taken only when it would matter.
 */
export function tokenUpperBound(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Tokens a chat template adds around each message (role markers, separators). */
export const TOKENS_PER_MESSAGE = 4;
/** Tokens added once per request (the assistant reply primer). */
export const TOKENS_PER_REQUEST = 3;

/** The tokenizers a model can be counted with. */
export type Encoding = 'o200k_base' | 'cl100k_base' | 'estimate';

/**
 * Margin over the o200k count for families without a tokenizer here. Their vocabularies are
 * smaller or tuned for other data, so they split English and code into more tokens than o200k;
 * 1.25× covers the differences reported for Claude, Gemini and Llama 3 on English text.
 */
export const ESTIMATE_FACTOR = 1.25;

/**
 * `text`'s tokens with `encoding`, in this thread. The estimate is `ceil(o200k × ESTIMATE_FACTOR)`,
 * never above the byte-count upper bound (which always holds).
 */
export function countIn(encoding: Encoding, text: string): number {
  if (text.length === 0) return 0;
  if (encoding === 'o200k_base') return countTokens(text);
  if (encoding === 'cl100k_base') return (countCl100k ??= load('cl100k_base'))(text);
  return Math.min(tokenUpperBound(text), Math.ceil(countTokens(text) * ESTIMATE_FACTOR));
}
