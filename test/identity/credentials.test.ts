// Agent credentials and the client_credentials grant, through real HTTP and the openai client.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { ACCESS_TOKEN, decodeJwt, TOKEN_EXCHANGE, tokenRequest } from '../helpers/oauth.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => {
  await gw.close();
});

const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });

describe('client secrets and client_credentials', () => {
  it('issues a secret once, lists it without the secret, and exchanges it for a working session token', async () => {
    const issued = await gw.admin('POST', '/admin/v1/agents/demo-agent/secrets', {});
    expect(issued.status).toBe(201);
    const { client_id, client_secret } = issued.body;
    expect(client_id).toMatch(/^agt_/);
    expect(client_secret).toMatch(/^tgs_cred_/);
    const listed = await gw.admin('GET', '/admin/v1/agents/demo-agent/secrets');
    expect(JSON.stringify(listed.body)).not.toContain(client_secret.split('.')[1]);
    expect(listed.body.data[0]).toMatchObject({ id: issued.body.id, status: 'active', last_used_at: null });

    const res = await tokenRequest(gw.url, { grant_type: 'client_credentials', task: 'nightly triage', budget_usd: '0.25', scope: 'gpt-4o-mini' }, basic(client_id, client_secret));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toMatchObject({ issued_token_type: ACCESS_TOKEN, token_type: 'Bearer', scope: 'gpt-4o-mini', session_id: expect.stringMatching(/^ses_/) });
    expect(res.body.expires_in).toBeGreaterThan(800);
    expect(res.body.expires_in).toBeLessThanOrEqual(900);
    const claims = decodeJwt(res.body.access_token);
    expect(claims).toMatchObject({ sub: client_id, sid: res.body.session_id, aud: 'tollgate', iss: 'tollgate' });

    const openai = new OpenAI({ apiKey: res.body.access_token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const session = await gw.session(res.body.session_id);
    expect(session).toMatchObject({ task: 'nightly triage', budget: { usd: 0.25 }, models: ['gpt-4o-mini'], spent: { requests: 1 } });
    const used = (await gw.admin('GET', '/admin/v1/agents/demo-agent/secrets')).body.data[0];
    expect(used.last_used_from).toBe('127.0.0.1');
  });

  it('accepts credentials in the body too, and keeps two secrets working for rotation', async () => {
    const a = (await gw.admin('POST', '/admin/v1/agents/demo-agent/secrets', {})).body;
    const b = (await gw.admin('POST', '/admin/v1/agents/demo-agent/secrets', {})).body;
    for (const s of [a, b]) {
      const res = await tokenRequest(gw.url, { grant_type: 'client_credentials', task: 't', client_id: s.client_id, client_secret: s.client_secret });
      expect(res.status).toBe(200);
    }
    await gw.admin('POST', `/admin/v1/agents/demo-agent/secrets/${a.id}/revoke`, { reason: 'rotated' });
    expect((await tokenRequest(gw.url, { grant_type: 'client_credentials', task: 't' }, basic(a.client_id, a.client_secret))).status).toBe(401);
    expect((await tokenRequest(gw.url, { grant_type: 'client_credentials', task: 't' }, basic(b.client_id, b.client_secret))).status).toBe(200);
  });

  it('refuses wrong, tampered, expired secrets as invalid_client (401), and never issues anything', async () => {
    const s = (await gw.admin('POST', '/admin/v1/agents/demo-agent/secrets', { expires_in_seconds: 1 })).body;
    const wrong = await tokenRequest(gw.url, { grant_type: 'client_credentials', task: 't' }, basic(s.client_id, `${s.client_secret.slice(0, -2)}xx`));
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_client');
    expect(wrong.headers.get('www-authenticate')).toContain('Basic');
    expect(wrong.body.access_token).toBeUndefined();
    expect((await tokenRequest(gw.url, { grant_type: 'client_credentials', task: 't' }, basic('agt_other', s.client_secret))).status).toBe(401);
    expect((await tokenRequest(gw.url, { grant_type: 'client_credentials', task: 't' }, basic(s.client_id, 'garbage'))).status).toBe(401);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await tokenRequest(gw.url, { grant_type: 'client_credentials', task: 't' }, basic(s.client_id, s.client_secret))).body.error).toBe('invalid_client');
    const denied = await gw.admin('GET', '/admin/v1/audit/events?type=token.denied');
    expect(denied.body.data.length).toBeGreaterThanOrEqual(4);
    expect(JSON.stringify(denied.body)).not.toContain(s.client_secret);
  });

  it('answers malformed requests with RFC 6749 errors', async () => {
    const s = (await gw.admin('POST', '/admin/v1/agents/demo-agent/secrets', {})).body;
    expect((await tokenRequest(gw.url, {})).body.error).toBe('invalid_request');
    // Regression: a malformed percent-escape in Basic credentials was a 500.
    const malformed = await tokenRequest(gw.url, { grant_type: 'client_credentials', task: 't' }, { authorization: `Basic ${Buffer.from('%E0:x').toString('base64')}` });
    expect(malformed.status).toBe(401);
    expect(malformed.body.error).toBe('invalid_client');
    expect((await tokenRequest(gw.url, { grant_type: 'password' })).body.error).toBe('unsupported_grant_type');
    expect((await tokenRequest(gw.url, { grant_type: 'client_credentials' }, basic(s.client_id, s.client_secret))).body.error).toBe('invalid_request'); // no task
    const json = await fetch(`${gw.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type":"client_credentials"}' });
    expect(json.status).toBe(400);
    const repeated = await fetch(`${gw.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&grant_type=password' });
    expect(((await repeated.json()) as { error: string }).error).toBe('invalid_request');
    const tooBig = await tokenRequest(gw.url, { grant_type: 'client_credentials', task: 't', budget_usd: '999' }, basic(s.client_id, s.client_secret));
    expect(tooBig.body.error).toBe('invalid_request');
    expect(tooBig.body.error_description).toContain('maximum');
    const badScope = await tokenRequest(gw.url, { grant_type: 'client_credentials', task: 't', scope: 'gpt-5-ultra' }, basic(s.client_id, s.client_secret));
    expect(badScope.status).toBe(400);
    // RFC 6749 §5.2: a scope beyond what was granted is invalid_scope.
    expect(badScope.body).toMatchObject({ error: 'invalid_scope', error_description: expect.stringContaining('gpt-5-ultra') });
  });

  it('refreshes a token for the same session by exchanging the current one', async () => {
    const { token, sessionId } = await gw.openSession();
    const res = await tokenRequest(gw.url, { grant_type: TOKEN_EXCHANGE, subject_token: token, subject_token_type: ACCESS_TOKEN });
    expect(res.status).toBe(200);
    expect(res.body.session_id).toBe(sessionId);
    expect(decodeJwt(res.body.access_token).jti).not.toBe(decodeJwt(token).jti);
  });
});

describe('suspension, revocation and closing', () => {
  it('a suspended agent gets no tokens and its calls are refused; resuming restores it', async () => {
    await gw.admin('POST', '/admin/v1/agents', { name: 'pausable', team: 'demo', profile: 'assistant' });
    const s = (await gw.admin('POST', '/admin/v1/agents/pausable/secrets', {})).body;
    const { token } = await gw.openSession({ agent: 'pausable' });
    const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    expect((await gw.admin('POST', '/admin/v1/agents/pausable/suspend', { reason: 'investigating' })).body.status).toBe('suspended');
    const refused = (await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(refused.status).toBe(401);
    expect(refused.code).toBe('agent_inactive');
    expect((await tokenRequest(gw.url, { grant_type: 'client_credentials', task: 't' }, basic(s.client_id, s.client_secret))).body.error).toBe('unauthorized_client');
    // Regression: a suspended agent could still refresh its token and delegate its budget away.
    const refresh = await tokenRequest(gw.url, { grant_type: TOKEN_EXCHANGE, subject_token: token, subject_token_type: ACCESS_TOKEN });
    expect(refresh.body.error).toBe('invalid_grant');
    const handOff = await tokenRequest(gw.url, { grant_type: TOKEN_EXCHANGE, subject_token: token, subject_token_type: ACCESS_TOKEN, agent: 'demo-agent', task: 'launder' });
    expect(handOff.body.error).toBe('invalid_grant');
    await gw.admin('POST', '/admin/v1/agents/pausable/resume', {});
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const events = (await gw.admin('GET', '/admin/v1/audit/events?agent=pausable')).body.data.map((e: { type: string }) => e.type);
    expect(events).toEqual(expect.arrayContaining(['agent.suspended', 'agent.resumed']));
  });

  it('revoking a secret keeps the sessions it opened (rotation); with end_sessions, a leak\'s revocation ends them and refuses their tokens', async () => {
    await gw.admin('POST', '/admin/v1/agents', { name: 'leaky', team: 'demo', profile: 'assistant' });
    const issue = async () => (await gw.admin('POST', '/admin/v1/agents/leaky/secrets', {})).body;
    const sessionFrom = async (secret: { client_id: string; client_secret: string }) =>
      (await tokenRequest(gw.url, { grant_type: 'client_credentials', task: 't' }, basic(secret.client_id, secret.client_secret))).body as { access_token: string; session_id: string };
    const call = (token: string) => new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 }).chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).then(() => 200, (e: InstanceType<typeof OpenAI.APIError>) => e.status);

    const rotated = await issue();
    const kept = await sessionFrom(rotated);
    const plain = await gw.admin('POST', `/admin/v1/agents/leaky/secrets/${rotated.id}/revoke`, { reason: 'rotation' });
    expect(plain.body).toMatchObject({ status: 'revoked', sessions_ended: [] });
    expect(await call(kept.access_token)).toBe(200);

    const leaked = await issue();
    const suspect = await sessionFrom(leaked);
    const res = await gw.admin('POST', `/admin/v1/agents/leaky/secrets/${leaked.id}/revoke`, { reason: 'leaked', end_sessions: true });
    expect(res.status).toBe(200);
    expect(res.body.sessions_ended.sort()).toEqual([kept.session_id, suspect.session_id].sort());
    expect(await call(suspect.access_token)).toBe(401);
    const refresh = await tokenRequest(gw.url, { grant_type: TOKEN_EXCHANGE, subject_token: suspect.access_token, subject_token_type: ACCESS_TOKEN });
    expect(refresh.body.error).toBe('invalid_grant');
    const [event] = (await gw.admin('GET', '/admin/v1/audit/events?agent=leaky&type=credential.revoked')).body.data;
    expect(event.data).toMatchObject({ credential: leaked.id, reason: 'leaked' });
    expect(event.data.sessions_ended).toHaveLength(2);
  });

  it('revoking an agent ends its sessions at once and for good', async () => {
    await gw.admin('POST', '/admin/v1/agents', { name: 'doomed', team: 'demo', profile: 'assistant' });
    const one = await gw.openSession({ agent: 'doomed' });
    const two = await gw.openSession({ agent: 'doomed' });
    const res = await gw.admin('POST', '/admin/v1/agents/doomed/revoke', { reason: 'credential leaked' });
    expect(res.body.sessions_ended.sort()).toEqual([one.sessionId, two.sessionId].sort());
    for (const s of [one, two]) {
      const r = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${s.token}` } });
      expect(r.status).toBe(401);
    }
    expect((await gw.admin('POST', '/admin/v1/agents/doomed/resume', {})).status).toBe(409);
    const [event] = (await gw.admin('GET', '/admin/v1/audit/events?type=agent.revoked')).body.data;
    expect(event).toMatchObject({ actor: 'admin', data: { reason: 'credential leaked' } });
  });

  it('revokes one token by jti on the very next request, leaving the session\'s other tokens alone', async () => {
    const { token } = await gw.openSession();
    const other = (await tokenRequest(gw.url, { grant_type: TOKEN_EXCHANGE, subject_token: token, subject_token_type: ACCESS_TOKEN })).body.access_token as string;
    const models = (t: string) => fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${t}` } });
    expect((await models(token)).status).toBe(200);
    expect((await gw.admin('POST', '/admin/v1/tokens/abc/revoke', {})).status).toBe(400); // not a token id: a typo
    await gw.admin('POST', `/admin/v1/tokens/${decodeJwt(token).jti}/revoke`, { reason: 'leaked in a log' });
    const refused = await models(token);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('token_revoked');
    expect((await models(other)).status).toBe(200);
  });

  it('an agent closes its own session with RFC 7009 revocation; closed sessions refuse calls', async () => {
    const { token, sessionId } = await gw.openSession();
    const res = await fetch(`${gw.url}/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${token}` });
    expect(res.status).toBe(200);
    expect((await gw.session(sessionId)).status).toBe('closed');
    expect((await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    // RFC 7009 §2.2: an invalid token also gets 200.
    expect((await fetch(`${gw.url}/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=nonsense' })).status).toBe(200);
  });

  it('records every refused credential as an auth.denied audit event, without the credential', async () => {
    const before = (await gw.admin('GET', '/admin/v1/audit/events?type=auth.denied&limit=1000')).body.data.length;
    await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer forged.token.here', 'content-type': 'application/json' }, body: '{}' });
    const events = (await gw.admin('GET', '/admin/v1/audit/events?type=auth.denied&limit=1000')).body.data;
    expect(events.length).toBe(before + 1);
    expect(events[0]).toMatchObject({ actor: 'anonymous', data: { code: 'invalid_token', source: '127.0.0.1' } });
    expect(JSON.stringify(events[0])).not.toContain('forged.token.here');
  });

  it('flags one session token used from two source addresses at once as shared', async () => {
    const { request } = await import('node:http');
    const { token, sessionId } = await gw.openSession();
    for (const localAddress of ['127.0.0.1', '127.0.0.2']) {
      // Two workloads on one host: the same token from two source addresses.
      const status = await new Promise<number | undefined>((resolve, reject) => {
        request(`${gw.url}/v1/models`, { localAddress, headers: { authorization: `Bearer ${token}` } }, (res) => {
          res.resume();
          resolve(res.statusCode);
        }).on('error', reject).end();
      });
      expect(status).toBe(200);
    }
    const [event] = (await gw.admin('GET', `/admin/v1/audit/events?type=credential.shared&session=${sessionId}`)).body.data;
    expect(event.data.sources.sort()).toEqual(['127.0.0.1', '127.0.0.2']);
  });
});

describe('RFC 7009 revocation by the token\'s holder', () => {
  const revoke = (url: string, token: string) => fetch(`${url}/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }).toString() });

  it('closes the session with an expired token, and a suspended session; never with a revoked token or a forged one', async () => {
    let shift = 0;
    const clocked = await startGateway({ tokens: { ttl_seconds: 60 } }, {}, () => Date.now() + shift);
    try {
      // Idle past its token's lifetime (the session lives on): the expired token still closes it.
      const idle = await clocked.openSession({ ttl_seconds: 3600 });
      shift += 120_000;
      expect((await fetch(`${clocked.url}/v1/models`, { headers: { authorization: `Bearer ${idle.token}` } })).status).toBe(401);
      expect((await revoke(clocked.url, idle.token)).status).toBe(200);
      expect((await clocked.session(idle.sessionId)).status).toBe('closed');

      const held = await clocked.openSession({ ttl_seconds: 3600 });
      await clocked.admin('POST', `/admin/v1/sessions/${held.sessionId}/suspend`, { reason: 'looking into it' });
      expect((await revoke(clocked.url, held.token)).status).toBe(200);
      expect((await clocked.session(held.sessionId)).status).toBe('closed');

      // A token the operator revoked (leaked) cannot be used to end its session.
      const leaked = await clocked.openSession({ ttl_seconds: 3600 });
      await clocked.admin('POST', `/admin/v1/tokens/${decodeJwt(leaked.token).jti}/revoke`, { reason: 'leaked' });
      expect((await revoke(clocked.url, leaked.token)).status).toBe(200);
      expect((await clocked.session(leaked.sessionId)).status).toBe('active');
      // Nor once it has expired (the revocation is remembered past the token's expiry).
      shift += 120_000;
      expect((await revoke(clocked.url, leaked.token)).status).toBe(200);
      expect((await clocked.session(leaked.sessionId)).status).toBe('active');
      // Nor a token whose signature does not hold.
      const [head] = leaked.token.split('.');
      const other = await clocked.openSession({ ttl_seconds: 3600 });
      const forged = `${head}.${Buffer.from(JSON.stringify({ ...decodeJwt(leaked.token), sid: other.sessionId })).toString('base64url')}.${leaked.token.split('.')[2]}`;
      expect((await revoke(clocked.url, forged)).status).toBe(200);
      expect((await clocked.session(other.sessionId)).status).toBe('active');
    } finally {
      await clocked.close();
    }
  });

  it('a suspended session refreshes its token by rotation: the token exchanged is revoked, so one holder\'s line goes on', async () => {
    const gw2 = await startGateway();
    try {
      const { token, sessionId } = await gw2.openSession();
      await gw2.admin('POST', `/admin/v1/sessions/${sessionId}/suspend`, { reason: 'looking into it' });
      const refresh = (subject: string) => tokenRequest(gw2.url, { grant_type: TOKEN_EXCHANGE, subject_token: subject, subject_token_type: ACCESS_TOKEN });
      const fresh = await refresh(token);
      expect(fresh.status).toBe(200);
      expect(fresh.body).toMatchObject({ session_id: sessionId, session_expires_in: expect.any(Number) });
      // The copy exchanged (a thief's, or the agent's own) is spent.
      const again = await refresh(token);
      expect(again.body).toMatchObject({ error: 'invalid_grant', tollgate_code: 'token_revoked' });
      const newest = await refresh(fresh.body.access_token as string);
      expect(newest.status).toBe(200);
      // Delegating from a suspended session is still refused.
      const child = await tokenRequest(gw2.url, { grant_type: TOKEN_EXCHANGE, subject_token: newest.body.access_token as string, subject_token_type: ACCESS_TOKEN, task: 'sub-task' });
      expect(child.body).toMatchObject({ error: 'invalid_grant', tollgate_code: 'session_suspended' });
    } finally {
      await gw2.close();
    }
  });
});
