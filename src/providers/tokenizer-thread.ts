// The tokenizer thread: exact token counts off the event loop. It starts at the first count a
// call needs (a cut call's prompt, a stream that reported no usage, a budget the cheap bound does
// not fit) and stops once idle, so the ranks — ~25 MB of heap for o200k, ~0.4 s to load — are
// resident only while counts are asked for, and never load on the event loop. One request carries
// all the texts of a count (a prompt's parts, the output), answered in order.
import type { Worker } from 'node:worker_threads';
import { Pending, spawnWorker } from '../util/worker.js';
import { countIn, type Encoding } from './token-count.js';

export type CountRequest = { id: number; encoding: Encoding; texts: readonly string[] };
export type CountReply = { id: number; counts: number[] } | { id: number; error: string };

/**
 * How long the thread stays once idle. Starting it costs ~0.6 s of CPU (the ranks' module parsed,
 * their map built, on the thread): counts now and then — a cut stream every few seconds — keep it
 * running rather than start it each time; a quiet gateway gives its memory back.
 */
export const TOKENIZER_IDLE_MS = 30_000;

/** A count the thread answered with an error (the text's, not the thread's). */
class CountError extends Error {}

export class TokenizerThread {
  private worker: Worker | null = null;
  private pending: Pending<number[]> | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  /** The thread could not start, or died: counts run in the calling thread from then on. */
  private failed = false;

  constructor(private readonly options: { idleMs?: number; entry?: string } = {}) {}

  /** Whether the thread is running (it stops once idle for `idleMs`). */
  get running(): boolean {
    return this.worker !== null;
  }

  /** The tokens of each of `texts` with `encoding`; rejects if the texts cannot be counted. */
  async count(encoding: Encoding, texts: readonly string[]): Promise<number[]> {
    // Nothing to count (a cut call's empty output): no reason to start the thread.
    if (texts.every((text) => text.length === 0)) return texts.map(() => 0);
    if (this.failed) return texts.map((text) => countIn(encoding, text));
    try {
      return await this.send(encoding, texts);
    } catch (err) {
      if (err instanceof CountError) throw err;
      // A thread that could not start, or died: counted here rather than leave a call uncharged
      // (the ranks then load on the event loop, once), and from now on.
      this.failed = true;
      process.emitWarning(`the tokenizer thread failed (${(err as Error).message}): token counts run on the event loop from now on`, 'TollgateWarning');
      return texts.map((text) => countIn(encoding, text));
    }
  }

  /** Stops the thread now (it starts again at the next count). */
  async close(): Promise<void> {
    const worker = this.worker;
    this.stopped();
    if (worker) await worker.terminate();
  }

  private send(encoding: Encoding, texts: readonly string[]): Promise<number[]> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const pending = this.pending ?? this.start();
    const worker = this.worker!;
    const answered = pending.send((id) => worker.postMessage({ id, encoding, texts } satisfies CountRequest));
    const done = () => this.idleAfter(pending);
    answered.then(done, done);
    return answered;
  }

  private start(): Pending<number[]> {
    const worker = spawnWorker(this.options.entry ?? import.meta.url, 'tokenizer-worker', null, {});
    const pending = new Pending<number[]>(worker);
    worker.on('message', (reply: CountReply) => {
      pending.settle(reply.id, 'counts' in reply ? { value: reply.counts } : { error: new CountError(reply.error) });
    });
    const gone = (err: Error) => {
      pending.rejectAll(err);
      if (this.worker === worker) this.stopped();
    };
    worker.on('error', gone);
    worker.once('exit', () => gone(new Error('the tokenizer thread stopped')));
    this.worker = worker;
    this.pending = pending;
    return pending;
  }

  /** Once nothing is asked of it for `idleMs`, the thread ends and its memory goes back. */
  private idleAfter(pending: Pending<number[]>): void {
    if (this.pending !== pending || pending.size > 0) return;
    this.idleTimer = setTimeout(() => {
      if (this.pending === pending && pending.size === 0) void this.close();
    }, this.options.idleMs ?? TOKENIZER_IDLE_MS);
    this.idleTimer.unref();
  }

  private stopped(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.worker = null;
    this.pending = null;
  }
}

let shared: TokenizerThread | null = null;

/** The process's tokenizer thread (started at its first count). */
export const tokenizerThread = (): TokenizerThread => (shared ??= new TokenizerThread());
