// The Store contract suite: written once, run against every Store implementation.
import { beforeEach, afterEach, describe, expect, it } from 'vitest';
import type { Store, UsageRecord } from '../../src/store/index.js';

const profileSpec = {
  models: ['m1', 'm2'],
  sessionBudget: { default: { tokens: null, usdNano: 1_000_000_000 }, max: { tokens: null, usdNano: 5_000_000_000 } },
  sessionTtlSeconds: { default: 60, max: 600 },
};

function usage(sessionId: string, over: Partial<UsageRecord> = {}): UsageRecord {
  return {
    id: `use_${Math.random().toString(36).slice(2)}`,
    requestId: 'req_1', sessionId, agentId: 'a', teamId: 't', profileId: 'p', model: 'm1', provider: 'sim', api: 'openai.chat',
    stream: false, inputTokens: 10, outputTokens: 5, cachedInputTokens: 2, cacheWriteTokens: 0, reasoningTokens: 1,
    costUsdNano: 1234, estimated: false, outcome: 'ok', httpStatus: 200, latencyMs: 1.5, createdAt: Date.now(), ...over,
  };
}

export function storeContract(name: string, makeStore: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;

    beforeEach(async () => {
      store = await makeStore();
      await store.migrate();
    });
    afterEach(async () => {
      await store.close();
    });

    async function seed() {
      const team = await store.putTeam({ name: 'support', owner: 'ana@example.com' }, 'error');
      const profile = await store.putProfile({ name: 'bot', ...profileSpec }, 'error');
      const agent = await store.putAgent({ name: 'triage-1', teamId: team.id, profileId: profile.id, owner: 'ana@example.com', environment: 'prod' }, 'error');
      const session = await store.createSession({
        id: `ses_${Math.random().toString(36).slice(2)}`, agentId: agent.id, teamId: team.id, profileId: profile.id, parentId: null,
        task: 'triage', budget: { tokens: 1000, usdNano: 2_000_000_000 }, models: ['m1'], context: { environment: 'prod' },
        expiresAt: Date.now() + 60_000,
      });
      return { team, profile, agent, session };
    }

    it('migrates idempotently', async () => {
      await store.migrate();
      await store.migrate();
      expect(await store.listTeams()).toEqual([]);
    });

    it('creates and finds teams, profiles and agents by id and by name', async () => {
      const { team, profile, agent } = await seed();
      expect(team.id).toMatch(/^team_/);
      expect(agent.id).toMatch(/^agt_/);
      expect(await store.getTeam('support')).toEqual(team);
      expect(await store.getTeam(team.id)).toEqual(team);
      expect((await store.getProfile('bot'))!.sessionBudget.max.usdNano).toBe(5_000_000_000);
      expect((await store.getProfile(profile.id))!.models).toEqual(['m1', 'm2']);
      expect(await store.getAgent('triage-1')).toEqual(agent);
      expect(agent).toMatchObject({ status: 'active', environment: 'prod', teamId: team.id, profileId: profile.id });
      expect(await store.getAgent('nope')).toBeNull();
      expect((await store.listAgents({ teamId: team.id })).map((a) => a.name)).toEqual(['triage-1']);
    });

    it('refuses a duplicate name with conflict, or updates in place when asked', async () => {
      const team = await store.putTeam({ name: 'support' }, 'error');
      await expect(store.putTeam({ name: 'support' }, 'error')).rejects.toMatchObject({ code: 'conflict', status: 409 });
      const updated = await store.putTeam({ name: 'support', owner: 'new@example.com' }, 'update');
      expect(updated.id).toBe(team.id);
      expect(updated.owner).toBe('new@example.com');
      expect(await store.listTeams()).toHaveLength(1);
    });

    it('keeps an agent suspended across an idempotent re-apply', async () => {
      const { agent, team, profile } = await seed();
      await store.setAgentStatus(agent.id, 'suspended');
      const again = await store.putAgent({ name: 'triage-1', teamId: team.id, profileId: profile.id, environment: 'prod' }, 'update');
      expect(again.status).toBe('suspended');
    });

    it('stores sessions with budget, scope and zero spend, and lists them newest first', async () => {
      const { session, agent } = await seed();
      expect(session).toMatchObject({ status: 'active', task: 'triage', models: ['m1'], budget: { tokens: 1000, usdNano: 2_000_000_000 }, context: { environment: 'prod' } });
      expect(session.spent).toEqual({ inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, usdNano: 0, requests: 0 });
      const later = await store.createSession({ ...session, id: 'ses_later', createdAt: session.createdAt + 10 });
      expect((await store.listSessions({ agentId: agent.id })).map((s) => s.id)).toEqual([later.id, session.id]);
      await store.setSessionStatus(session.id, 'closed');
      expect((await store.listSessions({ status: 'active' })).map((s) => s.id)).toEqual([later.id]);
    });

    it('records usage and adds it to the session spend atomically, never twice for one record', async () => {
      const { session } = await seed();
      const a = usage(session.id);
      const b = usage(session.id, { inputTokens: 100, outputTokens: 50, cachedInputTokens: 0, reasoningTokens: 0, costUsdNano: 9999, stream: true, estimated: true, outcome: 'stream_cut' });
      await store.recordUsage([a, b]);
      await store.recordUsage([a]); // a replayed batch
      const s = (await store.getSession(session.id))!;
      expect(s.spent).toEqual({ inputTokens: 110, outputTokens: 55, cachedInputTokens: 2, cacheWriteTokens: 0, reasoningTokens: 1, usdNano: 1234 + 9999, requests: 2 });
      const lines = await store.listUsage({ sessionId: session.id });
      expect(lines).toHaveLength(2);
      expect(lines.find((l) => l.id === b.id)).toEqual(b);
    });

    it('filters usage by agent, team and time', async () => {
      const { session } = await seed();
      await store.recordUsage([usage(session.id, { agentId: 'x', createdAt: 1000 }), usage(session.id, { agentId: 'y', teamId: 'tt', createdAt: 2000 })]);
      expect((await store.listUsage({ agentId: 'x' })).map((u) => u.agentId)).toEqual(['x']);
      expect((await store.listUsage({ teamId: 'tt' })).map((u) => u.agentId)).toEqual(['y']);
      expect((await store.listUsage({ since: 1500 })).map((u) => u.agentId)).toEqual(['y']);
      expect(await store.listUsage({ limit: 1 })).toHaveLength(1);
    });

    it('rejects a usage batch whole when one record is invalid', async () => {
      const { session } = await seed();
      await expect(store.recordUsage([usage(session.id), usage('ses_missing')])).rejects.toThrow();
      expect((await store.getSession(session.id))!.spent.requests).toBe(0);
      expect(await store.listUsage({ sessionId: session.id })).toHaveLength(0);
    });

    it('stores signing keys and their retirement', async () => {
      const key = { kid: 'k1', alg: 'EdDSA', privateJwk: '{"d":"x"}', publicJwk: '{"x":"y"}', createdAt: 1, retiredAt: null };
      await store.putSigningKey(key);
      await store.putSigningKey({ ...key, retiredAt: 5 });
      expect(await store.listSigningKeys()).toEqual([{ ...key, retiredAt: 5 }]);
    });
  });
}
