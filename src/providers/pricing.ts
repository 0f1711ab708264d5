// Prices are USD per 1M tokens (as providers publish them); costs are integer nano-USD.
import type { PriceConfig } from '../config/index.js';
import type { Usage } from '../store/index.js';

export interface Price {
  input: number;
  output: number;
  cachedInput: number;
  cacheWrite: number;
}

export function priceFromConfig(p: PriceConfig): Price {
  return { input: p.input, output: p.output, cachedInput: p.cached_input ?? p.input, cacheWrite: p.cache_write ?? p.input };
}

// USD per 1M tokens → nano-USD per token is ×1000.
const NANO_PER_TOKEN = 1000;

/** The cost of `usage` at `price`, in nano-USD, rounded up so a charge is never understated. */
export function costNano(usage: Usage, price: Price): number {
  const uncached = Math.max(0, usage.inputTokens - usage.cachedInputTokens - usage.cacheWriteTokens);
  const perMillion =
    uncached * price.input +
    usage.cachedInputTokens * price.cachedInput +
    usage.cacheWriteTokens * price.cacheWrite +
    usage.outputTokens * price.output;
  // The epsilon absorbs float noise (e.g. 0.15 * 1000) before rounding up.
  return Math.ceil(perMillion * NANO_PER_TOKEN - 1e-6);
}

/** Worst-case cost of a call: every prompt token at the dearest input rate, the full output cap. */
export function worstCaseNano(promptTokens: number, maxOutputTokens: number, price: Price): number {
  const inputRate = Math.max(price.input, price.cachedInput, price.cacheWrite);
  return Math.ceil((promptTokens * inputRate + maxOutputTokens * price.output) * NANO_PER_TOKEN - 1e-6);
}

/** How many output tokens `budgetNano` pays for after the prompt's worst case. */
export function affordableOutputTokens(budgetNano: number, promptTokens: number, price: Price): number {
  const left = budgetNano - worstCaseNano(promptTokens, 0, price);
  if (left < 0) return -1;
  if (price.output === 0) return Number.MAX_SAFE_INTEGER;
  return Math.floor(left / (price.output * NANO_PER_TOKEN));
}

export const nanoToUsd = (nano: number): number => nano / 1e9;
export const usdToNano = (usd: number): number => Math.round(usd * 1e9);
