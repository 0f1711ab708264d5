// A client secret's uses are recorded without a database write per token request: batched, and
// one credential seen from one source written at most once per interval. Real SQLite underneath;
// the store's batch method is counted.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CredentialService, MasterKey } from '../../src/identity/index.js';
import { SqliteStore, type CredentialUse } from '../../src/store/index.js';

let store: SqliteStore;
let batches: CredentialUse[][];
let clock: number;
let agentId: string;

beforeEach(async () => {
  store = new SqliteStore({ path: ':memory:' });
  await store.migrate();
  const team = await store.putTeam({ name: 't' }, 'error');
  const profile = await store.putProfile({ name: 'p', models: ['m'], sessionBudget: { default: { tokens: null, usdNano: null }, max: { tokens: null, usdNano: null } }, sessionTtlSeconds: { default: 60, max: 60 }, requireActorToken: false, agentBudget: null, enforcement: { mode: 'hard', threshold: 0.8, holdSeconds: 0 } }, 'error');
  agentId = (await store.putAgent({ name: 'a', teamId: team.id, profileId: profile.id, environment: 'dev' }, 'error')).id;
  batches = [];
  const record = store.recordCredentialUses.bind(store);
  store.recordCredentialUses = async (uses) => {
    batches.push([...uses]);
    return record(uses);
  };
  clock = 1_000_000;
});
afterEach(async () => {
  await store.close();
});

const service = (options = {}) => new CredentialService(store, MasterKey.fromBytes(randomBytes(32)), () => clock, { flushDelayMs: 60_000, ...options });

describe('credential use recording', () => {
  it('writes 200 uses from one source as one row update, and a new source or a new interval as another', async () => {
    const credentials = service({ useIntervalMs: 60_000 });
    const { credential, clientSecret } = await credentials.issue(agentId, null);
    for (let i = 0; i < 200; i++) {
      clock += 10;
      await credentials.verify(agentId, clientSecret, '10.0.0.1');
    }
    await credentials.verify(agentId, clientSecret, '10.0.0.2');
    await credentials.flush();
    expect(batches).toEqual([[{ credentialId: credential.id, at: 1_000_010, from: '10.0.0.1' }, { credentialId: credential.id, at: clock, from: '10.0.0.2' }]]);
    // Nothing new: a flush writes nothing.
    await credentials.flush();
    expect(batches).toHaveLength(1);
    // After the interval, the same source is written again, with its latest time.
    clock += 60_000;
    await credentials.verify(agentId, clientSecret, '10.0.0.1');
    await credentials.flush();
    expect(batches[1]).toEqual([{ credentialId: credential.id, at: clock, from: '10.0.0.1' }]);
    expect(await store.getCredential(credential.id)).toMatchObject({ lastUsedAt: clock, lastUsedFrom: '10.0.0.1' });
    expect((await store.listCredentialSources([credential.id])).map((s) => [s.source, s.firstSeen, s.lastSeen])).toEqual([['10.0.0.1', 1_000_010, clock], ['10.0.0.2', clock - 60_000, clock - 60_000]]);
  });

  it('writes on its own after the flush delay, and keeps a failed batch for the next flush', async () => {
    const credentials = service({ flushDelayMs: 20 });
    const { credential, clientSecret } = await credentials.issue(agentId, null);
    await credentials.verify(agentId, clientSecret, '10.0.0.1');
    await new Promise((r) => setTimeout(r, 100));
    expect(batches).toHaveLength(1);
    expect((await store.getCredential(credential.id))!.lastUsedAt).toBe(clock);

    const lazy = service();
    const second = await lazy.issue(agentId, null);
    store.recordCredentialUses = async () => {
      throw new Error('database down');
    };
    await lazy.verify(agentId, second.clientSecret, '10.0.0.3');
    await expect(lazy.flush()).rejects.toThrow('database down');
    store.recordCredentialUses = SqliteStore.prototype.recordCredentialUses.bind(store);
    await lazy.flush();
    expect(await store.getCredential(second.credential.id)).toMatchObject({ lastUsedFrom: '10.0.0.3' });
  });
});
