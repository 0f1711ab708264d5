// Token counting for reservations and for metering what was delivered when the upstream reports
// no usage (a cut stream), with the tokenizer of the model's family: o200k_base (GPT-4o, GPT-4.1,
// GPT-5, o-series), cl100k_base (GPT-4, GPT-3.5, text-embedding-3 and ada-002). Families whose
// tokenizer is not public or not shipped (Claude, Gemini, Llama, Mistral…) get a documented
// conservative estimate. Records counted this way are marked `estimated` either way.
import { createRequire } from 'node:module';

type Count = (text: string) => number;
type Encode = (text: string, options: { disallowedSpecial: Set<string> }) => number;
/**
 * Special-token strings (`<|endoftext|>`) in a prompt are text to the providers' APIs, which
 * tokenize them as such: counted the same way (gpt-tokenizer throws on them by default, which
 * made a prompt carrying one a 500 wherever it was counted).
 */
const AS_TEXT = { disallowedSpecial: new Set<string>() };
const load = (encoding: string): Count => {
  const count = (createRequire(import.meta.url)(`gpt-tokenizer/cjs/encoding/${encoding}`) as { countTokens: Encode }).countTokens;
  return (text) => count(text, AS_TEXT);
};

// Ranks are loaded on first use, or by preloadTokenizer: most calls never need an exact count —
// the byte upper bound fits the budget, and the upstream reports its usage.
let countO200k: Count | null = null;
let countCl100k: Count | null = null;

/**
 * Loads the o200k ranks now rather than at the first exact count (~0.4 s of the event loop and ~14
 * MB resident once loaded, measured on the bench machine). That count comes under traffic — a call
 * cut once its request left, a stream that reports no usage — and the load would hold every call
 * in flight for its duration. `serve` and `demo` call it before they listen; cl100k (GPT-4 and
 * GPT-3.5 only) stays loaded on first use.
 */
export function preloadTokenizer(): void {
  o200k();
}

const o200k = (): Count => (countO200k ??= load('o200k_base'));

/** Exact o200k_base token count of `text`. */
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

export interface Tokenizer {
  /** `o200k_base`, `cl100k_base` or `estimate`. */
  readonly name: string;
  /** A plain function (no `this`), so it can be passed on: `countPromptTokens(parts, t.count)`. */
  count(this: void, text: string): number;
}

export const O200K: Tokenizer = { name: 'o200k_base', count: countTokens };

export const CL100K: Tokenizer = {
  name: 'cl100k_base',
  count: (text) => {
    if (text.length === 0) return 0;
    countCl100k ??= load('cl100k_base');
    return countCl100k(text);
  },
};

/**
 * Margin over the o200k count for families without a tokenizer here. Their vocabularies are
 * smaller or tuned for other data, so they split English and code into more tokens than o200k;
 * 1.25× covers the differences reported for Claude, Gemini and Llama 3 on English text.
 */
export const ESTIMATE_FACTOR = 1.25;

/** `ceil(o200k × ESTIMATE_FACTOR)`, never above the byte-count upper bound (which always holds). */
export const ESTIMATE: Tokenizer = {
  name: 'estimate',
  count: (text) => Math.min(tokenUpperBound(text), Math.ceil(countTokens(text) * ESTIMATE_FACTOR)),
};

const FAMILIES: readonly [RegExp, Tokenizer][] = [
  [/^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|o\d|codex)/, O200K],
  [/^(gpt-4|gpt-3\.5|text-embedding-3|text-embedding-ada-002)/, CL100K],
];

/** The tokenizer for a model, by its (upstream or catalog) name; a vendor prefix (`openai/`) is ignored. */
export function tokenizerFor(model: string): Tokenizer {
  const name = model.toLowerCase().replace(/^.*\//, '');
  for (const [pattern, tokenizer] of FAMILIES) if (pattern.test(name)) return tokenizer;
  return ESTIMATE;
}
