// The contract between the server and each endpoint module.
import type { IncomingHttpHeaders } from 'node:http';
import type { Directives } from './directives.js';
import type { ApiError, Dialect } from './errors.js';
import type { ReplyContext } from './reply.js';
import type { TurnSettings } from './turn.js';

/** A validated request, ready to answer. Deterministic in the request body, hence cacheable. */
export interface Prepared {
  readonly directives: Directives;
  readonly stream: boolean;
  respond(ctx: ReplyContext): void;
}

/** How a route accepts the provider's API key. */
export type AuthScheme = 'bearer' | 'bearer-or-x-api-key';

export interface Route {
  readonly dialect: Dialect;
  readonly auth: AuthScheme;
  /** Whether this route runs the model (counts toward `failureRate`, honours latency and directives). */
  readonly model: boolean;
  /**
   * Validates the parsed body and plans the answer, or names the 4xx to answer instead. Model
   * routes must depend on the body only: their results are cached by raw body.
   */
  prepare(body: unknown, settings: TurnSettings, headers: IncomingHttpHeaders): Prepared | ApiError;
}

