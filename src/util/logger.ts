import { pino, type Logger } from 'pino';

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
    // Asynchronous writes: lines written while a write is in flight go out together, instead of
    // one synchronous syscall per request. pino flushes what is left when the process exits.
    destination ?? pino.destination({ dest: 1, sync: false }),
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
