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

  it('rejects every write of a failed batch', async () => {
    const commit = new GroupCommit<string>(async () => {
      throw new Error('disk full');
    });
    const hold = commit.add('hold');
    await expect(commit.add('line')).rejects.toThrow('disk full');
    await expect(hold).rejects.toThrow('disk full');
  });
});
