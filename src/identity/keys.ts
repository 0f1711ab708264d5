// The gateway's signing keys for session tokens: Ed25519 (EdDSA), one algorithm pinned for
// signing and verifying (RFC 8725 §3.1). Keys live in the Store so every replica shares them.
import { exportJWK, generateKeyPair, importJWK, calculateJwkThumbprint, type JWK, type CryptoKey } from 'jose';
import type { SigningKey, Store } from '../store/index.js';

export const TOKEN_ALG = 'EdDSA';

export interface ActiveKey {
  kid: string;
  privateKey: CryptoKey;
}

export class KeyRing {
  private active: ActiveKey | null = null;
  private readonly publicKeys = new Map<string, CryptoKey>();
  private publicJwks: JWK[] = [];

  constructor(private readonly store: Store) {}

  /** Loads the stored keys, creating the first one on a new store. */
  async load(): Promise<void> {
    let keys = (await this.store.listSigningKeys()).filter((k) => k.retiredAt === null);
    if (keys.length === 0) {
      await this.store.putSigningKey(await createSigningKey());
      keys = (await this.store.listSigningKeys()).filter((k) => k.retiredAt === null);
    }
    this.publicKeys.clear();
    this.publicJwks = [];
    for (const k of keys) {
      const jwk = JSON.parse(k.publicJwk) as JWK;
      this.publicKeys.set(k.kid, (await importJWK(jwk, TOKEN_ALG)) as CryptoKey);
      this.publicJwks.push({ ...jwk, kid: k.kid, alg: TOKEN_ALG, use: 'sig' });
    }
    const newest = keys[keys.length - 1]!;
    this.active = { kid: newest.kid, privateKey: (await importJWK(JSON.parse(newest.privateJwk) as JWK, TOKEN_ALG)) as CryptoKey };
  }

  signingKey(): ActiveKey {
    if (!this.active) throw new Error('key ring not loaded');
    return this.active;
  }

  publicKey(kid: string): CryptoKey | undefined {
    return this.publicKeys.get(kid);
  }

  /** The JWK Set published at /.well-known/jwks.json. */
  jwks(): { keys: JWK[] } {
    return { keys: this.publicJwks };
  }
}

async function createSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(TOKEN_ALG, { crv: 'Ed25519', extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return {
    kid,
    alg: TOKEN_ALG,
    privateJwk: JSON.stringify(await exportJWK(privateKey)),
    publicJwk: JSON.stringify(publicJwk),
    createdAt: Date.now(),
    retiredAt: null,
  };
}
