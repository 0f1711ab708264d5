// Token counting for reservations and for metering what was delivered when the upstream reports
// no usage (a cut stream), with the tokenizer of the model's family: o200k_base (GPT-4o, GPT-4.1,
// GPT-5, o-series), cl100k_base (GPT-4, GPT-3.5, text-embedding-3 and ada-002). Families whose
// tokenizer is not public or not shipped (Claude, Gemini, Llama, Mistral…) get a documented
// conservative estimate. Records counted this way are marked `estimated` either way.
//
// The gateway counts on a thread of its own (tokenizer-thread.ts), started at the first exact
// count and stopped once idle: the ranks (~25 MB of heap for o200k, ~0.4 s to load) are then never
// resident in a gateway whose calls do not need them, and never loaded on the event loop. The
// synchronous counts (token-count.ts) are that thread's, the simulated provider's and the tests'.
import { tokenizerThread } from './tokenizer-thread.js';
import { tokenUpperBound, type Encoding } from './token-count.js';

export { countIn, countTokens, tokenUpperBound, TOKENS_PER_MESSAGE, TOKENS_PER_REQUEST, type Encoding } from './token-count.js';

export interface Tokenizer {
  readonly name: Encoding;
  /** The tokens of each of `texts`, counted off the event loop (a plain function: it can be passed on). */
  count(this: void, texts: readonly string[]): Promise<number[]>;
}

const tokenizer = (name: Encoding): Tokenizer => ({ name, count: (texts) => tokenizerThread().count(name, texts) });

export const O200K = tokenizer('o200k_base');
export const CL100K = tokenizer('cl100k_base');
export const ESTIMATE = tokenizer('estimate');

let countFailureWarned = false;

/**
 * Counts `texts` in one round trip to the tokenizer thread, and answers with a count function
 * for the synchronous counting helpers (`countPromptTokens`, `promptTokensUpperBound`): it knows
 * those texts only. Texts that cannot be counted get their byte bound (never fewer tokens than
 * they hold): a charge or a hold is never dropped for a count.
 */
export async function countedTexts(tokenizer: Tokenizer, texts: readonly string[]): Promise<(text: string) => number> {
  const counts = await tokenizer.count(texts).catch((err: unknown) => {
    if (!countFailureWarned) {
      countFailureWarned = true;
      process.emitWarning(`token counting failed (${(err as Error).message}): the texts' byte bounds stand in for their counts`, 'TollgateWarning');
    }
    return texts.map(tokenUpperBound);
  });
  const byText = new Map(texts.map((text, i) => [text, counts[i]!]));
  return (text) => {
    const n = byText.get(text);
    if (n === undefined) throw new Error('countedTexts: a text that was not counted');
    return n;
  };
}

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
