// The checkpointer's waits (store/sqlite/wal-signal.ts), driven from another thread as the
// writer and the store drive them: commits gather CHECKPOINT_EVERY_MS before a checkpoint and do
// not wake the thread meanwhile (one thread switch per commit cost ~10 % of throughput on two
// cores), requests are taken at once, and the stop ends it.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { CHECKPOINT_EVERY_MS, newWalSignal, signalCommit, signalStop, signalWork } from '../../src/store/sqlite/wal-signal.js';

/** A checkpointer stand-in: loops on CheckpointerWaits.next and reports each task and each look for work. */
function checkpointer(signal: Int32Array): { worker: Worker; log: { task: string; at: number; looks: number }[]; done: Promise<void> } {
  const entry = new URL('../../src/store/sqlite/wal-signal.ts', import.meta.url).href;
  const body = `
    const { parentPort, workerData, receiveMessageOnPort } = require('node:worker_threads');
    import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); }).then(({ CheckpointerWaits }) => {
      const waits = new CheckpointerWaits(workerData.signal);
      let looks = 0;
      parentPort.postMessage({ task: 'ready', at: performance.timeOrigin + performance.now(), looks });
      for (;;) {
        const task = waits.next(() => { looks++; return receiveMessageOnPort(parentPort)?.message; });
        const name = 'stop' in task ? 'stop' : 'work' in task ? 'work:' + task.work : 'checkpoint';
        parentPort.postMessage({ task: name, at: performance.timeOrigin + performance.now(), looks });
        if (name === 'stop') break;
      }
    });`;
  const worker = new Worker(body, { eval: true, workerData: { signal } });
  const log: { task: string; at: number; looks: number }[] = [];
  worker.on('message', (m: { task: string; at: number; looks: number }) => log.push(m));
  const done = new Promise<void>((resolve, reject) => {
    worker.once('exit', () => resolve());
    worker.once('error', reject);
  });
  return { worker, log, done };
}

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the checkpointer thread\'s waits', () => {
  it('gathers commits for one checkpoint without waking per commit, takes a request at once, and stops', async () => {
    const signal = newWalSignal();
    const { worker, log, done } = checkpointer(signal);
    const deadline = Date.now() + 20_000;
    while (!log.some((l) => l.task === 'ready') && Date.now() < deadline) await sleep(10);
    await sleep(50); // asleep and idle by now

    // 60 commits, one every ~5 ms: the first wakes the idle thread, the rest must not.
    const firstCommit = now();
    for (let i = 0; i < 60; i++) {
      signalCommit(signal);
      await sleep(5);
    }
    while (!log.some((l) => l.task === 'checkpoint') && Date.now() < deadline) await sleep(10);
    const checkpoint = log.find((l) => l.task === 'checkpoint')!;
    expect(checkpoint).toBeDefined();
    expect(checkpoint.at - firstCommit).toBeGreaterThanOrEqual(CHECKPOINT_EVERY_MS - 5);
    // It looked for work a handful of times (at start, on the first commit, at the checkpoint's
    // time), not once per commit.
    expect(checkpoint.looks).toBeLessThan(10);

    // A request while idle is taken at once.
    worker.postMessage('walk-1');
    const asked = now();
    signalWork(signal);
    while (!log.some((l) => l.task === 'work:walk-1') && Date.now() < deadline) await sleep(5);
    expect(log.find((l) => l.task === 'work:walk-1')!.at - asked).toBeLessThan(1000);

    // So is one while commits gather: it does not wait for their checkpoint.
    signalCommit(signal);
    await sleep(20);
    worker.postMessage('walk-2');
    const askedWhileGathering = now();
    signalWork(signal);
    while (!log.some((l) => l.task === 'work:walk-2') && Date.now() < deadline) await sleep(5);
    const work2 = log.find((l) => l.task === 'work:walk-2')!;
    expect(work2.at - askedWhileGathering).toBeLessThan(CHECKPOINT_EVERY_MS);
    // Those commits still get their checkpoint.
    while (log.filter((l) => l.task === 'checkpoint').length < 2 && Date.now() < deadline) await sleep(10);
    expect(log.filter((l) => l.task === 'checkpoint')).toHaveLength(2);

    signalStop(signal);
    await done;
    expect(log.at(-1)!.task).toBe('stop');
  }, 30_000);
});
