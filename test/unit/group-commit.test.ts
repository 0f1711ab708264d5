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

  it('a lazy write rides with the next batch, ahead of later writes, and schedules none of its own', async () => {
    const batches: string[][] = [];
    const commit = new GroupCommit<string>(async (items) => void batches.push(items));
    const hold = commit.add('hold', { lazyMs: 10_000 });
    await new Promise((r) => setTimeout(r, 20));
    expect(batches).toEqual([]);
    await commit.add('line');
    await hold;
    expect(batches).toEqual([['hold', 'line']]);
  });

  it('a lazy write alone is flushed when its delay runs out', async () => {
    const batches: string[][] = [];
    const commit = new GroupCommit<string>(async (items) => void batches.push(items));
    const started = performance.now();
    await commit.add('hold', { lazyMs: 30 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    expect(batches).toEqual([['hold']]);
  });

  it('rejects every write of a failed batch, lazy ones included', async () => {
    const commit = new GroupCommit<string>(async () => {
      throw new Error('disk full');
    });
    const lazy = commit.add('hold', { lazyMs: 10_000 });
    await expect(commit.add('line')).rejects.toThrow('disk full');
    await expect(lazy).rejects.toThrow('disk full');
  });
});
