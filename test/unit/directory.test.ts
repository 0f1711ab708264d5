// The directory's caches and revocation: a lookup that reads the store while a revocation lands
// must not cache what it read before it, or the revoked session would be served from the cache
// until the next change or resync.
import { describe, expect, it } from 'vitest';
import { Directory } from '../../src/identity/directory.js';
import type { Session, Store } from '../../src/store/index.js';

function slowStore(status: () => Session['status'], gate: Promise<void>): Store {
  return {
    getSession: async (id: string) => {
      const read = { id, status: status() } as Session; // read now, answered later
      await gate;
      return read;
    },
  } as unknown as Store;
}

describe('Directory', () => {
  it('does not cache a load that a change overtook; caches one that none did', async () => {
    let status: Session['status'] = 'active';
    let open!: () => void;
    const directory = new Directory(slowStore(() => status, new Promise<void>((r) => (open = r))));
    const changes: (string | null)[] = [];
    directory.onChange((c) => changes.push(c.id));
    const loading = directory.sessions.get('ses_1');
    // The revocation lands while the store is answering with what it read before.
    status = 'revoked';
    directory.sessions.delete('ses_1');
    open();
    expect((await loading)?.status).toBe('active');
    expect(directory.sessions.peek('ses_1')).toBeUndefined();
    expect(changes).toEqual(['ses_1']);
    // Read again, nothing overtaking: cached.
    expect((await directory.sessions.get('ses_1'))?.status).toBe('revoked');
    expect(directory.sessions.peek('ses_1')?.status).toBe('revoked');
    // A resync tells once.
    directory.clear();
    expect(changes).toEqual(['ses_1', null]);
  });
});
