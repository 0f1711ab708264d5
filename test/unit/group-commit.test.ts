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

  it('pipelined (a store that commits in order): sends each turn\'s batch at once; flush waits for every batch before it', async () => {
    const started: number[][] = [];
    const finish: (() => void)[] = [];
    const commit = new GroupCommit<number>((items) => {
      started.push(items);
      return new Promise<void>((resolve) => finish.push(resolve));
    }, 512, true);
    const first = commit.add(1);
    await new Promise((r) => setImmediate(r));
    const second = commit.add(2);
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([[1], [2]]); // the second went out while the first was in flight
    let flushed = false;
    const flush = commit.flush().then(() => (flushed = true));
    finish[1]!();
    await second;
    await new Promise((r) => setImmediate(r));
    expect(flushed).toBe(false); // the first batch is still in flight
    finish[0]!();
    await Promise.all([first, flush]);
    expect(flushed).toBe(true);
  });

  it('rejects every write of a failed batch', async () => {
    const commit = new GroupCommit<string>(async () => {
      throw new Error('disk full');
    });
    const hold = commit.add('hold');
    await expect(commit.add('line')).rejects.toThrow('disk full');
    await expect(hold).rejects.toThrow('disk full');
  });
});
