// The price catalog (@pydantic/genai-prices, offline), per-model overrides, tiered rates, and the
// tokenizer chosen per model family.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/index.js';
import { CATALOG_VERSION, catalogPrice } from '../../src/providers/catalog.js';
import { costNano, mergePrice, worstCaseNano } from '../../src/providers/pricing.js';
import { modelPrices } from '../../src/providers/registry.js';
import { countingAhead, countPromptTokens } from '../../src/providers/prompt-tokens.js';
import { countTokens, ESTIMATE, SYNC_COUNT_CHARS, tokenizerFor, tokenUpperBound } from '../../src/providers/tokenizer.js';
import { turnsDuring } from '../helpers/event-loop.js';
import { testConfig } from '../helpers/gateway.js';

const usage = (input: number, cached: number, write: number, output: number) => ({ inputTokens: input, cachedInputTokens: cached, cacheWriteTokens: write, outputTokens: output, reasoningTokens: 0 });

describe('price catalog', () => {
  it('ships the shipped defaults\' prices offline, with cache reads and writes as the provider prices them', () => {
    expect(CATALOG_VERSION).toBe('0.1.8');
    expect(catalogPrice('gpt-4o-mini', ['openai'])).toMatchObject({ input: 0.15, cachedInput: 0.075, output: 0.6, source: 'catalog v0.1.8' });
    // Anthropic: cache reads 0.1× input, 5-minute cache writes 1.25× input.
    expect(catalogPrice('claude-sonnet-4-6', ['anthropic'])).toMatchObject({ input: 3, cachedInput: 0.3, cacheWrite: 3.75, output: 15 });
    expect(catalogPrice('no-such-model-xyz', ['openai', 'anthropic', 'google'])).toBeNull();
  });

  it('prices a tiered model by the request\'s input tokens; the worst case takes the dearest tier', () => {
    const pro = catalogPrice('gemini-2.5-pro', ['google'])!;
    // 1.25 / 10 up to 200k input tokens, 2.5 / 15 past it (the whole request).
    expect(costNano(usage(1000, 0, 0, 100), pro)).toBe(Math.ceil((1000 * 1.25 + 100 * 10) * 1000));
    expect(costNano(usage(200_001, 0, 0, 100), pro)).toBe(Math.ceil((200_001 * 2.5 + 100 * 15) * 1000));
    expect(worstCaseNano(1000, 100, pro)).toBe((1000 * 2.5 + 100 * 15) * 1000);
  });

  it('lays config fields over the catalog; a model neither prices is unpriced, a partial price alone is a config error', () => {
    const merged = mergePrice(catalogPrice('gpt-4o', ['openai']), { input: 2 });
    expect(merged).toMatchObject({ input: 2, output: 10, cachedInput: 1.25, source: 'catalog v0.1.8 + config' });
    const config = testConfig({
      providers: [{ name: 'local', type: 'openai_compatible', base_url: 'http://127.0.0.1:1/v1' }],
      models: [{ name: 'mine', provider: 'local' }, { name: 'free', provider: 'local', price: { input: 0, output: 0 } }],
      profiles: [{ name: 'assistant', models: ['mine', 'free'] }],
    });
    const prices = modelPrices(config);
    expect(prices.get('mine')).toMatchObject({ known: false, source: 'none' });
    expect(prices.get('free')).toMatchObject({ known: true, input: 0, source: 'config' });
    const partial = testConfig({
      providers: [{ name: 'local', type: 'openai_compatible', base_url: 'http://127.0.0.1:1/v1' }],
      models: [{ name: 'mine', provider: 'local', price: { input: 1 } }],
      profiles: [{ name: 'assistant', models: ['mine'] }],
    });
    expect(() => modelPrices(partial)).toThrow(/models\[0\] "mine": price needs input and output/);
  });

  it('checks provider types: azure_openai needs api_version; fallbacks must name models', () => {
    expect(() => testConfig({
      providers: [{ name: 'az', type: 'azure_openai', base_url: 'https://x.openai.azure.com', api_key_env: 'K' }],
      models: [{ name: 'gpt-4o', provider: 'az', fallbacks: ['nope', 'gpt-4o'] }],
      profiles: [{ name: 'assistant', models: ['gpt-4o'] }],
    })).toThrow(ConfigError);
    try {
      testConfig({
        providers: [{ name: 'az', type: 'azure_openai', base_url: 'https://x.openai.azure.com', api_key_env: 'K' }],
        models: [{ name: 'gpt-4o', provider: 'az', fallbacks: ['nope', 'gpt-4o'] }],
        profiles: [{ name: 'assistant', models: ['gpt-4o'] }],
      });
    } catch (err) {
      const problems = (err as ConfigError).problems.join('\n');
      expect(problems).toContain('needs api_version');
      expect(problems).toContain('unknown model "nope"');
      expect(problems).toContain('cannot be its own fallback');
    }
  });

  it('refuses a fallback on a provider that serves none of its model\'s APIs (it would never be tried)', () => {
    const providers = [
      { name: 'openai', type: 'openai', base_url: 'https://api.openai.com/v1', api_key_env: 'K' },
      { name: 'anthropic', type: 'anthropic', base_url: 'https://api.anthropic.com', api_key_env: 'K' },
      { name: 'azure', type: 'azure_openai', base_url: 'https://x.openai.azure.com', api_version: '2024-10-21', api_key_env: 'K' },
    ];
    const problems = (() => {
      try {
        testConfig({
          providers,
          models: [{ name: 'gpt-4o-mini', provider: 'openai' }, { name: 'claude-sonnet-4-6', provider: 'anthropic', fallbacks: ['gpt-4o-mini'] }],
          profiles: [{ name: 'assistant', models: ['gpt-4o-mini'] }],
        });
      } catch (err) {
        return (err as ConfigError).problems.join('\n');
      }
      return '';
    })();
    expect(problems).toMatch(/models\[1\]\.fallbacks\[0\].*"gpt-4o-mini" \(provider openai, openai\) serves none of the APIs of "claude-sonnet-4-6" \(anthropic\.messages\)/);
    // Sharing one API is enough: a Responses call on OpenAI falls back to nothing on Azure, a chat call does.
    expect(() => testConfig({
      providers,
      models: [{ name: 'gpt-4o-mini', provider: 'azure' }, { name: 'gpt-4o', provider: 'openai', fallbacks: ['gpt-4o-mini'] }],
      profiles: [{ name: 'assistant', models: ['gpt-4o'] }],
    })).not.toThrow();
  });
});

describe('tokenizer per model family', () => {
  it('picks o200k for GPT-4o and later, cl100k for GPT-4 and 3.5 era models, the estimate otherwise', () => {
    expect(['gpt-4o-mini', 'gpt-4.1', 'gpt-5', 'o3-mini', 'openai/gpt-4o'].map((m) => tokenizerFor(m).name)).toEqual(Array(5).fill('o200k_base'));
    expect(['gpt-4', 'gpt-4-turbo', 'gpt-3.5-turbo', 'text-embedding-3-small'].map((m) => tokenizerFor(m).name)).toEqual(Array(4).fill('cl100k_base'));
    expect(['claude-sonnet-4-6', 'gemini-2.5-flash', 'meta-llama/Llama-3.1-8B-Instruct'].map((m) => tokenizerFor(m).name)).toEqual(Array(3).fill('estimate'));
  });

  it('counts with the family\'s own vocabulary: cl100k and o200k differ on the same text', () => {
    const text = 'Привет, как дела? これはテストです。';
    expect(tokenizerFor('gpt-4').count(text)).toBeGreaterThan(tokenizerFor('gpt-4o').count(text));
  });

  it('counts special-token strings as the text they are, as the providers\' APIs take them (gpt-tokenizer throws on them by default)', () => {
    const text = 'Ignore that: <|endoftext|><|im_start|>system';
    for (const model of ['gpt-4o', 'gpt-4', 'claude-sonnet-4-6']) expect(tokenizerFor(model).count(text)).toBeGreaterThan(5);
    expect(countTokens('<|endoftext|>')).toBeGreaterThan(1);
  });

  it('counts a long text in slices, to the token, with the event loop running other work between them', async () => {
    // ~1 MB of mixed text (special-token strings, non-Latin scripts, numbers): ~60 ms or more in one go.
    const text = 'Ignore that: <|endoftext|> naïve café — 東京 12345, the quick brown fox; '.repeat(14_000);
    expect(text.length).toBeGreaterThan(SYNC_COUNT_CHARS * 20);
    for (const model of ['gpt-4o', 'gpt-4', 'claude-sonnet-4-6']) {
      const tokenizer = tokenizerFor(model);
      const whole = tokenizer.count(text);
      const { value: [sliced], turns } = await turnsDuring(() => tokenizer.countEach([text]));
      expect(sliced).toBe(whole);
      // Without slices, no other callback runs until the count is done.
      expect(turns).toBeGreaterThan(3);
    }
    // Short texts are counted at once, and alike.
    expect(await tokenizerFor('gpt-4o').countEach(['hello there', ''])).toEqual([countTokens('hello there'), 0]);
    // Many short texts, long together, are counted in slices too, each to the token.
    const many = Array.from({ length: 200 }, (_, i) => `message ${i}: ${'the quick brown fox; '.repeat(100)}`);
    expect(await tokenizerFor('gpt-4o').countEach(many)).toEqual(many.map((m) => countTokens(m)));
  });

  it('charges a run of 1,024 or more letters, spaces or symbols at its bytes: BPE is quadratic in a piece\'s length', () => {
    // One piece of 200,000 letters took ~20 s to count exactly; bounded, it takes milliseconds.
    for (const run of ['a'.repeat(200_000), ' '.repeat(200_000), '='.repeat(200_000)]) {
      const started = performance.now();
      expect(countTokens(`1${run}2`)).toBe(1 + 200_000 + 1);
      expect(performance.now() - started).toBeLessThan(1000);
    }
    // The bound is above the exact count, where that can still be taken.
    const text = `Look: ${'Ab'.repeat(5)}${'z'.repeat(3000)} and the rest.`;
    const exact = (createRequire(import.meta.url)('gpt-tokenizer/cjs/encoding/o200k_base') as { countTokens(t: string): number }).countTokens(text);
    expect(countTokens(text)).toBeGreaterThanOrEqual(exact);
    expect(countTokens(text)).toBeLessThanOrEqual(exact + 3000);
    // Prose, code, CJK with its punctuation: nothing bounded, the count exact.
    const prose = `${'東京は日本の首都です。'.repeat(300)} ${'function f(x) { return x + 1; }\n'.repeat(100)}`;
    expect(countTokens(prose)).toBe((createRequire(import.meta.url)('gpt-tokenizer/cjs/encoding/o200k_base') as { countTokens(t: string): number }).countTokens(prose));
  });

  it('counts a prompt\'s long texts ahead, and the synchronous count that follows finds them', async () => {
    const long = 'word '.repeat(SYNC_COUNT_CHARS);
    const prompt = { system: 'be brief', messages: [{ role: 'user', content: long }, { role: 'assistant', content: 'ok' }, { role: 'user', content: long }] };
    const tokenizer = tokenizerFor('gpt-4o');
    const count = await countingAhead(prompt, tokenizer);
    expect(count).not.toBe(tokenizer.count);
    expect(countPromptTokens(prompt, count)).toBe(countPromptTokens(prompt, tokenizer.count));
    // No long text: the tokenizer's own count, nothing counted ahead.
    expect(await countingAhead({ messages: [{ role: 'user', content: 'hi' }] }, tokenizer)).toBe(tokenizer.count);
  });

  it('the estimate is ceil(o200k × 1.25), never above the byte bound', () => {
    const text = 'The quick brown fox jumps over the lazy dog.';
    expect(ESTIMATE.count(text)).toBe(Math.ceil(countTokens(text) * 1.25));
    expect(ESTIMATE.count('a')).toBe(tokenUpperBound('a'));
  });
});
