// The o200k ranks load before a gateway listens (`serve`, `demo`), not at the first exact count,
// which comes under traffic and would hold every call in flight for the load (~0.4 s). A file of
// its own: vitest runs it in a fresh process, so nothing has loaded the ranks before it runs.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { countTokens, preloadTokenizer } from '../../src/providers/tokenizer.js';

const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((path) => path.includes('gpt-tokenizer'));

describe('preloadTokenizer', () => {
  it('loads the o200k ranks itself, and only them', () => {
    expect(loaded()).toEqual([]);
    preloadTokenizer();
    // The ranks themselves (bpeRanks/), not only the encodings' small parameter files.
    expect(loaded().some((path) => path.endsWith('bpeRanks/o200k_base.js'))).toBe(true);
    expect(loaded().some((path) => path.endsWith('bpeRanks/cl100k_base.js'))).toBe(false);
    // Counting now loads nothing more.
    const before = loaded().length;
    expect(countTokens('Summarise the plot of a short story in one line.')).toBe(13);
    expect(loaded()).toHaveLength(before);
  });
});
