// Dashboard sign-in by OpenID Connect against a small identity provider written here (jose signs
// its ID tokens; no network beyond loopback): authorization code + PKCE, the ID token verified
// against the provider's JWKS, groups mapped to roles, the dashboard token working on the admin
// API with that role, and each way a sign-in must fail.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roleForGroups } from '../../src/identity/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

interface User { sub: string; email: string; groups: string[] }

/** A minimal OIDC provider: discovery, JWKS, an authorize endpoint that signs the given user straight in, and a token endpoint that checks PKCE. */
class TestIssuer {
  server!: Server;
  url!: string;
  private key!: CryptoKey;
  private jwk!: JWK;
  user: User = { sub: 'u-1', email: 'ana@example.com', groups: ['tollgate-approvers'] };
  /** What the next ID token gets wrong, if anything. */
  tamper: { audience?: string; nonce?: string; otherKey?: boolean } = {};
  private readonly codes = new Map<string, { challenge: string; nonce: string; redirectUri: string; clientId: string }>();
  readonly tokenRequests: Record<string, string>[] = [];

  async start(): Promise<void> {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    this.key = privateKey;
    this.jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    this.server = createServer((req, res) => void this.handle(req.url ?? '/', req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  private async handle(path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(path, this.url);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(200, { issuer: this.url, authorization_endpoint: `${this.url}/authorize`, token_endpoint: `${this.url}/token`, jwks_uri: `${this.url}/jwks`, response_types_supported: ['code'], code_challenge_methods_supported: ['S256'] });
    }
    if (url.pathname === '/jwks') return json(200, { keys: [this.jwk] });
    if (url.pathname === '/authorize') {
      const q = url.searchParams;
      expect(q.get('response_type')).toBe('code');
      expect(q.get('code_challenge_method')).toBe('S256');
      const code = randomBytes(16).toString('hex');
      this.codes.set(code, { challenge: q.get('code_challenge')!, nonce: q.get('nonce')!, redirectUri: q.get('redirect_uri')!, clientId: q.get('client_id')! });
      res.writeHead(302, { location: `${q.get('redirect_uri')}?${new URLSearchParams({ code, state: q.get('state')! }).toString()}` });
      return void res.end();
    }
    if (url.pathname === '/token') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const form = Object.fromEntries(new URLSearchParams(body));
      this.tokenRequests.push({ ...form, authorization: req.headers.authorization ?? '' });
      const grant = this.codes.get(form.code ?? '');
      this.codes.delete(form.code ?? '');
      const verifierOk = grant && createHash('sha256').update(form.code_verifier ?? '').digest('base64url') === grant.challenge;
      if (!grant || !verifierOk || form.redirect_uri !== grant.redirectUri) return json(400, { error: 'invalid_grant' });
      const signer = this.tamper.otherKey ? (await generateKeyPair('ES256')).privateKey : this.key;
      const idToken = await new SignJWT({ email: this.user.email, groups: this.user.groups, nonce: this.tamper.nonce ?? grant.nonce })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(this.url).setSubject(this.user.sub).setAudience(this.tamper.audience ?? grant.clientId)
        .setIssuedAt().setExpirationTime('5m').sign(signer);
      return json(200, { access_token: 'at', token_type: 'Bearer', id_token: idToken, expires_in: 300 });
    }
    json(404, { error: 'not_found' });
  }
}

let issuer: TestIssuer;
let gw: TestGateway;

beforeAll(async () => {
  issuer = new TestIssuer();
  await issuer.start();
  gw = await startGateway(
    {
      admin: { oidc: { issuer: issuer.url, client_id: 'tollgate-dashboard', client_secret_env: 'OIDC_SECRET', role_mapping: { 'tollgate-viewers': 'viewer', 'tollgate-approvers': 'approver', 'platform-admins': 'admin' } } },
    },
    { OIDC_SECRET: 'dashboard-client-secret' },
  );
});
afterAll(async () => {
  await gw?.close();
  issuer?.server.close();
});

/** Walks the browser's redirects: gateway login → provider authorize → gateway callback; answers where the callback sent the browser. */
async function signIn(): Promise<string> {
  const start = await fetch(`${gw.url}/admin/oidc/login`, { redirect: 'manual' });
  expect(start.status).toBe(302);
  const authorize = start.headers.get('location')!;
  expect(authorize.startsWith(`${issuer.url}/authorize?`)).toBe(true);
  const back = await fetch(authorize, { redirect: 'manual' });
  const callback = back.headers.get('location')!;
  expect(callback.startsWith(`${gw.url}/admin/oidc/callback?`)).toBe(true);
  const done = await fetch(callback, { redirect: 'manual' });
  expect(done.status).toBe(302);
  expect(done.headers.get('set-cookie')).toBeNull();
  return done.headers.get('location')!;
}

const tokenOf = (location: string) => new URLSearchParams(location.split('#')[1]).get('token');
const errorOf = (location: string) => new URLSearchParams(location.split('#')[1]).get('sign_in_error');

describe('OIDC dashboard sign-in', () => {
  it('says it is on, and where sign-in starts', async () => {
    expect(await (await fetch(`${gw.url}/admin/oidc/config`)).json()).toEqual({ enabled: true, login_url: '/admin/oidc/login' });
  });

  it('signs a user in with code + PKCE, maps their group to a role, and the token works on the admin API with that role', async () => {
    issuer.user = { sub: 'u-1', email: 'ana@example.com', groups: ['tollgate-approvers', 'unrelated'] };
    const location = await signIn();
    expect(location.startsWith('/ui/#token=tgd_')).toBe(true);
    const token = tokenOf(location)!;
    // The confidential client authenticated, and sent the PKCE verifier.
    const sent = issuer.tokenRequests.at(-1)!;
    expect(sent.authorization).toBe(`Basic ${Buffer.from('tollgate-dashboard:dashboard-client-secret').toString('base64')}`);
    expect(sent.code_verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await gw.admin('GET', '/admin/v1/whoami', undefined, token)).body).toMatchObject({ name: 'ana@example.com', role: 'approver', via: 'oidc' });
    expect((await gw.admin('GET', '/admin/v1/agents', undefined, token)).status).toBe(200);
    expect((await gw.admin('POST', '/admin/v1/agents/demo-agent/suspend', {}, token)).status).toBe(403);
    const [event] = (await gw.admin('GET', '/admin/v1/audit/events?type=operator.signed_in')).body.data;
    expect(event).toMatchObject({ actor: 'operator:ana@example.com', data: { via: 'oidc', subject: 'u-1', operator: { name: 'ana@example.com', role: 'approver' } } });
    // The operator exists now, without a token of its own; disabling it ends the dashboard sign-in.
    const listed = (await gw.admin('GET', '/admin/v1/operators')).body.data.find((o: { name: string }) => o.name === 'ana@example.com');
    expect(listed).toMatchObject({ sign_in: 'oidc', status: 'active' });
    await gw.admin('POST', '/admin/v1/operators/ana@example.com/disable', {});
    expect((await gw.admin('GET', '/admin/v1/agents', undefined, token)).status).toBe(401);
  });

  it('gives the highest role of the user\'s groups', async () => {
    expect(roleForGroups(['tollgate-viewers', 'platform-admins'], { 'tollgate-viewers': 'viewer', 'platform-admins': 'admin' })).toBe('admin');
    issuer.user = { sub: 'u-2', email: 'bo@example.com', groups: ['tollgate-viewers', 'platform-admins'] };
    const token = tokenOf(await signIn())!;
    expect((await gw.admin('GET', '/admin/v1/whoami', undefined, token)).body.role).toBe('admin');
    // A tampered dashboard token is refused.
    expect((await gw.admin('GET', '/admin/v1/whoami', undefined, `${token.slice(0, -3)}AAA`)).status).toBe(401);
  });

  it('refuses a user in no mapped group, an ID token for another audience, with the wrong nonce or signed by another key, and a replayed state', async () => {
    issuer.user = { sub: 'u-3', email: 'eve@example.com', groups: ['everyone'] };
    expect(errorOf(await signIn())).toMatch(/no group that maps to an operator role/);
    issuer.user = { sub: 'u-4', email: 'mal@example.com', groups: ['platform-admins'] };
    for (const [tamper, why] of [[{ audience: 'another-app' }, /"aud" claim/], [{ nonce: 'replayed' }, /nonce/], [{ otherKey: true }, /failed verification/]] as const) {
      issuer.tamper = tamper;
      const location = await signIn();
      expect(tokenOf(location)).toBeNull();
      expect(errorOf(location)).toMatch(why);
    }
    issuer.tamper = {};
    // A callback's state is good once.
    const start = await fetch(`${gw.url}/admin/oidc/login`, { redirect: 'manual' });
    const callback = (await fetch(start.headers.get('location')!, { redirect: 'manual' })).headers.get('location')!;
    expect(tokenOf((await fetch(callback, { redirect: 'manual' })).headers.get('location')!)).toMatch(/^tgd_/);
    expect(errorOf((await fetch(callback, { redirect: 'manual' })).headers.get('location')!)).toMatch(/unknown or has expired/);
    expect((await gw.admin('GET', '/admin/v1/operators')).body.data.map((o: { name: string }) => o.name)).not.toContain('eve@example.com');
  });

  it('is off unless configured', async () => {
    const plain = await startGateway();
    try {
      expect(await (await fetch(`${plain.url}/admin/oidc/config`)).json()).toEqual({ enabled: false });
      expect((await fetch(`${plain.url}/admin/oidc/login`, { redirect: 'manual' })).status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});
