// One catalogue of the errors the simulated provider answers, keyed by HTTP status, and one
// renderer per provider error shape:
// - OpenAI: `{ error: { message, type, param, code } }`
//   https://platform.openai.com/docs/guides/error-codes
// - Anthropic: `{ type: 'error', error: { type, message } }` with a `request-id` header
//   https://docs.anthropic.com/en/api/errors

export type Dialect = 'openai' | 'anthropic';

/** An error to answer; fields left out come from the catalogue entry for `status`. */
export interface ApiError {
  status: number;
  message?: string;
  /** OpenAI's `param`: the request field at fault. */
  param?: string | null;
  /** OpenAI's `code`. */
  code?: string | null;
}

interface CatalogueEntry {
  openaiType: string;
  openaiCode: string | null;
  openaiMessage: string;
  anthropicType: string;
  anthropicMessage: string;
  /** Whether the answer carries `retry-after` (rate limits and overload). */
  retryAfter?: boolean;
}

const CATALOGUE: Readonly<Record<number, CatalogueEntry>> = {
  400: {
    openaiType: 'invalid_request_error',
    openaiCode: null,
    openaiMessage: 'Invalid request.',
    anthropicType: 'invalid_request_error',
    anthropicMessage: 'Invalid request.',
  },
  401: {
    openaiType: 'invalid_request_error',
    openaiCode: 'invalid_api_key',
    openaiMessage: 'Incorrect API key provided.',
    anthropicType: 'authentication_error',
    anthropicMessage: 'invalid x-api-key',
  },
  403: {
    openaiType: 'invalid_request_error',
    openaiCode: 'permission_denied',
    openaiMessage: 'You are not allowed to make this request.',
    anthropicType: 'permission_error',
    anthropicMessage: 'Your API key does not have permission to use the specified resource.',
  },
  404: {
    openaiType: 'invalid_request_error',
    openaiCode: null,
    openaiMessage: 'Not found.',
    anthropicType: 'not_found_error',
    anthropicMessage: 'Not found.',
  },
  413: {
    openaiType: 'invalid_request_error',
    openaiCode: null,
    openaiMessage: 'Request too large.',
    anthropicType: 'request_too_large',
    anthropicMessage: 'Request exceeds the maximum allowed number of bytes.',
  },
  429: {
    openaiType: 'requests',
    openaiCode: 'rate_limit_exceeded',
    openaiMessage: 'Rate limit reached for requests (simulated). Please try again in 1s.',
    anthropicType: 'rate_limit_error',
    anthropicMessage: 'This request would exceed the rate limit for your organization (simulated).',
    retryAfter: true,
  },
  500: {
    openaiType: 'server_error',
    openaiCode: null,
    openaiMessage: 'The server had an error while processing your request. Sorry about that!',
    anthropicType: 'api_error',
    anthropicMessage: 'Internal server error',
  },
  503: {
    openaiType: 'server_error',
    openaiCode: null,
    openaiMessage: 'The server is overloaded or not ready yet.',
    anthropicType: 'api_error',
    anthropicMessage: 'Service unavailable',
    retryAfter: true,
  },
  529: {
    openaiType: 'server_error',
    openaiCode: null,
    openaiMessage: 'The server is overloaded or not ready yet.',
    anthropicType: 'overloaded_error',
    anthropicMessage: 'Overloaded',
    retryAfter: true,
  },
};

function entryFor(status: number): CatalogueEntry {
  return CATALOGUE[status] ?? (CATALOGUE[status < 500 ? 400 : 500] as CatalogueEntry);
}

/** The catalogue's message for `status` in the provider's wording. */
export function defaultMessage(dialect: Dialect, status: number): string {
  const entry = entryFor(status);
  return dialect === 'anthropic' ? entry.anthropicMessage : entry.openaiMessage;
}

/** The error object in the provider's shape. */
export function errorBody(dialect: Dialect, error: ApiError): unknown {
  const entry = entryFor(error.status);
  if (dialect === 'anthropic') {
    return { type: 'error', error: { type: entry.anthropicType, message: error.message ?? entry.anthropicMessage } };
  }
  return {
    error: {
      message: error.message ?? entry.openaiMessage,
      type: entry.openaiType,
      param: error.param ?? null,
      code: error.code !== undefined ? error.code : entry.openaiCode,
    },
  };
}

/** Extra headers the error answer carries. */
export function errorHeaders(status: number): Record<string, string> {
  return entryFor(status).retryAfter === true ? { 'retry-after': '1' } : {};
}

/**
 * OpenAI Chat Completions mid-stream error: a `data:` event whose payload has an `error` member
 * (the openai SDK throws an APIError on it).
 */
export const OPENAI_STREAM_ERROR = `data: ${JSON.stringify(errorBody('openai', { status: 500 }))}\n\n`;

/**
 * Anthropic mid-stream error: an `error` event, e.g. overloaded.
 * https://docs.anthropic.com/en/docs/build-with-claude/streaming#error-events
 */
export const ANTHROPIC_STREAM_ERROR = `event: error\ndata: ${JSON.stringify(errorBody('anthropic', { status: 529 }))}\n\n`;
