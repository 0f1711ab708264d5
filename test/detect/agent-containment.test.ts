// Containment follows the alert's subject: a spend spike is about an agent, so its throttle holds
// for every session of that agent — one opened after the alert included — until the alert is
// resolved. Driven through a real gateway with the official `openai` client, on a clock the test moves.
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Containment } from '../../src/detect/containment.js';
import { GatewayError } from '../../src/errors/index.js';
import type { Alert } from '../../src/store/index.js';
import { chat, MINUTE, startDetectGateway, word, type DetectGateway } from './helpers.js';

type ApiError = InstanceType<typeof OpenAI.APIError>;

/** Sends `n` distinct calls; answers each status and the Retry-After of every 429. */
async function calls(openai: OpenAI, n: number, prefix: string) {
  const statuses: number[] = [];
  const retryAfter: (string | null)[] = [];
  const refusals: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const status = await chat(openai, `${prefix} ${word(i)}`).then(() => 200, (e: ApiError) => {
      if (e.status === 429) {
        retryAfter.push(e.headers?.get('retry-after') ?? null);
        refusals.push(e.error);
      }
      return e.status!;
    });
    statuses.push(status);
  }
  return { statuses, retryAfter, refusals };
}

describe('a spend spike throttles the agent, not only the session that tripped it', () => {
  let gw: DetectGateway;
  beforeAll(async () => {
    gw = await startDetectGateway({
      profiles: [{
        name: 'assistant', models: ['gpt-4o', 'gpt-4o-mini'], tools: ['*'],
        session_budget: { default: { usd: 50 }, max: { usd: 500 } }, session_ttl_seconds: { default: 86_400, max: 86_400 },
        mission: { usd_per_minute: 0.0001 },
      }],
      detection: { detectors: { spend_spike: { min_usd: 0.001 } } },
    });
  });
  afterAll(async () => {
    await gw.close();
  });

  it('12 calls in one session go critical; a new session of the same agent the next minute is throttled too (6 of 20 pass, 429 + Retry-After), audited and named on the alert; resolving lifts it', async () => {
    const first = await gw.client();
    const before = await calls(first.openai, 12, 'summarize ticket');
    expect(before.statuses).toEqual(Array(12).fill(200));
    const [raised] = await gw.alerts('?detector=spend_spike');
    expect(raised).toMatchObject({ severity: 'critical', subject: expect.stringMatching(/^agent:/), session_id: first.sessionId });
    const throttle = raised.actions.find((a: any) => a.action === 'throttle_session');
    expect(throttle.detail).toMatchObject({ session: first.sessionId, requests_per_minute: 6 });

    // The same agent opens a new session and keeps spending in the next minute.
    gw.clock.now += MINUTE;
    const second = await gw.client();
    const after = await calls(second.openai, 20, 'draft reply');
    expect(after.statuses.filter((s) => s === 200)).toHaveLength(6);
    expect(after.statuses.filter((s) => s === 429)).toHaveLength(14);
    expect(after.retryAfter.every((r) => r !== null && Number(r) >= 1)).toBe(true);
    expect(after.refusals[0]).toMatchObject({ code: 'rate_limited', level: 'agent_throttle', agent_throttle_id: raised.agent.id, unit: 'requests', limit: 6 });

    // The throttle is the agent's (the action says so), and visible: a `session.throttled` for the new session, naming the alert and the agent.
    expect(throttle.detail).toMatchObject({ scope: 'agent', agent: raised.agent.id });
    const throttled = (await gw.admin('GET', '/admin/v1/audit?type=session.throttled&limit=50')).body.data;
    const forSecond = throttled.filter((e: any) => e.session_id === second.sessionId);
    expect(forSecond).toHaveLength(1);
    expect(forSecond[0].data).toMatchObject({ alert: raised.id, scope: 'agent', agent: raised.agent.id, requests_per_minute: 6 });

    // The open alert was updated by the new window's finding: its summary is the latest, and its
    // evidence names both sessions.
    const [updated] = await gw.alerts('?detector=spend_spike');
    expect(updated.id).toBe(raised.id);
    expect(updated.occurrences).toBeGreaterThan(raised.occurrences);
    expect(updated.summary).not.toBe(raised.summary);
    expect(updated.evidence.sessions).toEqual(expect.arrayContaining([first.sessionId, second.sessionId]));

    // Resolving lifts it for every session of the agent, the old one too.
    expect((await gw.admin('POST', `/admin/v1/alerts/${raised.id}/resolve`, { reason: 'checked' })).body.status).toBe('resolved');
    gw.clock.now += MINUTE;
    await expect(chat(second.openai, 'after resolve')).resolves.toBeDefined();
    await expect(chat(first.openai, 'after resolve too')).resolves.toBeDefined();
  });

  it('per-session detectors keep containing only their session', async () => {
    gw.clock.now += 10 * MINUTE;
    const looping = await gw.client();
    const other = await gw.client();
    for (let i = 0; i < 4; i++) {
      await chat(looping.openai, 'Export the report [[sim:error=400]]').catch(() => undefined);
      await gw.settled();
    }
    const [alert] = await gw.alerts(`?detector=retry_loop&session_id=${looping.sessionId}`);
    expect(alert).toMatchObject({ severity: 'critical', subject: `session:${looping.sessionId}` });
    expect(alert.actions.map((a: any) => a.action)).toEqual(['suspend_session', 'notify']);
    await expect(chat(other.openai, 'unrelated work')).resolves.toBeDefined();
  });
});

describe('an agent throttle that ran out while the alert is open', () => {
  it('is imposed again by the next critical finding (duration 60 s): a second throttle_session on the alert, and 429s again', async () => {
    const gw = await startDetectGateway({
      profiles: [{
        name: 'assistant', models: ['gpt-4o'], tools: ['*'],
        session_budget: { default: { usd: 50 }, max: { usd: 500 } }, session_ttl_seconds: { default: 86_400, max: 86_400 },
        mission: { usd_per_minute: 0.0001 },
      }],
      detection: { throttle: { duration_seconds: 60 }, detectors: { spend_spike: { min_usd: 0.001 } } },
    });
    try {
      const first = await gw.client();
      for (let i = 0; i < 12; i++) await chat(first.openai, `summarize ticket ${word(i)}`);
      const [raised] = await gw.alerts('?detector=spend_spike');
      expect(raised.severity).toBe('critical');
      // Two minutes on, the throttle has run out: a new session spends freely until the agent is
      // critical again, which puts the throttle back (in the new session's next calls).
      gw.clock.now += 2 * MINUTE;
      const second = await gw.client();
      const statuses: number[] = [];
      for (let i = 0; i < 24; i++) {
        statuses.push(await chat(second.openai, `draft reply ${word(i)}`).then(() => 200, (e: ApiError) => e.status!));
        await gw.settled();
      }
      const [renewed] = await gw.alerts('?detector=spend_spike');
      expect(renewed.id).toBe(raised.id);
      const throttles = renewed.actions.filter((a: any) => a.action === 'throttle_session');
      expect(throttles).toHaveLength(2);
      expect(throttles[1].detail).toMatchObject({ scope: 'agent', session: second.sessionId });
      // Free until the critical finding, then the throttle's burst of 6, then refused.
      const firstRefused = statuses.indexOf(429);
      expect(firstRefused).toBeGreaterThan(0);
      expect(statuses.slice(firstRefused).every((s) => s === 429)).toBe(true);
      // Notified once: a renewal repeats only the throttle.
      expect(renewed.actions.filter((a: any) => a.action === 'notify')).toHaveLength(raised.actions.filter((a: any) => a.action === 'notify').length);
    } finally {
      await gw.close();
    }
  });
});

describe('Containment, on its own', () => {
  const START_MS = 1_000_000;
  function containment(now = { t: START_MS }) {
    const recorded: any[] = [];
    const c = new Containment({
      sessions: {} as never, approvals: {} as never, notifier: {} as never,
      audit: { record: async (e: unknown) => void recorded.push(e) } as never,
      throttle: { requestsPerMinute: 6, durationMs: 900_000 },
      agent: async () => null, getSession: async () => null, now: () => now.t,
    });
    const agents = new Map([['ses_a1', 'agt_a'], ['ses_a2', 'agt_a'], ['ses_b1', 'agt_b']]);
    // The rate-limit stage passes the session's agent, as the session names it.
    const throttleFor = (sessionId: string) => c.throttleFor(sessionId, agents.get(sessionId) ?? 'agt_none');
    return { c, throttleFor, recorded, now };
  }
  const alert = (over: Partial<Alert>): Alert => ({
    id: 'alr_1', detector: 'spend_spike', subject: 'agent:agt_a', severity: 'critical', status: 'open', summary: 's', verdict: null, evidence: {},
    actions: [], occurrences: 1, agentId: 'agt_a', sessionId: 'ses_a1', teamId: null, profileId: null, createdAt: 0, updatedAt: 0,
    acknowledgedBy: null, resolvedBy: null, ...over,
  });

  it('restores an agent throttle from its action after a restart: every session of the agent, not another agent\'s', () => {
    const { c, throttleFor, recorded } = containment();
    expect(throttleFor('ses_a1')).toBeNull();
    c.restore([alert({ actions: [{ action: 'throttle_session', at: START_MS, detail: { scope: 'agent', agent: 'agt_a', session: 'ses_a1', requests_per_minute: 6, until_ms: START_MS + 60_000 } }] })]);
    expect(throttleFor('ses_a2')).toEqual({ level: 'agent_throttle', id: 'agt_a', rpm: 6 });
    expect(throttleFor('ses_a2')).toEqual({ level: 'agent_throttle', id: 'agt_a', rpm: 6 });
    expect(throttleFor('ses_b1')).toBeNull();
    expect(throttleFor('ses_unknown')).toBeNull();
    // One session.throttled per session met, not per call.
    expect(recorded.map((e) => [e.type, e.sessionId, e.data.scope])).toEqual([['session.throttled', 'ses_a2', 'agent']]);
  });

  it('a session alert still throttles only its session; lifting is by the alert that imposed it; it runs out', async () => {
    const { c, throttleFor, now } = containment();
    const bySession = alert({ id: 'alr_s', detector: 'retry_loop', subject: 'session:ses_a1' });
    const done = await c.carryOut('throttle_session', bySession, 'alert.raised');
    expect(done.detail).toMatchObject({ scope: 'session', session: 'ses_a1' });
    expect(throttleFor('ses_a1')).toEqual({ level: 'throttle', id: 'ses_a1', rpm: 6 });
    expect(throttleFor('ses_a2')).toBeNull();
    const byAgent = alert({ id: 'alr_a' });
    await c.carryOut('throttle_session', byAgent, 'alert.raised');
    expect(throttleFor('ses_a2')?.level).toBe('agent_throttle');
    // Another alert's resolution lifts nothing of this one's.
    c.lift(alert({ id: 'alr_other' }));
    expect(throttleFor('ses_a2')?.level).toBe('agent_throttle');
    c.lift(byAgent);
    expect(throttleFor('ses_a2')).toBeNull();
    expect(throttleFor('ses_a1')?.level).toBe('throttle');
    now.t += 900_000;
    expect(throttleFor('ses_a1')).toBeNull();
  });

  it('suspend_agent leaves an agent already suspended as it is, and reports a revoked one as skipped', async () => {
    const statuses = new Map<string, 'active' | 'suspended' | 'revoked'>([['agt_a', 'suspended'], ['agt_b', 'revoked'], ['agt_c', 'active']]);
    const suspended: string[] = [];
    const c = new Containment({
      sessions: {
        setAgentStatus: async (id: string) => {
          if (statuses.get(id) === 'revoked') throw new GatewayError('conflict', `agent "${id}" is revoked for good; create a new agent`);
          suspended.push(id);
          return { agent: { id, status: 'suspended' }, ended: [] };
        },
      } as never,
      approvals: {} as never, notifier: {} as never, audit: {} as never,
      throttle: { requestsPerMinute: 6, durationMs: 900_000 },
      agent: async (id) => (statuses.has(id) ? { name: id, status: statuses.get(id)! } : null), getSession: async () => null, now: () => START_MS,
    });
    expect((await c.carryOut('suspend_agent', alert({ agentId: 'agt_a' }), 'alert.raised')).detail).toEqual({ skipped: 'agent "agt_a" is already suspended' });
    expect((await c.carryOut('suspend_agent', alert({ agentId: 'agt_b' }), 'alert.raised')).detail).toEqual({ skipped: 'agent "agt_b" is revoked for good; create a new agent' });
    expect((await c.carryOut('suspend_agent', alert({ agentId: null, subject: 'source:10.0.0.1' }), 'alert.raised')).detail).toEqual({ skipped: 'the alert names no agent' });
    expect((await c.carryOut('suspend_agent', alert({ agentId: 'agt_c' }), 'alert.raised')).detail).toEqual({ agent: 'agt_c', suspended: true, resume: 'POST /admin/v1/agents/agt_c/resume' });
    expect(suspended).toEqual(['agt_c']);
  });
});
