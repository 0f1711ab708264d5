// The o200k ranks load before a gateway listens (`serve`, `demo`), not at the first exact count,
// which comes under traffic and would hold every call in flight for the load. A file of its own:
// vitest gives it a fresh module graph, so nothing has loaded the ranks before it runs.
import { describe, expect, it } from 'vitest';
import { countTokens, preloadTokenizer } from '../../src/providers/tokenizer.js';

describe('preloadTokenizer', () => {
  it('does the load itself, so that the first count after it is immediate', () => {
    let started = performance.now();
    preloadTokenizer();
    const load = performance.now() - started;
    started = performance.now();
    expect(countTokens('Summarise the plot of a short story in one line.')).toBe(13);
    const firstCount = performance.now() - started;
    // The load takes hundreds of milliseconds (~0.4 s here); a count of one line, microseconds.
    expect(load).toBeGreaterThan(50);
    expect(firstCount).toBeLessThan(20);
    // Once loaded, loaded: a second preload does nothing.
    started = performance.now();
    preloadTokenizer();
    expect(performance.now() - started).toBeLessThan(5);
  });
});
