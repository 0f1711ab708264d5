// Client secrets for agents (OAuth client_credentials). A secret is shown once; the store keeps
// only an HMAC-SHA256 of it under a key derived from the master key, and checks compare HMACs in
// constant time. An agent may hold several secrets at once, so rotation needs no downtime.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../errors/index.js';
import type { Credential, Store } from '../store/index.js';
import { newId } from '../util/ids.js';
import type { MasterKey } from './master-key.js';

export interface IssuedSecret {
  credential: Credential;
  /** `tgs_<credential id>.<random>`: the id half finds the record, the random half proves possession. */
  clientSecret: string;
}

const SECRET = /^tgs_(cred_[a-z0-9]+)\.([A-Za-z0-9_-]{43})$/;

export class CredentialService {
  private readonly hmacKey: Buffer;

  constructor(
    private readonly store: Store,
    master: MasterKey,
    private readonly now: () => number = Date.now,
  ) {
    this.hmacKey = master.derive('client-secret');
  }

  private hash(secret: string): string {
    return createHmac('sha256', this.hmacKey).update(secret).digest('hex');
  }

  async issue(agentId: string, expiresAt: number | null): Promise<IssuedSecret> {
    const id = newId('cred');
    const clientSecret = `tgs_${id}.${randomBytes(32).toString('base64url')}`;
    const credential: Credential = { id, agentId, hash: this.hash(clientSecret), createdAt: this.now(), expiresAt, revokedAt: null, lastUsedAt: null, lastUsedFrom: null };
    await this.store.putCredential(credential);
    return { credential, clientSecret };
  }

  /**
   * Checks a presented client id (the agent id) and secret. Every failure is the same
   * `invalid_client`, so a caller learns nothing about which part was wrong.
   */
  async verify(clientId: string, clientSecret: string, from: string | null): Promise<Credential> {
    const match = SECRET.exec(clientSecret);
    const credential = match ? await this.store.getCredential(match[1]!) : null;
    const expected = Buffer.from(credential?.hash ?? '0'.repeat(64), 'hex');
    const ok = timingSafeEqual(Buffer.from(this.hash(clientSecret), 'hex'), expected);
    const now = this.now();
    if (!credential || !ok || credential.agentId !== clientId || credential.revokedAt !== null || (credential.expiresAt !== null && credential.expiresAt <= now)) {
      throw new GatewayError('invalid_client', 'Client authentication failed.');
    }
    await this.store.touchCredential(credential.id, now, from);
    return credential;
  }
}
