// The SQLite store's writer thread: a worker with its own connection that runs the hot path's
// group commits (holds, spend lines, audit events). The commit — SQLite's page writes to the
// WAL, the chain's hashing — then costs the event loop one message each way instead; a second
// thread runs the checkpoints, and walks the audit chain for verification between them
// (checkpointer-worker.ts). The order of batches is kept: the worker answers them one at a time,
// in order. A batch resolves only once committed, so durability before an answer is unchanged.
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { ChainLink, Synchronous } from './batch-writer.js';
import type { ChainPosition, ChainWalk } from '../chain.js';
import type { WriteSet } from '../store.js';
import { newWalSignal, signalStop, signalWork } from './wal-signal.js';

/**
 * A batch travels as its write set in JSON: one string is far cheaper to send between threads
 * than a structured clone of many small objects. The thread turns the events into chain rows
 * (canonical JSON reads the same after a JSON round trip: store/chain.ts).
 */
export type WriterRequest = { id: number; json: string } | { close: true };
export type WriterReply = { id: number; links: ChainLink[] } | { id: number; error: { name: string; message: string; code?: string } };
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

export class SqliteWriterThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (links: ChainLink[]) => void; reject: (err: Error) => void }>();
  private nextId = 1;
  private failure: Error | null = null;
  private exited: Promise<void>;
  /** Copies the WAL into the database file beside the writer (checkpointer-worker.ts). */
  private readonly checkpointer: Worker;
  private readonly checkpointerExited: Promise<void>;
  /** Walks sent to the checkpointer and not answered yet; null once it is gone (no more walks). */
  private walks: Map<number, { resolve: (walk: ChainWalk) => void; reject: (err: Error) => void }> | null = new Map();
  private readonly walSignal = newWalSignal();
  private closing = false;

  constructor(path: string, synchronous: Synchronous) {
    // The writer allocates little (a batch's JSON and its rows), the checkpointer next to nothing:
    // small young generations keep their heaps, and the process's RSS, small.
    this.worker = spawn('writer-worker', { path, synchronous, walSignal: this.walSignal }, { maxYoungGenerationSizeMb: 8 });
    this.checkpointer = spawn('checkpointer-worker', { path, synchronous, signal: this.walSignal }, { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 });
    // Idle, the threads keep no process alive; while a batch is in flight the writer does (see write).
    this.worker.unref();
    this.checkpointer.unref();
    // A checkpointer that fails leaves the checkpoints to the committing connections (see
    // wal-signal.ts), and the walks to the event loop (walk returns null).
    this.checkpointer.on('error', (err) => this.checkpointerGone(err));
    this.checkpointer.on('message', (reply: WalkReply) => this.settleWalk(reply));
    this.checkpointerExited = new Promise((resolve) => this.checkpointer.once('exit', () => {
      this.checkpointerGone(new Error('the SQLite checkpointer thread stopped'));
      resolve();
    }));
    this.worker.on('message', (reply: WriterReply) => this.settle(reply));
    this.worker.on('error', (err) => this.fail(err));
    this.exited = new Promise((resolve) => this.worker.once('exit', () => {
      this.fail(new Error('the SQLite writer thread stopped'));
      resolve();
    }));
  }

  /** Commits `set` on the writer's connection; resolves with where its audit events landed. */
  write(set: WriteSet): Promise<ChainLink[]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<ChainLink[]>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, json: JSON.stringify(set) } satisfies WriterRequest);
    });
  }

  /**
   * Walks up to `limit` events of the audit chain after `from` on the checkpointer thread, off the
   * event loop; null when that thread is gone (the caller walks them itself).
   */
  walk(from: ChainPosition, limit: number): Promise<ChainWalk> | null {
    const walks = this.walks;
    if (!walks) return null;
    const id = this.nextId++;
    return new Promise<ChainWalk>((resolve, reject) => {
      if (walks.size === 0) this.checkpointer.ref();
      walks.set(id, { resolve, reject });
      this.checkpointer.postMessage({ id, from: { seq: from.seq, hash: from.hash }, limit } satisfies WalkRequest);
      signalWork(this.walSignal);
    });
  }

  /** Lets the batches in flight finish, then closes the writer's connection and the thread. */
  async close(): Promise<void> {
    this.closing = true;
    if (!this.failure) this.worker.postMessage({ close: true } satisfies WriterRequest);
    this.worker.ref();
    this.checkpointer.ref();
    signalStop(this.walSignal);
    await Promise.all([this.exited, this.checkpointerExited]);
  }

  private settle(reply: WriterReply): void {
    const waiter = this.pending.get(reply.id);
    if (!waiter) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if ('links' in reply) waiter.resolve(reply.links);
    else waiter.reject(Object.assign(new Error(reply.error.message), { name: reply.error.name, code: reply.error.code }));
  }

  private settleWalk(reply: WalkReply): void {
    const waiter = this.walks?.get(reply.id);
    if (!waiter) return;
    this.walks!.delete(reply.id);
    // Closing, the thread keeps the process alive until it has closed its connection.
    if (this.walks!.size === 0 && !this.closing) this.checkpointer.unref();
    if ('walk' in reply) waiter.resolve(reply.walk);
    else waiter.reject(new Error(`walking the audit chain failed: ${reply.error}`));
  }

  private checkpointerGone(err: Error): void {
    const walks = this.walks;
    this.walks = null;
    for (const waiter of walks?.values() ?? []) waiter.reject(err);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }
}
