// Soft budgets with step-up approval, renewal, and period resets (with an injected clock).
import { createServer, type Server } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { delegate } from '../helpers/oauth.js';

type ApiError = InstanceType<typeof OpenAI.APIError>;
let gw: TestGateway;
let shift = 0;
let hooks: Server;
const notices: { event: string; approval: { id: string; status: string; decided_by: string | null; reason: string | null; extra_budget: { usd: number | null } } }[] = [];
/** The Authorization header each notice came with. */
const authorizations: (string | undefined)[] = [];

beforeAll(async () => {
  hooks = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      notices.push(JSON.parse(body));
      authorizations.push(req.headers.authorization);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
  gw = await startGateway(
    {
      teams: [{ name: 'demo' }, { name: 'daily', budget: { usd: 0.0001, period: 'day' } }],
      profiles: [
        { name: 'assistant', models: ['gpt-4o-mini'], session_budget: { max: { usd: 10 } } },
        { name: 'careful', models: ['gpt-4o-mini'], session_budget: { default: { usd: 0.0002 }, max: { usd: 1 } }, enforcement: { mode: 'soft', soft_threshold: 0.5 } },
        { name: 'patient', models: ['gpt-4o-mini'], session_budget: { default: { usd: 0.0002 }, max: { usd: 1 } }, enforcement: { mode: 'soft', soft_threshold: 0.5, approval_hold_seconds: 10 } },
      ],
      agents: [
        { name: 'demo-agent', team: 'demo', profile: 'assistant' },
        { name: 'support', team: 'demo', profile: 'careful' },
        { name: 'waiter', team: 'demo', profile: 'patient' },
        { name: 'nightly', team: 'daily', profile: 'assistant' },
      ],
      // A credential in the URL, as the docs allow: it travels as Basic auth (fetch refuses such a URL).
      approvals: { webhook_url: `http://hook-user:p%40ss@127.0.0.1:${(hooks.address() as { port: number }).port}/hook?token=t1` },
    },
    {},
    () => Date.now() + shift,
  );
});
afterAll(async () => {
  await gw.close();
  hooks.close();
});

const client = (token: string) => new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
const call = (token: string) =>
  client(token).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user', content: 'x [[sim:tokens=20]]' }] }).then(() => 'ok' as const, (e: ApiError) => e);

async function untilRefused(token: string): Promise<ApiError> {
  for (let i = 0; i < 500; i++) {
    const r = await call(token);
    if (r !== 'ok') return r;
  }
  throw new Error('never refused');
}

/** A session's audit events of one type. */
async function events(sessionId: string, type: string) {
  return (await gw.admin('GET', `/admin/v1/audit/events?type=${type}&session=${sessionId}`)).body.data as { type: string; actor: string; data: Record<string, unknown> }[];
}

/** Calls until one is refused for an approval; the id of the approval it waits for. */
async function approvalOf(token: string): Promise<string> {
  return ((await untilRefused(token)).error as { approval_id: string }).approval_id;
}

/** Calls until one is held for the decision (calls below the threshold return at once); that call, still running. */
async function heldCall(token: string): Promise<{ held: Promise<'ok' | ApiError> }> {
  for (let i = 0; i < 50; i++) {
    const p = call(token);
    const quick = await Promise.race([p, new Promise<'held'>((r) => setTimeout(() => r('held'), 400))]);
    if (quick === 'held') return { held: p };
  }
  throw new Error('no call was held');
}

describe('soft mode and step-up approval', () => {
  it('crossing the threshold raises exactly one pending approval, even with concurrent calls; approving adds budget', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'support' });
    const first = await untilRefused(token);
    expect(first.status).toBe(402);
    expect(first.error).toMatchObject({ code: 'approval_required', approval_id: expect.stringMatching(/^apr_/) });
    // More calls meanwhile, concurrently: all refused, all pointing at the same approval.
    const burst = await Promise.all(Array.from({ length: 20 }, () => call(token)));
    for (const r of burst) expect((r as ApiError).error).toMatchObject({ code: 'approval_required', approval_id: (first.error as { approval_id: string }).approval_id });
    const pending = (await gw.admin('GET', `/admin/v1/approvals?status=pending&session=${sessionId}`)).body.data;
    expect(pending).toHaveLength(1);
    // Whoever decides sees the task and the chain of agents asking, as for a tool approval.
    expect(pending[0].context).toMatchObject({ task: 'test', chain: [expect.any(String)] });
    const spentAtGate = (await gw.session(sessionId)).spent.usd;
    expect(spentAtGate).toBeLessThanOrEqual(0.5 * 0.0002 + 1e-12);

    const approved = await gw.admin('POST', `/admin/v1/approvals/${pending[0].id}/approve`, { extra_budget: { usd: 0.0002 }, reason: 'customer escalation' });
    expect(approved.body).toMatchObject({ status: 'approved', decided_by: 'admin', extra_budget: { usd: 0.0002 } });
    expect((await gw.session(sessionId)).budget.usd).toBeCloseTo(0.0004, 12);
    expect(await call(token)).toBe('ok');
    // The hard cap still holds after approval.
    const capped = await untilRefused(token);
    expect(capped.error).toMatchObject({ code: 'budget_exceeded' });
    expect((await gw.session(sessionId)).spent.usd).toBeLessThanOrEqual(0.0004);
    expect((await gw.admin('POST', `/admin/v1/approvals/${pending[0].id}/deny`, {})).status).toBe(409);
    // Regression: approving again added the extra budget again (in memory) before answering 409.
    const again = await gw.admin('POST', `/admin/v1/approvals/${pending[0].id}/approve`, { extra_budget: { usd: 1 } });
    expect(again.status).toBe(409);
    expect((await gw.session(sessionId)).remaining.usd).toBeLessThan(0.0004);
    const events = (await gw.admin('GET', `/admin/v1/audit/events?session=${sessionId}`)).body.data.map((e: { type: string }) => e.type);
    expect(events).toEqual(expect.arrayContaining(['approval.requested', 'approval.approved']));
    await new Promise((r) => setTimeout(r, 200));
    const mine = notices.filter((n) => n.approval.id === pending[0].id);
    expect(mine.map((n) => n.event).sort()).toEqual(['approval.approved', 'approval.requested']);
    // The decision's notice says who decided, why, and what budget it added.
    expect(mine.find((n) => n.event === 'approval.approved')!.approval).toMatchObject({ status: 'approved', decided_by: 'admin', reason: 'customer escalation', extra_budget: { usd: 0.0002 } });
    expect(new Set(authorizations)).toEqual(new Set([`Basic ${Buffer.from('hook-user:p@ss').toString('base64')}`]));
  });

  it('a threshold crossed on a token budget says so: the refusal carries the tokens spent and budgeted', async () => {
    const { token } = await gw.openSession({ agent: 'support', budget: { tokens: 200, usd: 1 } });
    const gate = await untilRefused(token);
    expect(gate.error).toMatchObject({ code: 'approval_required', budget_tokens: 200, spent_tokens: expect.any(Number), budget_usd: 1 });
    expect((gate.error as { spent_tokens: number }).spent_tokens).toBeLessThanOrEqual(100);
  });

  it('a denial answers 402 from then on', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'support' });
    const gate = await untilRefused(token);
    const id = (gate.error as { approval_id: string }).approval_id;
    await gw.admin('POST', `/admin/v1/approvals/${id}/deny`, { reason: 'not worth it' });
    for (let i = 0; i < 3; i++) {
      const r = (await call(token)) as ApiError;
      expect(r.status).toBe(402);
      expect(r.error).toMatchObject({ code: 'approval_denied' });
    }
    expect((await gw.admin('GET', `/admin/v1/approvals?session=${sessionId}`)).body.data[0]).toMatchObject({ status: 'denied', reason: 'not worth it' });
  });

  it('holds a call for the decision when the profile says so, and lets it through once approved', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'waiter' });
    const { held } = await heldCall(token);
    const [pending] = (await gw.admin('GET', `/admin/v1/approvals?status=pending&session=${sessionId}`)).body.data;
    await gw.admin('POST', `/admin/v1/approvals/${pending.id}/approve`, {});
    expect(await held).toBe('ok');
  });

  it('a call held for the decision is refused the moment its token is revoked, not when the hold runs out', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'waiter' });
    const { held } = await heldCall(token);
    const { jti } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { jti: string };
    const revokedAt = Date.now();
    expect((await gw.admin('POST', `/admin/v1/tokens/${jti}/revoke`, { reason: 'leaked' })).status).toBe(200);
    const refused = (await held) as ApiError;
    // The profile holds calls for 10 s: the refusal came with the revocation instead.
    expect(Date.now() - revokedAt).toBeLessThan(3000);
    expect(refused.status).toBe(401);
    expect(refused.error).toMatchObject({ code: 'token_revoked' });
    // The approval stays pending for whoever holds a valid credential for the session; nothing
    // was forwarded for the held call, and its refusal is on the record.
    const [pending] = (await gw.admin('GET', `/admin/v1/approvals?status=pending&session=${sessionId}`)).body.data;
    expect(pending).toBeDefined();
    const events = (await gw.admin('GET', `/admin/v1/audit/events?session=${sessionId}`)).body.data as { type: string; data: Record<string, unknown> }[];
    expect(events.filter((e) => e.type === 'model.call' && e.data.outcome === 'revoked')).toHaveLength(0);
    expect(events.some((e) => e.type === 'model.refused' && e.data.code === 'token_revoked')).toBe(true);
  });
});

describe('renewal', () => {
  it('extends time and adds budget to the same session, on the record', async () => {
    const { token, sessionId } = await gw.openSession({ budget: { usd: 0.00005 }, ttl_seconds: 60 });
    await untilRefused(token);
    const before = await gw.session(sessionId);
    const renewed = await gw.admin('POST', `/admin/v1/sessions/${sessionId}/renew`, { ttl_seconds: 3600, budget: { usd: 0.0001 }, reason: 'more sources' });
    expect(renewed.status).toBe(200);
    expect(renewed.body.id).toBe(sessionId);
    expect(renewed.body.budget.usd).toBeCloseTo(0.00015, 12);
    expect(Date.parse(renewed.body.expires_at)).toBeGreaterThan(Date.parse(before.expires_at));
    expect(await call(token)).toBe('ok');
    const [event] = (await gw.admin('GET', `/admin/v1/audit/events?type=session.renewed&session=${sessionId}`)).body.data;
    expect(event).toMatchObject({ actor: 'admin', data: { reason: 'more sources', budget: { usd: expect.closeTo(0.00015, 12) } } });
  });
});

describe('budget periods', () => {
  it('a team\'s daily budget resets at midnight UTC; the spend history stays', async () => {
    const { token } = await gw.openSession({ agent: 'nightly', budget: { usd: 1 } });
    const refused = await untilRefused(token);
    expect(refused.error).toMatchObject({ code: 'budget_exceeded', level: 'team' });
    const team = (await gw.admin('GET', '/admin/v1/teams/daily')).body;
    const lines = (await gw.admin('GET', `/admin/v1/usage?team=${team.id}&limit=1000`)).body.data.length;
    // Move the clock to the start of the next UTC day.
    const now = Date.now() + shift;
    shift += Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), new Date(now).getUTCDate() + 1) - now + 1000;
    // A new session the next day (the old token has expired meanwhile): the team has budget again.
    const next = await gw.openSession({ agent: 'nightly', budget: { usd: 1 } });
    const res = await client(next.token).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user', content: 'new day' }] }).withResponse();
    expect(res.response.status).toBe(200);
    expect(res.response.headers.get('x-tollgate-budget-binding-level')).toBe('team');
    expect((await gw.admin('GET', `/admin/v1/usage?team=${team.id}&limit=1000`)).body.data.length).toBe(lines + 1);
  });
});

describe('approvals of a session that ends', () => {
  it('revoking or closing a session closes its pending approval: denied by system with the reason, on the record, notified; approving it is 409', async () => {
    for (const [end, body, reason] of [['revoke', { reason: 'runaway' }, 'session revoked: runaway'], ['close', {}, 'session closed']] as const) {
      const { token, sessionId } = await gw.openSession({ agent: 'support' });
      const id = await approvalOf(token);
      expect((await gw.admin('POST', `/admin/v1/sessions/${sessionId}/${end}`, body)).status).toBe(200);
      // Closed when the session ended, in the store itself (not only when someone looks).
      expect(await gw.gateway.store.getApproval(id)).toMatchObject({ status: 'denied', decidedBy: 'system', reason });
      expect((await gw.admin('GET', `/admin/v1/approvals?status=pending&session=${sessionId}`)).body.data).toEqual([]);
      expect((await gw.admin('GET', `/admin/v1/approvals/${id}`)).body).toMatchObject({ status: 'denied', decided_by: 'system', reason, decided_at: expect.any(String) });
      const approve = await gw.admin('POST', `/admin/v1/approvals/${id}/approve`, {});
      expect(approve.status).toBe(409);
      expect(approve.body.error.message).toContain('already denied');
      expect(await events(sessionId, 'approval.denied')).toEqual([
        expect.objectContaining({ actor: 'system', data: expect.objectContaining({ approval: id, reason, session_ended: end === 'revoke' ? 'revoked' : 'closed' }) }),
      ]);
      await new Promise((r) => setTimeout(r, 200));
      expect(notices.filter((n) => n.approval.id === id).map((n) => [n.event, n.approval.decided_by, n.approval.reason]).sort()).toEqual([
        ['approval.denied', 'system', reason], ['approval.requested', null, null],
      ]);
    }
  });

  it('an agent long-polling the approval of a session delegated from it gets the denial the moment that session is revoked', async () => {
    const parent = await gw.openSession({ agent: 'demo-agent', budget: { usd: 1 } });
    const child = await delegate(gw.url, parent.token, { agent: 'support', task: 'answer the ticket', budget_usd: '0.0002' });
    expect(child.status).toBe(200);
    const id = await approvalOf(child.body.access_token as string);
    const polled = fetch(`${gw.url}/agent/v1/approvals/${id}?wait=10`, { headers: { authorization: `Bearer ${parent.token}` } });
    await new Promise((r) => setTimeout(r, 300));
    const revokedAt = Date.now();
    expect((await gw.admin('POST', `/admin/v1/sessions/${child.body.session_id as string}/revoke`, { reason: 'off topic' })).status).toBe(200);
    const res = await polled;
    expect(Date.now() - revokedAt).toBeLessThan(3000);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id, status: 'denied', reason: 'session revoked: off topic' });
  });
});

describe('approvals of many sessions that end at once', () => {
  it('a revoked tree is looked through in one query, and only the session with a pending approval is asked after', async () => {
    const parent = await gw.openSession({ agent: 'demo-agent', budget: { usd: 1 } });
    const children: { session_id: string; access_token: string }[] = [];
    for (const budget of ['0.01', '0.01', '0.0002', '0.01']) {
      const child = await delegate(gw.url, parent.token, { agent: 'support', task: 'answer the ticket', budget_usd: budget });
      expect(child.status).toBe(200);
      children.push(child.body as { session_id: string; access_token: string });
    }
    const waiting = children[2]!;
    const id = await approvalOf(waiting.access_token);
    const lookups = vi.spyOn(gw.gateway.store, 'listApprovals');
    try {
      expect((await gw.admin('POST', `/admin/v1/sessions/${parent.sessionId}/revoke`, { reason: 'runaway tree' })).status).toBe(200);
      expect(await gw.gateway.store.getApproval(id)).toMatchObject({ status: 'denied', decidedBy: 'system', reason: 'session revoked: runaway tree' });
      const asked = lookups.mock.calls.map(([filter]) => filter?.sessionId ?? 'all pending');
      // One look at every pending approval, then the waiting session's own (until none is left).
      expect(asked.filter((who) => who === 'all pending')).toHaveLength(1);
      expect(new Set(asked.filter((who) => who !== 'all pending'))).toEqual(new Set([waiting.session_id]));
    } finally {
      lookups.mockRestore();
    }
  });

  it('when the one query fails, each session is asked after by itself, and the approval is still closed', async () => {
    const parent = await gw.openSession({ agent: 'demo-agent', budget: { usd: 1 } });
    const child = await delegate(gw.url, parent.token, { agent: 'support', task: 'answer the ticket', budget_usd: '0.0002' });
    const id = await approvalOf(child.body.access_token as string);
    const store = gw.gateway.store;
    const listApprovals = store.listApprovals.bind(store);
    const lookups = vi.spyOn(store, 'listApprovals').mockImplementation((filter) => (filter?.sessionId ? listApprovals(filter) : Promise.reject(new Error('store unreachable'))));
    try {
      expect((await gw.admin('POST', `/admin/v1/sessions/${parent.sessionId}/revoke`, {})).status).toBe(200);
      expect(await store.getApproval(id)).toMatchObject({ status: 'denied', decidedBy: 'system', reason: 'session revoked' });
      expect(new Set(lookups.mock.calls.map(([filter]) => filter?.sessionId ?? 'all pending'))).toEqual(new Set(['all pending', parent.sessionId, child.body.session_id]));
    } finally {
      lookups.mockRestore();
    }
  });
});

describe('the agent API', () => {
  it('answers 400 naming the parameter for a malformed, negative, too long or repeated wait, and for an unknown parameter', async () => {
    const { token } = await gw.openSession({ agent: 'support' });
    const id = await approvalOf(token);
    const get = (query: string) => fetch(`${gw.url}/agent/v1/approvals/${id}${query}`, { headers: { authorization: `Bearer ${token}` } });
    for (const query of ['?wait=soon', '?wait=', '?wait=-1', '?wait=61', '?wait=1e1', '?wait=Infinity', '?wait=1&wait=2']) {
      const res = await get(query);
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { error: { code: string; param: string; message: string } };
      expect(body.error, query).toMatchObject({ code: 'invalid_request', param: 'wait', message: expect.stringContaining('wait') });
      expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    }
    const unknown = await get('?wiat=30');
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: unknown }).error).toMatchObject({ code: 'invalid_request', param: 'wiat' });
    // Well formed: at once without wait, held at most `wait` seconds (a fraction too), 60 the most.
    for (const query of ['', '?wait=0', '?wait=0.2', '?wait=1']) {
      const res = await get(query);
      expect(res.status, query).toBe(200);
      expect(await res.json()).toMatchObject({ id, status: 'pending' });
    }
    // Still authenticated first: a malformed wait without a token is 401, not 400.
    expect((await fetch(`${gw.url}/agent/v1/approvals/${id}?wait=x`)).status).toBe(401);
  });
});

describe('approvals of a session that expires', () => {
  it('an approval of a session past its expiry is closed when the upkeep closes the session, once', async () => {
    const a = await gw.openSession({ agent: 'support', ttl_seconds: 60 });
    const idA = await approvalOf(a.token);
    shift += 120_000;
    // Expired, not yet swept: still pending.
    expect((await gw.admin('GET', `/admin/v1/approvals/${idA}`)).body).toMatchObject({ status: 'pending' });
    await gw.gateway.runMaintenance();
    expect((await gw.session(a.sessionId)).status).toBe('closed');
    expect((await gw.admin('GET', `/admin/v1/approvals/${idA}`)).body).toMatchObject({ status: 'denied', decided_by: 'system', reason: 'session closed: expired', extra_budget: { usd: null } });
    expect((await gw.admin('GET', `/admin/v1/approvals?status=pending&session=${a.sessionId}`)).body.data).toEqual([]);
    // Approving it now: 409, and no second record.
    const approve = await gw.admin('POST', `/admin/v1/approvals/${idA}/approve`, { extra_budget: { usd: 0.001 } });
    expect(approve.status).toBe(409);
    expect((await events(a.sessionId, 'approval.denied')).map((e) => [e.actor, e.data.session_ended])).toEqual([['system', 'closed']]);
  });

});
