// Revocation reaches calls already running: a stream of a session, token, agent or team revoked
// (or suspended) mid-answer is cut within moments, ends with the refusal as its error event and is
// charged for what was delivered (`revoked`); a call waiting for its answer gets the refusal. Calls
// of others run on. Through the official clients.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { decodeJwt, delegate } from '../helpers/oauth.js';

let gw: TestGateway;
let clock = Date.now();
beforeAll(async () => {
  gw = await startGateway({
    teams: [{ name: 'demo' }, { name: 'other' }, { name: 'paused' }],
    agents: [
      { name: 'demo-agent', team: 'demo', profile: 'assistant' },
      { name: 'second-agent', team: 'demo', profile: 'assistant' },
      { name: 'other-agent', team: 'other', profile: 'assistant' },
      { name: 'paused-agent', team: 'paused', profile: 'assistant' },
    ],
  }, {}, () => clock);
});
afterAll(async () => {
  await gw.close();
});

const SLOW = 'tell me a long story [[sim:tokens=150]] [[sim:tokens_per_second=50]]';

/** Streams a long paced answer; resolves with the chunks seen and how it ended. */
function openaiStream(token: string) {
  const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  let chunks = 0;
  const done = (async () => {
    const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', stream: true, max_tokens: 500, messages: [{ role: 'user', content: SLOW }] });
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) chunks++;
    }
  })().then(() => ({ ended: 'complete' as const, error: null, chunks }), (error: unknown) => ({ ended: 'error' as const, error, chunks }));
  return { done, seen: () => chunks };
}

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

async function lineOf(sessionId: string) {
  const lines = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
  expect(lines).toHaveLength(1);
  return lines[0];
}

describe('revocation reaches calls in flight', () => {
  it('a session revoked mid-stream: the stream is cut at once with the refusal, charged for what was delivered', async () => {
    const { token, sessionId } = await gw.openSession();
    const bystander = await gw.openSession({ agent: 'second-agent' });
    const call = openaiStream(token);
    const other = openaiStream(bystander.token);
    await until(() => call.seen() >= 5);
    const revokedAt = Date.now();
    expect((await gw.admin('POST', `/admin/v1/sessions/${sessionId}/revoke`, { reason: 'leaked' })).status).toBe(200);
    const result = await call.done;
    expect(Date.now() - revokedAt).toBeLessThan(1000);
    expect(result.ended).toBe('error');
    expect(String((result.error as Error).message)).toMatch(/session is revoked/i);
    expect(result.chunks).toBeLessThan(150);
    const line = await lineOf(sessionId);
    expect(line).toMatchObject({ outcome: 'revoked', estimated: true, stream: true });
    expect(line.output_tokens).toBeGreaterThanOrEqual(result.chunks);
    expect(line.output_tokens).toBeLessThan(150);
    // Another agent's stream runs on to its end.
    expect(other.seen()).toBeGreaterThan(0);
    const otherResult = await other.done;
    expect(otherResult).toMatchObject({ ended: 'complete', chunks: 150 });
    const events = (await gw.admin('GET', `/admin/v1/audit/events?session=${sessionId}&type=model.call`)).body.data;
    expect(events[0].data).toMatchObject({ outcome: 'revoked' });
  }, 20_000);

  it('a token revoked mid-stream (Anthropic): cut, with Anthropic\'s error event', async () => {
    const { token, sessionId } = await gw.openSession();
    const anthropic = new Anthropic({ apiKey: token, baseURL: gw.url, maxRetries: 0 });
    const stream = anthropic.messages.stream({ model: 'claude-3-5-haiku-latest', max_tokens: 500, messages: [{ role: 'user', content: SLOW }] });
    let deltas = 0;
    stream.on('text', () => deltas++);
    stream.on('error', () => undefined); // the rejection of finalMessage() below is the assertion
    await until(() => deltas >= 5);
    const { jti } = decodeJwt(token) as { jti: string };
    expect((await gw.admin('POST', `/admin/v1/tokens/${jti}/revoke`, { reason: 'leaked' })).status).toBe(200);
    const err = await stream.finalMessage().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(String((err as Error).message)).toMatch(/revoked/i);
    expect(deltas).toBeLessThan(150);
    expect(await lineOf(sessionId)).toMatchObject({ outcome: 'revoked', api: 'anthropic.messages' });
  }, 20_000);

  it('a suspended agent: its call waiting for an answer gets the refusal (401 agent_inactive), its streams are cut, and so is the work it delegated to another agent; another team\'s run on', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'second-agent' });
    const other = await gw.openSession({ agent: 'other-agent' });
    const exchanged = await delegate(gw.url, token, { agent: 'demo-agent', task: 'a delegated part', budget_usd: '0.05' });
    expect(exchanged.status).toBe(200);
    const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const waiting = openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'slow [[sim:latency_ms=4000]]' }] })
      .then(() => null, (e: InstanceType<typeof OpenAI.APIError>) => e);
    const stream = openaiStream(token);
    const delegated = openaiStream(exchanged.body.access_token);
    const bystander = openaiStream(other.token);
    await until(() => stream.seen() >= 3 && delegated.seen() >= 3);
    const suspendedAt = Date.now();
    expect((await gw.admin('POST', '/admin/v1/agents/second-agent/suspend', { reason: 'investigating' })).status).toBe(200);
    const refused = await waiting;
    expect(Date.now() - suspendedAt).toBeLessThan(1000);
    expect(refused?.status).toBe(401);
    expect(refused?.code).toBe('agent_inactive');
    expect((await stream.done).ended).toBe('error');
    const lines = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}`)).body.data;
    expect(lines.map((l: { outcome: string }) => l.outcome)).toEqual(['revoked', 'revoked']);
    // Another agent's stream in the session delegated from it: cut too, with the refusal naming why.
    const cut = await delegated.done;
    expect(cut.ended).toBe('error');
    expect((cut.error as InstanceType<typeof OpenAI.APIError>).message).toContain('suspended');
    expect(cut.chunks).toBeLessThan(150);
    expect(bystander.seen()).toBeGreaterThan(0);
    expect((await bystander.done).ended).toBe('complete');
    await gw.admin('POST', '/admin/v1/agents/second-agent/resume', {});
  }, 20_000);

  it('a session that merely expires while its stream runs is not cut (an expiry is not a revocation)', async () => {
    const { token, sessionId } = await gw.openSession({ ttl_seconds: 60 });
    const call = openaiStream(token);
    await until(() => call.seen() >= 3);
    clock += 120_000;
    // What the gateway's minute timer does: sessions past their expiry are closed.
    expect(await gw.gateway['admin'].sessions.endExpired()).toBeGreaterThanOrEqual(1);
    expect((await gw.session(sessionId)).status).toBe('closed');
    expect(await call.done).toMatchObject({ ended: 'complete', chunks: 150 });
    expect((await lineOf(sessionId)).outcome).toBe('ok');
  }, 20_000);

  it('a team suspended: its streams are cut (403 team_suspended), it gets no sessions or tokens; resumed, its sessions call again; another team runs on', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'paused-agent' });
    const bystander = await gw.openSession();
    const call = openaiStream(token);
    const other = openaiStream(bystander.token);
    await until(() => call.seen() >= 3);
    const suspendedAt = Date.now();
    const suspended = await gw.admin('POST', '/admin/v1/teams/paused/suspend', { reason: 'runaway spend' });
    expect(suspended.status).toBe(200);
    expect(suspended.body).toMatchObject({ name: 'paused', status: 'suspended' });
    const result = await call.done;
    expect(Date.now() - suspendedAt).toBeLessThan(1000);
    expect(result.ended).toBe('error');
    expect(String((result.error as Error).message)).toMatch(/team is suspended/i);
    expect((await lineOf(sessionId)).outcome).toBe('revoked');
    // A new call, a new session, a delegated or refreshed token: all refused while suspended.
    const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const refused = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e: InstanceType<typeof OpenAI.APIError>) => e);
    expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(refused?.code).toBe('team_suspended');
    expect((refused?.error as { team_id?: string }).team_id).toBe(suspended.body.id);
    const opened = await gw.admin('POST', '/admin/v1/sessions', { agent: 'paused-agent', task: 'again' });
    expect([opened.status, opened.body.error.code]).toEqual([403, 'team_suspended']);
    const exchanged = await delegate(gw.url, token, { agent: 'paused-agent', task: 'child', budget_usd: '0.01' });
    expect([exchanged.status, exchanged.body.error]).toEqual([400, 'invalid_grant']);
    expect(await gw.admin('POST', '/admin/v1/teams/paused/suspend', {})).toMatchObject({ status: 409 });
    // Another team's stream ran on.
    expect((await other.done).ended).toBe('complete');
    const resumed = await gw.admin('POST', '/admin/v1/teams/paused/resume', { reason: 'fixed' });
    expect(resumed.body.status).toBe('active');
    expect((await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi [[sim:tokens=2]]' }] })).choices).toHaveLength(1);
    const types = (await gw.admin('GET', `/admin/v1/audit/events?team=${suspended.body.id}&limit=100`)).body.data.map((e: { type: string }) => e.type);
    expect(types).toEqual(expect.arrayContaining(['team.suspended', 'team.resumed']));
  }, 20_000);

  it('a team revoked: every stream of its agents is cut', async () => {
    const a = await gw.openSession({ agent: 'other-agent' });
    const b = await gw.openSession({ agent: 'other-agent' });
    const first = openaiStream(a.token);
    const second = openaiStream(b.token);
    await until(() => first.seen() >= 3 && second.seen() >= 3);
    expect((await gw.admin('POST', '/admin/v1/teams/other/revoke', { reason: 'offboarded' })).status).toBe(200);
    expect((await first.done).ended).toBe('error');
    expect((await second.done).ended).toBe('error');
    expect((await lineOf(a.sessionId)).outcome).toBe('revoked');
  }, 20_000);
});
