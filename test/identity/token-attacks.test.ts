// Every way a session token can be bad → 401 with a precise reason and an auth.denied audit event.
import { importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import { createHmac, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MasterKey } from '../../src/identity/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { decodeJwt } from '../helpers/oauth.js';

let gw: TestGateway;
let good: string;
let key: CryptoKey;
let kid: string;
let publicJwk: JWK;

beforeAll(async () => {
  gw = await startGateway();
  good = (await gw.openSession()).token;
  kid = JSON.parse(Buffer.from(good.split('.')[0]!, 'base64url').toString()).kid;
  const stored = (await gw.gateway.store.listSigningKeys()).find((k) => k.kid === kid)!;
  key = (await importJWK(JSON.parse(MasterKey.fromEnvOrDataDir(gw.dataDir, {}).decrypt(stored.privateJwk)) as JWK, 'EdDSA')) as CryptoKey;
  publicJwk = JSON.parse(stored.publicJwk) as JWK;
});
afterAll(async () => {
  await gw.close();
});

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

async function signed(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) {
  const base = decodeJwt(good);
  return new SignJWT({ ...base, jti: `tok_${randomUUID().replaceAll('-', '')}`, ...claims }).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid, ...header }).sign(key);
}

async function attempt(token: string) {
  const res = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, code: ((await res.json()) as { error: { code: string; message: string } }).error };
}

describe('session token attacks', () => {
  it('refuses each with 401, a clear reason, and one audit event each', async () => {
    const now = Math.floor(Date.now() / 1000);
    const [h, p] = good.split('.') as [string, string];
    // HS256 "signed" with the public key as the HMAC secret (algorithm confusion).
    const confusedInput = `${b64({ alg: 'HS256', typ: 'at+jwt', kid })}.${p}`;
    const confused = `${confusedInput}.${createHmac('sha256', JSON.stringify(publicJwk)).update(confusedInput).digest('base64url')}`;
    const revokedToken = await signed();
    await gw.admin('POST', `/admin/v1/tokens/${decodeJwt(revokedToken).jti}/revoke`, {});
    const cases: [string, string, string][] = [
      ['alg none', `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${p}.`, 'invalid_token'],
      ['algorithm confusion (HS256 with the public key)', confused, 'invalid_token'],
      ['tampered payload', `${h}.${b64({ ...decodeJwt(good), sub: 'agt_someone_else' })}.${good.split('.')[2]}`, 'invalid_token'],
      ['wrong audience', await signed({ aud: 'another-service' }), 'invalid_token'],
      ['wrong issuer', await signed({ iss: 'https://evil.example' }), 'invalid_token'],
      ['expired', await signed({ exp: now - 10, iat: now - 100 }), 'token_expired'],
      ['not yet valid', await signed({ nbf: now + 3600 }), 'invalid_token'],
      ['unknown kid', await signed({}, { kid: 'not-a-key' }), 'invalid_token'],
      ['missing kid', await signed({}, { kid: undefined }), 'invalid_token'],
      ['wrong typ', await signed({}, { typ: 'JWT' }), 'invalid_token'],
      ['no sid', await signed({ sid: undefined }), 'invalid_token'],
      ['oversized', `${h}.${b64({ pad: 'x'.repeat(9000) })}.sig`, 'invalid_token'],
      ['malformed', 'a.b', 'invalid_token'],
      ['replayed revoked jti', revokedToken, 'token_revoked'],
    ];
    const before = (await gw.admin('GET', '/admin/v1/audit/events?type=auth.denied&limit=1000')).body.data.length;
    for (const [name, token, code] of cases) {
      const r = await attempt(token);
      expect(r.status, name).toBe(401);
      expect(r.code.code, name).toBe(code);
    }
    const events = (await gw.admin('GET', '/admin/v1/audit/events?type=auth.denied&limit=1000')).body.data;
    expect(events.length - before).toBe(cases.length);
    expect((await attempt(good)).status).toBe(200); // the real token still works
  });
});
