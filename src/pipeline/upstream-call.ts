// A call's upstream request on undici's dispatch interface, its answer's body a small queue of
// buffers read as an async iterable (a stream, event by event) or whole (a JSON answer).
// undici's request() wraps every answer in a Readable stream and an AsyncResource, and its
// async iterator costs promises and stream events per chunk; the relay needs none of that.
import type { Dispatcher } from 'undici';
import type { CallAbort } from './call-abort.js';

/** Bytes held unread before the upstream connection is paused (backpressure). */
const HIGH_WATER = 64 * 1024;

export type UpstreamHeaders = Dispatcher.ResponseData['headers'];

export interface UpstreamAnswer {
  status: number;
  headers: UpstreamHeaders;
  body: UpstreamBody;
}

/** An upstream answer's body, as it arrives. */
export class UpstreamBody implements AsyncIterable<Buffer> {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Unread bytes that pause the connection; raised while the body is read whole. */
  private highWater = HIGH_WATER;
  private ended = false;
  private destroyed = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(private readonly controller: Dispatcher.DispatchController | null) {}

  /** A body already read (an error body kept while a fallback was tried). */
  static of(data: Buffer): UpstreamBody {
    const body = new UpstreamBody(null);
    if (data.length > 0) body.push(data);
    body.end();
    return body;
  }

  /** From the handler: a chunk arrived. */
  push(chunk: Buffer): void {
    if (this.destroyed) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size >= this.highWater) this.controller?.pause();
    this.notify();
  }

  /** From the handler: the answer is complete. */
  end(): void {
    this.ended = true;
    this.notify();
  }

  /** From the handler: the answer broke off (the connection, a timeout, an abort). */
  fail(err: Error): void {
    if (this.ended) return;
    this.failure = err;
    this.notify();
  }

  /** Stops reading: the request is aborted and what was not read is dropped. */
  destroy(err: Error = new Error('The upstream answer was not read to its end.')): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.chunks = [];
    this.size = 0;
    if (!this.ended && !this.failure) this.controller?.abort(err);
    this.notify();
  }

  /**
   * The whole body, at most `cap` bytes: `truncated` when there was more (the rest is not read).
   * Rejects with the body's error if it broke off.
   */
  async read(cap: number): Promise<{ data: Buffer; truncated: boolean }> {
    this.highWater = cap + 1;
    if (this.controller?.paused) this.controller.resume();
    while (!this.ended && !this.failure && !this.destroyed && this.size <= cap) await this.arrival();
    if (this.failure) throw this.failure;
    const data = this.take();
    if (data.length <= cap) return { data, truncated: false };
    this.destroy();
    return { data: data.subarray(0, cap), truncated: true };
  }

  /** Leaving a `for await` early (a break, a throw) destroys the body, as it does a stream. */
  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return {
      next: () => this.next(),
      return: () => {
        this.destroy();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /** What arrived since the last read, in one buffer; done at the end; the error if it broke off. */
  private async next(): Promise<IteratorResult<Buffer>> {
    while (this.chunks.length === 0 && !this.ended && !this.failure && !this.destroyed) await this.arrival();
    if (this.chunks.length > 0) {
      const value = this.take();
      if (this.controller?.paused) this.controller.resume();
      return { value, done: false };
    }
    if (this.failure && !this.destroyed) throw this.failure;
    return { value: undefined, done: true };
  }

  /** Everything unread, in one buffer; the queue is then empty. */
  private take(): Buffer {
    const data = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    this.size = 0;
    return data;
  }

  private arrival(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

const stopReason = (signal: CallAbort): Error => signal.reason ?? new Error('The call was stopped.');

/** undici's side of one request: resolves with the answer's head, then feeds its body. */
class UpstreamHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  private body: UpstreamBody | null = null;
  private readonly onAbort = () => this.controller?.abort(stopReason(this.signal));

  constructor(
    private readonly signal: CallAbort,
    private readonly resolve: (answer: UpstreamAnswer) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    signal.once('abort', this.onAbort);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // Aborted while the request waited for a connection: it never leaves.
    if (this.signal.aborted) controller.abort(stopReason(this.signal));
    else this.signal.requestSent = true;
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: UpstreamHeaders): void {
    if (statusCode < 200) return; // informational: the answer's own head follows
    this.body = new UpstreamBody(controller);
    this.resolve({ status: statusCode, headers, body: this.body });
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.body?.push(chunk);
  }

  onResponseEnd(): void {
    this.signal.off('abort', this.onAbort);
    this.body?.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.signal.off('abort', this.onAbort);
    if (this.body) this.body.fail(err);
    else this.reject(err);
  }
}

/** Sends `options` on `dispatcher`; resolves with the answer's status, headers and body. */
export function callUpstream(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions, signal: CallAbort): Promise<UpstreamAnswer> {
  signal.requestSent = false;
  if (signal.aborted) return Promise.reject(stopReason(signal));
  return new Promise((resolve, reject) => {
    dispatcher.dispatch(options, new UpstreamHandler(signal, resolve, reject));
  });
}
