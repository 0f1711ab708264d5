// Dashboard sign-in by OpenID Connect against a small identity provider (test/helpers/oidc-issuer.ts: jose signs
// its ID tokens; no network beyond loopback): authorization code + PKCE, the ID token verified
// against the provider's JWKS, groups mapped to roles, the dashboard token working on the admin
// API with that role, and each way a sign-in must fail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roleForGroups } from '../../src/identity/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { TestIssuer } from '../helpers/oidc-issuer.js';

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

  it('refuses a name from the provider that is another operator\'s id, the bootstrap admin\'s, or no operator name at all', async () => {
    const made = (await gw.admin('POST', '/admin/v1/operators', { name: 'root-ops@example.com', role: 'admin' })).body;
    const id = made.id as string;
    for (const email of [id, 'admin', 'Admin', '<b>x y</b>']) {
      issuer.user = { sub: `u-${email}`, email, groups: ['tollgate-viewers'] };
      const location = await signIn();
      expect(tokenOf(location), email).toBeNull();
      expect(errorOf(location), email).toMatch(/cannot name an operator/);
    }
    // The operator whose id was tried is untouched, and no operator was made of those names.
    const operators = (await gw.admin('GET', '/admin/v1/operators')).body.data as { id: string; name: string; role: string }[];
    expect(operators.find((o) => o.id === id)).toMatchObject({ name: 'root-ops@example.com', role: 'admin' });
    expect(operators.map((o) => o.name)).not.toContain('<b>x y</b>');
    expect(operators.filter((o) => o.name === 'admin' && o.id !== 'bootstrap')).toHaveLength(0);
    // An operator may not be created with a name shaped like an id either.
    expect((await gw.admin('POST', '/admin/v1/operators', { name: 'op_0123456789abcdef', role: 'viewer' })).status).toBe(400);
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
