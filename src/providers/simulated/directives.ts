// Prompt directives: `[[sim:name=value]]` markers in the last user message that drive the
// simulated provider's behaviour per request, so tests and demos can steer it through an
// unchanged gateway. See docs/simulated-provider.md for the list.

export interface Directives {
  /** `[[sim:tokens=N]]`: answer with N completion tokens (still capped by the request's limit). */
  tokens?: number;
  /** `[[sim:cut_after=N]]`: stream N tokens then destroy the socket; non-stream: destroy at once. */
  cutAfter?: number;
  /** `[[sim:error=STATUS]]`: answer HTTP STATUS (400..599) in the provider's error shape. */
  error?: number;
  /** `[[sim:latency_ms=N]]`: delay before the first byte. */
  latencyMs?: number;
  /** `[[sim:tokens_per_second=N]]`: stream pacing (0 = as fast as possible). */
  tokensPerSecond?: number;
  /** `[[sim:stall]]`: accept the request and never answer. */
  stall?: boolean;
  /**
   * `[[sim:tool_call=NAME]]` or `[[sim:tool_call=A,B]]`: answer with calls to these tools (in
   * that order) when the request offers tools.
   */
  toolCalls?: string[];
  /** `[[sim:stream_error_after=N]]`: stream N tokens, then an error event, then end cleanly. */
  streamErrorAfter?: number;
}

export const NO_DIRECTIVES: Readonly<Directives> = Object.freeze({});

/** Matches one directive; also used to strip directives from the text that seeds the answer. */
export const DIRECTIVE_PATTERN = /\[\[sim:([a-z_]+)(?:=([^\]]*))?\]\]/g;

function count(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

function rate(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+(\.\d+)?$/.test(value)) return undefined;
  return Number(value);
}

/** The directives found in `text`; malformed values and unknown names are ignored. */
export function parseDirectives(text: string): Directives {
  if (!text.includes('[[sim:')) return NO_DIRECTIVES;
  const found: Directives = {};
  for (const match of text.matchAll(DIRECTIVE_PATTERN)) {
    const [, name, value] = match;
    switch (name) {
      case 'tokens':
        found.tokens = count(value);
        break;
      case 'cut_after':
        found.cutAfter = count(value);
        break;
      case 'error': {
        const status = count(value);
        if (status !== undefined && status >= 400 && status <= 599) found.error = status;
        break;
      }
      case 'latency_ms':
        found.latencyMs = count(value);
        break;
      case 'tokens_per_second':
        found.tokensPerSecond = rate(value);
        break;
      case 'stall':
        found.stall = true;
        break;
      case 'tool_call': {
        const names = value?.split(',');
        if (names?.every((n) => /^[A-Za-z0-9_.-]{1,128}$/.test(n))) found.toolCalls = names;
        break;
      }
      case 'stream_error_after':
        found.streamErrorAfter = count(value);
        break;
    }
  }
  return found;
}
