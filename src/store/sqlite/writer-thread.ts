// The SQLite store's writer thread: a worker with its own connection that runs the hot path's
// group commits (holds, spend lines, audit events). The commit — SQLite's page writes to the
// WAL, the chain's hashing — then costs the event loop one message each way instead; a second
// thread runs the checkpoints, and walks the audit chain for verification between them
// (checkpointer-worker.ts). The order of batches is kept: the worker answers them one at a time,
// in order. A batch resolves only once committed, so durability before an answer is unchanged.
import { SESSION_INDEX_LIMITS, type SessionIndexLimits } from './session-index.js';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { unpackLinks, writeRowsOf, type ChainLink, type PackedLinks, type Synchronous } from './batch-writer.js';
import type { ChainPosition, ChainWalk } from '../chain.js';
import type { WriteSet } from '../store.js';
import { STORE_THREAD_NICE_INCREMENT } from './thread-priority.js';
import { newWalSignal, signalStop, signalWork } from './wal-signal.js';

/**
 * A batch travels as its write set in row form (WriteRows) in JSON: one string is far cheaper to
 * send between threads than a structured clone of many small objects. The thread turns the events
 * into chain rows (canonical JSON reads the same after a JSON round trip: store/chain.ts), and
 * answers with the links packed.
 */
export type WriterRequest = { id: number; json: string } | { close: true };
export type WriterReply = { id: number; links: PackedLinks } | { id: number; error: { name: string; message: string; code?: string } };
/** A slice of a walk over the audit chain: up to `limit` events after `from` (ChainWalker). */
export type WalkRequest = { id: number; from: ChainPosition; limit: number };
export type WalkReply = { id: number; walk: ChainWalk } | { id: number; error: string };

/** A worker whose entry is next to this module: compiled JavaScript, or TypeScript under tsx (tests). */
function spawn(name: 'writer-worker' | 'checkpointer-worker', workerData: unknown, resourceLimits: ResourceLimits): Worker {
  const here = import.meta.url;
  const options = { workerData, resourceLimits };
  if (!here.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, here), options);
  const entry = new URL(`./${name}.ts`, here).href;
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { ...options, eval: true });
}

/**
 * Requests sent to a worker and not answered yet. The worker keeps the process alive while any
 * is (and from close() on, until it exits); idle, it keeps nothing alive.
 */
class Pending<T> {
  private readonly waiters = new Map<number, { resolve: (value: T) => void; reject: (err: Error) => void }>();
  private nextId = 1;
  private closing = false;

  constructor(private readonly worker: Worker) {
    worker.unref();
  }

  /** Sends a request made for its id; resolves with its answer. */
  send(post: (id: number) => void): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.waiters.size === 0) this.worker.ref();
      this.waiters.set(id, { resolve, reject });
      post(id);
    });
  }

  /** The answer to request `id`: its value, or its error. */
  settle(id: number, answer: { value: T } | { error: Error }): void {
    const waiter = this.waiters.get(id);
    if (!waiter) return;
    this.waiters.delete(id);
    if (this.waiters.size === 0 && !this.closing) this.worker.unref();
    if ('value' in answer) waiter.resolve(answer.value);
    else waiter.reject(answer.error);
  }

  rejectAll(err: Error): void {
    for (const waiter of this.waiters.values()) waiter.reject(err);
    this.waiters.clear();
  }

  /** Closing: the worker keeps the process alive until it has closed its connection and ended. */
  close(): void {
    this.closing = true;
    this.worker.ref();
  }
}

export class SqliteWriterThread {
  private readonly worker: Worker;
  private readonly batches: Pending<ChainLink[]>;
  private failure: Error | null = null;
  private exited: Promise<void>;
  /** Copies the WAL into the database file beside the writer (checkpointer-worker.ts). */
  private readonly checkpointer: Worker;
  private readonly checkpointerExited: Promise<void>;
  /** Walks sent to the checkpointer; null once it is gone (no more walks). */
  private walks: Pending<ChainWalk> | null;
  private readonly walSignal = newWalSignal();

  constructor(path: string, synchronous: Synchronous, threadNice = STORE_THREAD_NICE_INCREMENT, sessionIndex: SessionIndexLimits = SESSION_INDEX_LIMITS) {
    // The writer allocates little (a batch's JSON and its rows), the checkpointer next to nothing:
    // small young generations keep their heaps, and the process's RSS, small.
    this.worker = spawn('writer-worker', { path, synchronous, walSignal: this.walSignal, threadNice, sessionIndex }, { maxYoungGenerationSizeMb: 8 });
    this.checkpointer = spawn('checkpointer-worker', { path, synchronous, walSignal: this.walSignal, threadNice }, { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 });
    this.batches = new Pending(this.worker);
    this.walks = new Pending(this.checkpointer);
    // A checkpointer that fails leaves the checkpoints to the committing connections (see
    // wal-signal.ts), and the walks to the event loop (walk returns null).
    this.checkpointer.on('error', (err) => this.checkpointerGone(err));
    this.checkpointer.on('message', (reply: WalkReply) => {
      this.walks?.settle(reply.id, 'walk' in reply ? { value: reply.walk } : { error: new Error(`walking the audit chain failed: ${reply.error}`) });
    });
    this.checkpointerExited = new Promise((resolve) => this.checkpointer.once('exit', () => {
      this.checkpointerGone(new Error('the SQLite checkpointer thread stopped'));
      resolve();
    }));
    this.worker.on('message', (reply: WriterReply) => {
      this.batches.settle(reply.id, 'links' in reply ? { value: unpackLinks(reply.links) } : { error: Object.assign(new Error(reply.error.message), { name: reply.error.name, code: reply.error.code }) });
    });
    this.worker.on('error', (err) => this.fail(err));
    this.exited = new Promise((resolve) => this.worker.once('exit', () => {
      this.fail(new Error('the SQLite writer thread stopped'));
      resolve();
    }));
  }

  /** Commits `set` on the writer's connection; resolves with where its audit events landed. */
  write(set: WriteSet): Promise<ChainLink[]> {
    if (this.failure) return Promise.reject(this.failure);
    return this.batches.send((id) => this.worker.postMessage({ id, json: JSON.stringify(writeRowsOf(set)) } satisfies WriterRequest));
  }

  /**
   * Walks up to `limit` events of the audit chain after `from` on the checkpointer thread, off the
   * event loop; null when that thread is gone (the caller walks them itself).
   */
  walk(from: ChainPosition, limit: number): Promise<ChainWalk> | null {
    return this.walks?.send((id) => {
      this.checkpointer.postMessage({ id, from: { seq: from.seq, hash: from.hash }, limit } satisfies WalkRequest);
      signalWork(this.walSignal);
    }) ?? null;
  }

  /** Lets the batches in flight finish, then closes the writer's connection and the thread. */
  async close(): Promise<void> {
    if (!this.failure) this.worker.postMessage({ close: true } satisfies WriterRequest);
    this.batches.close();
    this.walks?.close();
    // (A checkpointer already gone has no connection left to close.)
    signalStop(this.walSignal);
    await Promise.all([this.exited, this.checkpointerExited]);
  }

  private checkpointerGone(err: Error): void {
    this.walks?.rejectAll(err);
    this.walks = null;
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.batches.rejectAll(err);
  }
}
