// Worker threads of Tollgate's own (the SQLite writer and checkpointer, the tokenizer): how they
// are started, and the requests sent to them that wait for an answer.
import { Worker, type ResourceLimits } from 'node:worker_threads';

/**
 * A worker whose entry `name` sits next to the module at `moduleUrl` (pass `import.meta.url`):
 * compiled JavaScript, or TypeScript under tsx (tests).
 */
export function spawnWorker(moduleUrl: string, name: string, workerData: unknown, resourceLimits: ResourceLimits): Worker {
  const options = { workerData, resourceLimits };
  if (!moduleUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, moduleUrl), options);
  const entry = new URL(`./${name}.ts`, moduleUrl).href;
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { ...options, eval: true });
}

/**
 * Requests sent to a worker and not answered yet. The worker keeps the process alive while any
 * is (and from close() on, until it exits); idle, it keeps nothing alive.
 */
export class Pending<T> {
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

  /** Requests not answered yet. */
  get size(): number {
    return this.waiters.size;
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
