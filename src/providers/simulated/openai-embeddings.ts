// POST /v1/embeddings — OpenAI Embeddings.
// https://platform.openai.com/docs/api-reference/embeddings/create
// The answer depends on the body only, so it is serialized once and cached with the request.
// Note the openai SDK asks for `encoding_format: "base64"` by default and decodes it itself.
import { countTokens } from '../tokenizer.js';
import { NO_DIRECTIVES, parseDirectives } from './directives.js';
import { sendJsonText } from './reply.js';
import type { Route } from './route.js';
import { embeddingVector, float32Base64, hashString } from './text.js';
import { invalid, isError, optionalCount, requireModel } from './validate.js';

/** Vector length when the request sets no `dimensions`. */
export const DEFAULT_EMBEDDING_DIMENSIONS = 8;
const MAX_DIMENSIONS = 8192;

type Input = string | number[];

function isTokenArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.length > 0 && value.every((v) => Number.isInteger(v) && (v as number) >= 0);
}

/** `input` as a list: a string, an array of strings, a token array or an array of token arrays. */
function inputs(input: unknown): Input[] | undefined {
  if (typeof input === 'string') return input.length > 0 ? [input] : undefined;
  if (!Array.isArray(input) || input.length === 0) return undefined;
  if (isTokenArray(input)) return [input];
  const out: Input[] = [];
  for (const item of input) {
    if (typeof item === 'string' && item.length > 0) out.push(item);
    else if (isTokenArray(item)) out.push(item);
    else return undefined;
  }
  return out;
}

export const embeddingsRoute: Route = {
  dialect: 'openai',
  auth: 'bearer',
  model: true,
  prepare(raw) {
    const checked = requireModel(raw);
    if (isError(checked)) return checked;
    const { body, model } = checked;
    const list = inputs(body.input);
    if (list === undefined) {
      return invalid(
        "Invalid 'input': expected a non-empty string, array of non-empty strings, token array or array of token arrays.",
        'input',
      );
    }
    const dimensions = optionalCount(body, 'dimensions');
    if (isError(dimensions)) return dimensions;
    if (dimensions !== undefined && dimensions > MAX_DIMENSIONS) {
      return invalid(`Invalid 'dimensions': at most ${MAX_DIMENSIONS}.`, 'dimensions');
    }
    const format = body.encoding_format ?? 'float';
    if (format !== 'float' && format !== 'base64') {
      return invalid("Invalid 'encoding_format': expected 'float' or 'base64'.", 'encoding_format');
    }

    let promptTokens = 0;
    const data = list.map((item, index) => {
      // Token arrays are already tokens: their length is their count.
      const text = typeof item === 'string' ? item : item.join(',');
      promptTokens += typeof item === 'string' ? countTokens(item) : item.length;
      const vector = embeddingVector(hashString(`${model}\u0000${text}`), dimensions ?? DEFAULT_EMBEDDING_DIMENSIONS);
      return { object: 'embedding', index, embedding: format === 'base64' ? float32Base64(vector) : Array.from(vector) };
    });
    const json = JSON.stringify({
      object: 'list',
      data,
      model,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    });
    // Directives (error, latency, stall…) may ride in the last string input.
    const last = list[list.length - 1];
    return {
      directives: typeof last === 'string' ? parseDirectives(last) : NO_DIRECTIVES,
      stream: false,
      respond: (ctx) => sendJsonText(ctx, 200, json),
    };
  },
};
