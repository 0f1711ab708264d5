// The gateway's signing keys for session tokens: Ed25519 (EdDSA), one algorithm pinned for
// signing and verifying (RFC 8725 §3.1). Keys live in the Store (private halves encrypted with the
// master key) so every replica shares them. Rotation: a new key signs from then on; the previous
// one keeps verifying for an overlap window (at least one token lifetime), then stops.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { SigningKey, Store } from '../store/index.js';
import type { MasterKey } from './master-key.js';

export const TOKEN_ALG = 'EdDSA';

export interface ActiveKey {
  kid: string;
  privateKey: CryptoKey;
}

export interface KeyRingOptions {
  /** How long a retired key still verifies. */
  overlapMs: number;
  /** Rotate automatically when the signing key is older than this (0 = never). */
  rotationMs: number;
  now?: () => number;
}

export class KeyRing {
  private active: ActiveKey | null = null;
  private activeCreatedAt = 0;
  private publicKeys = new Map<string, { key: CryptoKey; validUntil: number }>();
  private publicJwks: JWK[] = [];
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    private readonly master: MasterKey,
    private readonly options: KeyRingOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Loads the stored keys, creating the first one on a new store, and rotating when due. */
  async load(): Promise<void> {
    let keys = await this.store.listSigningKeys();
    if (!keys.some((k) => k.retiredAt === null)) {
      await this.store.putSigningKey(await this.createSigningKey());
      keys = await this.store.listSigningKeys();
    }
    const now = this.now();
    const publicKeys = new Map<string, { key: CryptoKey; validUntil: number }>();
    const jwks: JWK[] = [];
    for (const k of keys) {
      const validUntil = k.retiredAt === null ? Number.POSITIVE_INFINITY : k.retiredAt + this.options.overlapMs;
      if (validUntil <= now) continue;
      const jwk = JSON.parse(k.publicJwk) as JWK;
      publicKeys.set(k.kid, { key: (await importJWK(jwk, TOKEN_ALG)) as CryptoKey, validUntil });
      jwks.push({ ...jwk, kid: k.kid, alg: TOKEN_ALG, use: 'sig' });
    }
    const signing = keys.filter((k) => k.retiredAt === null).at(-1)!;
    this.active = { kid: signing.kid, privateKey: (await importJWK(JSON.parse(this.master.decrypt(signing.privateJwk)) as JWK, TOKEN_ALG)) as CryptoKey };
    this.activeCreatedAt = signing.createdAt;
    this.publicKeys = publicKeys;
    this.publicJwks = jwks;
    if (this.options.rotationMs > 0 && now - this.activeCreatedAt >= this.options.rotationMs) await this.rotate();
  }

  /** Starts signing with a new key; the current one verifies for the overlap window. */
  async rotate(): Promise<string> {
    const now = this.now();
    const current = (await this.store.listSigningKeys()).filter((k) => k.retiredAt === null);
    const next = await this.createSigningKey();
    await this.store.putSigningKey(next);
    for (const k of current) await this.store.putSigningKey({ ...k, retiredAt: now });
    await this.load();
    return next.kid;
  }

  signingKey(): ActiveKey {
    if (!this.active) throw new Error('key ring not loaded');
    return this.active;
  }

  /** The public key for `kid`, if it is still valid for verification now. */
  publicKey(kid: string): CryptoKey | undefined {
    const entry = this.publicKeys.get(kid);
    return entry && entry.validUntil > this.now() ? entry.key : undefined;
  }

  /** The JWK Set published at /.well-known/jwks.json. */
  jwks(): { keys: JWK[] } {
    return { keys: this.publicJwks };
  }

  private async createSigningKey(): Promise<SigningKey> {
    const { privateKey, publicKey } = await generateKeyPair(TOKEN_ALG, { crv: 'Ed25519', extractable: true });
    const publicJwk = await exportJWK(publicKey);
    return {
      kid: await calculateJwkThumbprint(publicJwk),
      alg: TOKEN_ALG,
      privateJwk: this.master.encrypt(JSON.stringify(await exportJWK(privateKey))),
      publicJwk: JSON.stringify(publicJwk),
      createdAt: this.now(),
      retiredAt: null,
    };
  }
}
