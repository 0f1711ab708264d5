// Dashboard sign-in through the organisation's OpenID Connect provider: authorization code flow
// with PKCE (RFC 7636, S256) and a nonce, the ID token verified with `jose` against the issuer's
// JWKS (asymmetric algorithms only, issuer and audience pinned, expiry required), and the user's
// groups mapped to an operator role (the highest that matches; none: refused).
import { createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { GatewayError } from '../errors/index.js';
import { OPERATOR_ROLES, type OperatorRole } from '../store/index.js';

export interface OidcSettings {
  issuer: string;
  clientId: string;
  /** Confidential clients; PKCE is used either way. */
  clientSecret?: string;
  groupsClaim: string;
  nameClaim: string;
  roleMapping: Record<string, OperatorRole>;
  scopes: string[];
}

/** Who signed in, as the ID token says, and the role their groups map to. */
export interface OidcUser {
  subject: string;
  name: string;
  groups: string[];
  role: OperatorRole;
}

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
}

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const PENDING_TTL_MS = 10 * 60_000;
const MAX_PENDING = 10_000;
const b64url = (bytes: Buffer) => bytes.toString('base64url');

/** The highest role any of the groups maps to, or null. */
export function roleForGroups(groups: readonly string[], mapping: Record<string, OperatorRole>): OperatorRole | null {
  let best = -1;
  for (const g of groups) {
    const role = mapping[g];
    if (role !== undefined) best = Math.max(best, OPERATOR_ROLES.indexOf(role));
  }
  return best < 0 ? null : OPERATOR_ROLES[best]!;
}

export class OidcLogin {
  private discovery: Promise<Discovery> | null = null;
  private jwks: ReturnType<typeof createRemoteJWKSet> | null = null;
  /** Sign-ins under way, by `state`: each used once, within ten minutes. */
  private readonly pending = new Map<string, { verifier: string; nonce: string; redirectUri: string; expiresAt: number }>();

  constructor(
    private readonly settings: OidcSettings,
    private readonly now: () => number = Date.now,
  ) {}

  private discover(): Promise<Discovery> {
    this.discovery ??= (async () => {
      const url = `${this.settings.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new Error(`HTTP ${res.status} from ${url}`);
      const doc = (await res.json()) as Partial<Discovery>;
      // OpenID Connect Discovery §4.3: the document's issuer must be the one configured.
      if (doc.issuer !== this.settings.issuer) throw new Error(`the discovery document names issuer "${doc.issuer}", not "${this.settings.issuer}"`);
      if (!doc.authorization_endpoint || !doc.token_endpoint || !doc.jwks_uri) throw new Error('the discovery document lacks an endpoint');
      this.jwks = createRemoteJWKSet(new URL(doc.jwks_uri));
      return doc as Discovery;
    })().catch((err: unknown) => {
      this.discovery = null;
      throw new GatewayError('upstream_unavailable', `The identity provider could not be reached: ${(err as Error).message}`);
    });
    return this.discovery;
  }

  /** Starts a sign-in: the URL to send the browser to. */
  async start(redirectUri: string): Promise<string> {
    const d = await this.discover();
    const now = this.now();
    for (const [state, p] of this.pending) if (p.expiresAt <= now) this.pending.delete(state);
    if (this.pending.size >= MAX_PENDING) throw new GatewayError('rate_limited', 'Too many sign-ins under way; try again shortly.', { headers: { 'retry-after': '60' } });
    const state = b64url(randomBytes(24));
    const verifier = b64url(randomBytes(32));
    const nonce = b64url(randomBytes(24));
    this.pending.set(state, { verifier, nonce, redirectUri, expiresAt: now + PENDING_TTL_MS });
    const url = new URL(d.authorization_endpoint);
    url.search = new URLSearchParams({
      response_type: 'code', client_id: this.settings.clientId, redirect_uri: redirectUri, scope: this.settings.scopes.join(' '),
      state, nonce, code_challenge: b64url(createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256',
    }).toString();
    return url.toString();
  }

  /** Finishes a sign-in: the code exchanged (with the PKCE verifier), the ID token verified, the role mapped. */
  async finish(code: string, state: string): Promise<OidcUser> {
    const pending = this.pending.get(state);
    this.pending.delete(state);
    if (!pending || pending.expiresAt <= this.now()) throw new GatewayError('invalid_request', 'This sign-in is unknown or has expired: start again.');
    const d = await this.discover();
    const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: pending.redirectUri, client_id: this.settings.clientId, code_verifier: pending.verifier });
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if (this.settings.clientSecret) {
      const enc = (v: string) => encodeURIComponent(v);
      headers.authorization = `Basic ${Buffer.from(`${enc(this.settings.clientId)}:${enc(this.settings.clientSecret)}`).toString('base64')}`;
    }
    const res = await fetch(d.token_endpoint, { method: 'POST', headers, body: form.toString(), signal: AbortSignal.timeout(5000) }).catch((err: unknown) => {
      throw new GatewayError('upstream_unavailable', `The identity provider could not be reached: ${(err as Error).message}`);
    });
    const body = (await res.json().catch(() => ({}))) as { id_token?: unknown; error?: unknown };
    if (!res.ok || typeof body.id_token !== 'string') throw new GatewayError('unauthenticated', `The identity provider refused the sign-in${typeof body.error === 'string' ? ` (${body.error})` : ''}.`);
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(body.id_token, this.jwks!, {
        issuer: this.settings.issuer, audience: this.settings.clientId, algorithms: ALGORITHMS, requiredClaims: ['sub', 'exp', 'iat'], clockTolerance: 5,
      }));
    } catch (err) {
      const why = err instanceof joseErrors.JWTClaimValidationFailed ? `its "${err.claim}" claim is invalid` : err instanceof joseErrors.JWTExpired ? 'it has expired' : 'it failed verification';
      throw new GatewayError('unauthenticated', `The ID token was refused: ${why}.`);
    }
    if (claims.nonce !== pending.nonce) throw new GatewayError('unauthenticated', 'The ID token was refused: its "nonce" does not match this sign-in.');
    const rawGroups = claims[this.settings.groupsClaim];
    const groups = Array.isArray(rawGroups) ? rawGroups.filter((g): g is string => typeof g === 'string') : typeof rawGroups === 'string' ? [rawGroups] : [];
    const named = claims[this.settings.nameClaim];
    const name = typeof named === 'string' && named !== '' ? named : claims.sub!;
    const role = roleForGroups(groups, this.settings.roleMapping);
    if (!role) throw new GatewayError('forbidden', `${name} is in no group that maps to an operator role (admin.oidc.role_mapping).`);
    return { subject: claims.sub!, name, groups, role };
  }
}
