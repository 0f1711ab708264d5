// Authentication attacks, one test each: every way a session token can be bad is refused with
// 401 and a precise reason (and one auth.denied audit event each); tokens cannot widen their
// scope by delegation, cross into another session's resources, or cross between the data plane
// and the admin plane.
import { exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import { createHmac, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MasterKey } from '../../src/identity/index.js';
import { ADMIN_TOKEN, startGateway, type TestGateway } from '../helpers/gateway.js';
import { decodeJwt, delegate, tokenRequest } from '../helpers/oauth.js';

let gw: TestGateway;
let good: string;
let key: CryptoKey;
let kid: string;
let publicJwk: JWK;
let attacker: { privateKey: CryptoKey; jwk: JWK };

beforeAll(async () => {
  gw = await startGateway({
    agents: [
      { name: 'demo-agent', team: 'demo', profile: 'assistant', owner: 'you@example.com', environment: 'dev' },
      { name: 'helper-agent', team: 'demo', profile: 'assistant', owner: 'you@example.com', environment: 'dev' },
    ],
  });
  good = (await gw.openSession()).token;
  kid = JSON.parse(Buffer.from(good.split('.')[0]!, 'base64url').toString()).kid;
  const stored = (await gw.gateway.store.listSigningKeys()).find((k) => k.kid === kid)!;
  key = (await importJWK(JSON.parse(MasterKey.fromEnvOrDataDir(gw.dataDir, {}).decrypt(stored.privateJwk)) as JWK, 'EdDSA')) as CryptoKey;
  publicJwk = JSON.parse(stored.publicJwk) as JWK;
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  attacker = { privateKey: pair.privateKey, jwk: await exportJWK(pair.publicKey) };
});
afterAll(async () => {
  await gw.close();
});

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** The good token's claims with a fresh jti and `claims` over them, signed by `signer` (the gateway's own key by default). */
async function signed(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, signer: CryptoKey = key) {
  const base = decodeJwt(good);
  return new SignJWT({ ...base, jti: `tok_${randomUUID().replaceAll('-', '')}`, ...claims }).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid, ...header }).sign(signer);
}

async function attempt(token: string, headers: Record<string, string> = { authorization: `Bearer ${token}` }) {
  const res = await fetch(`${gw.url}/v1/models`, { headers });
  return { status: res.status, error: ((await res.json()) as { error: { code: string; message: string } }).error };
}

type Case = [name: string, token: () => Promise<string> | string, code: string];

const now = () => Math.floor(Date.now() / 1000);

const cases: Case[] = [
  ['alg none', () => `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${good.split('.')[1]}.`, 'invalid_token'],
  ['alg NONE (case trick)', () => `${b64({ alg: 'NONE', typ: 'at+jwt', kid })}.${good.split('.')[1]}.`, 'invalid_token'],
  ['algorithm confusion: HS256 keyed with the public JWK', () => {
    const input = `${b64({ alg: 'HS256', typ: 'at+jwt', kid })}.${good.split('.')[1]}`;
    return `${input}.${createHmac('sha256', JSON.stringify(publicJwk)).update(input).digest('base64url')}`;
  }, 'invalid_token'],
  ['algorithm confusion: HS256 keyed with the raw public key', () => {
    const input = `${b64({ alg: 'HS256', typ: 'at+jwt', kid })}.${good.split('.')[1]}`;
    return `${input}.${createHmac('sha256', Buffer.from(publicJwk.x!, 'base64url')).update(input).digest('base64url')}`;
  }, 'invalid_token'],
  ['forged: re-signed by another key under the real kid', () => signed({}, {}, attacker.privateKey), 'invalid_token'],
  ['forged: the attacker\'s key embedded in the header (jwk)', () => signed({}, { jwk: attacker.jwk }, attacker.privateKey), 'invalid_token'],
  ['forged: a key URL in the header (jku) and an unknown kid', () => signed({}, { jku: 'https://evil.example/jwks.json', kid: 'evil' }, attacker.privateKey), 'invalid_token'],
  ['tampered payload (signature of the original)', () => `${good.split('.')[0]}.${b64({ ...decodeJwt(good), sub: 'agt_someone_else' })}.${good.split('.')[2]}`, 'invalid_token'],
  ['signature stripped', () => `${good.split('.')[0]}.${good.split('.')[1]}.`, 'invalid_token'],
  ['wrong audience', () => signed({ aud: 'another-service' }), 'invalid_token'],
  ['audience array smuggling another service first', () => signed({ aud: ['another-service'] }), 'invalid_token'],
  ['wrong issuer', () => signed({ iss: 'https://evil.example' }), 'invalid_token'],
  ['expired', () => signed({ exp: now() - 10, iat: now() - 100 }), 'token_expired'],
  ['exp as a string', () => signed({ exp: String(now() + 600) }), 'invalid_token'],
  ['not yet valid', () => signed({ nbf: now() + 3600 }), 'invalid_token'],
  ['unknown kid', () => signed({}, { kid: 'not-a-key' }), 'invalid_token'],
  ['kid path traversal', () => signed({}, { kid: '../../../../etc/passwd' }), 'invalid_token'],
  ['kid SQL injection', () => signed({}, { kid: "' OR '1'='1" }), 'invalid_token'],
  ['missing kid', () => signed({}, { kid: undefined }), 'invalid_token'],
  ['wrong typ', () => signed({}, { typ: 'JWT' }), 'invalid_token'],
  ['unknown critical header', async () => {
    // jose will not sign one: signed by hand with the gateway's own key.
    const input = `${b64({ alg: 'EdDSA', typ: 'at+jwt', kid, crit: ['x-evil'], 'x-evil': true })}.${b64({ ...decodeJwt(good), jti: `tok_${randomUUID().replaceAll('-', '')}` })}`;
    const signature = Buffer.from(await crypto.subtle.sign('Ed25519', key, new TextEncoder().encode(input))).toString('base64url');
    return `${input}.${signature}`;
  }, 'invalid_token'],
  ['no sid', () => signed({ sid: undefined }), 'invalid_token'],
  ['sid of no session', () => signed({ sid: 'ses_00000000000000000000000000000000' }), 'invalid_token'],
  ['oversized', () => `${good.split('.')[0]}.${b64({ pad: 'x'.repeat(9000) })}.sig`, 'invalid_token'],
  ['malformed', () => 'a.b', 'invalid_token'],
  ['non-ASCII bytes', () => `${good}\u00e9`, 'invalid_token'],
];

describe('session token attacks', () => {
  it.each(cases)('%s → 401', async (_name, make, code) => {
    const r = await attempt(await make());
    expect(r.status).toBe(401);
    expect(r.error.code).toBe(code);
  });

  it('a revoked jti replayed → 401 token_revoked, on every route', async () => {
    const revoked = await signed();
    expect((await attempt(revoked)).status).toBe(200);
    await gw.admin('POST', `/admin/v1/tokens/${decodeJwt(revoked).jti}/revoke`, {});
    expect(await attempt(revoked)).toMatchObject({ status: 401, error: { code: 'token_revoked' } });
    const chat = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${revoked}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(chat.status).toBe(401);
    expect((await delegate(gw.url, revoked, { agent: 'helper-agent', task: 'x' })).status).toBe(400);
  });

  it('each refusal is one auth.denied audit event, and the real token still works', async () => {
    const before = (await gw.admin('GET', '/admin/v1/audit/events?type=auth.denied&limit=1000')).body.data.length;
    for (const [, make] of cases) await attempt(await make());
    const after = (await gw.admin('GET', '/admin/v1/audit/events?type=auth.denied&limit=1000')).body.data.length;
    expect(after - before).toBe(cases.length);
    expect((await attempt(good)).status).toBe(200);
  });
});

describe('planes and sessions', () => {
  it('the admin token is refused on the data plane (Bearer and x-api-key) and at the token endpoint', async () => {
    const asAdmin = await attempt(ADMIN_TOKEN);
    expect(asAdmin.status).toBe(401);
    // The refusal says what the credential is for, never what it is.
    expect(asAdmin.error.message).toContain('admin or operator token');
    expect(asAdmin.error.message).not.toContain(ADMIN_TOKEN);
    expect((await attempt(ADMIN_TOKEN, { 'x-api-key': ADMIN_TOKEN, 'anthropic-version': '2023-06-01' })).status).toBe(401);
    expect((await delegate(gw.url, ADMIN_TOKEN, { agent: 'helper-agent', task: 'x' })).status).toBe(400);
  });

  it('a session token is refused on the admin plane, with or without the admin token\'s prefix', async () => {
    const { token } = await gw.openSession();
    const asSession = await gw.admin('GET', '/admin/v1/teams', undefined, token);
    expect(asSession.status).toBe(401);
    expect(asSession.body.error.message).toContain('not a valid admin or operator token');
    expect((await gw.admin('GET', '/admin/v1/teams', undefined, '')).body.error.message).toContain('Send the admin token');
    expect((await gw.admin('POST', '/admin/v1/sessions', { agent: 'demo-agent', task: 'x' }, token)).status).toBe(401);
    expect((await gw.admin('GET', '/admin/v1/teams', undefined, `tga_${token}`)).status).toBe(401);
    expect((await gw.admin('GET', '/admin/v1/teams', undefined, `${ADMIN_TOKEN}x`)).status).toBe(401);
    expect((await gw.admin('GET', '/admin/v1/teams', undefined, ADMIN_TOKEN.slice(0, -1))).status).toBe(401);
  });

  it('a client secret sent as the key is refused with a pointer to the token endpoint; Anthropic clients are told about x-api-key', async () => {
    const { client_secret: secret } = (await gw.admin('POST', '/admin/v1/agents/demo-agent/secrets', {})).body;
    const asSecret = await attempt(secret);
    expect(asSecret.status).toBe(401);
    expect(asSecret.error.message).toContain('POST /oauth/token');
    expect(asSecret.error.message).not.toContain(secret);
    const bare = await fetch(`${gw.url}/v1/messages`, { method: 'POST', headers: { 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: '{}' });
    expect(bare.status).toBe(401);
    expect(await bare.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error', message: expect.stringContaining('x-api-key') } });
  });

  it('one session\'s token cannot read another session\'s approval', async () => {
    const a = await gw.openSession();
    const b = await gw.openSession();
    const suspended = await gw.admin('POST', `/admin/v1/sessions/${b.sessionId}/suspend`, { reason: 'test' });
    const approvalId = suspended.body.approval_id as string;
    const asA = await fetch(`${gw.url}/agent/v1/approvals/${approvalId}`, { headers: { authorization: `Bearer ${a.token}` } });
    expect(asA.status).toBe(404);
    const asB = await fetch(`${gw.url}/agent/v1/approvals/${approvalId}`, { headers: { authorization: `Bearer ${b.token}` } });
    expect(asB.status).toBe(200);
    // Without a token nothing is told, a malformed id included; with one, a malformed id does not exist.
    for (const id of [approvalId, 'apr_nope']) expect((await fetch(`${gw.url}/agent/v1/approvals/${id}`)).status).toBe(401);
    const malformed = await fetch(`${gw.url}/agent/v1/approvals/apr_nope`, { headers: { authorization: `Bearer ${a.token}` } });
    expect(malformed.status).toBe(404);
    expect(((await malformed.json()) as { error: { message: string } }).error.message).toBe('approval "apr_nope" does not exist');
  });

  it('a child token cannot widen its scope: not at the exchange, not by re-delegating, not by calling', async () => {
    const root = await gw.openSession({ models: ['gpt-4o-mini', 'gpt-4o'], budget: { usd: 0.5 } });
    const wider = await delegate(gw.url, root.token, { agent: 'helper-agent', task: 'x', scope: 'gpt-4o-mini claude-sonnet-4-6' });
    expect(wider.body.error).toBe('invalid_scope');
    const richer = await delegate(gw.url, root.token, { agent: 'helper-agent', task: 'x', budget_usd: '5' });
    expect(richer.status).toBe(400);
    const child = await delegate(gw.url, root.token, { agent: 'helper-agent', task: 'x', scope: 'gpt-4o-mini', budget_usd: '0.1' });
    expect(child.status).toBe(200);
    // The child asks its own child for the model its parent kept back.
    const regrow = await delegate(gw.url, child.body.access_token, { agent: 'demo-agent', task: 'y', scope: 'gpt-4o' });
    expect(regrow.body.error).toBe('invalid_scope');
    const call = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${child.body.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(call.status).toBe(403);
    expect(((await call.json()) as any).error.code).toBe('model_not_allowed');
    // Its scope claim edited to the parent's: the signature no longer holds.
    const [hd, , sig] = (child.body.access_token as string).split('.');
    const edited = `${hd}.${b64({ ...decodeJwt(child.body.access_token), scope: 'gpt-4o-mini gpt-4o' })}.${sig}`;
    expect((await attempt(edited)).status).toBe(401);
  });

  it('client secrets: a wrong secret, or one agent\'s secret under another\'s client id, is 401 invalid_client', async () => {
    const issued = await gw.admin('POST', '/admin/v1/agents/demo-agent/secrets', {});
    expect(issued.status).toBe(201);
    const other = await gw.admin('POST', '/admin/v1/agents/helper-agent/secrets', {});
    const { client_id: clientId, client_secret: secret } = issued.body as { client_id: string; client_secret: string };
    const ok = await tokenRequest(gw.url, { grant_type: 'client_credentials', client_id: clientId, client_secret: secret, task: 't' });
    expect(ok.status).toBe(200);
    const wrong = await tokenRequest(gw.url, { grant_type: 'client_credentials', client_id: clientId, client_secret: `${secret.slice(0, -1)}x`, task: 't' });
    expect(wrong).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const crossed = await tokenRequest(gw.url, { grant_type: 'client_credentials', client_id: other.body.client_id, client_secret: secret, task: 't' });
    expect(crossed).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const admin = await tokenRequest(gw.url, { grant_type: 'client_credentials', client_id: clientId, client_secret: ADMIN_TOKEN, task: 't' });
    expect(admin.status).toBe(401);
  });
});
