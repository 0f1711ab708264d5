import onExit from 'on-exit-leak-free';
import { pino, type DestinationStream, type Logger } from 'pino';
import { isoTime } from './time.js';

/**
 * Lines gather in memory until this many bytes are waiting (or LOG_FLUSH_MS has passed), then
 * leave in one asynchronous write. Each write crosses to libuv's thread pool and back (waking a
 * pool thread, then the event loop): writing every few lines, as a plain asynchronous destination
 * does under load, cost the event loop ~7 µs per request at 32 connections (mostly the request
 * line, `server.log_requests`). 16 KiB is sonic-boom's own largest write; at 4,000 requests a
 * second it fills in ~15 ms (docs/performance.md).
 */
const LOG_BATCH_BYTES = 16 * 1024;
/** The longest a line waits in memory: the log still reads as live. */
export const LOG_FLUSH_MS = 100;

type SonicBoom = ReturnType<typeof pino.destination>;

/**
 * Gathers lines in front of an asynchronous sonic-boom. sonic-boom can gather them itself
 * (`minLength`), but measures the byte length of everything waiting on every line it is given —
 * flattening the string it appends to — ~3.5 µs per line at 4 KiB, most of what a request's log
 * line cost. Here a line is appended and counted by its own length. What is waiting leaves with
 * the next write, `flush()`, or synchronously at exit.
 */
class LineBatcher implements DestinationStream {
  private waiting = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly out: SonicBoom) {
    // Held weakly: a logger dropped (a test's gateway) leaves no exit hook behind.
    onExit.register(this, (batcher: LineBatcher) => {
      try {
        batcher.flushSync();
      } catch {
        // stdout is already closed: there is nowhere left to write.
      }
    });
  }

  write(line: string): boolean {
    this.waiting += line;
    if (this.waiting.length >= LOG_BATCH_BYTES) this.drain();
    else this.timer ??= setTimeout(() => this.drain(), LOG_FLUSH_MS).unref();
    return true;
  }

  /** pino's `logger.flush(cb)`: hands what is waiting to sonic-boom, which writes it at once. */
  flush(cb?: (err?: Error) => void): void {
    this.drain();
    this.out.flush(cb);
  }

  flushSync(): void {
    this.drain();
    this.out.flushSync();
  }

  private drain(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.waiting.length === 0) return;
    this.out.write(this.waiting);
    this.waiting = '';
  }
}

/**
 * Structured JSON logs. Credentials are never passed to the logger; the redaction list is a
 * second guard in case an object carrying one is ever logged whole.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  // (A silent logger writes nothing: no batcher, no flush timer.)
  const stdout = () => {
    const out = pino.destination({ dest: 1, sync: false });
    return level === 'silent' ? out : new LineBatcher(out);
  };
  return pino(
    {
      level,
      base: { service: 'tollgate' },
      redact: {
        paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'headers["x-api-key"]', 'api_key', '*.api_key', 'client_secret', '*.client_secret'],
        censor: '[redacted]',
      },
      // pino's own isoTime, through a formatter without a Date (util/time.ts): one per line.
      timestamp: () => `,"time":"${isoTime(Date.now())}"`,
    },
    destination ?? stdout(),
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
