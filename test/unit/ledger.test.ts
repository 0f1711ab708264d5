// The ledger in isolation: regression tests named after the defects they pin.
import { describe, expect, it } from 'vitest';
import { MemoryLedger } from '../../src/budget/index.js';
import { SqliteStore, type Session } from '../../src/store/index.js';

async function setup() {
  const store = new SqliteStore({ path: ':memory:' });
  await store.migrate();
  const team = await store.putTeam({ name: 't' }, 'error');
  const profile = await store.putProfile({ name: 'p', models: ['m'], sessionBudget: { default: { tokens: null, usdNano: null }, max: { tokens: null, usdNano: null } }, sessionTtlSeconds: { default: 60, max: 60 }, requireActorToken: false, agentBudget: null, enforcement: { mode: 'hard', threshold: 0.8, holdSeconds: 0 } }, 'error');
  const agent = await store.putAgent({ name: 'a', teamId: team.id, profileId: profile.id, environment: 'dev' }, 'error');
  const base = { agentId: agent.id, teamId: team.id, profileId: profile.id, task: 't', models: ['m'], context: {}, expiresAt: Date.now() + 60_000 };
  const parent: Session = await store.createSession({ ...base, id: 'ses_p', parentId: null, chain: ['ses_p'], budget: { tokens: null, usdNano: 1000 } });
  const ledger = new MemoryLedger(store);
  // As SessionService does: the parent's account is loaded before the child exists.
  const newChild = (): Promise<Session> => store.createSession({ ...base, id: 'ses_c', parentId: 'ses_p', chain: ['ses_p', 'ses_c'], budget: { tokens: null, usdNano: 1000 } });
  return { store, ledger, parent, newChild };
}

describe('ledger', () => {
  it('regression: a call in flight when its child session ends stays held on the parent until it settles', async () => {
    const { ledger, parent, newChild } = await setup();
    const p = await ledger.load(parent);
    const child = await newChild();
    ledger.delegate(parent, child);
    const c = ledger.session(child.id);
    const inFlight = ledger.reserve([c], { tokens: 0, usdNano: 1000 });
    ledger.end(child.id);
    // The parent got nothing back yet: the child's call may still spend all of it.
    expect(() => ledger.reserve([p], { tokens: 0, usdNano: 1 })).toThrow(/budget/);
    ledger.settle(inFlight, { tokens: 0, usdNano: 600 });
    expect(ledger.remaining([p]).usdNano).toBe(400);
    const next = ledger.reserve([p], { tokens: 0, usdNano: 400 });
    ledger.settle(next, { tokens: 0, usdNano: 400 });
    expect(p.spent.usdNano).toBe(1000); // never above the budget
    expect(p.reserved.usdNano).toBe(0);
  });

  it('holds every level or none', async () => {
    const { ledger, parent } = await setup();
    const s = await ledger.load(parent);
    const team = await ledger.loadPeriod('team', 'team_x', { tokens: null, usdNano: 300, period: 'lifetime' }, { key: 'lifetime', start: 0, end: Infinity });
    expect(() => ledger.reserve([s, team], { tokens: 0, usdNano: 500 })).toThrow(/team/);
    expect(s.reserved.usdNano).toBe(0); // nothing held on the session either
    expect(ledger.remaining([s, team])).toEqual({ tokens: null, usdNano: 300, level: 'team' });
  });
});

describe('ledger: accounts no call will use again', () => {
  it('drops ended sessions\' and past periods\' accounts after a grace, and keeps one with a call in flight until it settles', async () => {
    const { store, parent } = await setup();
    const clock = { now: 1_000_000 };
    const ledger = new MemoryLedger(store, () => clock.now);
    const base = { agentId: parent.agentId, teamId: parent.teamId, profileId: parent.profileId, task: 't', models: ['m'], context: {}, expiresAt: Date.now() + 60_000, parentId: null, budget: { tokens: null, usdNano: 1000 } };
    // 200 sessions opened, charged and ended, as a gateway serving a fleet sees them.
    for (let i = 0; i < 200; i++) {
      const s = await store.createSession({ ...base, id: `ses_${i}`, chain: [`ses_${i}`] });
      const account = await ledger.load(s);
      ledger.settle(ledger.reserve([account], { tokens: 0, usdNano: 10 }), { tokens: 0, usdNano: 5 });
      ledger.end(s.id);
    }
    // Within the grace they stay: a request already past authentication may still read one.
    expect(ledger.loadedCount).toBe(200);
    expect(ledger.session('ses_199').spent.usdNano).toBe(5);
    // One more ended session with its call still in flight.
    const busy = await store.createSession({ ...base, id: 'ses_busy', chain: ['ses_busy'] });
    const inFlight = ledger.reserve([await ledger.load(busy)], { tokens: 0, usdNano: 100 });
    ledger.end(busy.id);
    const day1 = await ledger.loadPeriod('agent', parent.agentId, { tokens: null, usdNano: 10_000, period: 'day' }, { key: '2026-11-30', start: 0, end: 1 });
    clock.now += 61_000;
    await ledger.loadPeriod('agent', parent.agentId, { tokens: null, usdNano: 10_000, period: 'day' }, { key: '2026-12-01', start: 1, end: 2 });
    // The 200 are gone; the one with a call in flight is not; the past day's account waits out its grace.
    expect(ledger.loadedCount).toBe(3);
    expect(() => ledger.session('ses_5')).toThrow(/not loaded/);
    expect(ledger.session('ses_busy')).toBeDefined();
    ledger.settle(inFlight, { tokens: 0, usdNano: 40 });
    expect(day1.spent.usdNano).toBe(0);
    clock.now += 61_000;
    const later = await store.createSession({ ...base, id: 'ses_later', chain: ['ses_later'] });
    await ledger.load(later);
    ledger.end(later.id);
    // Settled now, and past the grace: dropped with the past period's account.
    expect(() => ledger.session('ses_busy')).toThrow(/not loaded/);
    expect(ledger.loadedCount).toBe(2); // the current day's, and ses_later's within its grace
  });
});
