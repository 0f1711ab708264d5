// Status changes of agents, teams and sessions are each recorded exactly once: two callers at once
// (two alerts, two operators) move a status once and record it once, and a change whose event a
// crash lost (the store committed, the process died before the event) is recorded by a retry,
// marked `recovered`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway({
    teams: [{ name: 'ops' }, { name: 'lab' }],
    profiles: [{ name: 'worker', models: ['gpt-4o-mini'], session_budget: { default: { usd: 1 }, max: { usd: 5 } } }],
    agents: [
      { name: 'twice', team: 'ops', profile: 'worker' },
      { name: 'lost', team: 'ops', profile: 'worker' },
      { name: 'gone', team: 'ops', profile: 'worker' },
      { name: 'worker', team: 'lab', profile: 'worker' },
      { name: 'both', team: 'lab', profile: 'worker' },
    ],
  });
});
afterAll(async () => {
  await gw.close();
});

interface Recorded { type: string; actor: string; data: Record<string, unknown> }

async function events(query: string): Promise<Recorded[]> {
  const res = await gw.admin('GET', `/admin/v1/audit/events?${query}&limit=100`);
  expect(res.status).toBe(200);
  return res.body.data;
}

const agentId = async (name: string): Promise<string> => (await gw.admin('GET', `/admin/v1/agents/${name}`)).body.id;
const statusOf = (e: Recorded) => [e.type, e.data.recovered ?? false];

describe('agent status', () => {
  it('two suspends at once move the agent once and record it once; the other hears 409', async () => {
    const id = await agentId('twice');
    const answers = await Promise.all([1, 2, 3].map((n) => gw.admin('POST', `/admin/v1/agents/twice/suspend`, { reason: `alert ${n}` })));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409]);
    expect(answers.find((a) => a.status === 409)!.body.error.message).toBe('agent "twice" is already suspended');
    expect((await events(`agent=${id}&type=agent.suspended`)).length).toBe(1);

    const resumed = await Promise.all([1, 2].map(() => gw.admin('POST', `/admin/v1/agents/twice/resume`, {})));
    expect(resumed.map((a) => a.status).sort()).toEqual([200, 409]);
    expect((await gw.admin('POST', `/admin/v1/agents/twice/resume`, {})).status).toBe(409);
    expect((await events(`agent=${id}&type=agent.*`)).map(statusOf)).toEqual([['agent.resumed', false], ['agent.suspended', false]]);
  });

  it('a suspension whose event a crash lost is recorded by the retry, once', async () => {
    const id = await agentId('lost');
    // The change committed; the process died before its event.
    expect(await gw.gateway.store.setAgentStatus(id, 'suspended')).toMatchObject({ status: 'suspended' });
    const retry = await gw.admin('POST', `/admin/v1/agents/lost/suspend`, { reason: 'retry' });
    expect([retry.status, retry.body.status]).toEqual([200, 'suspended']);
    expect((await gw.admin('POST', `/admin/v1/agents/lost/suspend`, {})).status).toBe(409);
    const recorded = await events(`agent=${id}&type=agent.suspended`);
    expect(recorded.map((e) => [e.data.reason, e.data.recovered])).toEqual([['retry', true]]);

    // The same for a resume lost the same way.
    await gw.gateway.store.setAgentStatus(id, 'active');
    expect((await gw.admin('POST', `/admin/v1/agents/lost/resume`, {})).status).toBe(200);
    expect((await events(`agent=${id}&type=agent.*`)).map(statusOf).slice(0, 2)).toEqual([['agent.resumed', true], ['agent.suspended', true]]);
  });

  it('a repeated revoke records nothing more, and records a revoke whose event was lost', async () => {
    const id = await agentId('gone');
    const first = await gw.admin('POST', `/admin/v1/agents/gone/revoke`, { reason: 'leaked' });
    expect([first.status, first.body.status]).toEqual([200, 'revoked']);
    expect((await gw.admin('POST', `/admin/v1/agents/gone/revoke`, { reason: 'again' })).status).toBe(200);
    expect((await events(`agent=${id}&type=agent.revoked`)).map((e) => e.data.reason)).toEqual(['leaked']);

    // Revoked in the store with its event lost: an open session of it is ended by the retry too.
    const { sessionId } = await gw.openSession({ agent: 'worker', task: 'left open' });
    const worker = await agentId('worker');
    await gw.gateway.store.setAgentStatus(worker, 'revoked');
    const retry = await gw.admin('POST', `/admin/v1/agents/worker/revoke`, { reason: 'retry' });
    expect([retry.status, retry.body.sessions_ended]).toEqual([200, [sessionId]]);
    expect((await events(`agent=${worker}&type=agent.revoked`)).map((e) => [e.data.reason, e.data.recovered, e.data.sessions_ended])).toEqual([['retry', true, [sessionId]]]);
  });
});

describe('agent revocation', () => {
  it('two revokes at once (an alert and an operator) end its sessions and record agent.revoked once', async () => {
    const id = await agentId('both');
    const sessions = await Promise.all([1, 2].map(() => gw.openSession({ agent: 'both', task: 'open' })));
    const answers = await Promise.all(['alert', 'operator'].map((reason) => gw.admin('POST', '/admin/v1/agents/both/revoke', { reason })));
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(answers.flatMap((a) => a.body.sessions_ended as string[]).sort()).toEqual(sessions.map((s) => s.sessionId).sort());
    const revoked = await events(`agent=${id}&type=agent.revoked`);
    expect(revoked.map((e) => [e.data.recovered ?? false, (e.data.sessions_ended as string[]).length])).toEqual([[false, 2]]);
  });
});

describe('team status', () => {
  it('two suspends at once record once; a change whose event was lost is recorded by the retry', async () => {
    const team = (await gw.admin('GET', '/admin/v1/teams/ops')).body;
    const answers = await Promise.all([1, 2].map(() => gw.admin('POST', '/admin/v1/teams/ops/suspend', {})));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    expect((await gw.admin('POST', '/admin/v1/teams/ops/resume', {})).status).toBe(200);

    await gw.gateway.store.setTeamStatus(team.id, 'suspended');
    const retry = await gw.admin('POST', '/admin/v1/teams/ops/suspend', { reason: 'retry' });
    expect([retry.status, retry.body.status]).toEqual([200, 'suspended']);
    expect((await gw.admin('POST', '/admin/v1/teams/ops/suspend', {})).status).toBe(409);
    expect((await events(`team=${team.id}&type=team.*`)).map(statusOf)).toEqual([
      ['team.suspended', true], ['team.resumed', false], ['team.suspended', false],
    ]);
    expect((await gw.admin('POST', '/admin/v1/teams/ops/resume', {})).status).toBe(200);
  });
});

describe('session status', () => {
  it('two suspends at once record once; a suspension or resume whose event was lost is recorded by the retry', async () => {
    const { sessionId } = await gw.openSession({ agent: 'twice', task: 'suspend me' });
    const answers = await Promise.all([1, 2].map(() => gw.admin('POST', `/admin/v1/sessions/${sessionId}/suspend`, {})));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    expect((await events(`session=${sessionId}&type=session.suspended`)).length).toBe(1);
    expect((await gw.admin('POST', `/admin/v1/sessions/${sessionId}/resume`, {})).status).toBe(200);

    const store = gw.gateway.store;
    expect(await store.moveSessions([sessionId], 'active', 'suspended')).toEqual([sessionId]);
    const retry = await gw.admin('POST', `/admin/v1/sessions/${sessionId}/suspend`, { reason: 'retry' });
    expect([retry.status, retry.body.suspended]).toEqual([200, []]);
    expect((await gw.admin('POST', `/admin/v1/sessions/${sessionId}/suspend`, {})).status).toBe(409);
    const suspensions = await events(`session=${sessionId}&type=session.suspended`);
    expect(suspensions.map((e) => [e.data.sessions, e.data.recovered ?? false])).toEqual([[[sessionId], true], [[sessionId], false]]);

    // Resumed in the store, its event lost: the retry (deciding its pending resume approval) records it.
    await store.moveSessions([sessionId], 'suspended', 'active');
    const resumed = await gw.admin('POST', `/admin/v1/sessions/${sessionId}/resume`, {});
    expect([resumed.status, resumed.body.status]).toEqual([200, 'active']);
    expect((await events(`session=${sessionId}&type=session.resumed`)).map((e) => e.data.recovered ?? false)).toEqual([true, false]);
  });
});
