// The issuers' key sets, verified without a gateway on a clock the tests move: a JWKS (or JWKS
// file) is loaded again once older than jwks_max_age_seconds, a withdrawn key stops verifying,
// a set that cannot be loaded again is not trusted (fail closed), failed fetches and unknown kids
// retry at most once per cooldown; every key that cannot verify its token is an invalid_token.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { federationIssuerSchema } from '../../src/config/schema.js';
import { GatewayError } from '../../src/errors/index.js';
import { FederationVerifier } from '../../src/identity/index.js';

let server: Server;
let url: string;
/** What the JWKS endpoint answers; `status` other than 200 answers an error. */
const issuer = { status: 200, keys: [] as JWK[], hits: 0, delayMs: 0 };
let key1: CryptoKey;
let jwk1: JWK;
let key2: CryptoKey;
let jwk2: JWK;
let dir: string;
let clock: number;
const now = () => clock;
let warnings: string[];
const logger = { warn: (_obj: unknown, msg?: string) => void warnings.push(msg ?? '') };

beforeAll(async () => {
  const a = await generateKeyPair('ES256');
  const b = await generateKeyPair('ES256');
  key1 = a.privateKey;
  jwk1 = { ...(await exportJWK(a.publicKey)), kid: 'k1' };
  key2 = b.privateKey;
  jwk2 = { ...(await exportJWK(b.publicKey)), kid: 'k2' };
  server = createServer((_req, res) => {
    issuer.hits++;
    setTimeout(() => {
      res.writeHead(issuer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: issuer.keys }));
    }, issuer.delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/keys`;
  dir = mkdtempSync(join(tmpdir(), 'tollgate-jwks-'));
});
afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  Object.assign(issuer, { status: 200, keys: [jwk1], hits: 0, delayMs: 0 });
  clock = Date.now();
  warnings = [];
});

function verifier(source: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const config = federationIssuerSchema.parse({
    name: 'mesh', kind: 'spiffe', issuer: 'https://mesh.test', trust_domain: 'mesh.org',
    subjects: [{ match: 'spiffe://mesh.org/ns/prod/sa/*', agent: 'worker' }], ...source, ...extra,
  });
  return new FederationVerifier([config], 'tollgate', dir, { logger, now });
}

/** A token valid for a day of the test's clock. */
function token(kid: string, key: CryptoKey, alg = 'ES256') {
  const iat = Math.floor(clock / 1000);
  return new SignJWT({}).setProtectedHeader({ alg, kid }).setIssuer('https://mesh.test').setSubject('spiffe://mesh.org/ns/prod/sa/w1')
    .setAudience('tollgate').setIssuedAt(iat).setExpirationTime(iat + 86_400).sign(key);
}

async function refusal(p: Promise<unknown>): Promise<GatewayError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(GatewayError);
  return err as GatewayError;
}

const advance = (seconds: number) => void (clock += seconds * 1000);

describe('federation: issuer key sets', () => {
  it('a key withdrawn from the JWKS verifies until the set is jwks_max_age_seconds old, then no more', async () => {
    const v = verifier({ jwks_url: url }); // defaults: max age 300 s, cooldown 30 s
    expect((await v.verify(await token('k1', key1))).agent).toBe('worker');
    expect(issuer.hits).toBe(1);
    issuer.keys = [jwk2]; // k1 withdrawn (say, compromised), k2 in its place
    advance(299);
    expect((await v.verify(await token('k1', key1))).agent).toBe('worker'); // cached: younger than the max age
    expect(issuer.hits).toBe(1);
    advance(1);
    const err = await refusal(v.verify(await token('k1', key1)));
    expect(err).toMatchObject({ code: 'invalid_token', message: 'no key "k1" in the issuer\'s JWKS' });
    expect(issuer.hits).toBe(2);
    expect((await v.verify(await token('k2', key2))).agent).toBe('worker'); // from the new set
    expect(issuer.hits).toBe(2);
  });

  it('refetches past the maximum age without waiting for the unknown-kid cooldown', async () => {
    const v = verifier({ jwks_url: url }, { jwks_max_age_seconds: 5, jwks_cooldown_seconds: 60 });
    await v.verify(await token('k1', key1));
    issuer.keys = [];
    advance(5);
    await refusal(v.verify(await token('k1', key1)));
    expect(issuer.hits).toBe(2);
  });

  it('past the maximum age, a JWKS that cannot be fetched is not trusted (fail closed); retried at most once per cooldown', async () => {
    const v = verifier({ jwks_url: url }, { jwks_max_age_seconds: 60, jwks_cooldown_seconds: 10 });
    await v.verify(await token('k1', key1));
    issuer.status = 503;
    advance(59);
    await v.verify(await token('k1', key1)); // not stale yet: no fetch
    expect(issuer.hits).toBe(1);
    advance(1);
    const err = await refusal(v.verify(await token('k1', key1)));
    expect(err).toMatchObject({ code: 'invalid_token', message: 'the issuer\'s keys are older than jwks_max_age_seconds and could not be loaded again: JWKS fetch failed: HTTP 503' });
    expect(issuer.hits).toBe(2);
    expect(warnings).toEqual(['federation: the issuer\'s JWKS could not be loaded']);
    advance(9);
    await refusal(v.verify(await token('k1', key1))); // within the cooldown: refused without a fetch
    expect(issuer.hits).toBe(2);
    issuer.status = 200;
    advance(1);
    expect((await v.verify(await token('k1', key1))).agent).toBe('worker');
    expect(issuer.hits).toBe(3);
  });

  it('an issuer that cannot be reached is refused with a short reason, the detail logged', async () => {
    const v = verifier({ jwks_url: 'http://127.0.0.1:9/keys' });
    expect((await refusal(v.verify(await token('k1', key1)))).message).toBe('the issuer\'s keys could not be loaded: JWKS fetch failed: the issuer could not be reached');
    expect(warnings).toEqual(['federation: the issuer\'s JWKS could not be loaded']);
  });

  it('a JWKS that is not a JWK Set counts as a failed fetch', async () => {
    issuer.keys = undefined as unknown as JWK[];
    const v = verifier({ jwks_url: url });
    const err = await refusal(v.verify(await token('k1', key1)));
    expect(err.message).toBe('the issuer\'s keys could not be loaded: not a JWK Set (no "keys" array)');
  });

  it('an unknown kid, and a failed first fetch, fetch again at most once per cooldown', async () => {
    issuer.status = 500;
    const v = verifier({ jwks_url: url }, { jwks_cooldown_seconds: 30 });
    expect((await refusal(v.verify(await token('k1', key1)))).message).toBe('the issuer\'s keys could not be loaded: JWKS fetch failed: HTTP 500');
    await refusal(v.verify(await token('k1', key1)));
    expect(issuer.hits).toBe(1);
    issuer.status = 200;
    advance(30);
    await v.verify(await token('k1', key1));
    expect(issuer.hits).toBe(2);
    advance(30);
    await refusal(v.verify(await token('k2', key2))); // unknown: fetched, still unknown
    expect(issuer.hits).toBe(3);
    issuer.keys = [jwk1, jwk2];
    await refusal(v.verify(await token('k2', key2))); // within the cooldown
    expect(issuer.hits).toBe(3);
    advance(30);
    await v.verify(await token('k2', key2));
    expect(issuer.hits).toBe(4);
  });

  it('verifications waiting on a stale set share one fetch', async () => {
    const v = verifier({ jwks_url: url });
    issuer.delayMs = 50;
    const t = await token('k1', key1);
    await Promise.all([v.verify(t), v.verify(t), v.verify(t)]);
    expect(issuer.hits).toBe(1);
    advance(300);
    await Promise.all([v.verify(t), v.verify(t), v.verify(t)]);
    expect(issuer.hits).toBe(2);
  });

  it('a jwks_file is read again once older than jwks_max_age_seconds; one that cannot be read is not trusted', async () => {
    const file = join(dir, 'bundle.json');
    writeFileSync(file, JSON.stringify({ keys: [{ ...jwk1, use: 'jwt-svid' }] }));
    const v = verifier({ jwks_file: 'bundle.json' }, { jwks_max_age_seconds: 60 });
    await v.verify(await token('k1', key1));
    writeFileSync(file, JSON.stringify({ keys: [jwk2] }));
    advance(59);
    await v.verify(await token('k1', key1));
    advance(1);
    expect((await refusal(v.verify(await token('k1', key1)))).message).toBe('no key "k1" in the issuer\'s JWKS');
    await v.verify(await token('k2', key2));
    writeFileSync(file, '{ not json');
    advance(60);
    expect((await refusal(v.verify(await token('k2', key2)))).message).toBe('the issuer\'s keys are older than jwks_max_age_seconds and could not be loaded again: not a JWK Set (not JSON)');
    rmSync(file);
    advance(30); // the cooldown
    expect((await refusal(v.verify(await token('k2', key2)))).message).toBe('the issuer\'s keys are older than jwks_max_age_seconds and could not be loaded again: the JWKS file could not be read (ENOENT)');
  });

  it('a subject that is not a string is refused', async () => {
    const v = verifier({ jwks: { keys: [jwk1] } });
    const iat = Math.floor(clock / 1000);
    const t = await new SignJWT({ sub: 42 } as never).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://mesh.test')
      .setAudience('tollgate').setIssuedAt(iat).setExpirationTime(iat + 60).sign(key1);
    expect(await refusal(v.verify(t))).toMatchObject({ code: 'invalid_token', message: 'the workload token\'s "sub" claim is invalid' });
  });

  it('inline jwks never go stale', async () => {
    const v = verifier({ jwks: { keys: [jwk1] } }, { jwks_max_age_seconds: 1 });
    await v.verify(await token('k1', key1));
    advance(86_000);
    expect((await v.verify(await token('k1', key1))).agent).toBe('worker');
  });

  it('every key that cannot verify its token is an invalid_token refusal, never an error of its own', async () => {
    const rsa = await generateKeyPair('RS256');
    const pss = await generateKeyPair('PS256');
    const p384 = await generateKeyPair('ES384');
    const ed = await generateKeyPair('EdDSA');
    issuer.keys = [
      jwk1, // P-256, no alg
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa' },
      { ...(await exportJWK(ed.publicKey)), kid: 'ed' },
      { kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA', kid: 'oct' },
      { kty: 'EC', crv: 'P-256', y: jwk1.y, kid: 'no-x' }, // malformed
    ];
    const v = verifier({ jwks_url: url });
    const mismatch = 'the token\'s algorithm does not match its key';
    const cases: [string, string, string][] = [
      ['RS256 on a P-256 key', await token('k1', rsa.privateKey, 'RS256'), mismatch],
      ['PS256 on a P-256 key', await token('k1', pss.privateKey, 'PS256'), mismatch],
      ['ES384 on a P-256 key', await token('k1', p384.privateKey, 'ES384'), mismatch],
      ['EdDSA on a P-256 key', await token('k1', ed.privateKey, 'EdDSA'), mismatch],
      ['ES256 on an RSA key', await token('rsa', key1), mismatch],
      ['ES256 on an Ed25519 key', await token('ed', key1), mismatch],
      ['RS256 on a symmetric key', await token('oct', rsa.privateKey, 'RS256'), mismatch],
      ['a malformed key', await token('no-x', key1), 'the issuer\'s key "no-x" is not a usable ES256 key'],
    ];
    for (const [name, t, message] of cases) {
      const err = await refusal(v.verify(t));
      expect({ code: err.code, message: err.message }, name).toEqual({ code: 'invalid_token', message });
    }
    expect(warnings).toEqual(['federation: a key of the issuer\'s JWKS could not be imported']);
    // The keys that fit still verify.
    expect((await v.verify(await token('rsa', rsa.privateKey, 'RS256'))).agent).toBe('worker');
    expect((await v.verify(await token('ed', ed.privateKey, 'EdDSA'))).agent).toBe('worker');
  });
});
