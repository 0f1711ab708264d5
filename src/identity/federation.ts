// Workload identity federation: agents prove who they are with a JWT from an issuer the operator
// trusts (a SPIFFE JWT-SVID, a Kubernetes service-account token, a CI OIDC token) instead of a
// static secret. Validation follows RFC 8725 and the SPIFFE JWT-SVID rules: an allow-list of
// asymmetric algorithms, `aud` must name us, `exp` required, issuer pinned, key found by `kid`
// in the issuer's JWKS (cached; fetched again on an unknown `kid`, at most once per cooldown).
import { readFileSync } from 'node:fs';
import { decodeProtectedHeader, errors as joseErrors, importJWK, jwtVerify, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import type { FederationIssuerConfig } from '../config/index.js';
import { GatewayError } from '../errors/index.js';

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'EdDSA'];
const MAX_JWT_LENGTH = 16_384;

class Jwks {
  private keys = new Map<string, JWK>();
  private fetchedAt = 0;

  constructor(
    private readonly source: { url?: string; file?: string; inline?: JWK[] },
    private readonly cooldownMs: number,
  ) {}

  private async refresh(): Promise<void> {
    let set: { keys?: JWK[] };
    if (this.source.inline) set = { keys: this.source.inline };
    else if (this.source.file) set = JSON.parse(readFileSync(this.source.file, 'utf8')) as { keys?: JWK[] };
    else {
      const res = await fetch(this.source.url!, { signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new Error(`JWKS fetch failed: HTTP ${res.status}`);
      set = (await res.json()) as { keys?: JWK[] };
    }
    this.fetchedAt = Date.now();
    this.keys = new Map((set.keys ?? []).filter((k) => typeof k.kid === 'string').map((k) => [k.kid!, k]));
  }

  async key(kid: string, alg: string): Promise<CryptoKey> {
    if (!this.keys.has(kid) && (this.fetchedAt === 0 || Date.now() - this.fetchedAt >= this.cooldownMs)) {
      await this.refresh().catch((err: unknown) => {
        throw new GatewayError('invalid_token', `the issuer's keys could not be loaded: ${(err as Error).message}`);
      });
    }
    const jwk = this.keys.get(kid);
    // SPIFFE bundles mark JWT keys `use: "jwt-svid"`; anything else meant for signing is fine too.
    if (!jwk || (jwk.use !== undefined && jwk.use !== 'sig' && jwk.use !== 'jwt-svid')) throw new GatewayError('invalid_token', `no key "${kid}" in the issuer's JWKS`);
    if (jwk.alg !== undefined && jwk.alg !== alg) throw new GatewayError('invalid_token', 'the token\'s algorithm does not match its key');
    const { use: _use, ...rest } = jwk;
    return (await importJWK(rest, alg)) as CryptoKey;
  }
}

export interface FederatedIdentity {
  issuer: string;
  subject: string;
  /** The agent (id or name) the subject maps to. */
  agent: string;
  claims: JWTPayload;
}

function globMatch(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`);
  return re.test(value);
}

class TrustedIssuer {
  readonly jwks: Jwks;
  readonly algorithms: string[];

  constructor(readonly config: FederationIssuerConfig, configDir: string) {
    this.jwks = new Jwks({
      url: config.jwks_url,
      file: config.jwks_file ? (config.jwks_file.startsWith('/') ? config.jwks_file : `${configDir}/${config.jwks_file}`) : undefined,
      inline: config.jwks?.keys,
    }, config.jwks_cooldown_seconds * 1000);
    this.algorithms = config.algorithms ?? ASYMMETRIC;
  }

  async verify(token: string, audience: string): Promise<FederatedIdentity> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new GatewayError('invalid_token', 'the workload token is malformed');
    }
    if (!header.alg || !this.algorithms.includes(header.alg)) throw new GatewayError('invalid_token', `algorithm "${header.alg}" is not allowed for this issuer`);
    if (!header.kid) throw new GatewayError('invalid_token', 'the workload token has no "kid"');
    const key = await this.jwks.key(header.kid, header.alg);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: this.algorithms,
        issuer: this.config.issuer,
        audience: this.config.audience ?? audience,
        requiredClaims: ['sub', 'exp'],
        clockTolerance: 5,
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new GatewayError('token_expired', 'the workload token has expired');
      if (err instanceof joseErrors.JWTClaimValidationFailed) throw new GatewayError('invalid_token', `the workload token's "${err.claim}" claim is invalid`);
      throw new GatewayError('invalid_token', 'the workload token failed verification');
    }
    const subject = payload.sub!;
    if (this.config.kind === 'spiffe') {
      const td = this.config.trust_domain;
      if (!subject.startsWith('spiffe://') || (td && !subject.startsWith(`spiffe://${td}/`))) throw new GatewayError('invalid_token', 'the SVID\'s subject is not in the trusted SPIFFE trust domain');
    }
    for (const [claim, expected] of Object.entries(this.config.required_claims ?? {})) {
      if (String(payload[claim]) !== expected) throw new GatewayError('invalid_token', `the workload token's "${claim}" claim does not match`);
    }
    const rule = this.config.subjects.find((r) => globMatch(r.match, subject));
    if (!rule) throw new GatewayError('invalid_token', 'no agent is mapped to this workload identity');
    return { issuer: this.config.issuer, subject, agent: rule.agent, claims: payload };
  }
}

export class FederationVerifier {
  private readonly issuers: TrustedIssuer[];

  constructor(configs: FederationIssuerConfig[], private readonly audience: string, configDir = process.cwd()) {
    this.issuers = configs.map((c) => new TrustedIssuer(c, configDir));
  }

  get enabled(): boolean {
    return this.issuers.length > 0;
  }

  /** Agents (ids or names, as configured) some trusted issuer maps a workload identity to. */
  mappedAgents(): Set<string> {
    return new Set(this.issuers.flatMap((i) => i.config.subjects.map((s) => s.agent)));
  }

  /** Verifies a workload JWT from any trusted issuer (picked by its unverified `iss`, then verified). */
  async verify(token: string): Promise<FederatedIdentity> {
    if (token.length > MAX_JWT_LENGTH) throw new GatewayError('invalid_token', 'the workload token is too long');
    let iss: unknown;
    try {
      iss = (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iss?: unknown }).iss;
    } catch {
      throw new GatewayError('invalid_token', 'the workload token is malformed');
    }
    const issuer = this.issuers.find((i) => i.config.issuer === iss);
    if (!issuer) throw new GatewayError('invalid_token', 'the workload token\'s issuer is not trusted');
    return issuer.verify(token, this.audience);
  }
}
