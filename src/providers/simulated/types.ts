// Public types of the simulated provider.

export interface SimulatedProviderOptions {
  /** Delay before the first byte of every model answer, in ms (default 0). */
  latencyMs?: number;
  /** Stream pacing in output tokens per second; 0 or undefined = as fast as possible (default). */
  tokensPerSecond?: number;
  /**
   * Share (0..1) of model requests answered with a 500 in the provider's error shape.
   * Deterministic: every `round(1 / failureRate)`-th model request fails.
   */
  failureRate?: number;
  /** Completion length when neither the request's limit nor a directive sets one (default 32). */
  defaultOutputTokens?: number;
  /** When set, requests must carry this key (OpenAI: `Authorization: Bearer`; Anthropic: `x-api-key` or Bearer). */
  apiKey?: string;
  /** Share (0..1) of prompt tokens reported as cached (default 0), to exercise cached pricing. */
  cachedPromptShare?: number;
}

export interface SimulatedServerOptions extends SimulatedProviderOptions {
  /** Port to listen on (default 0 = ephemeral). */
  port?: number;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
}

/** One request as the provider received it. */
export interface SimulatedRequestLog {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Request headers, names lowercased (as Node delivers them). */
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body, or undefined when there was none or it was not JSON. Shared: read only. */
  body: unknown;
}

export interface SimulatedProvider {
  /** Base URL, e.g. `http://127.0.0.1:PORT` (no trailing slash, no `/v1`). */
  readonly url: string;
  /** The last 100 requests, oldest first. */
  readonly requests: SimulatedRequestLog[];
  /** Stops listening and drops every open connection (streams and stalled requests included). */
  close(): Promise<void>;
}
