// Writing answers: JSON bodies, errors in the provider's shape, and server-sent event streams
// paced token by token.
import type { ServerResponse } from 'node:http';
import type { Directives } from './directives.js';
import { errorBody, errorHeaders } from './errors.js';
import type { ApiError, Dialect } from './errors.js';

/** Everything an endpoint needs to write one answer. */
export interface ReplyContext {
  readonly res: ServerResponse;
  readonly dialect: Dialect;
  /** Headers every answer carries (the request id). */
  readonly headers: Readonly<Record<string, string>>;
  /** A fresh id unique to this provider, e.g. `id('chatcmpl-')`. */
  id(prefix: string): string;
  /** Unix time in seconds. */
  readonly created: number;
  /** Stream pacing for this request (0 = as fast as possible). */
  readonly tokensPerSecond: number;
}

export function sendJson(ctx: ReplyContext, status: number, body: unknown, extra?: Record<string, string>): void {
  sendJsonText(ctx, status, JSON.stringify(body), extra);
}

/** Like sendJson, for a body serialized ahead of time (answers that are the same every time). */
export function sendJsonText(ctx: ReplyContext, status: number, json: string, extra?: Record<string, string>): void {
  ctx.res.writeHead(status, {
    ...ctx.headers,
    ...extra,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(json),
  });
  ctx.res.end(json);
}

export function sendError(ctx: ReplyContext, error: ApiError): void {
  sendJson(ctx, error.status, errorBody(ctx.dialect, error), errorHeaders(error.status));
}

/** A stream rendered lazily: events before, per output token, after, or on a simulated failure. */
export interface EventSource {
  /** Events before the first token (role chunk, `message_start`, `response.created`…). */
  readonly head: string;
  /** Number of token events. */
  readonly count: number;
  /** The i-th token event: exactly one output token. */
  token(i: number): string;
  /** Events after the last token (finish, usage, `[DONE]`…). */
  tail(): string;
  /** The provider's error event, sent after `sent` tokens by `[[sim:stream_error_after]]`. */
  error(sent: number): string;
}

/** Token events written per `write()` when unpaced, so a huge answer still honours backpressure. */
const BATCH = 512;

/**
 * Streams `source` as `text/event-stream`. Unpaced, every event is written at once (one write for
 * ordinary answers); paced, token events are written as they fall due. `[[sim:cut_after=N]]`
 * ends the connection after N tokens without the tail; `[[sim:stream_error_after=N]]` sends the
 * error event after N tokens and ends the response normally.
 */
export function sendEvents(ctx: ReplyContext, source: EventSource, directives: Directives): void {
  const { res } = ctx;
  const { cutAfter, streamErrorAfter } = directives;
  const ending: 'complete' | 'cut' | 'error' =
    cutAfter !== undefined && (streamErrorAfter === undefined || cutAfter <= streamErrorAfter)
      ? 'cut'
      : streamErrorAfter !== undefined
        ? 'error'
        : 'complete';
  const stopAt = Math.min(
    source.count,
    ending === 'cut' ? (cutAfter as number) : ending === 'error' ? (streamErrorAfter as number) : Infinity,
  );

  res.writeHead(200, {
    ...ctx.headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
  });

  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  res.on('close', () => {
    closed = true;
    if (timer !== undefined) clearTimeout(timer);
  });

  const finish = (pending: string): void => {
    if (ending === 'complete') {
      res.end(pending + source.tail());
    } else if (ending === 'error') {
      res.end(pending + source.error(sent));
    } else {
      // Abrupt end: flush what was sent, then close the connection without the terminating
      // chunk, so the client sees a truncated body (no usage, no [DONE] / message_stop).
      if (pending.length > 0) res.write(pending);
      const socket = res.socket;
      if (socket === null) return;
      socket.end(() => socket.destroy());
    }
  };

  if (ctx.tokensPerSecond > 0) {
    const interval = 1000 / ctx.tokensPerSecond;
    const start = performance.now();
    res.write(source.head);
    const tick = (): void => {
      timer = undefined;
      if (closed) return;
      const due = Math.min(stopAt, Math.floor((performance.now() - start) / interval) + 1);
      let chunk = '';
      for (; sent < due; sent++) chunk += source.token(sent);
      if (sent >= stopAt) return finish(chunk);
      if (chunk.length > 0) res.write(chunk);
      timer = setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
    };
    tick();
    return;
  }

  let pending = source.head;
  const pump = (): void => {
    while (!closed && sent < stopAt) {
      const end = Math.min(stopAt, sent + BATCH);
      for (; sent < end; sent++) pending += source.token(sent);
      if (sent >= stopAt) break;
      const flushed = res.write(pending);
      pending = '';
      if (!flushed) {
        res.once('drain', pump);
        return;
      }
    }
    if (!closed) finish(pending);
  };
  pump();
}
