// Export sinks: every audit event, once durable, also goes where security teams already look —
// JSON lines to a file or stdout (for log shippers) and batches POSTed to a webhook. A sink never
// blocks or fails the data plane: it takes events synchronously into a bounded queue, and when
// the queue is full it drops (counting and logging what it dropped). Lines carry seq, prev_hash
// and hash, so a receiver sees gaps and holds a copy of the chain outside the database.
import { createWriteStream, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino } from 'pino';
import type { ChainedEvent } from '../store/index.js';
import type { Logger } from '../util/logger.js';
import { isoTime } from '../util/time.js';
import { WebhookTarget } from '../util/webhook.js';

/** One exported event: the admin API's event shape plus its place on the chain. */
export interface EventLine {
  seq: number;
  id: string;
  /** ISO 8601 with milliseconds (exactly the stored ms timestamp). */
  time: string;
  type: string;
  actor: string;
  request_id: string | null;
  agent_id: string | null;
  session_id: string | null;
  team_id: string | null;
  chain: string[] | null;
  data: Record<string, unknown>;
  prev_hash: string | null;
  hash: string | null;
}

export const eventLine = (e: ChainedEvent): EventLine => ({
  seq: e.seq, id: e.id, time: isoTime(e.time), type: e.type, actor: e.actor,
  request_id: e.requestId, agent_id: e.agentId, session_id: e.sessionId, team_id: e.teamId, chain: e.chain, data: e.data,
  prev_hash: e.prevHash, hash: e.hash,
});

export interface SinkStats {
  /** Events handed over (written, or delivered to the webhook). */
  sent: number;
  /** Events dropped: the queue was full, or the receiver refused them for good. */
  dropped: number;
  /** Events waiting. */
  queued: number;
}

export interface ExportSink {
  readonly name: string;
  /** Takes committed events; returns at once. */
  write(events: readonly ChainedEvent[]): void;
  stats(): SinkStats;
  /** Delivers what is queued (within `deadlineMs`), then releases the sink. */
  close(deadlineMs?: number): Promise<void>;
}

/** Logs drops at most every 10 s, with the count since the last message. */
class DropReporter {
  private unreported = 0;
  private last = 0;

  constructor(
    private readonly sink: string,
    private readonly logger: Logger | undefined,
  ) {}

  dropped(n: number, why: string): void {
    this.unreported += n;
    const now = Date.now();
    if (now - this.last < 10_000) return;
    this.logger?.warn({ sink: this.sink, dropped: this.unreported, why }, 'audit export dropped events');
    this.unreported = 0;
    this.last = now;
  }
}

/** Where JSON lines go: a file stream, stdout, or pino's destination. */
export interface LineTarget {
  write(chunk: string): boolean;
  once(event: 'drain', listener: () => void): unknown;
  end?(callback?: () => void): unknown;
  on?(event: 'error', listener: (err: Error) => void): unknown;
}

export interface JsonlSinkOptions {
  /** Events held while the target is congested (default 10 000). */
  maxQueue?: number;
  logger?: Logger;
  /** Close the target on close() (a file: yes; stdout: no). */
  owned?: boolean;
}

/** JSON lines, one event per line, written in commit order. */
export class JsonlSink implements ExportSink {
  readonly name: string;
  /** Lines held while the target is congested, one per event. */
  private queue: string[] = [];
  private congested = false;
  private failed = false;
  private sent = 0;
  private droppedCount = 0;
  private readonly maxQueue: number;
  private readonly drops: DropReporter;

  constructor(
    private readonly target: LineTarget,
    name: string,
    private readonly options: JsonlSinkOptions = {},
  ) {
    this.name = name;
    this.maxQueue = options.maxQueue ?? 10_000;
    this.drops = new DropReporter(name, options.logger);
    target.on?.('error', (err) => {
      if (!this.failed) options.logger?.error({ err, sink: name }, 'audit export target failed; events are dropped from now on');
      this.failed = true;
    });
  }

  write(events: readonly ChainedEvent[]): void {
    if (this.failed) return this.drop(events.length, 'target failed');
    if (this.congested) {
      // Held (one line each) until the target drains; beyond the bound, dropped.
      const room = Math.max(0, this.maxQueue - this.queue.length);
      for (const e of events.slice(0, room)) this.queue.push(`${JSON.stringify(eventLine(e))}\n`);
      if (events.length > room) this.drop(events.length - room, 'queue full');
      return;
    }
    let lines = '';
    for (const e of events) lines += `${JSON.stringify(eventLine(e))}\n`;
    this.send(lines, events.length);
  }

  private send(lines: string, count: number): void {
    this.sent += count;
    if (!this.target.write(lines)) {
      this.congested = true;
      this.target.once('drain', () => this.drained());
    }
  }

  private drained(): void {
    this.congested = false;
    const queued = this.queue;
    this.queue = [];
    if (queued.length > 0) this.send(queued.join(''), queued.length);
  }

  private drop(n: number, why: string): void {
    this.droppedCount += n;
    this.drops.dropped(n, why);
  }

  stats(): SinkStats {
    return { sent: this.sent, dropped: this.droppedCount, queued: this.queue.length };
  }

  async close(deadlineMs = 5_000): Promise<void> {
    if (this.queue.length > 0 && !this.failed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadlineMs);
        const check = setInterval(() => {
          if (this.queue.length === 0) {
            clearTimeout(timer);
            clearInterval(check);
            resolve();
          }
        }, 10);
        timer.unref();
      });
    }
    const target = this.target;
    if (this.options.owned && target.end) await new Promise<void>((resolve) => target.end!(() => resolve()));
  }
}

export interface WebhookSinkOptions {
  /** Events per POST (default 500). */
  batchSize?: number;
  /** Events held while the receiver is slow or down (default 10 000). */
  maxQueue?: number;
  /** First retry delay; doubles per failure up to `maxBackoffMs` (defaults 500 ms and 30 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Per-request time limit (default 10 s). */
  timeoutMs?: number;
  logger?: Logger;
}

/**
 * POSTs `{ "events": [EventLine, …] }` batches, in order, one request at a time. A network
 * error, a 5xx, 408 or 429 is retried (with backoff, the batch kept at the head of the queue);
 * any other answer but 2xx drops the batch (the receiver refuses it for good).
 */
export class WebhookSink implements ExportSink {
  readonly name = 'webhook';
  private queue: EventLine[] = [];
  private sending = false;
  private closing = false;
  private deadline = 0;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private sent = 0;
  private droppedCount = 0;
  private readonly drops: DropReporter;
  private readonly batchSize: number;
  private readonly maxQueue: number;
  private idle: (() => void) | null = null;

  private readonly target: WebhookTarget;

  constructor(
    url: string,
    private readonly options: WebhookSinkOptions = {},
  ) {
    this.target = new WebhookTarget(url);
    this.batchSize = options.batchSize ?? 500;
    this.maxQueue = options.maxQueue ?? 10_000;
    this.drops = new DropReporter('webhook', options.logger);
  }

  write(events: readonly ChainedEvent[]): void {
    const room = this.maxQueue - this.queue.length;
    const taken = events.length > room ? events.slice(0, Math.max(0, room)) : events;
    if (taken.length < events.length) this.drop(events.length - taken.length, 'queue full');
    for (const e of taken) this.queue.push(eventLine(e));
    if (!this.sending && this.timer === null) void this.pump();
  }

  private drop(n: number, why: string): void {
    this.droppedCount += n;
    this.drops.dropped(n, why);
  }

  private async pump(): Promise<void> {
    this.sending = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.slice(0, this.batchSize);
        const outcome = await this.post(batch);
        if (outcome === 'retry') {
          this.failures++;
          const delay = Math.min(this.options.maxBackoffMs ?? 30_000, (this.options.backoffMs ?? 500) * 2 ** (this.failures - 1));
          if (this.closing) {
            // Shutting down: keep trying, briefly, until close() gives up.
            if (Date.now() >= this.deadline) return;
            await new Promise((resolve) => setTimeout(resolve, Math.min(delay, 100)));
            continue;
          }
          // Jitter, so replicas retrying the same receiver spread out.
          this.timer = setTimeout(() => {
            this.timer = null;
            void this.pump();
          }, delay * (0.75 + Math.random() / 2));
          this.timer.unref();
          return;
        }
        this.failures = 0;
        this.queue.splice(0, batch.length);
        if (outcome === 'sent') this.sent += batch.length;
        else this.drop(batch.length, 'refused by the receiver');
      }
    } finally {
      this.sending = false;
      if (this.queue.length === 0 || this.closing) this.idle?.();
    }
  }

  private async post(batch: EventLine[]): Promise<'sent' | 'refused' | 'retry'> {
    try {
      const res = await this.target.post(JSON.stringify({ events: batch }), { 'user-agent': 'tollgate-audit-export' }, this.options.timeoutMs ?? 10_000);
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return 'sent';
      if (res.status >= 500 || res.status === 408 || res.status === 429) {
        this.options.logger?.warn({ sink: 'webhook', status: res.status, queued: this.queue.length }, 'audit webhook failed; retrying');
        return 'retry';
      }
      this.options.logger?.error({ sink: 'webhook', status: res.status, events: batch.length }, 'audit webhook refused a batch; dropped');
      return 'refused';
    } catch (err) {
      this.options.logger?.warn({ sink: 'webhook', err: (err as Error).message, queued: this.queue.length }, 'audit webhook unreachable; retrying');
      return 'retry';
    }
  }

  stats(): SinkStats {
    return { sent: this.sent, dropped: this.droppedCount, queued: this.queue.length };
  }

  /** Keeps trying to deliver what is queued for `deadlineMs`; what is left then is dropped. */
  async close(deadlineMs = 5_000): Promise<void> {
    this.closing = true;
    this.deadline = Date.now() + deadlineMs;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.queue.length > 0 || this.sending) {
      const done = new Promise<void>((resolve) => (this.idle = resolve));
      if (!this.sending) void this.pump();
      await Promise.race([done, new Promise((resolve) => setTimeout(resolve, deadlineMs + 100).unref())]);
    }
    if (this.queue.length > 0) {
      this.drop(this.queue.length, 'undelivered at shutdown');
      this.queue = [];
    }
  }
}

/** Export settings (the `audit.export` configuration section). */
export interface ExportSettings {
  /** A file path, or `-` for stdout. */
  jsonlPath?: string;
  webhookUrl?: string;
  webhookBatchSize?: number;
  webhookMaxQueue?: number;
}

/**
 * The sinks the settings ask for. `-` writes through the logger's own destination when it has
 * one, so audit lines and log lines never split each other on stdout.
 */
export function createExportSinks(settings: ExportSettings, logger?: Logger): ExportSink[] {
  const sinks: ExportSink[] = [];
  if (settings.jsonlPath === '-') {
    const destination = logger ? (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] : undefined;
    const target = isLineTarget(destination) ? destination : process.stdout;
    sinks.push(new JsonlSink(target, 'stdout', { logger }));
  } else if (settings.jsonlPath) {
    // Opened now, so a path the gateway cannot write stops the start instead of dropping events later.
    mkdirSync(dirname(settings.jsonlPath), { recursive: true });
    const file = createWriteStream('', { fd: openSync(settings.jsonlPath, 'a', 0o600) });
    sinks.push(new JsonlSink(file, `file:${settings.jsonlPath}`, { logger, owned: true }));
  }
  if (settings.webhookUrl) sinks.push(new WebhookSink(settings.webhookUrl, { batchSize: settings.webhookBatchSize, maxQueue: settings.webhookMaxQueue, logger }));
  return sinks;
}

function isLineTarget(v: unknown): v is LineTarget {
  return typeof v === 'object' && v !== null && typeof (v as LineTarget).write === 'function' && typeof (v as LineTarget).once === 'function';
}
