// Deterministic answer text and embedding vectors.
//
// Answers are built from a fixed vocabulary of 256 common English words, each of which is exactly
// one o200k_base token both on its own and after a space. o200k's pre-tokenizer splits text at
// each " word" boundary before BPE runs, so BPE never merges across words: an answer of N words
// is exactly N tokens, and each streamed delta (one word) is exactly one token. A test checks
// every word against the pinned tokenizer (test/providers/simulated.test.ts), so a tokenizer
// change fails loudly instead of skewing usage — without loading the tokenizer's ranks at start.

export const VOCABULARY: readonly string[] = [
  'the of and to in is that for it as was with be by on not',
  'he this are or his from at which but have an they you were her she',
  'there been one all we their has would when if so no will more can who',
  'said out other up what about into them than its some could time only new these',
  'two may first then do any like my now over such our man me even most',
  'made after also did many before must through years where much your way well down should',
  'because each just those people how too little state good very make world still own see',
  'men work long get here between both life being under never day same another know while',
  'last might us great old year off come since against go came right used take three',
  'states few house use during without again place around however home small found thought went say',
  'part once general high upon school every does got left number course war until always away',
  'something fact though water less public put think almost hand far head yet government system better',
  'set nothing night end why called find going look asked later point next program city business',
  'give group young days let room side social given present order national possible rather second face',
  'per among form important often things looking early white case large big need four within felt',
  'along children best church ever least power development light thing family interest want members mind country',
].join(' ').split(' ');

/** 32-bit FNV-1a hash of a string's UTF-16 code units: cheap, stable across runs and platforms. */
export function hashString(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** mulberry32: a tiny deterministic PRNG returning uint32 values. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/**
 * The first `count` tokens of the answer seeded by `seed`, one string per token: the first word
 * bare, the others with a leading space. A shorter answer is always a prefix of a longer one
 * with the same seed, so cut and capped answers agree with full ones.
 */
export function answerPieces(seed: number, count: number): string[] {
  const next = prng(seed);
  const pieces = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    const word = VOCABULARY[next() & 0xff] as string;
    pieces[i] = i === 0 ? word : ` ${word}`;
  }
  return pieces;
}

/**
 * A deterministic unit-length vector of `dims` float32 values seeded by `seed`. Values are
 * rounded to float32 so the JSON (float) and base64 (float32 LE) encodings carry the same numbers.
 */
export function embeddingVector(seed: number, dims: number): Float32Array {
  const next = prng(seed);
  const raw = new Float64Array(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    const v = next() / 0x80000000 - 1; // uniform in [-1, 1)
    raw[i] = v;
    norm += v * v;
  }
  norm = Math.sqrt(norm) || 1;
  const out = new Float32Array(dims);
  for (let i = 0; i < dims; i++) out[i] = (raw[i] as number) / norm;
  return out;
}

/** base64 of the vector as little-endian float32, the `encoding_format: "base64"` wire form. */
export function float32Base64(vector: Float32Array): string {
  const buf = Buffer.allocUnsafe(vector.length * 4);
  for (let i = 0; i < vector.length; i++) buf.writeFloatLE(vector[i] as number, i * 4);
  return buf.toString('base64');
}
