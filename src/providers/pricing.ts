// Prices are USD per 1M tokens (as providers publish them); costs are integer nano-USD.
// A rate is flat, or tiered by the request's total input tokens (Gemini 2.5 Pro charges the
// whole request at a higher rate past 200k input tokens): the tier is the one whose start the
// input exceeds, as @pydantic/genai-prices defines it.
import type { PriceConfig } from '../config/index.js';
import type { Usage } from '../store/index.js';

export interface TieredRate {
  base: number;
  /** Sorted by `start`, ascending. */
  tiers: readonly { start: number; price: number }[];
}

export type Rate = number | TieredRate;

export interface Price {
  input: Rate;
  output: Rate;
  cachedInput: Rate;
  cacheWrite: Rate;
  /** Where the price came from: `catalog v0.1.8`, `config`, `catalog v0.1.8 + config`, or `none`. */
  source: string;
  /** False for a model nobody priced: it is refused for USD budgets, never charged as free. */
  known: boolean;
}

/** The price of a model without one: zero, but `known: false` so USD budgets refuse it. */
export const UNPRICED: Price = Object.freeze({ input: 0, output: 0, cachedInput: 0, cacheWrite: 0, source: 'none', known: false });

/** A full price from the config (input and output given; cached and cache-write default to input). */
export function priceFromConfig(p: { input: number; output: number; cached_input?: number | undefined; cache_write?: number | undefined }): Price {
  return { input: p.input, output: p.output, cachedInput: p.cached_input ?? p.input, cacheWrite: p.cache_write ?? p.input, source: 'config', known: true };
}

/**
 * The config's per-model fields laid over a catalog price (either may be missing). Null when
 * neither gives both an input and an output rate.
 */
export function mergePrice(catalog: Price | null, config: PriceConfig | undefined): Price | null {
  if (!config) return catalog;
  if (!catalog) {
    if (config.input === undefined || config.output === undefined) return null;
    return priceFromConfig({ ...config, input: config.input, output: config.output });
  }
  const input = config.input ?? catalog.input;
  return {
    input,
    output: config.output ?? catalog.output,
    // A config input rate with no cache rates keeps the catalog's cache rates: they are the
    // provider's own discount, not a function of the input rate.
    cachedInput: config.cached_input ?? catalog.cachedInput,
    cacheWrite: config.cache_write ?? catalog.cacheWrite,
    source: `${catalog.source} + config`,
    known: true,
  };
}

/** The rate for a request with `inputTokens` of input in total. */
export function rateAt(rate: Rate, inputTokens: number): number {
  if (typeof rate === 'number') return rate;
  let price = rate.base;
  for (const tier of rate.tiers) if (inputTokens > tier.start) price = tier.price;
  return price;
}

/** The dearest a rate can be (the worst case for reservations). */
export function maxRate(rate: Rate): number {
  if (typeof rate === 'number') return rate;
  return Math.max(rate.base, ...rate.tiers.map((t) => t.price));
}

// USD per 1M tokens → nano-USD per token is ×1000.
const NANO_PER_TOKEN = 1000;

/**
 * The cost of `usage` at `price`, in nano-USD, rounded up so a charge is never understated.
 * Reasoning tokens are inside `outputTokens` and priced as output, as OpenAI, Anthropic and
 * Google bill them.
 */
export function costNano(usage: Usage, price: Price): number {
  const total = usage.inputTokens;
  const uncached = Math.max(0, total - usage.cachedInputTokens - usage.cacheWriteTokens);
  const perMillion =
    uncached * rateAt(price.input, total) +
    usage.cachedInputTokens * rateAt(price.cachedInput, total) +
    usage.cacheWriteTokens * rateAt(price.cacheWrite, total) +
    usage.outputTokens * rateAt(price.output, total);
  // The epsilon absorbs float noise (e.g. 0.15 * 1000) before rounding up.
  return Math.ceil(perMillion * NANO_PER_TOKEN - 1e-6);
}

/** Worst-case cost of a call: every prompt token at the dearest input rate, the full output cap. */
export function worstCaseNano(promptTokens: number, maxOutputTokens: number, price: Price): number {
  const inputRate = Math.max(maxRate(price.input), maxRate(price.cachedInput), maxRate(price.cacheWrite));
  return Math.ceil((promptTokens * inputRate + maxOutputTokens * maxRate(price.output)) * NANO_PER_TOKEN - 1e-6);
}

/** How many output tokens `budgetNano` pays for after the prompt's worst case. */
export function affordableOutputTokens(budgetNano: number, promptTokens: number, price: Price): number {
  const left = budgetNano - worstCaseNano(promptTokens, 0, price);
  if (left < 0) return -1;
  const output = maxRate(price.output);
  if (output === 0) return Number.MAX_SAFE_INTEGER;
  return Math.floor(left / (output * NANO_PER_TOKEN));
}

export const nanoToUsd = (nano: number): number => nano / 1e9;
export const usdToNano = (usd: number): number => Math.round(usd * 1e9);
