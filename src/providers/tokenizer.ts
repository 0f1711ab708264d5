// Token counting for reservations and for metering what was delivered when the upstream reports
// no usage (a cut stream), with the tokenizer of the model's family: o200k_base (GPT-4o, GPT-4.1,
// GPT-5, o-series), cl100k_base (GPT-4, GPT-3.5, text-embedding-3 and ada-002). Families whose
// tokenizer is not public or not shipped (Claude, Gemini, Llama, Mistral…) get a documented
// conservative estimate. Records counted this way are marked `estimated` either way.
import { createRequire } from 'node:module';

type Count = (text: string) => number;
type Pieces = (text: string, options: { disallowedSpecial: Set<string> }) => Iterable<number[]>;
/** An encoding's two ways to count: at once, or piece by piece (its pre-tokenizer's pieces, in order). */
interface Encoding {
  count: Count;
  pieces: (text: string) => Iterable<number[]>;
}
/**
 * Special-token strings (`<|endoftext|>`) in a prompt are text to the providers' APIs, which
 * tokenize them as such: counted the same way (gpt-tokenizer throws on them by default, which
 * made a prompt carrying one a 500 wherever it was counted).
 */
const AS_TEXT = { disallowedSpecial: new Set<string>() };
const load = (encoding: string): Encoding => {
  const api = createRequire(import.meta.url)(`gpt-tokenizer/cjs/encoding/${encoding}`) as { countTokens: (text: string, options: typeof AS_TEXT) => number; encodeGenerator: Pieces };
  return { count: (text) => api.countTokens(text, AS_TEXT), pieces: (text) => api.encodeGenerator(text, AS_TEXT) };
};

// Ranks are loaded on first use, or by preloadTokenizer: most calls never need an exact count —
// the byte upper bound fits the budget, and the upstream reports its usage.
let o200kEncoding: Encoding | null = null;
let cl100kEncoding: Encoding | null = null;

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

const o200k = (): Encoding => (o200kEncoding ??= load('o200k_base'));
const cl100k = (): Encoding => (cl100kEncoding ??= load('cl100k_base'));

/** Exact o200k_base token count of `text` (see `segments` for runs past MAX_RUN). */
export function countTokens(text: string): number {
  return countAtOnce(o200k, text);
}

/**
 * BPE's cost grows with the square of a piece's length, and the pre-tokenizer keeps a run of
 * letters, of whitespace or of symbols in one piece: a 160,000-letter "word" took 12 s to count,
 * as many spaces 20 s — a prompt that stalls the gateway for minutes. A run of MAX_RUN or more
 * such characters is charged at its UTF-8 byte count, an upper bound for any byte-level BPE (more
 * than its tokens: holds stay safe, a cut call's charge errs high); the text around it is counted
 * exactly. Prose, code and CJK text (split by its punctuation) have no such runs.
 */
const MAX_RUN = 1024;
const LONG_RUN = new RegExp(`[\\p{L}\\p{M}]{${MAX_RUN},}|\\s{${MAX_RUN},}|[^\\s\\p{L}\\p{M}\\p{N}]{${MAX_RUN},}`, 'gu');

/** `text` as parts counted exactly (`bound` false) and long runs charged at their bytes (`bound` true), in order. */
function* segments(text: string): Generator<{ text: string; bound: boolean }> {
  let at = 0;
  if (text.length >= MAX_RUN) {
    for (const run of text.matchAll(LONG_RUN)) {
      if (run.index > at) yield { text: text.slice(at, run.index), bound: false };
      yield { text: run[0], bound: true };
      at = run.index + run[0].length;
    }
  }
  if (at < text.length) yield { text: at === 0 ? text : text.slice(at), bound: false };
}

/** `encoding` is loaded only if some text is to be counted (an empty text needs no ranks). */
function countAtOnce(encoding: () => Encoding, text: string): number {
  let tokens = 0;
  for (const part of segments(text)) tokens += part.bound ? tokenUpperBound(part.text) : encoding().count(part.text);
  return tokens;
}

/**
 * Texts whose length together is up to this many characters are counted in one go (~2 ms on the
 * bench machine); more, by `Tokenizer.countEach`, in slices. An exact count runs at ~60–130 ms per
 * MB: a prompt at the 4 MiB body limit counted in one go would hold every other call for a third
 * of a second.
 */
export const SYNC_COUNT_CHARS = 32 * 1024;
/** How long one slice of a long count may hold the event loop before it lets other work run. */
const SLICE_MS = 2;

/**
 * The counts of `texts` by `countAtOnce`, piece by piece (the tokenizer's own pieces, in order:
 * the same counts), letting the event loop run other work every ~SLICE_MS.
 */
async function countInSlices(encoding: Encoding, texts: readonly string[]): Promise<number[]> {
  let sliceEnds = performance.now() + SLICE_MS;
  const pause = async () => {
    if (performance.now() < sliceEnds) return;
    await new Promise((resolve) => setImmediate(resolve));
    sliceEnds = performance.now() + SLICE_MS;
  };
  const counts: number[] = [];
  for (const text of texts) {
    let tokens = 0;
    for (const part of segments(text)) {
      if (part.bound) {
        tokens += tokenUpperBound(part.text);
        continue;
      }
      // A piece is under MAX_RUN characters (~1 ms at most): 32 of them between two looks at the clock.
      let pieces = 0;
      for (const piece of encoding.pieces(part.text)) {
        tokens += piece.length;
        if ((++pieces & 31) === 0) await pause();
      }
    }
    counts.push(tokens);
    await pause();
  }
  return counts;
}

/** A tokenizer's counts of several texts: in one go while they are short together (SYNC_COUNT_CHARS), else in slices. */
const countEachOf = (encoding: () => Encoding) => (texts: readonly string[]): Promise<number[]> => {
  let chars = 0;
  for (const text of texts) chars += text.length;
  return chars > SYNC_COUNT_CHARS ? countInSlices(encoding(), texts) : Promise.resolve(texts.map((text) => countAtOnce(encoding, text)));
};

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
  /**
   * The same counts, for texts of any length and number: more than SYNC_COUNT_CHARS of them
   * together are counted in slices, between which the event loop runs other calls.
   */
  countEach(this: void, texts: readonly string[]): Promise<number[]>;
}

export const O200K: Tokenizer = { name: 'o200k_base', count: countTokens, countEach: countEachOf(o200k) };

export const CL100K: Tokenizer = {
  name: 'cl100k_base',
  count: (text) => countAtOnce(cl100k, text),
  countEach: countEachOf(cl100k),
};

/**
 * Margin over the o200k count for families without a tokenizer here. Their vocabularies are
 * smaller or tuned for other data, so they split English and code into more tokens than o200k;
 * 1.25× covers the differences reported for Claude, Gemini and Llama 3 on English text.
 */
export const ESTIMATE_FACTOR = 1.25;

const estimated = (text: string, o200kCount: number) => Math.min(tokenUpperBound(text), Math.ceil(o200kCount * ESTIMATE_FACTOR));

/** `ceil(o200k × ESTIMATE_FACTOR)`, never above the byte-count upper bound (which always holds). */
export const ESTIMATE: Tokenizer = {
  name: 'estimate',
  count: (text) => estimated(text, countTokens(text)),
  countEach: async (texts) => (await O200K.countEach(texts)).map((count, i) => estimated(texts[i]!, count)),
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
