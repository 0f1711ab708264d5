// Workload identity federation: agents prove who they are with a JWT from an issuer the operator
// trusts (a SPIFFE JWT-SVID, a Kubernetes service-account token, a CI OIDC token) instead of a
// static secret. Validation follows RFC 8725 and the SPIFFE JWT-SVID rules: an allow-list of
// asymmetric algorithms, `aud` must name us, `exp` required, `iat` not in the future, issuer
// pinned, key found by `kid` in the issuer's JWKS and of the type its algorithm needs. The JWKS
// is cached: fetched again on an unknown `kid` (at most once per cooldown), and always before a
// key is trusted once the set is older than its maximum age — a key the issuer stopped
// publishing stops verifying. Past that age a set that cannot be fetched again is not trusted
// (fail closed). Every refusal is a GatewayError, `invalid_token` or `token_expired`: OAuth `invalid_grant`.
import { readFile } from 'node:fs/promises';
import { decodeProtectedHeader, errors as joseErrors, importJWK, jwtVerify, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import type { FederationIssuerConfig } from '../config/index.js';
import { GatewayError } from '../errors/index.js';
import type { Logger } from '../util/logger.js';

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'EdDSA'];
const MAX_JWT_LENGTH = 16_384;
/** Clock skew allowed on `exp`, `nbf` and `iat`, in seconds. */
const CLOCK_TOLERANCE_SECONDS = 5;
const JWKS_FETCH_TIMEOUT_MS = 5000;

export interface FederationOptions {
  /** Warnings: JWKS that cannot be fetched, keys that cannot be imported. */
  logger?: Pick<Logger, 'warn'>;
  /** The clock, in milliseconds (tests). */
  now?: () => number;
}

/** Whether `jwk` is of the key type (and curve) that algorithm `alg` verifies with. */
function keyFits(jwk: JWK, alg: string): boolean {
  switch (alg) {
    case 'RS256': case 'RS384': case 'RS512': case 'PS256': case 'PS384': case 'PS512': return jwk.kty === 'RSA';
    case 'ES256': return jwk.kty === 'EC' && jwk.crv === 'P-256';
    case 'ES384': return jwk.kty === 'EC' && jwk.crv === 'P-384';
    case 'ES512': return jwk.kty === 'EC' && jwk.crv === 'P-521';
    case 'EdDSA': return jwk.kty === 'OKP' && jwk.crv === 'Ed25519'; // jose verifies no Ed448
    default: return false;
  }
}

interface JwksSource {
  url?: string;
  file?: string;
  inline?: JWK[];
}

class Jwks {
  private keys = new Map<string, JWK>();
  /** Imported keys, by algorithm and `kid`; emptied with every new set. */
  private imported = new Map<string, CryptoKey>();
  /** When the current set was loaded (undefined: never). */
  private loadedAt: number | undefined;
  /** When a load was last attempted, successful or not. */
  private triedAt: number | undefined;
  /** Why the last attempt failed; undefined once one succeeds. */
  private failure: string | undefined;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly issuer: string,
    private readonly source: JwksSource,
    private readonly limits: { cooldownMs: number; maxAgeMs: number },
    private readonly options: Required<Pick<FederationOptions, 'now'>> & FederationOptions,
  ) {}

  /** The set as loaded; errors carry a short reason for the token's refusal, the detail in `cause` (logged). */
  private async fetchSet(): Promise<unknown> {
    if (this.source.inline) return { keys: this.source.inline };
    let text: string;
    if (this.source.file) {
      try {
        text = await readFile(this.source.file, 'utf8');
      } catch (err) {
        throw new Error(`the JWKS file could not be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
      }
    } else {
      const failed = (err: unknown) => new Error(err instanceof Error && err.name === 'TimeoutError'
        ? `JWKS fetch failed: no answer within ${JWKS_FETCH_TIMEOUT_MS / 1000} s`
        : 'JWKS fetch failed: the issuer could not be reached', { cause: err });
      const res = await fetch(this.source.url!, { signal: AbortSignal.timeout(JWKS_FETCH_TIMEOUT_MS) }).catch((err: unknown) => { throw failed(err); });
      if (!res.ok) {
        await res.body?.cancel().catch(() => undefined);
        throw new Error(`JWKS fetch failed: HTTP ${res.status}`);
      }
      text = await res.text().catch((err: unknown) => { throw failed(err); });
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new Error('not a JWK Set (not JSON)', { cause: err });
    }
  }

  private async attempt(): Promise<void> {
    this.triedAt = this.options.now();
    try {
      const set = await this.fetchSet();
      const keys = (set as { keys?: unknown } | null)?.keys;
      if (!Array.isArray(keys)) throw new Error('not a JWK Set (no "keys" array)');
      this.keys = new Map((keys as unknown[])
        .filter((k): k is JWK => typeof k === 'object' && k !== null && typeof (k as JWK).kid === 'string')
        .map((k) => [k.kid!, k]));
      this.imported = new Map();
      this.loadedAt = this.options.now();
      this.failure = undefined;
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      this.failure = e.message;
      const cause = e.cause instanceof Error ? e.cause.message : undefined;
      this.options.logger?.warn({ issuer: this.issuer, jwks: this.source.url ?? this.source.file, err: e.message, cause }, 'federation: the issuer\'s JWKS could not be loaded');
    }
  }

  /** One load at a time: concurrent callers share it. */
  private load(): Promise<void> {
    this.loading ??= this.attempt().finally(() => { this.loading = undefined; });
    return this.loading;
  }

  /** Whether the set must be loaded again before any of its keys is trusted. */
  private stale(now: number): boolean {
    if (this.loadedAt === undefined) return true;
    return !this.source.inline && now - this.loadedAt >= this.limits.maxAgeMs;
  }

  async key(kid: string, alg: string): Promise<CryptoKey> {
    if (this.loading) await this.loading;
    const now = this.options.now();
    const stale = this.stale(now);
    // A failed attempt, and an unknown kid, try again at most once per cooldown.
    const mayRetry = this.triedAt === undefined || now - this.triedAt >= this.limits.cooldownMs;
    if (stale) {
      // Past its maximum age (or never loaded) the set is trusted only once loaded again.
      if (this.failure === undefined || mayRetry) await this.load();
      if (this.failure !== undefined) {
        throw new GatewayError('invalid_token', this.loadedAt === undefined
          ? `the issuer's keys could not be loaded: ${this.failure}`
          : `the issuer's keys are older than jwks_max_age_seconds and could not be loaded again: ${this.failure}`);
      }
    } else if (!this.keys.has(kid) && mayRetry) {
      await this.load();
      if (this.failure !== undefined) throw new GatewayError('invalid_token', `the issuer's keys could not be loaded: ${this.failure}`);
    }
    const keys = this.keys;
    const cached = this.imported.get(`${alg} ${kid}`);
    if (cached) return cached;
    const jwk = keys.get(kid);
    // SPIFFE bundles mark JWT keys `use: "jwt-svid"`; anything else meant for signing is fine too.
    if (!jwk || (jwk.use !== undefined && jwk.use !== 'sig' && jwk.use !== 'jwt-svid')) throw new GatewayError('invalid_token', `no key "${kid}" in the issuer's JWKS`);
    if ((jwk.alg !== undefined && jwk.alg !== alg) || !keyFits(jwk, alg)) throw new GatewayError('invalid_token', 'the token\'s algorithm does not match its key');
    const { use: _use, ...rest } = jwk;
    let key: CryptoKey;
    try {
      key = (await importJWK(rest, alg)) as CryptoKey;
    } catch (err) {
      this.options.logger?.warn({ issuer: this.issuer, kid, alg, err: err instanceof Error ? err.message : String(err) }, 'federation: a key of the issuer\'s JWKS could not be imported');
      throw new GatewayError('invalid_token', `the issuer's key "${kid}" is not a usable ${alg} key`);
    }
    if (this.keys === keys) this.imported.set(`${alg} ${kid}`, key);
    return key;
  }
}

export interface FederatedIdentity {
  issuer: string;
  subject: string;
  /** The agent (id or name) the subject maps to. */
  agent: string;
  claims: JWTPayload;
}

/** `*` matches one or more characters within one path segment (never none, never a `/`). */
function globMatch(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]+')}$`);
  return re.test(value);
}

/** A required claim holds exactly its value: a string equal to it, or a number written so — never an array or object. */
function claimMatches(value: unknown, expected: string): boolean {
  if (typeof value === 'string') return value === expected;
  return typeof value === 'number' && Number.isFinite(value) && String(value) === expected;
}

/** SPIFFE ID syntax (spiffe-id spec §2): lowercase trust domain, non-empty path segments of [A-Za-z0-9._-], none `.` or `..`, no trailing `/`. */
const SPIFFE_ID = /^spiffe:\/\/[a-z0-9._-]+((\/[A-Za-z0-9._-]+)*)$/;
function isSpiffeId(value: string): boolean {
  const m = value.length <= 2048 ? SPIFFE_ID.exec(value) : null;
  return m !== null && !m[1]!.split('/').some((segment) => segment === '.' || segment === '..');
}

class TrustedIssuer {
  readonly jwks: Jwks;
  readonly algorithms: string[];

  constructor(readonly config: FederationIssuerConfig, configDir: string, private readonly options: Required<Pick<FederationOptions, 'now'>> & FederationOptions) {
    this.jwks = new Jwks(config.name, {
      url: config.jwks_url,
      file: config.jwks_file ? (config.jwks_file.startsWith('/') ? config.jwks_file : `${configDir}/${config.jwks_file}`) : undefined,
      inline: config.jwks?.keys,
    }, { cooldownMs: config.jwks_cooldown_seconds * 1000, maxAgeMs: config.jwks_max_age_seconds * 1000 }, options);
    this.algorithms = config.algorithms ?? ASYMMETRIC;
  }

  async verify(token: string, audience: string): Promise<FederatedIdentity> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new GatewayError('invalid_token', 'the workload token is malformed');
    }
    if (typeof header.alg !== 'string' || !this.algorithms.includes(header.alg)) throw new GatewayError('invalid_token', `algorithm "${String(header.alg)}" is not allowed for this issuer`);
    if (typeof header.kid !== 'string' || !header.kid) throw new GatewayError('invalid_token', 'the workload token has no "kid"');
    const key = await this.jwks.key(header.kid, header.alg);
    const now = this.options.now();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: [header.alg],
        issuer: this.config.issuer,
        audience: this.config.audience ?? audience,
        requiredClaims: ['sub', 'exp'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: new Date(now),
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new GatewayError('token_expired', 'the workload token has expired');
      if (err instanceof joseErrors.JWTClaimValidationFailed) throw new GatewayError('invalid_token', `the workload token's "${err.claim}" claim is invalid`);
      throw new GatewayError('invalid_token', 'the workload token failed verification');
    }
    // jose checks `iat` only against a maximum token age: a token issued in the future is refused here.
    if (payload.iat !== undefined && payload.iat > now / 1000 + CLOCK_TOLERANCE_SECONDS) throw new GatewayError('invalid_token', 'the workload token\'s "iat" claim is in the future');
    if (typeof payload.sub !== 'string') throw new GatewayError('invalid_token', 'the workload token\'s "sub" claim is invalid');
    const subject = payload.sub;
    if (this.config.kind === 'spiffe') {
      const td = this.config.trust_domain;
      if (!isSpiffeId(subject)) throw new GatewayError('invalid_token', 'the SVID\'s subject is not a valid SPIFFE ID');
      if (td && !subject.startsWith(`spiffe://${td}/`)) throw new GatewayError('invalid_token', 'the SVID\'s subject is not in the trusted SPIFFE trust domain');
    }
    for (const [claim, expected] of Object.entries(this.config.required_claims ?? {})) {
      if (!claimMatches(payload[claim], expected)) throw new GatewayError('invalid_token', `the workload token's "${claim}" claim does not match`);
    }
    const rule = this.config.subjects.find((r) => globMatch(r.match, subject));
    if (!rule) throw new GatewayError('invalid_token', 'no agent is mapped to this workload identity');
    return { issuer: this.config.issuer, subject, agent: rule.agent, claims: payload };
  }
}

export class FederationVerifier {
  private readonly issuers: TrustedIssuer[];

  constructor(configs: FederationIssuerConfig[], private readonly audience: string, configDir = process.cwd(), options: FederationOptions = {}) {
    this.issuers = configs.map((c) => new TrustedIssuer(c, configDir, { ...options, now: options.now ?? Date.now }));
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
