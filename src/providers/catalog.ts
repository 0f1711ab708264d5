// Default prices from the maintained catalog @pydantic/genai-prices (https://github.com/pydantic/genai-prices):
// its data ships inside the package, so lookups work offline; we never call its remote update.
// Resolved once per model when the registry is built, never on the hot path.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { calcPrice } from '@pydantic/genai-prices';
import type { Price, Rate } from './pricing.js';

/** The catalog package's version (`0.1.8`), which names the source of its prices. */
export const CATALOG_VERSION: string = (() => {
  // The package exports only its entry point: find package.json beside its dist/ folder.
  const entry = createRequire(import.meta.url).resolve('@pydantic/genai-prices');
  return (JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { version: string }).version;
})();

const isRate = (v: unknown): v is Rate =>
  typeof v === 'number' || (typeof v === 'object' && v !== null && 'base' in v && 'tiers' in v);

/** The larger of two rates, for prices that vary by time of day (never understate a charge). */
function dearer(a: Rate | undefined, b: Rate | undefined): Rate | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  const top = (r: Rate) => (typeof r === 'number' ? r : Math.max(r.base, ...r.tiers.map((t) => t.price)));
  return top(a) >= top(b) ? a : b;
}

function toPrice(p: Readonly<Record<string, unknown>>): Price | null {
  const input = p.input_mtok;
  const output = p.output_mtok ?? 0;
  if (!isRate(input) || !isRate(output)) return null;
  const cacheRead = isRate(p.cache_read_mtok) ? p.cache_read_mtok : input;
  const cacheWrite = isRate(p.cache_write_mtok) ? p.cache_write_mtok : input;
  return { input, output, cachedInput: cacheRead, cacheWrite, source: `catalog v${CATALOG_VERSION}`, known: true };
}

/**
 * The catalog's price for `model` at the first of `providers` (catalog provider ids: `openai`,
 * `anthropic`, `google`, `azure`, `openrouter`…) that knows it, or null. A model priced
 * differently by time of day (off-peak discounts) gets its dearest rates.
 */
export function catalogPrice(model: string, providers: readonly string[], at: Date = new Date()): Price | null {
  let found = null;
  for (const providerId of providers) if ((found = calcPrice({ input_tokens: 1 }, model, { providerId, timestamp: at }))) break;
  if (!found) return null;
  const variants = found.model.prices;
  if (Array.isArray(variants) && variants.some((v) => v.constraint?.type === 'time_of_date')) {
    const merged: Record<string, Rate | undefined> = {};
    for (const { prices } of variants) {
      for (const key of ['input_mtok', 'output_mtok', 'cache_read_mtok', 'cache_write_mtok']) {
        const a = merged[key];
        const b = prices[key];
        merged[key] = dearer(isRate(a) ? a : undefined, isRate(b) ? b : undefined);
      }
    }
    return toPrice(merged);
  }
  return toPrice(found.model_price);
}

/** The catalog's context window for `model` (tokens) at the first of `providers` that knows it, or null. */
export function catalogContextWindow(model: string, providers: readonly string[]): number | null {
  for (const providerId of providers) {
    const found = calcPrice({ input_tokens: 1 }, model, { providerId });
    if (found) return found.model.context_window ?? null;
  }
  return null;
}
