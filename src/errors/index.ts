// One catalogue of every error Tollgate answers with, and one place that turns an error into a
// response body in the caller's own dialect (OpenAI, Anthropic, OAuth or the admin API).
// A code here is public contract: clients and scripts match on it.

export type ErrorDialect = 'openai' | 'anthropic' | 'admin';

interface ErrorSpec {
  status: number;
  /** OpenAI `error.type`. */
  openai: string;
  /** Anthropic `error.type` (https://docs.anthropic.com/en/api/errors). */
  anthropic: string;
  message: string;
}

export const ERRORS = {
  unauthenticated: { status: 401, openai: 'invalid_request_error', anthropic: 'authentication_error', message: 'Missing or malformed credentials: send the session token as a Bearer token.' },
  invalid_token: { status: 401, openai: 'invalid_request_error', anthropic: 'authentication_error', message: 'The session token is invalid.' },
  token_expired: { status: 401, openai: 'invalid_request_error', anthropic: 'authentication_error', message: 'The session token has expired.' },
  session_inactive: { status: 401, openai: 'invalid_request_error', anthropic: 'authentication_error', message: 'The session is no longer active.' },
  agent_inactive: { status: 401, openai: 'invalid_request_error', anthropic: 'authentication_error', message: 'The agent is not active.' },
  invalid_client: { status: 401, openai: 'invalid_request_error', anthropic: 'authentication_error', message: 'Client authentication failed.' },
  token_revoked: { status: 401, openai: 'invalid_request_error', anthropic: 'authentication_error', message: 'The session token has been revoked.' },
  session_suspended: { status: 403, openai: 'invalid_request_error', anthropic: 'permission_error', message: 'The session is suspended until a human resumes it.' },
  team_suspended: { status: 403, openai: 'invalid_request_error', anthropic: 'permission_error', message: "The agent's team is suspended until an operator resumes it." },
  forbidden: { status: 403, openai: 'invalid_request_error', anthropic: 'permission_error', message: 'Not allowed.' },
  model_not_allowed: { status: 403, openai: 'invalid_request_error', anthropic: 'permission_error', message: 'This session may not use that model.' },
  tool_not_allowed: { status: 403, openai: 'invalid_request_error', anthropic: 'permission_error', message: 'This session may not use that tool.' },
  policy_denied: { status: 403, openai: 'invalid_request_error', anthropic: 'permission_error', message: 'A policy forbids this request.' },
  tool_approval_required: { status: 403, openai: 'invalid_request_error', anthropic: 'permission_error', message: 'This tool call needs a human approval before it runs.' },
  tool_approval_denied: { status: 403, openai: 'invalid_request_error', anthropic: 'permission_error', message: 'A human denied this tool call.' },
  model_unpriced: { status: 403, openai: 'invalid_request_error', anthropic: 'permission_error', message: 'The model has no price, and the call would be charged against a USD budget.' },
  model_not_found: { status: 404, openai: 'invalid_request_error', anthropic: 'not_found_error', message: 'The model does not exist.' },
  unsupported_api: { status: 400, openai: 'invalid_request_error', anthropic: 'invalid_request_error', message: 'That model is not served on this API.' },
  invalid_json: { status: 400, openai: 'invalid_request_error', anthropic: 'invalid_request_error', message: 'The request body is not valid JSON.' },
  invalid_request: { status: 400, openai: 'invalid_request_error', anthropic: 'invalid_request_error', message: 'The request is invalid.' },
  body_too_large: { status: 413, openai: 'invalid_request_error', anthropic: 'request_too_large', message: 'The request body is too large.' },
  json_too_deep: { status: 400, openai: 'invalid_request_error', anthropic: 'invalid_request_error', message: 'The request body nests arrays and objects too deeply.' },
  headers_too_large: { status: 431, openai: 'invalid_request_error', anthropic: 'request_too_large', message: 'The request headers are too large.' },
  request_timeout: { status: 408, openai: 'invalid_request_error', anthropic: 'invalid_request_error', message: 'The request was not received in time.' },
  bad_request: { status: 400, openai: 'invalid_request_error', anthropic: 'invalid_request_error', message: 'The request is not valid HTTP.' },
  unsupported_media_type: { status: 415, openai: 'invalid_request_error', anthropic: 'invalid_request_error', message: 'Send the body as application/json.' },
  approval_required: { status: 402, openai: 'insufficient_quota', anthropic: 'billing_error', message: 'This call would take the session past its soft budget threshold: a human must approve further spend.' },
  approval_denied: { status: 402, openai: 'insufficient_quota', anthropic: 'billing_error', message: 'Further spend on this session was denied.' },
  budget_exceeded: { status: 402, openai: 'insufficient_quota', anthropic: 'billing_error', message: 'The budget is exhausted.' },
  too_many_concurrent_calls: { status: 429, openai: 'rate_limit_error', anthropic: 'rate_limit_error', message: 'This session has too many calls in flight.' },
  rate_limited: { status: 429, openai: 'rate_limit_error', anthropic: 'rate_limit_error', message: 'Rate limit reached: too many requests or tokens per minute.' },
  not_found: { status: 404, openai: 'invalid_request_error', anthropic: 'not_found_error', message: 'Not found.' },
  method_not_allowed: { status: 405, openai: 'invalid_request_error', anthropic: 'invalid_request_error', message: 'Method not allowed.' },
  conflict: { status: 409, openai: 'invalid_request_error', anthropic: 'invalid_request_error', message: 'Conflict.' },
  upstream_unavailable: { status: 502, openai: 'api_error', anthropic: 'api_error', message: 'The upstream provider could not be reached.' },
  upstream_timeout: { status: 504, openai: 'api_error', anthropic: 'api_error', message: 'The upstream provider did not answer in time.' },
  stream_too_long: { status: 504, openai: 'api_error', anthropic: 'api_error', message: 'The upstream answer ran past the gateway\'s maximum duration.' },
  upstream_bad_response: { status: 502, openai: 'api_error', anthropic: 'api_error', message: 'The upstream provider answered with something that is not a valid response.' },
  upstream_stream_cut: { status: 502, openai: 'api_error', anthropic: 'api_error', message: 'The upstream stream ended before it was complete.' },
  provider_not_configured: { status: 503, openai: 'api_error', anthropic: 'api_error', message: 'The provider for this model has no API key configured.' },
  shutting_down: { status: 503, openai: 'api_error', anthropic: 'overloaded_error', message: 'The gateway is shutting down.' },
  store_unavailable: { status: 503, openai: 'api_error', anthropic: 'api_error', message: 'The budget store is unavailable; refusing rather than spending unchecked.' },
  internal_error: { status: 500, openai: 'api_error', anthropic: 'api_error', message: 'Internal error.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * The official SDKs (openai, @anthropic-ai/sdk) retry a 5xx by themselves, with backoff, unless the
 * answer says not to: sent with a refusal that retrying cannot change (a provider with no key, the
 * provider refusing the gateway's own key).
 */
export const DO_NOT_RETRY: Readonly<Record<string, string>> = Object.freeze({ 'x-should-retry': 'false' });

/** A refusal or failure with a catalogued code. Thrown by any stage; mapped once, at the edge. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** The request field at fault, when there is one (OpenAI's `param`). */
  readonly param: string | undefined;
  /** Extra machine-readable facts (e.g. which budget level ran out). */
  readonly details: Record<string, unknown> | undefined;
  /** Response headers to add (e.g. `Retry-After`). */
  readonly headers: Record<string, string> | undefined;

  constructor(
    code: ErrorCode,
    message?: string,
    extra: { param?: string; details?: Record<string, unknown>; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message ?? ERRORS[code].message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.param = extra.param;
    this.details = extra.details;
    this.headers = extra.headers;
  }
}

/** Any thrown value as a GatewayError; unknown errors become `internal_error` without their text. */
/**
 * Marks an error as the store being out of reach (connection refused or lost, statement timeout):
 * the data plane answers 503 `store_unavailable` — failing closed — rather than 500. The error
 * object keeps its own code for callers that look at it.
 */
const UNAVAILABLE = Symbol('store unavailable');
export function markStoreUnavailable<E>(err: E): E {
  if (typeof err === 'object' && err !== null) Object.defineProperty(err, UNAVAILABLE, { value: true });
  return err;
}
export const isStoreUnavailable = (err: unknown): boolean => typeof err === 'object' && err !== null && UNAVAILABLE in err;

export function asGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  if (isStoreUnavailable(err)) return new GatewayError('store_unavailable', undefined, { cause: err });
  return new GatewayError('internal_error', undefined, { cause: err });
}

/** The response body for `err` in the caller's dialect. */
export function errorBody(err: GatewayError, dialect: ErrorDialect, requestId?: string): unknown {
  const spec = ERRORS[err.code];
  switch (dialect) {
    case 'openai':
      return { error: { message: err.message, type: spec.openai, param: err.param ?? null, code: err.code, ...(err.details ?? {}) } };
    case 'anthropic':
      return { type: 'error', error: { type: spec.anthropic, message: err.message, code: err.code, ...(err.details ?? {}) }, ...(requestId ? { request_id: requestId } : {}) };
    case 'admin':
      return { error: { code: err.code, message: err.message, ...(err.param ? { param: err.param } : {}), ...(err.details ? { details: err.details } : {}) } };
  }
}
