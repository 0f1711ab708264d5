// The shared ledger on a real PostgreSQL, as several replicas use it: separate pools (separate
// "processes") reserving on one session, agent and team at once. Nothing is lost, nothing
// overspent, no deadlock, and the holds of a replica that dies are settled once.
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { growSessionBudget, periodWindow, SharedLedger, type Account, type Amount } from '../../src/budget/index.js';
import { PostgresStore, type PendingReservation, type Session, type UsageRecord } from '../../src/store/index.js';
import { PG_URL, postgresProblem, schemaPool } from '../helpers/postgres.js';

const problem = await postgresProblem('the shared ledger tests');
const logger = pino({ level: 'silent' });
const schemas = schemaPool('tollgate_ledger');

async function setup(replicas: number, budgetNano: number) {
  const schema = schemas.fresh();
  const stores = Array.from({ length: replicas }, () => new PostgresStore({ connectionString: PG_URL, schema, max: 8 }));
  await Promise.all(stores.map((s) => s.migrate()));
  const store = stores[0]!;
  const team = await store.putTeam({ name: 't', budget: { period: 'month', tokens: null, usdNano: budgetNano * 4 } }, 'error');
  const profile = await store.putProfile({
    name: 'p', models: ['m'], sessionBudget: { default: { tokens: null, usdNano: null }, max: { tokens: null, usdNano: null } }, sessionTtlSeconds: { default: 600, max: 600 },
    requireActorToken: false, agentBudget: { period: 'day', tokens: null, usdNano: budgetNano * 2 }, enforcement: { mode: 'hard', threshold: 0.8, holdSeconds: 0 },
  }, 'error');
  const agent = await store.putAgent({ name: 'a', teamId: team.id, profileId: profile.id, environment: 'test' }, 'error');
  const session: Session = await store.createSession({
    id: 'ses_shared', agentId: agent.id, teamId: team.id, profileId: profile.id, parentId: null, task: 't', models: ['m'], context: {},
    budget: { tokens: null, usdNano: budgetNano }, expiresAt: Date.now() + 600_000, chain: ['ses_shared'],
  });
  const ledgers = stores.map((s, i) => new SharedLedger(s, `rep_${i}`, logger));
  const now = Date.now();
  const accountsOf = async (ledger: SharedLedger): Promise<Account[]> => [
    await ledger.load(session),
    await ledger.loadPeriod('agent', agent.id, profile.agentBudget!, periodWindow('day', now, 'UTC')),
    await ledger.loadPeriod('team', team.id, team.budget!, periodWindow('month', now, 'UTC')),
  ];
  const row = async (key: string) => (await store.query('SELECT * FROM budget_accounts WHERE key = $1', [key]))[0]!;
  return { stores, store, ledgers, session, agent, team, accountsOf, row, close: () => Promise.all(stores.map((s) => s.close())) };
}

function hold(session: Session, id: string, amount: Amount): PendingReservation {
  return {
    id, requestId: `req_${id}`, sessionId: session.id, agentId: session.agentId, teamId: session.teamId, profileId: session.profileId, model: 'm', provider: 'sim', api: 'openai.chat',
    stream: false, promptTokens: 0, outputTokens: amount.tokens, usdNano: amount.usdNano, chain: session.chain, createdAt: Date.now(), expiresAt: Date.now() + 60_000,
  };
}

function line(session: Session, id: string, usdNano: number): UsageRecord {
  return {
    id, requestId: `req_${id}`, sessionId: session.id, agentId: session.agentId, teamId: session.teamId, profileId: session.profileId, model: 'm', provider: 'sim', api: 'openai.chat',
    stream: false, inputTokens: 1, outputTokens: 1, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, costUsdNano: usdNano, estimated: false, outcome: 'ok',
    httpStatus: 200, latencyMs: 1, createdAt: Date.now(), chain: session.chain,
  };
}

(problem === null ? describe : describe.skip)('SharedLedger on PostgreSQL', () => {
  afterAll(() => schemas.dropAll());

  it('never overspends across four pools reserving at once on three levels, and loses no update', { timeout: 60_000 }, async () => {
    const budget = 1_000_000;
    const env = await setup(4, budget);
    try {
      const perLedger = await Promise.all(env.ledgers.map((l) => env.accountsOf(l)));
      let n = 0;
      const results = await Promise.all(Array.from({ length: 400 }, async (_, i) => {
        const ledger = env.ledgers[i % 4]!;
        // Accounts in different orders per pool: the function must lock them in one order anyway.
        const accounts = i % 2 === 0 ? perLedger[i % 4]! : [...perLedger[i % 4]!].reverse();
        const amount = { tokens: 2, usdNano: 5_000 + (i % 7) * 1_000 };
        const id = `use_${String(n++).padStart(4, '0')}`;
        try {
          const r = await ledger.reserve(accounts, amount, hold(env.session, id, amount));
          // Half settle through their spend line (as a call does), half released or charged directly.
          const actual = Math.floor(amount.usdNano * 0.75);
          if (i % 2 === 0) {
            ledger.settle(r, { tokens: 2, usdNano: actual }, true);
            await env.stores[i % 4]!.recordUsage([line(env.session, id, actual)]);
          } else {
            ledger.settle(r, { tokens: 2, usdNano: actual });
          }
          return actual;
        } catch (err) {
          expect((err as { code?: string }).code).toBe('budget_exceeded');
          return 0;
        }
      }));
      await Promise.all(env.ledgers.map((l) => l.flush()));
      const charged = results.reduce((a, b) => a + b, 0);
      const session = await env.row(env.session.id);
      expect(session.reserved_usd_nano).toBe(0);
      expect(session.spent_usd_nano).toBe(charged); // every settle landed once
      expect(session.spent_usd_nano).toBeLessThanOrEqual(budget);
      expect(charged).toBeGreaterThan(budget * 0.7); // refusals only once the budget was really short
      expect(results.filter((r) => r === 0).length).toBeGreaterThan(0);
      for (const a of [perLedger[0]![1]!, perLedger[0]![2]!]) {
        const r = await env.row(a.key);
        expect(r.reserved_usd_nano).toBe(0);
        expect(r.spent_usd_nano).toBe(charged);
      }
      expect(await env.store.query('SELECT count(*) AS n FROM reservations')).toEqual([{ n: 0 }]);
    } finally {
      await env.close();
    }
  });

  it('carves delegated slices and returns what a child did not spend, across replicas', async () => {
    const env = await setup(2, 1_000_000);
    try {
      const [a, b] = env.ledgers as [SharedLedger, SharedLedger];
      const parent = await a.load(env.session);
      const child: Session = await env.store.createSession({
        id: 'ses_child', agentId: env.session.agentId, teamId: env.session.teamId, profileId: env.session.profileId, parentId: env.session.id, task: 'c', models: ['m'], context: {},
        budget: { tokens: null, usdNano: 600_000 }, expiresAt: Date.now() + 600_000, chain: [env.session.id, 'ses_child'],
      });
      await a.delegate(env.session, child);
      // Replica b sees the slice held: only 400_000 is left on the parent.
      const onB = await b.load(env.session);
      await expect(b.reserve([onB], { tokens: 0, usdNano: 500_000 })).rejects.toMatchObject({ code: 'budget_exceeded' });
      // The child spends 100_000 on replica b, then grows by 100_000 (carved from the parent) on a.
      const c = await b.load(child);
      const r = await b.reserve([c], { tokens: 0, usdNano: 100_000 });
      b.settle(r, { tokens: 0, usdNano: 100_000 });
      await b.flush();
      await a.grow(child.id, { tokens: 0, usdNano: 100_000 });
      expect((await env.row(env.session.id)).reserved_usd_nano).toBe(700_000);
      await a.end(child.id);
      const p = await env.row(env.session.id);
      expect(p.reserved_usd_nano).toBe(0);
      expect(p.spent_usd_nano).toBe(100_000); // the unused 600_000 went back
      expect(parent.key).toBe(env.session.id);
    } finally {
      await env.close();
    }
  });

  it('renewals on four replicas at once never take a session past its maximum: the check runs with the growth', async () => {
    const env = await setup(4, 1_000_000);
    try {
      const most = { tokens: null, usdNano: 1_500_000 };
      // Every replica has read the account before any renews: each copy says 500_000 is left under the maximum.
      await Promise.all(env.ledgers.map((l) => l.load(env.session)));
      const tries = env.ledgers.flatMap((l) => [0, 1].map(() => growSessionBudget(l, env.session, { tokens: 0, usdNano: 200_000 }, 'budget', most)));
      const outcomes = await Promise.allSettled(tries);
      const grown = outcomes.filter((o) => o.status === 'fulfilled').length;
      expect(grown).toBe(2);
      for (const o of outcomes) {
        if (o.status === 'rejected') expect(o.reason).toMatchObject({ code: 'invalid_request', param: 'budget.usd', message: expect.stringContaining("profile's maximum") });
      }
      expect(Number((await env.row(env.session.id)).budget_usd_nano)).toBe(1_400_000);
      // Each replica's copy was read afresh, grown or refused.
      for (const l of env.ledgers) expect(l.session(env.session.id).budget.usdNano).toBe(1_400_000);
      // A unit without a maximum grows freely; taking back is never refused.
      await env.ledgers[0]!.grow(env.session.id, { tokens: 0, usdNano: -400_000 }, { tokens: Number.MAX_SAFE_INTEGER, usdNano: 1_000_000 });
      expect(Number((await env.row(env.session.id)).budget_usd_nano)).toBe(1_000_000);
    } finally {
      await env.close();
    }
  });
});
