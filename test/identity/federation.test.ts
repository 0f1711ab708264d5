// Workload identity federation: a test issuer serving its JWKS on loopback (standing in for SPIRE)
// and a CI-style OIDC issuer; tokens exchanged for session tokens, every bad token refused.
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { decodeJwt, delegate, JWT, TOKEN_EXCHANGE, tokenRequest } from '../helpers/oauth.js';

let gw: TestGateway;
let jwksServer: Server;
let jwksHits = 0;
let spireKey: CryptoKey;
const jwks: { keys: JWK[] } = { keys: [] };
let ciKey: CryptoKey;
// A second issuer whose JWKS expires after a second (jwks_max_age_seconds) and can be taken down.
let meshKey: CryptoKey;
const meshJwks: { keys: JWK[] } = { keys: [] };
let meshHits = 0;
let meshDown = false;

beforeAll(async () => {
  const spire = await generateKeyPair('ES256');
  spireKey = spire.privateKey;
  jwks.keys.push({ ...(await exportJWK(spire.publicKey)), kid: 'spire-1', use: 'jwt-svid' });
  const mesh = await generateKeyPair('ES256');
  meshKey = mesh.privateKey;
  meshJwks.keys.push({ ...(await exportJWK(mesh.publicKey)), kid: 'mesh-1', alg: 'ES256' });
  jwksServer = createServer((req, res) => {
    if (req.url === '/mesh') {
      meshHits++;
      res.writeHead(meshDown ? 503 : 200, { 'content-type': 'application/json' });
      res.end(meshDown ? '{}' : JSON.stringify(meshJwks));
      return;
    }
    jwksHits++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(jwks));
  });
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  const port = (jwksServer.address() as { port: number }).port;
  const ci = await generateKeyPair('RS256');
  ciKey = ci.privateKey;
  gw = await startGateway({
    profiles: [
      { name: 'assistant', models: ['gpt-4o-mini'] },
      { name: 'strict', models: ['gpt-4o-mini'], require_actor_token: true },
    ],
    agents: [
      { name: 'demo-agent', team: 'demo', profile: 'assistant' },
      { name: 'triage-bot', team: 'demo', profile: 'assistant', environment: 'prod' },
      { name: 'deployer', team: 'demo', profile: 'assistant' },
      { name: 'verified-worker', team: 'demo', profile: 'strict', environment: 'prod' },
    ],
    federation: {
      issuers: [
        {
          name: 'spire', kind: 'spiffe', issuer: 'https://spire.test', jwks_url: `http://127.0.0.1:${port}/keys`, trust_domain: 'example.org', jwks_cooldown_seconds: 1,
          subjects: [
            { match: 'spiffe://example.org/ns/prod/sa/triage', agent: 'triage-bot' },
            { match: 'spiffe://example.org/ns/prod/sa/worker-*', agent: 'verified-worker' },
            { match: 'spiffe://example.org/ns/dev/sa/*', agent: 'demo-agent' },
          ],
        },
        {
          name: 'ci', kind: 'oidc', issuer: 'https://ci.test', jwks: { keys: [{ ...(await exportJWK(ci.publicKey)), kid: 'ci-1', alg: 'RS256' }] },
          required_claims: { repository_id: '4242' },
          subjects: [{ match: 'repo:acme/app:ref:refs/heads/main', agent: 'deployer' }, { match: 'repo:acme/app:environment:*', agent: 'deployer' }],
        },
        {
          name: 'mesh', kind: 'spiffe', issuer: 'https://mesh.test', jwks_url: `http://127.0.0.1:${port}/mesh`, trust_domain: 'mesh.org',
          jwks_max_age_seconds: 1, jwks_cooldown_seconds: 0.3, subjects: [{ match: 'spiffe://mesh.org/ns/prod/sa/triage', agent: 'triage-bot' }],
        },
      ],
    },
  });
});
afterAll(async () => {
  await gw.close();
  jwksServer.close();
});

function svid(over: { sub?: string; aud?: string | string[]; exp?: number; iat?: number; iss?: string; kid?: string; key?: CryptoKey; alg?: string } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: over.alg ?? 'ES256', kid: over.kid ?? 'spire-1', typ: 'JWT' })
    .setIssuer(over.iss ?? 'https://spire.test')
    .setSubject(over.sub ?? 'spiffe://example.org/ns/prod/sa/triage')
    .setAudience(over.aud ?? 'tollgate')
    .setIssuedAt(over.iat ?? now)
    .setExpirationTime(over.exp ?? now + 300)
    .sign(over.key ?? spireKey);
}

const exchange = async (subjectToken: string, extra: Record<string, string> = {}) =>
  tokenRequest(gw.url, { grant_type: TOKEN_EXCHANGE, subject_token: subjectToken, subject_token_type: JWT, task: 'federated work', ...extra });

describe('workload identity federation', () => {
  it('exchanges a SPIFFE JWT-SVID for a session token of the mapped agent, without any static secret', async () => {
    const res = await exchange(await svid());
    expect(res.status).toBe(200);
    const triage = (await gw.admin('GET', '/admin/v1/agents/triage-bot')).body;
    expect(decodeJwt(res.body.access_token).sub).toBe(triage.id);
    const session = await gw.session(res.body.session_id);
    expect(session.context).toMatchObject({ federated_subject: 'spiffe://example.org/ns/prod/sa/triage', federated_issuer: 'https://spire.test', environment: 'prod' });
    const models = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${res.body.access_token}` } });
    expect(models.status).toBe(200);
  });

  it('accepts a CI OIDC token only with the pinned repository', async () => {
    const now = Math.floor(Date.now() / 1000);
    const ci = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'ci-1' }).setIssuer('https://ci.test')
      .setSubject('repo:acme/app:ref:refs/heads/main').setAudience('tollgate').setExpirationTime(now + 60).sign(ciKey);
    expect((await exchange(await ci({ repository_id: '4242' }))).status).toBe(200);
    const other = await exchange(await ci({ repository_id: '9999' }));
    expect(other.body.error).toBe('invalid_grant');
  });

  it('refuses every bad workload token with invalid_grant and records why', async () => {
    const { privateKey: hsLike } = await generateKeyPair('ES256');
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string][] = [
      ['wrong audience', await svid({ aud: 'someone-else' })],
      ['expired', await svid({ exp: now - 60 })],
      ['untrusted issuer', await svid({ iss: 'https://evil.test' })],
      ['other trust domain', await svid({ sub: 'spiffe://evil.org/ns/prod/sa/triage' })],
      ['unmapped subject', await svid({ sub: 'spiffe://example.org/ns/prod/sa/unknown' })],
      ['forged signature', await svid({ key: hsLike })],
      ['unknown kid', await svid({ kid: 'nope' })],
      ['HS256', await new SignJWT({}).setProtectedHeader({ alg: 'HS256', kid: 'spire-1' }).setIssuer('https://spire.test').setSubject('spiffe://example.org/ns/prod/sa/triage').setAudience('tollgate').setExpirationTime(now + 60).sign(new TextEncoder().encode('x'.repeat(32)))],
      ['alg none', `${Buffer.from(JSON.stringify({ alg: 'none', kid: 'spire-1' })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss: 'https://spire.test', sub: 'spiffe://example.org/ns/prod/sa/triage', aud: 'tollgate', exp: now + 60 })).toString('base64url')}.`],
      ['garbage', 'not-a-jwt'],
    ];
    for (const [name, token] of cases) {
      const res = await exchange(token);
      expect(res.status, name).toBe(400);
      expect(res.body.error, name).toBe('invalid_grant');
      expect(res.body.access_token, name).toBeUndefined();
    }
    const denied = (await gw.admin('GET', '/admin/v1/audit/events?type=token.denied&limit=50')).body.data;
    expect(denied.length).toBeGreaterThanOrEqual(cases.length);
  });

  it('fetches the JWKS again when a new kid appears (issuer key rotation), at most once per cooldown', async () => {
    await new Promise((r) => setTimeout(r, 1100)); // past the cooldown of earlier fetches
    const rotated = generateKeyPair('ES256');
    const { privateKey, publicKey } = await rotated;
    const hits = jwksHits;
    expect((await exchange(await svid({ kid: 'spire-2', key: privateKey }))).status).toBe(400); // not published yet: one fetch
    expect(jwksHits).toBe(hits + 1);
    jwks.keys.push({ ...(await exportJWK(publicKey)), kid: 'spire-2', use: 'jwt-svid' });
    expect((await exchange(await svid({ kid: 'spire-2', key: privateKey }))).status).toBe(400); // within the cooldown: no fetch
    expect(jwksHits).toBe(hits + 1);
    await new Promise((r) => setTimeout(r, 1100));
    const accepted = await exchange(await svid({ kid: 'spire-2', key: privateKey }));
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
    expect(jwksHits).toBe(hits + 2);
    expect((await exchange(await svid())).status).toBe(200); // the old key still works, from cache
    expect(jwksHits).toBe(hits + 2);
  });

  it('refuses a token whose algorithm does not match its key with invalid_grant, not a server error', async () => {
    // spire-1 is a P-256 key without "alg": the header's alg alone picks how it is imported.
    const cases: [string, string][] = [
      ['RS256 on an EC key', await svid({ alg: 'RS256', key: (await generateKeyPair('RS256')).privateKey })],
      ['ES384 on a P-256 key', await svid({ alg: 'ES384', key: (await generateKeyPair('ES384')).privateKey })],
      ['EdDSA on an EC key', await svid({ alg: 'EdDSA', key: (await generateKeyPair('EdDSA')).privateKey })],
      ['ES256 on an RSA key with alg RS256', await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'ci-1' }).setIssuer('https://ci.test')
        .setSubject('repo:acme/app:ref:refs/heads/main').setAudience('tollgate').setExpirationTime(Math.floor(Date.now() / 1000) + 60).sign((await generateKeyPair('ES256')).privateKey)],
    ];
    for (const [name, token] of cases) {
      const res = await exchange(token);
      expect(res.status, name).toBe(400);
      expect(res.body, name).toEqual({ error: 'invalid_grant', error_description: 'the token\'s algorithm does not match its key', tollgate_code: 'invalid_token' });
    }
  });

  it('holds required_claims to exactly their value: the string, or a number written the same, never an array or object', async () => {
    const now = Math.floor(Date.now() / 1000);
    const ci = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'ci-1' }).setIssuer('https://ci.test')
      .setSubject('repo:acme/app:ref:refs/heads/main').setAudience('tollgate').setExpirationTime(now + 60).sign(ciKey);
    expect((await exchange(await ci({ repository_id: 4242 }))).status).toBe(200);
    for (const value of [['4242'], [4242], { id: '4242' }, true, null, '4242 ', 4242.5]) {
      const res = await exchange(await ci({ repository_id: value }));
      expect(res.status, JSON.stringify(value)).toBe(400);
      expect(res.body, JSON.stringify(value)).toEqual({ error: 'invalid_grant', error_description: 'the workload token\'s "repository_id" claim does not match', tollgate_code: 'invalid_token' });
    }
  });

  it('lets * in a subject stand for one or more characters of one segment, never an empty one, and refuses malformed SPIFFE IDs', async () => {
    expect((await exchange(await svid({ sub: 'spiffe://example.org/ns/dev/sa/builder' }))).status).toBe(200);
    for (const sub of ['spiffe://example.org/ns/dev/sa/', 'spiffe://example.org/ns/dev/sa/..', 'spiffe://example.org/ns/dev/sa/.', 'spiffe://example.org/ns/dev/sa/a/b', 'spiffe://example.org/ns/prod/sa/worker-']) {
      const res = await exchange(await svid({ sub }));
      expect(res.status, sub).toBe(400);
      expect(res.body.error, sub).toBe('invalid_grant');
    }
    const now = Math.floor(Date.now() / 1000);
    const ci = (sub: string) => new SignJWT({ repository_id: '4242' }).setProtectedHeader({ alg: 'RS256', kid: 'ci-1' }).setIssuer('https://ci.test')
      .setSubject(sub).setAudience('tollgate').setExpirationTime(now + 60).sign(ciKey);
    expect((await exchange(await ci('repo:acme/app:environment:production'))).status).toBe(200);
    const empty = await exchange(await ci('repo:acme/app:environment:'));
    expect(empty.body).toEqual({ error: 'invalid_grant', error_description: 'no agent is mapped to this workload identity', tollgate_code: 'invalid_token' });
  });

  it('refuses a token issued in the future beyond the clock skew allowed on exp and nbf (5 s)', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect((await exchange(await svid({ iat: now + 3 }))).status).toBe(200);
    const future = await exchange(await svid({ iat: now + 60 }));
    expect(future.status).toBe(400);
    expect(future.body).toEqual({ error: 'invalid_grant', error_description: 'the workload token\'s "iat" claim is in the future', tollgate_code: 'invalid_token' });
  });

  it('stops trusting a key removed from the JWKS once the set is older than jwks_max_age_seconds, and refuses while the JWKS cannot be fetched', async () => {
    const meshToken = () => svid({ iss: 'https://mesh.test', kid: 'mesh-1', key: meshKey, sub: 'spiffe://mesh.org/ns/prod/sa/triage' });
    expect((await exchange(await meshToken())).status).toBe(200);
    const hits = meshHits;
    const published = meshJwks.keys.splice(0); // the issuer withdraws its key
    await new Promise((r) => setTimeout(r, 1100));
    const withdrawn = await exchange(await meshToken());
    expect(withdrawn.body).toEqual({ error: 'invalid_grant', error_description: 'no key "mesh-1" in the issuer\'s JWKS', tollgate_code: 'invalid_token' });
    expect(meshHits).toBe(hits + 1);

    meshJwks.keys.push(...published);
    meshDown = true;
    await new Promise((r) => setTimeout(r, 1100));
    const down = await exchange(await meshToken());
    expect(down.status).toBe(400);
    expect(down.body.error).toBe('invalid_grant');
    expect(down.body.error_description).toBe('the issuer\'s keys are older than jwks_max_age_seconds and could not be loaded again: JWKS fetch failed: HTTP 503');
    expect(meshHits).toBe(hits + 2);
    meshDown = false;
    await new Promise((r) => setTimeout(r, 350)); // past the cooldown of the failed fetch
    expect((await exchange(await meshToken())).status).toBe(200);
    expect(meshHits).toBe(hits + 3);
  });

  it('requires a child of a strict profile to prove itself with an actor token', async () => {
    const parent = (await exchange(await svid())).body.access_token as string;
    const withoutProof = await delegate(gw.url, parent, { agent: 'verified-worker', task: 'sub-task' });
    expect(withoutProof.body.error).toBe('invalid_request');
    const wrongProof = await delegate(gw.url, parent, { agent: 'verified-worker', task: 'sub-task', actor_token: await svid(), actor_token_type: JWT });
    expect(wrongProof.body.error).toBe('invalid_grant');
    const proof = await svid({ sub: 'spiffe://example.org/ns/prod/sa/worker-7' });
    const ok = await delegate(gw.url, parent, { agent: 'verified-worker', task: 'sub-task', actor_token: proof, actor_token_type: JWT });
    expect(ok.status).toBe(200);
  });
});
