// Exact token counts run on a thread of their own, started at the first count and stopped once
// idle: the ranks (~25 MB of heap) never load on the event loop. A file of its own: vitest runs it
// in a fresh process, so nothing has loaded the ranks before it runs.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { countPromptTokens, promptTexts } from '../../src/providers/prompt-tokens.js';
import { TokenizerThread } from '../../src/providers/tokenizer-thread.js';
import { countedTexts, O200K, tokenUpperBound } from '../../src/providers/tokenizer.js';
import { countIn } from '../../src/providers/token-count.js';

/** gpt-tokenizer's modules loaded in this (the test's main) thread. */
const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((path) => path.includes('gpt-tokenizer'));
const prompt = { system: 'You are a helpful assistant.', messages: [{ role: 'user', content: 'Summarise the plot of a short story in one line.' }] };

describe('the tokenizer thread', () => {
  it('counts a prompt exactly without loading the ranks in the calling thread', async () => {
    const count = await countedTexts(O200K, promptTexts(prompt));
    const tokens = countPromptTokens(prompt, count);
    expect(loaded()).toEqual([]);
    // The same count as in this thread (which loads the ranks here, so it comes last).
    expect(tokens).toBe(countPromptTokens(prompt));
    expect(loaded().some((path) => path.endsWith('bpeRanks/o200k_base.js'))).toBe(true);
    expect(() => count('a text that was not counted')).toThrow(/not counted/);
  });

  it('answers concurrent counts each with its own, stops once idle and starts again at the next count', async () => {
    const thread = new TokenizerThread({ idleMs: 100 });
    const texts = ['hello world', 'Привет, как дела?', 'x'.repeat(5000)];
    const answers = await Promise.all([
      thread.count('o200k_base', texts), thread.count('cl100k_base', texts), thread.count('estimate', texts), thread.count('o200k_base', []),
    ]);
    expect(answers).toEqual([
      texts.map((t) => countIn('o200k_base', t)), texts.map((t) => countIn('cl100k_base', t)), texts.map((t) => countIn('estimate', t)), [],
    ]);
    expect(thread.running).toBe(true);
    await expect.poll(() => thread.running, { timeout: 2000, interval: 20 }).toBe(false);
    expect(await thread.count('o200k_base', ['hello world'])).toEqual([countIn('o200k_base', 'hello world')]);
    expect(thread.running).toBe(true);
    await thread.close();
    expect(thread.running).toBe(false);
  });

  it('counts special-token strings as the text they are, and starts for nothing to count', async () => {
    const thread = new TokenizerThread({ idleMs: 100 });
    expect(await thread.count('o200k_base', ['', ''])).toEqual([0, 0]);
    expect(thread.running).toBe(false);
    // gpt-tokenizer throws on them by default; the providers' APIs take them as text.
    const [n] = await thread.count('o200k_base', ['hi <|endoftext|> there']);
    expect(n).toBe(countIn('o200k_base', 'hi <|endoftext|> there'));
    expect(n).toBeGreaterThan(3);
    await thread.close();
  });

  it('a count that fails stands in the byte bounds of its texts: never fewer tokens than they hold', async () => {
    const failing = { name: 'o200k_base' as const, count: () => Promise.reject(new Error('cannot count')) };
    const count = await countedTexts(failing, ['hello world', 'Привет']);
    expect([count('hello world'), count('Привет')]).toEqual([tokenUpperBound('hello world'), tokenUpperBound('Привет')]);
  });

  it('counts in the calling thread when the thread cannot run, rather than leave a call uncounted', async () => {
    // An entry whose worker module does not exist: the thread fails to start.
    const thread = new TokenizerThread({ entry: new URL('./no-such-dir/tokenizer-thread.js', import.meta.url).href });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      expect(await thread.count('o200k_base', ['hello world', 'again'])).toEqual([countIn('o200k_base', 'hello world'), countIn('o200k_base', 'again')]);
      // And from then on, without starting a thread each time.
      expect(await thread.count('o200k_base', ['more'])).toEqual([countIn('o200k_base', 'more')]);
      expect(thread.running).toBe(false);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((m) => m.includes('tokenizer thread failed'))).toHaveLength(1);
    } finally {
      process.off('warning', onWarning);
      await thread.close();
    }
  });
});
