// Session tokens: short-lived JWTs (typ `at+jwt`, RFC 9068) naming the agent (`sub`) and the
// session (`sid`), with the delegation chain in `act` (RFC 8693 §4.1: the outermost `act` is the
// current actor's delegator, nested ones earlier delegators). Verification pins the algorithm,
// issuer, audience and type (RFC 8725). A token that verified once is remembered until it expires,
// so the hot path does not repeat the signature check (the cache is keyed by the exact string).
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { GatewayError } from '../errors/index.js';
import { newId } from '../util/ids.js';
import { TOKEN_ALG, type KeyRing } from './keys.js';

export const TOKEN_TYPE = 'at+jwt';
/** JWTs longer than this are refused before any parsing. */
const MAX_TOKEN_LENGTH = 8192;
const CACHE_LIMIT = 50_000;

/** One link of the delegation chain: who delegated, from which session. */
export interface ActorClaim {
  sub: string;
  sid: string;
  act?: ActorClaim;
}

export interface TokenClaims {
  /** Agent id. */
  sub: string;
  /** Session id. */
  sid: string;
  jti: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
  iat: number;
  scope?: string;
  act?: ActorClaim;
}

export interface TokenSettings {
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

export interface IssueInput {
  agentId: string;
  sessionId: string;
  sessionExpiresAt: number;
  scope: string[];
  act?: ActorClaim;
}

/**
 * Why a presented credential is not a session token: a client secret or an admin or operator
 * token sent where a session token belongs gets a pointer to what to do instead.
 */
function malformedToken(token: string): string {
  if (token.startsWith('tgs_')) return 'The session token is malformed: this is an agent\'s client secret. Exchange it for a session token at POST /oauth/token (grant_type=client_credentials).';
  if (token.startsWith('tga_') || token.startsWith('tgo_')) return 'The session token is malformed: this is an admin or operator token, for the admin API. Open a session (POST /admin/v1/sessions) and use its token.';
  return 'The session token is malformed.';
}

export class TokenService {
  private readonly verified = new Map<string, { claims: TokenClaims; kid: string; exp: number }>();

  constructor(
    private readonly keys: KeyRing,
    readonly settings: TokenSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** Issues a session token that never outlives `sessionExpiresAt` (ms). */
  async issue(input: IssueInput): Promise<{ token: string; claims: TokenClaims }> {
    const { kid, privateKey } = this.keys.signingKey();
    const iat = Math.floor(this.now() / 1000);
    const exp = Math.min(iat + this.settings.ttlSeconds, Math.floor(input.sessionExpiresAt / 1000));
    const claims: TokenClaims = { sub: input.agentId, sid: input.sessionId, jti: newId('tok'), iat, exp, scope: input.scope.join(' '), ...(input.act ? { act: input.act } : {}) };
    const token = await new SignJWT({ sid: claims.sid, scope: claims.scope, ...(claims.act ? { act: claims.act } : {}) })
      .setProtectedHeader({ alg: TOKEN_ALG, typ: TOKEN_TYPE, kid })
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setSubject(claims.sub)
      .setJti(claims.jti)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(privateKey);
    return { token, claims };
  }

  /**
   * Verifies a presented token; throws 401-class GatewayErrors with a precise reason. With
   * `allowExpired`, an expired token whose signature, issuer and audience hold still verifies:
   * only for what takes power away (its holder closing its own session, RFC 7009), never to call.
   */
  async verify(token: string, options?: { allowExpired?: boolean }): Promise<TokenClaims> {
    if (options?.allowExpired) {
      if (token.length > MAX_TOKEN_LENGTH) throw new GatewayError('invalid_token', 'The session token is too long.');
      return (await this.verifyAt(token, Math.min(this.now(), expiryOf(token)))).claims;
    }
    const cached = this.verified.get(token);
    if (cached) {
      if (cached.exp * 1000 <= this.now()) {
        this.verified.delete(token);
        throw new GatewayError('token_expired');
      }
      // The signing key may have been retired past its overlap since: then the token goes too.
      if (this.keys.publicKey(cached.kid)) return cached.claims;
      this.verified.delete(token);
      throw new GatewayError('invalid_token', 'The session token was not signed by a known key.');
    }
    const claims = await this.verifyAt(token, this.now());
    if (this.verified.size >= CACHE_LIMIT) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, { claims: claims.claims, kid: claims.kid, exp: claims.claims.exp });
    return claims.claims;
  }

  /** The signature, issuer, audience and claims of `token`, judged at time `at` (ms). */
  private async verifyAt(token: string, at: number): Promise<{ claims: TokenClaims; kid: string }> {
    if (token.length > MAX_TOKEN_LENGTH) throw new GatewayError('invalid_token', 'The session token is too long.');
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      throw new GatewayError('invalid_token', malformedToken(token));
    }
    const key = kid ? this.keys.publicKey(kid) : undefined;
    if (!key) throw new GatewayError('invalid_token', 'The session token was not signed by a known key.');
    let claims: TokenClaims;
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: [TOKEN_ALG],
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        typ: TOKEN_TYPE,
        requiredClaims: ['sub', 'sid', 'jti', 'exp', 'iat'],
        currentDate: new Date(at),
      });
      if (typeof payload.sid !== 'string') throw new GatewayError('invalid_token', 'The session token names no session.');
      claims = {
        sub: payload.sub!,
        sid: payload.sid,
        jti: payload.jti!,
        exp: payload.exp!,
        iat: payload.iat!,
        scope: typeof payload.scope === 'string' ? payload.scope : undefined,
        act: typeof payload.act === 'object' && payload.act !== null ? (payload.act as ActorClaim) : undefined,
      };
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new GatewayError('token_expired');
      if (err instanceof joseErrors.JWTClaimValidationFailed) throw new GatewayError('invalid_token', `The session token's "${err.claim}" claim is invalid.`);
      throw new GatewayError('invalid_token');
    }
    return { claims, kid: kid! };
  }

}

/** When to judge a token that may have expired: just before its expiry (its `exp`, read unverified; the signature is checked after). */
function expiryOf(token: string): number {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === 'number' ? exp * 1000 - 1 : 0;
  } catch {
    throw new GatewayError('invalid_token', malformedToken(token));
  }
}
