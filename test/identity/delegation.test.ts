// Delegation by token exchange: orchestrator → researcher → summarizer. Each level's spend lands
// under its own agent, rolls up to the root session, and carries the whole chain.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { decodeJwt, delegate } from '../helpers/oauth.js';

const MODELS = ['gpt-4o-mini', 'gpt-4o', 'claude-3-5-haiku-latest'];
let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway({
    teams: [{ name: 'research' }],
    profiles: [
      { name: 'orchestrator', models: MODELS, session_budget: { default: { usd: 1 }, max: { usd: 5 } } },
      { name: 'worker', models: ['gpt-4o-mini', 'claude-3-5-haiku-latest'], session_budget: { default: { usd: 0.2 }, max: { usd: 1 } } },
      { name: 'metered', models: ['gpt-4o-mini'], session_budget: { default: { usd: 1, tokens: 100_000 }, max: { usd: 5, tokens: 1_000_000 } } },
    ],
    agents: [
      { name: 'orchestrator', team: 'research', profile: 'orchestrator' },
      { name: 'researcher', team: 'research', profile: 'worker' },
      { name: 'summarizer', team: 'research', profile: 'worker' },
      { name: 'planner', team: 'research', profile: 'metered' },
      { name: 'helper', team: 'research', profile: 'metered' },
    ],
    delegation: { max_depth: 2 },
  });
});
afterAll(async () => {
  await gw.close();
});

const client = (token: string) => new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
const call = (token: string, content = 'work [[sim:tokens=10]]') => client(token).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] });

/** The `session.revoked` events recorded with `sessionId` as the session ended. */
async function revocations(sessionId: string) {
  return (await gw.admin('GET', `/admin/v1/audit/events?type=session.revoked&session=${sessionId}`)).body.data as { data: { sessions: string[]; reason: string; recovered?: boolean } }[];
}

async function threeLevels() {
  const root = await gw.openSession({ agent: 'orchestrator', task: 'write a report', budget: { usd: 1 } });
  const mid = await delegate(gw.url, root.token, { agent: 'researcher', task: 'find sources', budget_usd: '0.3' });
  expect(mid.status).toBe(200);
  const leaf = await delegate(gw.url, mid.body.access_token, { agent: 'summarizer', task: 'summarise sources', budget_usd: '0.1', scope: 'gpt-4o-mini' });
  expect(leaf.status).toBe(200);
  return { root, mid: { token: mid.body.access_token as string, sessionId: mid.body.session_id as string }, leaf: { token: leaf.body.access_token as string, sessionId: leaf.body.session_id as string } };
}

describe('delegation', () => {
  it('attributes each level to its own agent, rolls spend up to the root, and carries the chain everywhere', async () => {
    const { root, mid, leaf } = await threeLevels();
    const leafClaims = decodeJwt(leaf.token);
    const agents = Object.fromEntries(await Promise.all(['orchestrator', 'researcher', 'summarizer'].map(async (n) => [n, (await gw.admin('GET', `/admin/v1/agents/${n}`)).body.id])));
    expect(leafClaims.sub).toBe(agents.summarizer);
    expect(leafClaims.act).toEqual({ sub: agents.researcher, sid: mid.sessionId, act: { sub: agents.orchestrator, sid: root.sessionId } });
    expect(leafClaims.scope).toBe('gpt-4o-mini');

    await call(root.token);
    await call(mid.token);
    await call(leaf.token);
    await call(leaf.token);

    const chain = [root.sessionId, mid.sessionId, leaf.sessionId];
    const leafLines = (await gw.admin('GET', `/admin/v1/usage?session=${leaf.sessionId}`)).body.data;
    expect(leafLines).toHaveLength(2);
    for (const line of leafLines) expect(line).toMatchObject({ agent_id: agents.summarizer, chain });
    const [midLine] = (await gw.admin('GET', `/admin/v1/usage?session=${mid.sessionId}`)).body.data;
    expect(midLine).toMatchObject({ agent_id: agents.researcher, chain: chain.slice(0, 2) });

    const rootView = await gw.session(root.sessionId);
    const midView = await gw.session(mid.sessionId);
    const leafView = await gw.session(leaf.sessionId);
    expect(leafView).toMatchObject({ parent_id: mid.sessionId, chain, depth: 2, budget: { usd: 0.1 }, models: ['gpt-4o-mini'] });
    expect(rootView.spent.requests).toBe(1);
    expect(rootView.spent_with_children.requests).toBe(4);
    expect(rootView.spent_with_children.usd).toBeCloseTo(rootView.spent.usd + midView.spent.usd + leafView.spent.usd, 12);
    // The children's slices are held on the parent: 1 − 0.3 (researcher's slice) − own spend.
    expect(rootView.remaining.usd).toBeCloseTo(1 - 0.3 - rootView.spent.usd, 9);

    const tree = (await gw.admin('GET', `/admin/v1/sessions/${root.sessionId}/tree`)).body;
    expect(tree.agent.name).toBe('orchestrator');
    expect(tree.children[0].agent.name).toBe('researcher');
    expect(tree.children[0].children[0]).toMatchObject({ id: leaf.sessionId, agent: { name: 'summarizer' } });
    expect(tree.spent_with_children.requests).toBe(4);

    const delegated = (await gw.admin('GET', `/admin/v1/audit/events?type=session.delegated&session=${leaf.sessionId}`)).body.data;
    expect(delegated[0]).toMatchObject({ actor: `agent:${agents.researcher}`, chain, data: { parent: mid.sessionId, depth: 2 } });
  });

  it('revoking the middle session stops it and its child at once; the root keeps working', async () => {
    const { root, mid, leaf } = await threeLevels();
    await call(leaf.token);
    const res = await gw.admin('POST', `/admin/v1/sessions/${mid.sessionId}/revoke`, { reason: 'went off task' });
    expect(res.body.revoked.sort()).toEqual([mid.sessionId, leaf.sessionId].sort());
    // Revoking it again changes nothing, and puts nothing more on the record.
    const again = await gw.admin('POST', `/admin/v1/sessions/${mid.sessionId}/revoke`, { reason: 'twice' });
    expect(again).toMatchObject({ status: 200, body: { revoked: [] } });
    expect((await revocations(mid.sessionId)).map((e) => e.data.reason)).toEqual(['went off task']);
    for (const t of [mid.token, leaf.token]) {
      const err = (await call(t).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect(err.status).toBe(401);
      expect(err.code).toBe('session_inactive');
    }
    await call(root.token);
    const rootView = await gw.session(root.sessionId);
    const spentBelow = rootView.spent_with_children.usd - rootView.spent.usd;
    // The slice came back, less what the revoked branch had spent.
    expect(rootView.remaining.usd).toBeCloseTo(1 - rootView.spent.usd - spentBelow, 9);
    expect((await delegate(gw.url, mid.token, { task: 'more' })).body.error).toBe('invalid_grant');
  });

  it('an end that fails after it took effect is in force and on the record: its event queued before the ledger settles, or written by the retry (recovered)', async () => {
    const ledger = (gw.gateway as unknown as { ledger: { end(id: string): void | Promise<void> } }).ledger;
    // The ledger fails while it settles the revoked tree: the caller sees the failure; the sessions
    // are revoked all the same, and on the record.
    const { mid, leaf } = await threeLevels();
    expect((await gw.admin('POST', `/admin/v1/sessions/${leaf.sessionId}/suspend`, {})).status).toBe(200);
    const [resume] = (await gw.admin('GET', `/admin/v1/approvals?kind=resume&status=pending&session=${leaf.sessionId}`)).body.data;
    await call(mid.token); // known to the gateway as active
    const failing = vi.spyOn(ledger, 'end').mockImplementationOnce(() => {
      throw new Error('ledger unavailable');
    });
    try {
      expect((await gw.admin('POST', `/admin/v1/sessions/${mid.sessionId}/revoke`, { reason: 'first try' })).status).toBe(500);
    } finally {
      failing.mockRestore();
    }
    for (const t of [mid.token, leaf.token]) {
      const err = (await call(t).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect([err.status, err.code]).toEqual([401, 'session_inactive']);
    }
    expect((await revocations(mid.sessionId)).map((e) => [e.data.reason, e.data.sessions.sort(), e.data.recovered])).toEqual([['first try', [mid.sessionId, leaf.sessionId].sort(), undefined]]);
    // Its retry finds both sessions named by that event: nothing more on the record, nor for the
    // child (ended with its parent); and it closes the resume approval the failure left pending.
    expect(await gw.admin('POST', `/admin/v1/sessions/${mid.sessionId}/revoke`, { reason: 'retry' })).toMatchObject({ status: 200, body: { revoked: [] } });
    expect(await gw.admin('POST', `/admin/v1/sessions/${leaf.sessionId}/revoke`, { reason: 'retry' })).toMatchObject({ status: 200, body: { revoked: [] } });
    expect(await revocations(mid.sessionId)).toHaveLength(1);
    expect(await revocations(leaf.sessionId)).toHaveLength(0);
    expect((await gw.admin('GET', `/admin/v1/approvals/${resume.id}`)).body).toMatchObject({ status: 'denied', reason: 'session revoked: retry' });

    // A first attempt whose change committed and whose event was never written (a crash between them).
    const lost = await threeLevels();
    expect((await gw.gateway.store.endSessions([lost.mid.sessionId, lost.leaf.sessionId], 'revoked')).sort()).toEqual([lost.mid.sessionId, lost.leaf.sessionId].sort());
    expect(await gw.admin('POST', `/admin/v1/sessions/${lost.mid.sessionId}/revoke`, { reason: 'retry' })).toMatchObject({ status: 200, body: { revoked: [] } });
    expect((await revocations(lost.mid.sessionId)).map((e) => [e.data.reason, e.data.sessions.sort(), e.data.recovered])).toEqual([['retry', [lost.mid.sessionId, lost.leaf.sessionId].sort(), true]]);
    expect(await gw.admin('POST', `/admin/v1/sessions/${lost.mid.sessionId}/revoke`, { reason: 'again' })).toMatchObject({ status: 200, body: { revoked: [] } });
    expect(await revocations(lost.mid.sessionId)).toHaveLength(1);

    // A delegation rolled back (its hold refused) leaves a revoked child nobody was told of: no
    // retry records its end.
    const rolled = await threeLevels();
    const delegating = vi.spyOn(ledger as unknown as { delegate(): Promise<void> }, 'delegate').mockRejectedValueOnce(new Error('the parent\'s budget moved'));
    try {
      expect((await delegate(gw.url, rolled.mid.token, { agent: 'summarizer', task: 'rolled back', budget_usd: '0.1' })).status).toBeGreaterThanOrEqual(400);
    } finally {
      delegating.mockRestore();
    }
    const orphan = (await gw.admin('GET', '/admin/v1/sessions?agent=summarizer&status=revoked&limit=100')).body.data.find((x: { parent_id: string }) => x.parent_id === rolled.mid.sessionId);
    expect(orphan).toBeDefined();
    expect((await gw.admin('POST', `/admin/v1/sessions/${rolled.mid.sessionId}/revoke`, { reason: 'done' })).body.revoked.sort()).toEqual([rolled.mid.sessionId, rolled.leaf.sessionId].sort());
    expect(await gw.admin('POST', `/admin/v1/sessions/${rolled.mid.sessionId}/revoke`, { reason: 'again' })).toMatchObject({ status: 200, body: { revoked: [] } });
    expect((await revocations(rolled.mid.sessionId)).map((e) => e.data.reason)).toEqual(['done']);
    expect(await revocations(orphan.id)).toHaveLength(0);
  });

  it('suspending an agent stops the work it delegated to other agents, and resuming it lets it go on', async () => {
    const { root, mid, leaf } = await threeLevels();
    await call(leaf.token);
    expect((await gw.admin('POST', '/admin/v1/agents/orchestrator/suspend', { reason: 'looks compromised' })).status).toBe(200);
    try {
      for (const t of [root.token, mid.token, leaf.token]) {
        const err = (await call(t).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
        expect(err.status).toBe(401);
        expect(err.code).toBe('agent_inactive');
      }
      const err = (await call(leaf.token).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect(err.message).toMatch(/delegated from \(orchestrator\) is suspended/);
      // Nor does its authority delegate any further.
      expect((await delegate(gw.url, mid.token, { agent: 'summarizer', task: 'more', budget_usd: '0.01' })).status).not.toBe(200);
    } finally {
      expect((await gw.admin('POST', '/admin/v1/agents/orchestrator/resume', {})).status).toBe(200);
    }
    await call(leaf.token);
    await call(mid.token);
  });

  it('a slice named in one unit carves the same share of the other, never all of it; a unit the parent limits and no share can be taken of must be named', async () => {
    const root = await gw.openSession({ agent: 'planner', task: 'plan', budget: { usd: 1, tokens: 100_000 } });
    // A tenth of the parent's tokens: a tenth of its dollars, not the child profile's default $1 (all it has).
    const byTokens = await delegate(gw.url, root.token, { agent: 'helper', task: 'tokens only', budget_tokens: '10000' });
    expect(byTokens.status).toBe(200);
    const first = (await gw.admin('GET', `/admin/v1/sessions/${byTokens.body.session_id}`)).body;
    expect(first.budget).toEqual({ tokens: 10_000, usd: 0.1 });
    // Half of the dollars left ($0.90): half of the tokens left (90,000), below the default of 100,000.
    const byUsd = await delegate(gw.url, root.token, { agent: 'helper', task: 'dollars only', budget_usd: '0.45' });
    expect(byUsd.status).toBe(200);
    const second = (await gw.admin('GET', `/admin/v1/sessions/${byUsd.body.session_id}`)).body;
    expect(second.budget).toEqual({ tokens: 45_000, usd: 0.45 });
    // The parent keeps the rest, and can still call.
    expect((await gw.session(root.sessionId)).remaining).toMatchObject({ tokens: 45_000 });
    expect((await gw.session(root.sessionId)).remaining.usd).toBeCloseTo(0.45, 9);
    await call(root.token);

    // The orchestrator's session is limited in dollars only: a slice named in tokens has no share of
    // dollars to take, and the child's profile would otherwise carve its default, all the parent has.
    const orchestrator = await gw.openSession({ agent: 'orchestrator', task: 'dollars', budget: { usd: 1 } });
    const unnamed = await delegate(gw.url, orchestrator.token, { agent: 'helper', task: 'tokens only', budget_tokens: '1000' });
    expect(unnamed.status).toBe(400);
    expect(unnamed.body).toMatchObject({ error: 'invalid_request' });
    expect(unnamed.body.error_description).toMatch(/name the child's USD slice too \(budget\.usd\)/);
    expect((await gw.session(orchestrator.sessionId)).remaining.usd).toBe(1);
  });

  it('closing a child returns its unused budget to the parent', async () => {
    const root = await gw.openSession({ agent: 'orchestrator', task: 't', budget: { usd: 1 } });
    const child = (await delegate(gw.url, root.token, { agent: 'researcher', task: 'c', budget_usd: '0.5' })).body;
    expect((await gw.session(root.sessionId)).remaining.usd).toBeCloseTo(0.5, 9);
    await call(child.access_token);
    const childSpent = (await gw.session(child.session_id)).spent.usd;
    await gw.admin('POST', `/admin/v1/sessions/${child.session_id}/close`, {});
    expect((await gw.session(root.sessionId)).remaining.usd).toBeCloseTo(1 - childSpent, 9);
    // An ended session has nothing left: its view says what it spent, not what remains.
    const closed = await gw.session(child.session_id);
    expect(closed).toMatchObject({ status: 'closed', spent: { usd: childSpent } });
    expect(closed.remaining).toBeUndefined();
    expect(closed.reserved).toBeUndefined();
  });

  it('never gives a child more than its parent holds: scope, budget, depth, expiry', async () => {
    const root = await gw.openSession({ agent: 'orchestrator', task: 't', budget: { usd: 0.5 }, models: ['gpt-4o-mini'], ttl_seconds: 600 });
    const wider = await delegate(gw.url, root.token, { agent: 'researcher', task: 'x', scope: 'gpt-4o-mini claude-3-5-haiku-latest' });
    expect(wider.status).toBe(400);
    expect(wider.body.error).toBe('invalid_scope');
    const richer = await delegate(gw.url, root.token, { agent: 'researcher', task: 'x', budget_usd: '0.6' });
    expect(richer.body.error).toBe('invalid_target');
    const ghost = await delegate(gw.url, root.token, { agent: 'nobody', task: 'x' });
    expect(ghost.body.error).toBe('invalid_target');
    // Default slice: the child profile's default, capped at what the parent has left.
    const child = await delegate(gw.url, root.token, { agent: 'researcher', task: 'x' });
    const childView = await gw.session(child.body.session_id);
    expect(childView.budget.usd).toBeCloseTo(0.2, 9);
    expect(Date.parse(childView.expires_at)).toBeLessThanOrEqual(Date.parse((await gw.session(root.sessionId)).expires_at));
    const grandchild = await delegate(gw.url, child.body.access_token, { agent: 'summarizer', task: 'y', budget_usd: '0.05' });
    expect(grandchild.status).toBe(200);
    const tooDeep = await delegate(gw.url, grandchild.body.access_token, { agent: 'summarizer', task: 'z', budget_usd: '0.01' });
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.body.error_description).toContain('deeper');
  });

  it('a renewal only extends: one that would end a session sooner is refused and changes nothing; no cross-team delegation by default', async () => {
    const root = await gw.openSession({ agent: 'orchestrator', task: 't', budget: { usd: 0.5 }, ttl_seconds: 3600 });
    const child = (await delegate(gw.url, root.token, { agent: 'researcher', task: 'c', budget_usd: '0.1' })).body;
    const [rootBefore, childBefore] = [await gw.session(root.sessionId), await gw.session(child.session_id)];
    const shorter = await gw.admin('POST', `/admin/v1/sessions/${root.sessionId}/renew`, { ttl_seconds: 60, budget: { usd: 0.1 } });
    expect(shorter.status).toBe(400);
    expect(shorter.body.error).toMatchObject({ code: 'invalid_request', param: 'ttl_seconds', details: { expires_at: rootBefore.expires_at }, message: expect.stringMatching(/only extends/) });
    const nothing = await gw.admin('POST', `/admin/v1/sessions/${root.sessionId}/renew`, {});
    expect(nothing.status).toBe(400);
    expect(nothing.body.error.message).toMatch(/Nothing to renew/);
    const [rootView, childView] = [await gw.session(root.sessionId), await gw.session(child.session_id)];
    expect(rootView.expires_at).toBe(rootBefore.expires_at);
    expect(rootView.budget.usd).toBe(rootBefore.budget.usd);
    expect(childView.expires_at).toBe(childBefore.expires_at);
    // Longer is granted; the child still ends when it did, within its parent's time.
    const longer = await gw.admin('POST', `/admin/v1/sessions/${root.sessionId}/renew`, { ttl_seconds: 7200 });
    expect(longer.status).toBe(200);
    expect(Date.parse(longer.body.expires_at)).toBeGreaterThan(Date.parse(rootBefore.expires_at));
    expect((await gw.session(child.session_id)).expires_at).toBe(childBefore.expires_at);
    await gw.admin('POST', '/admin/v1/agents', { name: 'outsider', team: 'demo', profile: 'worker' });
    const crossTeam = await delegate(gw.url, root.token, { agent: 'outsider', task: 'spend their budget' });
    expect(crossTeam.body.error).toBe('invalid_target');
  });

  it('an expired child ends on the next upkeep and its unused slice returns to the parent', async () => {
    const root = await gw.openSession({ agent: 'orchestrator', task: 't', budget: { usd: 1 } });
    const child = (await delegate(gw.url, root.token, { agent: 'researcher', task: 'c', budget_usd: '0.5', ttl_seconds: '1' })).body;
    await call(child.access_token);
    const childSpent = (await gw.session(child.session_id)).spent.usd;
    expect((await gw.session(root.sessionId)).remaining.usd).toBeCloseTo(0.5, 9);
    await new Promise((r) => setTimeout(r, 1100));
    await gw.gateway.runMaintenance();
    expect((await gw.session(child.session_id)).status).toBe('closed');
    expect((await gw.session(root.sessionId)).remaining.usd).toBeCloseTo(1 - childSpent, 9);
    const [event] = (await gw.admin('GET', `/admin/v1/audit/events?type=session.closed&session=${child.session_id}`)).body.data;
    expect(event).toMatchObject({ actor: 'system', data: { reason: 'expired' } });
  });

  it('a child cannot spend past its slice, and its spend counts against the parent', async () => {
    const root = await gw.openSession({ agent: 'orchestrator', task: 't', budget: { usd: 1 } });
    const child = (await delegate(gw.url, root.token, { agent: 'researcher', task: 'c', budget_usd: '0.00002' })).body;
    let refused: InstanceType<typeof OpenAI.APIError> | undefined;
    for (let i = 0; i < 10 && !refused; i++) refused = await call(child.access_token, 'x [[sim:tokens=20]]').then(() => undefined, (e: InstanceType<typeof OpenAI.APIError>) => e);
    expect(refused?.status).toBe(402);
    const childView = await gw.session(child.session_id);
    expect(childView.spent.usd).toBeLessThanOrEqual(0.00002);
    expect((await gw.session(root.sessionId)).remaining.usd).toBeCloseTo(1 - 0.00002, 9);
  });
});
