// The Store contract suite: written once, run against every Store implementation.
import { beforeEach, afterEach, describe, expect, it } from 'vitest';
import { canonicalJson, eventHash, GENESIS_HASH, recordHash, type AuditEvent, type Store, type UsageRecord } from '../../src/store/index.js';

const profileSpec = {
  models: ['m1', 'm2'],
  sessionBudget: { default: { tokens: null, usdNano: 1_000_000_000 }, max: { tokens: null, usdNano: 5_000_000_000 } },
  sessionTtlSeconds: { default: 60, max: 600 },
  requireActorToken: false,
  agentBudget: { tokens: null, usdNano: 5_000_000_000, period: 'day' as const },
  enforcement: { mode: 'soft' as const, threshold: 0.75, holdSeconds: 0 },
};

function usage(sessionId: string, over: Partial<UsageRecord> = {}): UsageRecord {
  return {
    id: `use_${Math.random().toString(36).slice(2)}`,
    requestId: 'req_1', sessionId, agentId: 'a', teamId: 't', profileId: 'p', model: 'm1', provider: 'sim', api: 'openai.chat',
    stream: false, inputTokens: 10, outputTokens: 5, cachedInputTokens: 2, cacheWriteTokens: 0, reasoningTokens: 1,
    costUsdNano: 1234, estimated: false, outcome: 'ok', httpStatus: 200, latencyMs: 1.5, createdAt: Date.now(), chain: [sessionId], ...over,
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
      const id = `ses_${Math.random().toString(36).slice(2)}`;
      const session = await store.createSession({
        id, agentId: agent.id, teamId: team.id, profileId: profile.id, parentId: null,
        task: 'triage', budget: { tokens: 1000, usdNano: 2_000_000_000 }, models: ['m1'], context: { environment: 'prod' },
        expiresAt: Date.now() + 60_000, chain: [id],
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
      expect(await store.setAgentStatus(agent.id, 'suspended')).toMatchObject({ id: agent.id, status: 'suspended' });
      // Already so: nothing moved (of two callers at once, only one hears it moved).
      expect(await store.setAgentStatus(agent.id, 'suspended')).toBeNull();
      expect(await store.setAgentStatus('agt_missing', 'suspended')).toBeNull();
      const again = await store.putAgent({ name: 'triage-1', teamId: team.id, profileId: profile.id, environment: 'prod' }, 'update');
      expect(again.status).toBe('suspended');
    });

    it('suspends and resumes a team, and keeps it suspended across an idempotent re-apply', async () => {
      const { team } = await seed();
      expect(team.status).toBe('active');
      expect(await store.setTeamStatus(team.id, 'suspended')).toMatchObject({ id: team.id, status: 'suspended' });
      const again = await store.putTeam({ name: team.name, owner: 'someone@example.com' }, 'update');
      expect(again).toMatchObject({ status: 'suspended', owner: 'someone@example.com' });
      expect((await store.listTeams()).find((t) => t.id === team.id)?.status).toBe('suspended');
      expect(await store.setTeamStatus(team.id, 'suspended')).toBeNull(); // already: nothing moved
      expect((await store.setTeamStatus(team.id, 'active'))?.status).toBe('active');
      expect(await store.setTeamStatus('team_missing', 'suspended')).toBeNull();
    });

    it('stores sessions with budget, scope and zero spend, and lists them newest first', async () => {
      const { session, agent } = await seed();
      expect(session).toMatchObject({ status: 'active', task: 'triage', models: ['m1'], budget: { tokens: 1000, usdNano: 2_000_000_000 }, context: { environment: 'prod' } });
      expect(session.spent).toEqual({ inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, usdNano: 0, requests: 0 });
      const later = await store.createSession({ ...session, id: 'ses_later', chain: ['ses_later'], createdAt: session.createdAt + 10 });
      expect((await store.listSessions({ agentId: agent.id })).map((s) => s.id)).toEqual([later.id, session.id]);
      await store.setSessionStatus(session.id, 'closed');
      expect((await store.listSessions({ status: 'active' })).map((s) => s.id)).toEqual([later.id]);
    });

    it('records usage and adds it to the session spend atomically, never twice for one record', async () => {
      const { session } = await seed();
      const a = usage(session.id);
      const b = usage(session.id, { inputTokens: 100, outputTokens: 50, cachedInputTokens: 0, reasoningTokens: 0, costUsdNano: 9999, stream: true, estimated: true, outcome: 'stream_cut' });
      // A second session's line in the same batch adds to that session only.
      const other = await store.createSession({ ...session, id: 'ses_other', chain: ['ses_other'] });
      const c = usage(other.id, { inputTokens: 7, outputTokens: 3, cachedInputTokens: 0, reasoningTokens: 0, costUsdNano: 70 });
      await store.recordUsage([a, c, b, a]); // `a` twice in one batch: charged once
      await store.recordUsage([c, a]); // a replayed batch
      const s = (await store.getSession(session.id))!;
      expect(s.spent).toEqual({ inputTokens: 110, outputTokens: 55, cachedInputTokens: 2, cacheWriteTokens: 0, reasoningTokens: 1, usdNano: 1234 + 9999, requests: 2 });
      expect((await store.getSession(other.id))!.spent).toEqual({ inputTokens: 7, outputTokens: 3, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, usdNano: 70, requests: 1 });
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

    it('finds active sessions past their expiry, earliest first', async () => {
      const { session } = await seed();
      await store.createSession({ ...session, id: 'ses_old', chain: ['ses_old'], expiresAt: 100 });
      await store.createSession({ ...session, id: 'ses_older', chain: ['ses_older'], expiresAt: 50 });
      await store.createSession({ ...session, id: 'ses_done', chain: ['ses_done'], expiresAt: 10 });
      await store.endSessions(['ses_done'], 'closed');
      expect((await store.expiredSessions(100, 10)).map((s) => s.id)).toEqual(['ses_older', 'ses_old']);
      expect((await store.expiredSessions(60, 10)).map((s) => s.id)).toEqual(['ses_older']);
      expect(await store.expiredSessions(100, 1)).toHaveLength(1);
    });

    it('walks a delegation tree and ends sessions once', async () => {
      const { session } = await seed();
      const child = await store.createSession({ ...session, id: 'ses_child', parentId: session.id, chain: [session.id, 'ses_child'] });
      const grandchild = await store.createSession({ ...session, id: 'ses_grand', parentId: child.id, chain: [session.id, child.id, 'ses_grand'] });
      await store.createSession({ ...session, id: 'ses_other', parentId: null, chain: ['ses_other'] });
      expect((await store.sessionTree(session.id)).map((s) => s.id)).toEqual([session.id, child.id, grandchild.id]);
      expect((await store.sessionTree(child.id)).map((s) => s.id)).toEqual([child.id, grandchild.id]);
      expect((await store.getSession(grandchild.id))!.chain).toEqual([session.id, child.id, grandchild.id]);
      expect(await store.endSessions([child.id, grandchild.id], 'revoked')).toEqual([child.id, grandchild.id]);
      expect(await store.endSessions([session.id, child.id], 'closed')).toEqual([session.id]); // child already ended
      expect((await store.getSession(child.id))!.status).toBe('revoked');
      expect(await store.sessionTree('ses_none')).toEqual([]);
    });

    it('stores credentials as hashes, records their use and revocation', async () => {
      const { agent } = await seed();
      const cred = { id: 'cred_1', agentId: agent.id, hash: 'ab'.repeat(32), createdAt: 1, expiresAt: null, revokedAt: null, lastUsedAt: null, lastUsedFrom: null };
      await store.putCredential(cred);
      await store.putCredential({ ...cred, id: 'cred_2', createdAt: 2, expiresAt: 99 });
      await store.touchCredential('cred_1', 50, '10.0.0.1');
      expect(await store.getCredential('cred_1')).toEqual({ ...cred, lastUsedAt: 50, lastUsedFrom: '10.0.0.1' });
      expect((await store.revokeCredential('cred_1', 60))!.revokedAt).toBe(60);
      expect((await store.revokeCredential('cred_1', 70))!.revokedAt).toBe(60); // first revocation stands
      expect((await store.listCredentials(agent.id)).map((c) => c.id)).toEqual(['cred_1', 'cred_2']);
      expect(await store.getCredential('cred_x')).toBeNull();
    });

    it('records batches of credential uses: last use moves forward only, each source with first and last seen', async () => {
      const { agent } = await seed();
      const cred = { id: 'cred_u1', agentId: agent.id, hash: 'cd'.repeat(32), createdAt: 1, expiresAt: null, revokedAt: null, lastUsedAt: null, lastUsedFrom: null };
      await store.putCredential(cred);
      await store.putCredential({ ...cred, id: 'cred_u2' });
      await store.recordCredentialUses([
        { credentialId: 'cred_u1', at: 100, from: '10.0.0.1' },
        { credentialId: 'cred_u1', at: 300, from: '10.0.0.2' },
        { credentialId: 'cred_u1', at: 200, from: '10.0.0.1' },
        { credentialId: 'cred_u2', at: 150, from: null },
      ]);
      expect(await store.getCredential('cred_u1')).toMatchObject({ lastUsedAt: 300, lastUsedFrom: '10.0.0.2' });
      // An older batch (flushed late) does not move the last use back, but widens a source's span.
      await store.recordCredentialUses([{ credentialId: 'cred_u1', at: 50, from: '10.0.0.1' }]);
      expect(await store.getCredential('cred_u1')).toMatchObject({ lastUsedAt: 300, lastUsedFrom: '10.0.0.2' });
      expect(await store.listCredentialSources(['cred_u1'])).toEqual([
        { credentialId: 'cred_u1', source: '10.0.0.1', firstSeen: 50, lastSeen: 200 },
        { credentialId: 'cred_u1', source: '10.0.0.2', firstSeen: 300, lastSeen: 300 },
      ]);
      expect((await store.listCredentialSources()).map((s) => `${s.credentialId}@${s.source}`)).toEqual(['cred_u1@10.0.0.1', 'cred_u1@10.0.0.2', 'cred_u2@unknown']);
      expect(await store.listCredentialSources([])).toEqual([]);
    });

    it('keeps operators (unique names, disabled once) and signed-off access reviews', async () => {
      const op = { id: 'op_1', name: 'alice', role: 'approver' as const, tokenHash: 'ef'.repeat(32), createdAt: 5, createdBy: 'admin', disabledAt: null };
      await store.putOperator(op);
      await expect(store.putOperator({ ...op, id: 'op_2' })).rejects.toMatchObject({ code: 'conflict' });
      await store.putOperator({ ...op, id: 'op_3', name: 'bob', role: 'viewer', tokenHash: null });
      expect(await store.getOperator('alice')).toEqual(op);
      expect(await store.getOperator('op_3')).toMatchObject({ name: 'bob', tokenHash: null });
      expect((await store.listOperators()).map((o) => o.name)).toEqual(['alice', 'bob']);
      expect((await store.disableOperator('op_1', 10))!.disabledAt).toBe(10);
      expect((await store.disableOperator('op_1', 20))!.disabledAt).toBe(10);
      expect(await store.getOperator('nobody')).toBeNull();

      const review = { id: 'rev_1', signedAt: 100, signedBy: 'operator:op_1', operator: { id: 'op_1', name: 'alice', role: 'approver' as const }, windowDays: 30,
        findings: [{ id: 'credential_never_used:cred_1', kind: 'credential_never_used', severity: 'warning', summary: 's' }], accepted: [], remediated: ['credential_never_used:cred_1'], note: 'quarterly' };
      await store.putAccessReview(review);
      await store.putAccessReview({ ...review, id: 'rev_2', signedAt: 200, operator: null, note: null, accepted: ['x'] });
      expect(await store.listAccessReviews(1)).toEqual([{ ...review, id: 'rev_2', signedAt: 200, operator: null, note: null, accepted: ['x'] }]);
      expect((await store.listAccessReviews(10)).map((r) => r.id)).toEqual(['rev_2', 'rev_1']);
    });

    it('sums access activity: sessions per agent since a time (with the latest ever), calls per agent and model', async () => {
      const { agent, profile, session } = await seed();
      const since = Date.now() - 1000;
      await store.recordUsage([
        usage(session.id, { agentId: agent.id, profileId: profile.id, model: 'm1', createdAt: since + 10 }),
        usage(session.id, { agentId: agent.id, profileId: profile.id, model: 'm1', createdAt: since + 20 }),
        usage(session.id, { agentId: agent.id, profileId: profile.id, model: 'm2', createdAt: since - 5000 }),
      ]);
      const activity = await store.accessActivity(since);
      expect(activity.agents).toEqual([{ agentId: agent.id, sessions: 1, lastSessionAt: session.createdAt }]);
      expect(activity.models).toEqual([{ agentId: agent.id, profileId: profile.id, model: 'm1', calls: 2, lastAt: since + 20 }]);
      const later = await store.accessActivity(Date.now() + 60_000);
      expect(later.agents).toEqual([{ agentId: agent.id, sessions: 0, lastSessionAt: session.createdAt }]);
      expect(later.models).toEqual([]);
    });

    it('keeps revoked token ids until they would have expired', async () => {
      await store.revokeToken({ jti: 'tok_a', expiresAt: 1000, revokedAt: 10 });
      await store.revokeToken({ jti: 'tok_b', expiresAt: 5000, revokedAt: 20 });
      await store.revokeToken({ jti: 'tok_b', expiresAt: 5000, revokedAt: 30 });
      expect((await store.listRevokedTokens(500)).map((t) => t.jti)).toEqual(['tok_a', 'tok_b']);
      expect(await store.listRevokedTokens(2000)).toEqual([{ jti: 'tok_b', expiresAt: 5000, revokedAt: 20 }]);
    });

    it('appends audit events in order and filters them', async () => {
      const base = { actor: 'admin', requestId: null, agentId: null, teamId: null, chain: null, data: {} };
      await store.appendEvents([
        { ...base, id: 'evt_1', time: 1, type: 'session.opened', sessionId: 's1', chain: ['s1'], data: { task: 'x' } },
        { ...base, id: 'evt_2', time: 2, type: 'auth.denied', sessionId: null, agentId: 'agt_1' },
      ]);
      await store.appendEvents([{ ...base, id: 'evt_3', time: 3, type: 'session.revoked', sessionId: 's1' }]);
      expect((await store.listEvents()).map((e) => e.id)).toEqual(['evt_3', 'evt_2', 'evt_1']);
      expect((await store.listEvents({ sessionId: 's1' })).map((e) => e.id)).toEqual(['evt_3', 'evt_1']);
      expect((await store.listEvents({ type: 'auth.denied' }))[0]).toMatchObject({ id: 'evt_2', agentId: 'agt_1', chain: null });
      expect((await store.listEvents({ since: 2, limit: 1 })).map((e) => e.id)).toEqual(['evt_3']);
      expect((await store.listEvents({ sessionId: 's1' }))[1]!.data).toEqual({ task: 'x' });
    });

    it('keeps budgets: team per period, profile agent budget and enforcement, session overrides and renewals', async () => {
      const team = await store.putTeam({ name: 'paying', budget: { tokens: null, usdNano: 9, period: 'month' } }, 'error');
      expect((await store.getTeam(team.id))!.budget).toEqual({ tokens: null, usdNano: 9, period: 'month' });
      expect((await store.putTeam({ name: 'paying', budget: null }, 'update')).budget).toBeNull();
      const { session, profile } = await seed();
      expect(profile).toMatchObject({ agentBudget: profileSpec.agentBudget, enforcement: profileSpec.enforcement });
      expect(session.enforcement).toBeNull();
      const strict = await store.createSession({ ...session, id: 'ses_strict', chain: ['ses_strict'], enforcement: { mode: 'hard', threshold: 1, holdSeconds: 0 } });
      expect(strict.enforcement).toEqual({ mode: 'hard', threshold: 1, holdSeconds: 0 });
      const renewed = await store.updateSession(session.id, { budget: { tokens: 5000, usdNano: null }, expiresAt: session.expiresAt + 1000 });
      expect(renewed).toMatchObject({ budget: { tokens: 5000, usdNano: null }, expiresAt: session.expiresAt + 1000 });
      expect((await store.updateSession(session.id, { expiresAt: 7 }))!.budget).toEqual({ tokens: 5000, usdNano: null });
    });

    it('sums an agent\'s or a team\'s spend since a time', async () => {
      const { session } = await seed();
      await store.recordUsage([
        usage(session.id, { agentId: 'a1', teamId: 't1', inputTokens: 10, outputTokens: 5, costUsdNano: 100, createdAt: 1000 }),
        usage(session.id, { agentId: 'a1', teamId: 't1', inputTokens: 1, outputTokens: 1, costUsdNano: 7, createdAt: 2000 }),
        usage(session.id, { agentId: 'a2', teamId: 't1', inputTokens: 3, outputTokens: 0, costUsdNano: 11, createdAt: 3000 }),
      ]);
      expect(await store.spendSince({ agentId: 'a1' }, 0)).toEqual({ tokens: 17, usdNano: 107 });
      expect(await store.spendSince({ agentId: 'a1' }, 1500)).toEqual({ tokens: 2, usdNano: 7 });
      expect(await store.spendSince({ teamId: 't1' }, 0)).toEqual({ tokens: 20, usdNano: 118 });
      expect(await store.spendSince({ teamId: 'none' }, 0)).toEqual({ tokens: 0, usdNano: 0 });
    });

    it('sums spend since any instant exactly, across quarter hours, and each line once however often it is written', async () => {
      const { session } = await seed();
      // SQLite sums whole quarter hours from kept totals and the lines before the first one: both
      // sides of each boundary are probed.
      const Q = 900_000;
      const base = 2_000 * Q;
      const lines = [
        [base - 1, 'a1', 't1'], [base, 'a1', 't1'], [base + 10, 'a1', 't1'], [base + Q - 1, 'a1', 't1'], [base + Q + 5, 'a1', 't1'],
        [base + 5 * Q, 'a1', 't1'], [base + 20, 'a2', 't1'], [-3, 'a2', 't1'], [base + 30, 'a1', 't3'], [base + 2 * Q + 7, 'a2', 't2'],
      ].map(([createdAt, agentId, teamId], n) => usage(session.id, {
        id: `use_q${n}`, agentId: agentId as string, teamId: teamId as string, createdAt: createdAt as number,
        inputTokens: n + 1, outputTokens: 10 * (n + 1), costUsdNano: 1000 * (n + 1),
      }));
      await store.recordUsage(lines.slice(0, 5));
      await store.recordUsage(lines);
      await store.recordUsage(lines.slice(3)); // replayed: charged nothing twice
      const expected = (match: (l: UsageRecord) => boolean, since: number) => lines.filter((l) => match(l) && l.createdAt >= since)
        .reduce((t, l) => ({ tokens: t.tokens + l.inputTokens + l.outputTokens, usdNano: t.usdNano + l.costUsdNano }), { tokens: 0, usdNano: 0 });
      for (const since of [-5, 0, 0.5, base - 1.5, base - 1, base, base + 1, base + 11, base + Q - 1, base + Q, base + Q + 6, base + 2 * Q + 7, base + 6 * Q]) {
        expect(await store.spendSince({ agentId: 'a1' }, since)).toEqual(expected((l) => l.agentId === 'a1', since));
        expect(await store.spendSince({ agentId: 'a2' }, since)).toEqual(expected((l) => l.agentId === 'a2', since));
        expect(await store.spendSince({ teamId: 't1' }, since)).toEqual(expected((l) => l.teamId === 't1', since));
        expect(await store.spendSince({ teamId: 't2' }, since)).toEqual(expected((l) => l.teamId === 't2', since));
      }
      // Both at once, or neither: the lines' own sum.
      expect(await store.spendSince({ agentId: 'a2', teamId: 't1' }, base)).toEqual(expected((l) => l.agentId === 'a2' && l.teamId === 't1', base));
      expect(await store.spendSince({}, base + Q)).toEqual(expected(() => true, base + Q));
      // Listing by agent and team agrees (SQLite: through indexes kept in bulk).
      expect((await store.listUsage({ agentId: 'a2' })).map((l) => l.id)).toEqual(['use_q9', 'use_q6', 'use_q7']);
      expect((await store.listUsage({ teamId: 't1', since: base + Q })).map((l) => l.id)).toEqual(['use_q5', 'use_q4']);
      expect((await store.listUsage({ teamId: 't1', agentId: 'a2' })).map((l) => l.id)).toEqual(['use_q6', 'use_q7']);
    });

    it('stores approvals and lets exactly one decision win', async () => {
      const { session, agent, team } = await seed();
      const approval = {
        id: 'apr_1', sessionId: session.id, agentId: agent.id, teamId: team.id, status: 'pending' as const, createdAt: 10,
        decidedAt: null, decidedBy: null, reason: null, extraBudget: { tokens: null, usdNano: null }, context: { threshold: 0.8 }, kind: 'budget' as const, consumedAt: null,
      };
      await store.putApproval(approval);
      await store.putApproval({ ...approval, id: 'apr_2', createdAt: 20 });
      expect(await store.getApproval('apr_1')).toEqual(approval);
      expect((await store.listApprovals({ status: 'pending' })).map((a) => a.id)).toEqual(['apr_2', 'apr_1']);
      const decision = { status: 'approved' as const, decidedAt: 30, decidedBy: 'admin', reason: 'ok', extraBudget: { tokens: null, usdNano: 500 } };
      const [first, second] = await Promise.all([store.decideApproval('apr_1', decision), store.decideApproval('apr_1', { ...decision, status: 'denied' as const })]);
      expect([first, second].filter((d) => d !== null)).toHaveLength(1);
      expect((await store.getApproval('apr_1'))!.status).toBe(first ? 'approved' : 'denied');
      expect((await store.listApprovals({ sessionId: session.id, status: 'pending' })).map((a) => a.id)).toEqual(['apr_2']);
      expect(await store.decideApproval('apr_missing', decision)).toBeNull();
    });

    it('keeps tool approvals apart from budget ones and lets each be used exactly once', async () => {
      const { session, agent, team } = await seed();
      const base = { sessionId: session.id, agentId: agent.id, teamId: team.id, decidedAt: null, decidedBy: null, reason: null, extraBudget: { tokens: null, usdNano: null }, consumedAt: null };
      await store.putApproval({ ...base, id: 'apr_b', kind: 'budget', status: 'pending', createdAt: 10, context: {} });
      await store.putApproval({ ...base, id: 'apr_t', kind: 'tool', status: 'pending', createdAt: 20, context: { tool: 'ops/deploy', arguments_sha256: 'ab' } });
      expect((await store.listApprovals({ sessionId: session.id, kind: 'budget' })).map((a) => a.id)).toEqual(['apr_b']);
      expect((await store.listApprovals({ sessionId: session.id, kind: 'tool' })).map((a) => [a.id, a.kind, a.context.tool])).toEqual([['apr_t', 'tool', 'ops/deploy']]);
      expect(await store.consumeApproval('apr_t', 25)).toBe(false); // pending: not usable
      await store.decideApproval('apr_t', { status: 'approved', decidedAt: 30, decidedBy: 'admin', reason: null, extraBudget: { tokens: null, usdNano: null } });
      const uses = await Promise.all([store.consumeApproval('apr_t', 40), store.consumeApproval('apr_t', 41), store.consumeApproval('apr_t', 42)]);
      expect(uses.filter(Boolean)).toHaveLength(1);
      expect((await store.getApproval('apr_t'))!.consumedAt).toBeGreaterThanOrEqual(40);
      expect(await store.consumeApproval('apr_t', 50)).toBe(false);
    });

    it('stores a session\'s tool scopes as layers', async () => {
      const { session } = await seed();
      expect(session.scopes).toEqual({ tools: [], resources: [], prompts: [] });
      const scoped = await store.createSession({
        id: 'ses_scoped', agentId: session.agentId, teamId: session.teamId, profileId: session.profileId, parentId: null, task: 't', budget: { tokens: null, usdNano: null },
        models: [], context: {}, expiresAt: Date.now() + 60_000, chain: ['ses_scoped'], scopes: { tools: [['notes/*', '!notes/delete_*'], ['notes/read_*']], resources: [['notes/*']], prompts: [] },
      });
      expect((await store.getSession(scoped.id))!.scopes).toEqual({ tools: [['notes/*', '!notes/delete_*'], ['notes/read_*']], resources: [['notes/*']], prompts: [] });
    });

    it('stores signing keys and their retirement', async () => {
      const key = { kid: 'k1', alg: 'EdDSA', privateJwk: '{"d":"x"}', publicJwk: '{"x":"y"}', createdAt: 1, retiredAt: null };
      await store.putSigningKey(key);
      await store.putSigningKey({ ...key, retiredAt: 5 });
      expect(await store.listSigningKeys()).toEqual([{ ...key, retiredAt: 5 }]);
    });

    // --- the audit chain ------------------------------------------------------------------

    const chainEvent = (i: number, over: Partial<AuditEvent> = {}): AuditEvent => ({
      id: `evt_c${i}`, time: 1_700_000_000_000 + i, type: 'test.event', actor: 'system', requestId: i % 2 ? `req_${i}` : null, agentId: null,
      sessionId: `s${i % 3}`, teamId: null, chain: i % 2 ? null : [`s${i % 3}`], data: { i, nested: { b: [1, 'two', null], a: true }, text: 'é \u0000 \ud800' }, ...over,
    });

    it('links appended events into one chain: consecutive seqs, each hashing onto the one before', async () => {
      const empty = await store.chainHead();
      expect(empty).toEqual({ firstSeq: 1, lastSeq: 0, lastHash: GENESIS_HASH });
      const first = await store.appendEvents([chainEvent(1), chainEvent(2)]);
      const second = await store.appendEvents([chainEvent(3)]);
      const all = [...first, ...second];
      expect(all.map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(all[0]!.prevHash).toBe(GENESIS_HASH);
      for (const [i, e] of all.entries()) {
        expect(e.hash).toBe(eventHash(chainEvent(i + 1), i + 1, i === 0 ? GENESIS_HASH : all[i - 1]!.hash!));
        if (i > 0) expect(e.prevHash).toBe(all[i - 1]!.hash);
      }
      expect(await store.chainHead()).toEqual({ firstSeq: 1, lastSeq: 3, lastHash: all[2]!.hash });
      // The appended events read back unchanged (the chain columns stay out of listEvents).
      expect(await store.listEvents({ limit: 10 })).toEqual([3, 2, 1].map((i) => chainEvent(i)));
      expect(await store.appendEvents([])).toEqual([]);
    });

    it('writeBatch (where a store has it): holds, spend lines and events in one transaction, all or nothing', async (ctx) => {
      if (!store.writeBatch) return ctx.skip();
      const { session } = await seed();
      const line = usage(session.id);
      const stored = await store.writeBatch({ events: [chainEvent(1)], records: [line], reservations: [] });
      expect(stored.map((e) => e.seq)).toEqual([1]);
      expect((await store.getSession(session.id))!.spent.requests).toBe(1);
      // A batch whose spend line is invalid writes none of its events either, and the chain stays put.
      await expect(store.writeBatch({ events: [chainEvent(2)], records: [usage('ses_missing')], reservations: [] })).rejects.toThrow();
      expect(await store.chainHead()).toMatchObject({ lastSeq: 1, lastHash: stored[0]!.hash });
      // And a batch whose event cannot be stored (a duplicate id) writes none of its lines.
      await expect(store.writeBatch({ events: [chainEvent(1)], records: [usage(session.id)], reservations: [] })).rejects.toThrow();
      expect((await store.getSession(session.id))!.spent.requests).toBe(1);
      expect(await store.writeBatch({ events: [], records: [], reservations: [] })).toEqual([]);
    });

    it('reads the chain back as stored, in seq order and in pages, hashing to what was appended', async () => {
      const appended = await store.appendEvents(Array.from({ length: 7 }, (_, i) => chainEvent(i + 1)));
      const page1 = await store.readChain(0, 3);
      const page2 = await store.readChain(3, 10);
      expect(page1.map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(page2.map((r) => r.seq)).toEqual([4, 5, 6, 7]);
      for (const [i, r] of [...page1, ...page2].entries()) {
        expect(r).toMatchObject({ id: appended[i]!.id, prevHash: appended[i]!.prevHash, hash: appended[i]!.hash });
        // The stored JSON texts are canonical, and hash (unparsed) to the appended hash.
        expect(r.dataJson).toBe(canonicalJson(appended[i]!.data));
        expect(recordHash(r)).toBe(r.hash);
      }
      expect(await store.readChain(7, 10)).toEqual([]);
    });

    it('links concurrent appends into one chain without gaps', async () => {
      const batches = Array.from({ length: 6 }, (_, b) => Array.from({ length: 20 }, (_, i) => chainEvent(b * 100 + i)));
      const results = await Promise.all(batches.map((batch) => store.appendEvents(batch)));
      const chain = await store.readChain(0, 1000);
      expect(chain.map((r) => r.seq)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
      chain.forEach((r, i) => expect(r.prevHash).toBe(i === 0 ? GENESIS_HASH : chain[i - 1]!.hash));
      // Each batch stayed together and in order.
      for (const stored of results) expect(stored.map((e) => e.seq)).toEqual(stored.map((_, i) => stored[0]!.seq + i));
    });

    it('stores checkpoints and finds them by position', async () => {
      const checkpoint = (id: string, lastSeq: number, time: number) => ({ id, lastSeq, lastHash: 'ab'.repeat(32), time, kid: 'k1', jws: `jws.${id}` });
      expect(await store.latestCheckpoint()).toBeNull();
      await store.putCheckpoint(checkpoint('ckp_b', 20, 200));
      await store.putCheckpoint(checkpoint('ckp_a', 10, 100));
      await store.putCheckpoint(checkpoint('ckp_c', 20, 300));
      expect((await store.listCheckpoints(0, 10)).map((c) => c.id)).toEqual(['ckp_a', 'ckp_b', 'ckp_c']);
      expect((await store.listCheckpoints(10, 10)).map((c) => c.id)).toEqual(['ckp_b', 'ckp_c']);
      expect((await store.listCheckpoints(0, 1)).map((c) => c.id)).toEqual(['ckp_a']);
      expect(await store.latestCheckpoint()).toEqual(checkpoint('ckp_c', 20, 300));
    });

    // --- audit search and spend reports ----------------------------------------------------

    it('searches audit events by team, time range, type prefix, session set and seq cursor, either order', async () => {
      const base = { actor: 'system', requestId: null, agentId: null, chain: null, data: {} };
      await store.appendEvents([
        { ...base, id: 'evt_a', time: 100, type: 'tool.called', sessionId: 's1', teamId: 't1' },
        { ...base, id: 'evt_b', time: 200, type: 'tool_x.called', sessionId: 's2', teamId: 't1' },
        { ...base, id: 'evt_c', time: 300, type: 'tool.denied', sessionId: 's3', teamId: 't2' },
        { ...base, id: 'evt_d', time: 400, type: 'session.opened', sessionId: 's1', teamId: 't1' },
        { ...base, id: 'evt_e', time: 500, type: 'tool', sessionId: null, teamId: null },
      ]);
      const ids = (events: { id: string }[]) => events.map((e) => e.id);
      expect(ids(await store.listEvents({ type: 'tool.*' }))).toEqual(['evt_c', 'evt_a']);
      expect(ids(await store.listEvents({ type: 'tool*' }))).toEqual(['evt_e', 'evt_c', 'evt_b', 'evt_a']);
      expect(ids(await store.listEvents({ type: 'tool' }))).toEqual(['evt_e']);
      expect(ids(await store.listEvents({ type: '*', limit: 2 }))).toEqual(['evt_e', 'evt_d']);
      expect(ids(await store.listEvents({ teamId: 't1' }))).toEqual(['evt_d', 'evt_b', 'evt_a']);
      expect(ids(await store.listEvents({ since: 200, until: 400 }))).toEqual(['evt_c', 'evt_b']);
      expect(ids(await store.listEvents({ sessionIds: ['s1', 's3'] }))).toEqual(['evt_d', 'evt_c', 'evt_a']);
      expect(await store.listEvents({ sessionIds: [] })).toEqual([]);
      expect(ids(await store.listEvents({ order: 'asc', limit: 2 }))).toEqual(['evt_a', 'evt_b']);
      const all = await store.searchEvents({ order: 'asc' });
      expect(all.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(all[0]).toMatchObject({ id: 'evt_a', seq: 1, teamId: 't1', sessionId: 's1' });
      expect(ids(await store.searchEvents({ afterSeq: 2, order: 'asc', limit: 2 }))).toEqual(['evt_c', 'evt_d']);
      expect(ids(await store.searchEvents({ beforeSeq: 4 }))).toEqual(['evt_c', 'evt_b', 'evt_a']);
      expect(ids(await store.searchEvents({ beforeSeq: 4, afterSeq: 1, teamId: 't1' }))).toEqual(['evt_b']);
    });

    it('sums usage lines per group, delegated spend under the root session\'s team, adding up to every line', async () => {
      const { session, agent, team, profile } = await seed();
      const other = await store.putTeam({ name: 'research' }, 'error');
      const helper = await store.putAgent({ name: 'helper', teamId: other.id, profileId: profile.id, environment: 'prod' }, 'error');
      const root = await store.updateSession(session.id, {});
      const child = await store.createSession({
        ...root!, id: 'ses_kid', agentId: helper.id, teamId: other.id, parentId: session.id, chain: [session.id, 'ses_kid'],
        context: { environment: 'prod', tags: { cost_center: 'cc-1', ticket: 'T-9' } },
      });
      await store.updateSession(session.id, {});
      const day1 = Date.UTC(2026, 0, 1, 23, 59, 59, 999);
      const day2 = Date.UTC(2026, 0, 2, 0, 0, 0, 0);
      await store.recordUsage([
        usage(session.id, { agentId: agent.id, teamId: team.id, profileId: profile.id, model: 'm1', costUsdNano: 1_000_000_001, inputTokens: 10, outputTokens: 1, createdAt: day1 }),
        usage(session.id, { agentId: agent.id, teamId: team.id, profileId: profile.id, model: 'm2', costUsdNano: 7, inputTokens: 20, outputTokens: 2, createdAt: day2 }),
        usage(child.id, { agentId: helper.id, teamId: other.id, profileId: profile.id, model: 'm1', costUsdNano: 300, inputTokens: 30, outputTokens: 3, createdAt: day2 + 5, chain: [session.id, child.id] }),
      ]);
      const team1 = await store.spendReport('team');
      expect(team1).toEqual([
        { key: team.id, executingTeam: other.id, usdNano: 300, inputTokens: 30, outputTokens: 3, requests: 1 },
        { key: team.id, executingTeam: team.id, usdNano: 1_000_000_008, inputTokens: 30, outputTokens: 3, requests: 2 },
      ].sort((a, b) => (a.executingTeam < b.executingTeam ? -1 : 1)));
      expect((await store.spendReport('agent')).map((r) => [r.key, r.usdNano])).toEqual([[agent.id, 1_000_000_008], [helper.id, 300]].sort());
      expect((await store.spendReport('session')).map((r) => [r.key, r.usdNano, r.requests])).toEqual([[child.id, 300, 1], [session.id, 1_000_000_008, 2]].sort());
      expect((await store.spendReport('model')).map((r) => [r.key, r.usdNano])).toEqual([['m1', 1_000_000_301], ['m2', 7]]);
      expect((await store.spendReport('profile')).map((r) => [r.key, r.requests])).toEqual([[profile.id, 3]]);
      expect((await store.spendReport('day')).map((r) => [r.key, r.usdNano])).toEqual([['2026-01-01', 1_000_000_001], ['2026-01-02', 307]]);
      expect((await store.spendReport({ tag: 'cost_center' })).map((r) => [r.key, r.usdNano])).toEqual([[null, 1_000_000_008], ['cc-1', 300]]);
      expect((await store.spendReport('day', { since: day2 })).map((r) => [r.key, r.requests])).toEqual([['2026-01-02', 2]]);
      expect((await store.spendReport('model', { since: day1, until: day2 + 5 })).map((r) => [r.key, r.requests])).toEqual([['m1', 1], ['m2', 1]]);
      expect(await store.spendReport('team', { since: day2 + 6 })).toEqual([]);
      // Every grouping adds up to the ledger: the sessions' spend.
      const spent = (await store.getSession(session.id))!.spent.usdNano + (await store.getSession(child.id))!.spent.usdNano;
      for (const g of ['team', 'agent', 'profile', 'session', 'model', 'day', { tag: 'ticket' }] as const) {
        expect((await store.spendReport(g)).reduce((n, r) => n + r.usdNano, 0)).toBe(spent);
      }
      // A time series: per bucket (aligned to the epoch), then key; the buckets add up too.
      const hour = 3_600_000;
      const series = await store.spendReport('model', { bucketMs: hour });
      expect(series.map((r) => [r.bucket, r.key, r.usdNano, r.requests])).toEqual([
        [day2 - hour, 'm1', 1_000_000_001, 1],
        [day2, 'm1', 300, 1],
        [day2, 'm2', 7, 1],
      ]);
      expect((await store.spendReport('team', { bucketMs: 1000, since: day2 })).map((r) => [r.bucket, r.key, r.executingTeam, r.usdNano])).toEqual([
        [day2, team.id, other.id, 300],
        [day2, team.id, team.id, 7],
      ].sort((a, b) => (a[2]! < b[2]! ? -1 : 1)));
      expect((await store.spendReport('agent', { bucketMs: 7 })).reduce((n, r) => n + r.usdNano, 0)).toBe(spent);
      expect((await store.spendReport('agent'))[0]!.bucket).toBeUndefined();
      await expect(store.spendReport('agent', { bucketMs: 0.5 })).rejects.toThrow(/bucket/);
    });

    it('appends, lists and purges captured content apart from the audit chain', async () => {
      const { session, agent, profile } = await seed();
      const other = await store.putProfile({ name: 'keeper', ...profileSpec }, 'error');
      const kept = await store.createSession({ ...session, id: 'ses_keeper', profileId: other.id, chain: ['ses_keeper'] });
      const row = (id: string, over: Record<string, unknown> = {}) => ({
        id, requestId: 'req_a', sessionId: session.id, agentId: agent.id, kind: 'prompt' as const, sha256: 'a'.repeat(64), body: null, redactions: 0, createdAt: 1000, ...over,
      });
      await store.appendContent([]);
      await store.appendContent([
        row('cnt_1'),
        row('cnt_2', { kind: 'output', body: 'hi [REDACTED:email]', redactions: 1, createdAt: 2000 }),
        row('cnt_3', { requestId: 'req_b', createdAt: 3000 }),
        row('cnt_4', { requestId: 'req_c', sessionId: kept.id, createdAt: 500 }),
      ]);
      await store.appendEvents([{ id: 'evt_c1', time: 1, type: 'test', actor: 'system', requestId: 'req_a', agentId: null, sessionId: null, teamId: null, chain: null, data: {} }]);
      expect((await store.listContent({ requestId: 'req_a' })).map((c) => c.id)).toEqual(['cnt_2', 'cnt_1']);
      expect(await store.listContent({ requestId: 'req_a', limit: 1 })).toEqual([
        { id: 'cnt_2', requestId: 'req_a', sessionId: session.id, agentId: agent.id, kind: 'output', sha256: 'a'.repeat(64), body: 'hi [REDACTED:email]', redactions: 1, createdAt: 2000 },
      ]);
      expect((await store.listContent({ sessionId: session.id })).map((c) => c.id)).toEqual(['cnt_3', 'cnt_2', 'cnt_1']);
      expect((await store.listContent({})).map((c) => c.id)).toEqual(['cnt_3', 'cnt_2', 'cnt_1', 'cnt_4']);
      expect((await store.listContent({ requestId: 'req_a' }))[1]!.body).toBeNull();
      // By profile: only content of that profile's sessions goes.
      expect(await store.purgeContent(2500, [profile.id])).toBe(2);
      expect(await store.purgeContent(2500, [])).toBe(0);
      expect((await store.listContent({})).map((c) => c.id)).toEqual(['cnt_3', 'cnt_4']);
      expect(await store.purgeContent(3000)).toBe(1);
      expect((await store.listContent({})).map((c) => c.id)).toEqual(['cnt_3']);
      // The chain is untouched.
      expect((await store.readChain(0, 10)).map((r) => r.id)).toEqual(['evt_c1']);
    });

    it('suspends and resumes sessions (only from the status asked), and ends suspended ones too', async () => {
      const { session } = await seed();
      const other = await store.createSession({ ...session, id: 'ses_other', chain: ['ses_other'] });
      expect(await store.moveSessions([session.id, other.id, 'ses_missing'], 'active', 'suspended')).toEqual([session.id, other.id]);
      expect(await store.moveSessions([session.id], 'active', 'suspended')).toEqual([]);
      expect((await store.getSession(session.id))!.status).toBe('suspended');
      expect((await store.listSessions({ status: 'suspended' })).map((s) => s.id).sort()).toEqual([other.id, session.id].sort());
      expect(await store.moveSessions([session.id], 'suspended', 'active')).toEqual([session.id]);
      // A suspended session still ends (revoked, or closed when it expires).
      expect(await store.endSessions([session.id, other.id], 'revoked')).toEqual([session.id, other.id]);
      expect(await store.moveSessions([other.id], 'suspended', 'active')).toEqual([]);
      const late = await store.createSession({ ...session, id: 'ses_late', chain: ['ses_late'], expiresAt: 1000 });
      await store.moveSessions([late.id], 'active', 'suspended');
      expect((await store.expiredSessions(Date.now(), 10)).map((s) => s.id)).toEqual([late.id]);
    });

    it('stores alerts, replaces them by id and filters them, most recently updated first', async () => {
      const { agent, session } = await seed();
      const alert = {
        id: 'alr_1', detector: 'retry_loop', subject: `session:${session.id}`, severity: 'critical' as const, status: 'open' as const, summary: 'loop',
        verdict: 'prompt_loop' as const, evidence: { calls: 5, nested: { fp: 'abc' } }, actions: [{ action: 'suspend_session', at: 5, detail: { approval_id: 'apr_1' } }],
        occurrences: 1, agentId: agent.id, sessionId: session.id, teamId: agent.teamId, profileId: agent.profileId,
        createdAt: 1000, updatedAt: 1000, acknowledgedBy: null, resolvedBy: null,
      };
      await store.putAlerts([alert]);
      await store.putAlerts([{ ...alert, id: 'alr_2', detector: 'spend_spike', subject: `agent:${agent.id}`, severity: 'warning', verdict: null, actions: [], sessionId: null, updatedAt: 2000 }]);
      expect(await store.getAlert('alr_1')).toEqual(alert);
      expect(await store.getAlert('alr_none')).toBeNull();
      expect((await store.listAlerts()).map((a) => a.id)).toEqual(['alr_2', 'alr_1']);
      await store.putAlerts([{ ...alert, status: 'resolved', resolvedBy: 'admin', occurrences: 3, updatedAt: 3000 }]);
      expect((await store.listAlerts()).map((a) => a.id)).toEqual(['alr_1', 'alr_2']);
      expect((await store.getAlert('alr_1'))!).toMatchObject({ status: 'resolved', resolvedBy: 'admin', occurrences: 3 });
      expect((await store.listAlerts({ status: 'open' })).map((a) => a.id)).toEqual(['alr_2']);
      expect((await store.listAlerts({ severity: 'critical' })).map((a) => a.id)).toEqual(['alr_1']);
      expect((await store.listAlerts({ detector: 'spend_spike', agentId: agent.id })).map((a) => a.id)).toEqual(['alr_2']);
      expect((await store.listAlerts({ sessionId: session.id })).map((a) => a.id)).toEqual(['alr_1']);
      expect((await store.listAlerts({ since: 2500 })).map((a) => a.id)).toEqual(['alr_1']);
      expect(await store.listAlerts({ limit: 1 })).toHaveLength(1);
    });

    it('writes many alerts in one call (a storm\'s repeat findings), each by its id', async () => {
      const { agent, session } = await seed();
      const base = {
        detector: 'retry_loop', severity: 'warning' as const, status: 'open' as const, summary: 'loop', verdict: null, actions: [], occurrences: 1,
        agentId: agent.id, sessionId: session.id, teamId: agent.teamId, profileId: agent.profileId, createdAt: 1000, acknowledgedBy: null, resolvedBy: null,
      };
      const many = Array.from({ length: 2500 }, (_, i) => ({ ...base, id: `alr_m${i}`, subject: `session:s${i}`, evidence: { i }, updatedAt: 1000 + i }));
      await store.putAlerts(many);
      // Again, changed: every row replaced, none added.
      await store.putAlerts(many.map((a) => ({ ...a, occurrences: 2, evidence: { i: a.updatedAt } })));
      const listed = await store.listAlerts({ limit: 5000 });
      expect(listed).toHaveLength(2500);
      expect(listed.every((a) => a.occurrences === 2)).toBe(true);
      expect(await store.getAlert('alr_m2499')).toMatchObject({ subject: 'session:s2499', evidence: { i: 3499 } });
      await store.putAlerts([]);
    });

    it('saves and loads learned baselines by key', async () => {
      expect(await store.loadBaselines()).toEqual([]);
      await store.saveBaselines([]);
      await store.saveBaselines([{ key: 'agent:a', data: { spend: { mean: 1.5, variance: 0, n: 3 } }, updatedAt: 1 }, { key: 'tools:p', data: { total: 2 }, updatedAt: 1 }]);
      await store.saveBaselines([{ key: 'agent:a', data: { spend: { mean: 2, variance: 1, n: 4 } }, updatedAt: 2 }]);
      const rows = (await store.loadBaselines()).sort((a, b) => a.key.localeCompare(b.key));
      expect(rows).toEqual([{ key: 'agent:a', data: { spend: { mean: 2, variance: 1, n: 4 } } }, { key: 'tools:p', data: { total: 2 } }]);
    });
  });
}
