// Client secrets for agents (OAuth client_credentials). A secret is shown once; the store keeps
// only an HMAC-SHA256 of it under a key derived from the master key, and checks compare HMACs in
// constant time. An agent may hold several secrets at once, so rotation needs no downtime.
// Each use (time and source) is recorded for the access review without a write per token
// request: uses are batched, and one credential seen from one source is written at most once
// per interval.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../errors/index.js';
import type { Credential, CredentialUse, Store } from '../store/index.js';
import type { Logger } from '../util/logger.js';
import { newId } from '../util/ids.js';
import type { MasterKey } from './master-key.js';

export interface IssuedSecret {
  credential: Credential;
  /** `tgs_<credential id>.<random>`: the id half finds the record, the random half proves possession. */
  clientSecret: string;
}

const SECRET = /^tgs_(cred_[a-z0-9]+)\.([A-Za-z0-9_-]{43})$/;

export interface CredentialServiceOptions {
  /** A credential seen again from the same source within this long is not written again. Default 60 s. */
  useIntervalMs?: number;
  /** How long a use waits in the batch before it is written. Default 1 s. */
  flushDelayMs?: number;
  logger?: Logger;
}

export class CredentialService {
  private readonly hmacKey: Buffer;
  private readonly useIntervalMs: number;
  private readonly flushDelayMs: number;
  /** Uses not yet written. */
  private pending: CredentialUse[] = [];
  /** `credential id \0 source` → when a use of it was last queued. */
  private readonly queued = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    master: MasterKey,
    private readonly now: () => number = Date.now,
    private readonly options: CredentialServiceOptions = {},
  ) {
    this.hmacKey = master.derive('client-secret');
    this.useIntervalMs = options.useIntervalMs ?? 60_000;
    this.flushDelayMs = options.flushDelayMs ?? 1000;
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
    this.noteUse(credential.id, now, from);
    return credential;
  }

  private noteUse(credentialId: string, at: number, from: string | null): void {
    const key = `${credentialId}\u0000${from ?? ''}`;
    const last = this.queued.get(key);
    if (last !== undefined && at - last < this.useIntervalMs) return;
    this.queued.set(key, at);
    this.pending.push({ credentialId, at, from });
    this.timer ??= setTimeout(() => {
      this.flush().catch((err: unknown) => this.options.logger?.warn({ err }, 'credential uses could not be written'));
    }, this.flushDelayMs);
    this.timer.unref();
  }

  /** Writes the batched uses (before a review reads them, and on shutdown). A failed write is kept for the next one. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    try {
      await this.store.recordCredentialUses(batch);
    } catch (err) {
      this.pending = [...batch, ...this.pending];
      throw err;
    }
    // Forget what is past its interval, so the map stays as small as the set of recent sources.
    const horizon = this.now() - this.useIntervalMs;
    for (const [key, at] of this.queued) if (at < horizon) this.queued.delete(key);
  }
}
