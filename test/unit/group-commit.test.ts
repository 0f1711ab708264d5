import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/store/group-commit.js';

describe('GroupCommit', () => {
  it('gathers the writes of one event-loop turn into one batch, in order', async () => {
    const batches: number[][] = [];
    const commit = new GroupCommit<number>(async (items) => void batches.push(items));
    await Promise.all([commit.add(1), commit.add(2), commit.add(3)]);
    await commit.add(4);
    expect(batches).toEqual([[1, 2, 3], [4]]);
  });

  it('keeps one batch in flight: the writes of the turns meanwhile go together next, and flush waits for both', async () => {
    const started: number[][] = [];
    const finish: (() => void)[] = [];
    const commit = new GroupCommit<number>((items) => {
      started.push(items);
      return new Promise<void>((resolve) => finish.push(resolve));
    });
    const first = commit.add(1);
    await new Promise((r) => setImmediate(r));
    const second = commit.add(2);
    await new Promise((r) => setImmediate(r));
    const third = commit.add(3);
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([[1]]); // 2 and 3 wait for the first batch
    let flushed = false;
    const flush = commit.flush().then(() => (flushed = true));
    finish[0]!();
    await first;
    for (let i = 0; i < 5 && started.length < 2; i++) await new Promise((r) => setImmediate(r));
    expect(started).toEqual([[1], [2, 3]]);
    expect(flushed).toBe(false); // the second batch is still in flight
    finish[1]!();
    await Promise.all([second, third, flush]);
    expect(flushed).toBe(true);
  });

  it('waits one more turn once a batch commits: the writes that turn brings join the next batch, never a second one in flight', async () => {
    const started: number[][] = [];
    const finish: (() => void)[] = [];
    let inFlight = 0;
    let mostInFlight = 0;
    const commit = new GroupCommit<number>((items) => {
      started.push(items);
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      return new Promise<void>((resolve) => finish.push(() => (inFlight--, resolve())));
    });
    const first = commit.add(1);
    await new Promise((r) => setImmediate(r));
    const second = commit.add(2);
    await new Promise((r) => setImmediate(r)); // 2's flush now waits for the first batch
    // The turn the first batch commits in also brings 3, and a flush asked for meanwhile.
    let extra: Promise<void>[] = [];
    setImmediate(() => (extra = [commit.add(3), commit.flush()]));
    finish[0]!();
    await first;
    for (let i = 0; i < 5 && started.length < 2; i++) await new Promise((r) => setImmediate(r));
    expect(started).toEqual([[1], [2, 3]]); // without the extra turn: [1], [2], then [3]
    finish[1]!();
    await Promise.all([second, ...extra]);
    expect(mostInFlight).toBe(1);
  });

  it('rejects every write of a failed batch', async () => {
    const commit = new GroupCommit<string>(async () => {
      throw new Error('disk full');
    });
    const hold = commit.add('hold');
    await expect(commit.add('line')).rejects.toThrow('disk full');
    await expect(hold).rejects.toThrow('disk full');
  });

  describe('deferred writes', () => {
    const turns = async (n: number) => {
      for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
    };
    const quick = (item: string) => item.startsWith('hold');

    it('stay behind a batch of quick writes sent to an idle writer, and join one of other writes', async () => {
      const batches: string[][] = [];
      const commit = new GroupCommit<string>(async (items) => void batches.push(items), 512, 1000, quick);
      const line = commit.deferred(() => commit.add('line 1'));
      await turns(5);
      expect(batches).toEqual([]);
      await commit.add('hold 2');
      expect(batches).toEqual([['hold 2']]);
      await Promise.all([line, commit.add('event 3')]);
      expect(batches).toEqual([['hold 2'], ['line 1', 'event 3']]);
    });

    it('join the batch that gathered behind another, quick writes or not', async () => {
      const batches: string[][] = [];
      const finish: (() => void)[] = [];
      const commit = new GroupCommit<string>((items) => {
        batches.push(items);
        return new Promise<void>((resolve) => finish.push(resolve));
      }, 512, 1000, quick);
      const first = commit.add('hold 1');
      await turns(1);
      const line = commit.deferred(() => commit.add('line 1'));
      const hold = commit.add('hold 2');
      await turns(1); // hold 2's flush now waits for the first batch
      finish[0]!();
      await first;
      for (let i = 0; i < 5 && batches.length < 2; i++) await turns(1);
      expect(batches).toEqual([['hold 1'], ['line 1', 'hold 2']]);
      finish[1]!();
      await Promise.all([line, hold]);
    });

    it('leave on their own after deferMs, or at once with a flush', async () => {
      const batches: string[][] = [];
      const commit = new GroupCommit<string>(async (items) => void batches.push(items), 512, 30, quick);
      const started = performance.now();
      await commit.deferred(() => commit.add('line 1'));
      expect(performance.now() - started).toBeGreaterThanOrEqual(25);
      const line = commit.deferred(() => commit.add('line 2'));
      await commit.flush();
      await line;
      expect(batches).toEqual([['line 1'], ['line 2']]);
    });

    it('are not deferred with deferMs 0, and nothing added after the callback is', async () => {
      const batches: string[][] = [];
      const eager = new GroupCommit<string>(async (items) => void batches.push(items), 512, 0, quick);
      void eager.deferred(() => eager.add('line'));
      await turns(3);
      expect(batches).toEqual([['line']]);
      const commit = new GroupCommit<string>(async (items) => void batches.push(items), 512, 1000, quick);
      void commit.deferred(() => commit.add('line 2'));
      await commit.add('event 3');
      expect(batches).toEqual([['line'], ['line 2', 'event 3']]);
    });
  });
});
