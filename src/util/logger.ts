import { pino, type Logger } from 'pino';

/**
 * Lines gather in memory until this many bytes are waiting (or LOG_FLUSH_MS has passed), then
 * leave in one asynchronous write. Each write crosses to libuv's thread pool and back: writing
 * every few lines, as a plain asynchronous destination does under load, cost the event loop
 * ~7 µs per request at 32 connections (mostly the request line, `server.log_requests`); writing
 * ~20 lines at a time took CPU per request down 4–5 % (docs/performance.md). pino flushes what is
 * left when the process exits.
 */
const LOG_BATCH_BYTES = 4096;
/** The longest a line waits in memory: the log still reads as live. */
export const LOG_FLUSH_MS = 100;

/**
 * Structured JSON logs. Credentials are never passed to the logger; the redaction list is a
 * second guard in case an object carrying one is ever logged whole.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'tollgate' },
      redact: {
        paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'headers["x-api-key"]', 'api_key', '*.api_key', 'client_secret', '*.client_secret'],
        censor: '[redacted]',
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    // (A silent logger writes nothing: no buffer, no flush timer.)
    destination ?? pino.destination({ dest: 1, sync: false, ...(level === 'silent' ? {} : { minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS }) }),
  );
}

/**
 * The logger for the one line per data-plane request (`server.log_requests`): a child without the
 * redaction pass. Its fields are fixed ids, names and numbers, never a credential, and the
 * redaction walk (wildcard paths over every key) cost as much again as writing the line.
 */
export function requestLogger(logger: Logger): Logger {
  return logger.child({}, { redact: { paths: [] } });
}

export type { Logger };
