// OpenAI Embeddings (https://platform.openai.com/docs/api-reference/embeddings): input only.
import { z } from 'zod';
import { GatewayError } from '../../errors/index.js';
import { openAiUsage } from './openai-chat.js';
import { validate, type ApiAdapter, type CanonicalCall, type MeteredUsage } from './api.js';

const embeddingsRequest = z.looseObject({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(z.string()), z.array(z.number().int()), z.array(z.array(z.number().int()))]),
});

export const openAiEmbeddings: ApiAdapter = {
  kind: 'openai.embeddings',
  dialect: 'openai',
  upstreamPath: '/embeddings',
  producesOutput: false,

  parse(body): CanonicalCall {
    const req = validate(embeddingsRequest, body);
    const inputs = typeof req.input === 'string' ? [req.input] : req.input;
    // Token-id arrays are counted as their length: one message per id keeps the bound an upper bound.
    const messages = inputs.map((item) => ({ content: Array.isArray(item) ? 'x '.repeat(item.length) : typeof item === 'number' ? 'x' : item }));
    return { api: 'openai.embeddings', model: req.model, stream: false, maxOutputTokens: null, choices: 1, prompt: { messages }, tools: [] };
  },

  rewrite(body, _call, change): void {
    body.model = change.upstreamModel;
  },

  stripTools(): null {
    return null; // embeddings offer no tools
  },

  usageFromResponse(json): MeteredUsage | null {
    const usage = openAiUsage((json as { usage?: unknown } | null)?.usage);
    return usage ? { usage: { ...usage, outputTokens: 0 }, complete: true } : null;
  },

  toolCallsInResponse(): [] {
    return [];
  },

  responseText(): string {
    return '';
  },

  createStreamMeter(): never {
    // Embeddings never stream: parse() sets stream=false, so the pipeline never asks.
    throw new GatewayError('internal_error', 'embeddings do not stream');
  },
};
