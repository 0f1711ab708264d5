import { describe, expect, it } from 'vitest';
import { newId, newTimeOrderedId } from '../../src/util/ids.js';

describe('ids', () => {
  it('newId: a prefix and 32 hex digits, never repeated', () => {
    const ids = Array.from({ length: 1000 }, () => newId('ses'));
    for (const id of ids) expect(id).toMatch(/^ses_[0-9a-f]{32}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('newTimeOrderedId: the same shape, sorting by creation time, unique within a millisecond', () => {
    const t = Date.UTC(2026, 10, 29);
    const early = Array.from({ length: 500 }, () => newTimeOrderedId('evt', t));
    const late = Array.from({ length: 500 }, () => newTimeOrderedId('evt', t + 1));
    for (const id of [...early, ...late]) expect(id).toMatch(/^evt_[0-9a-f]{32}$/);
    expect(early[0]!.slice(4, 16)).toBe(t.toString(16).padStart(12, '0'));
    expect(new Set([...early, ...late]).size).toBe(1000);
    // Every id of a later millisecond sorts after every id of an earlier one.
    expect([...early].sort().at(-1)! < [...late].sort()[0]!).toBe(true);
    expect(newTimeOrderedId('use') > newTimeOrderedId('use', t)).toBe(true);
  });
});
