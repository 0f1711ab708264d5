// Micro-benchmark of prompt token counting per model family: µs per `countPromptTokens` call
// (what a reservation pays when the cheap byte bound does not fit), on a short chat prompt and a
// long one, with each prompt varied per call so no cache can help.
// Run: npx tsx bench/tokenizer.ts
import { countPromptTokens, promptTokensUpperBound } from '../src/providers/prompt-tokens.js';
import { tokenizerFor } from '../src/providers/tokenizer.js';

const WORDS = 'the budget gateway agent session token reserve policy audit model call stream usage price catalog provider fallback'.split(' ');
function prompt(words: number, seed: number) {
  let text = '';
  for (let i = 0; i < words; i++) text += `${WORDS[(i * 7 + seed) % WORDS.length]}${i % 13 === 12 ? '. ' : ' '}`;
  return { messages: [{ role: 'system', content: 'You are a helpful assistant. Answer briefly.' }, { role: 'user', content: `${text}#${seed}` }] };
}

function bench(name: string, count: (p: ReturnType<typeof prompt>) => number, words: number, n: number): void {
  const prompts = Array.from({ length: 64 }, (_, i) => prompt(words, i));
  for (let i = 0; i < Math.min(n, 2000); i++) count(prompts[i % 64]!); // warm up
  const start = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < n; i++) sink += count(prompts[i % 64]!);
  const us = Number(process.hrtime.bigint() - start) / 1000 / n;
  const tokens = count(prompts[0]!);
  console.log(`| ${name} | ${words} words (~${tokens} tokens) | ${us.toFixed(1)} | ${sink > 0 ? '' : '!'}`);
}

console.log('| tokenizer | prompt | µs per call |');
console.log('| --- | --- | --- |');
for (const words of [60, 1500]) {
  const n = words < 100 ? 20_000 : 1_000;
  bench('byte upper bound (no tokenizer)', (p) => promptTokensUpperBound(p, { contextWindow: 1_000_000, maxImageTokens: 4096 }), words, n);
  for (const model of ['gpt-4o-mini', 'gpt-4', 'claude-sonnet-4-6']) {
    const t = tokenizerFor(model);
    bench(`${t.name} (${model})`, (p) => countPromptTokens(p, t.count), words, n);
  }
}
