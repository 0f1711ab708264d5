// Revoked token ids, held in memory for the hot path and in the store for restarts and other
// replicas (which learn of a revocation from the change feed). An entry lives until the token
// would have expired, and EXPIRED_TOKEN_GRACE_MS more: an expired token may still close its own
// session within that time (RFC 7009) — never one an operator revoked.
import type { Store } from '../store/index.js';

/** How long past its expiry a token may still close its own session, and a revocation of it is remembered. */
export const EXPIRED_TOKEN_GRACE_MS = 24 * 3600_000;

export class RevocationList {
  private readonly jtis = new Map<string, number>();
  private readonly listeners: ((jti: string) => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  async load(): Promise<void> {
    const revoked = await this.store.listRevokedTokens(this.now() - EXPIRED_TOKEN_GRACE_MS);
    // Replaced only once read: a failed reload keeps what was known.
    this.jtis.clear();
    for (const t of revoked) this.jtis.set(t.jti, t.expiresAt);
  }

  /** A revocation another replica made (announced by the change feed). */
  remember(jti: string, expiresAt: number): void {
    this.jtis.set(jti, expiresAt);
    this.revoked(jti);
  }

  async revoke(jti: string, expiresAt: number): Promise<void> {
    await this.store.revokeToken({ jti, expiresAt, revokedAt: this.now() });
    this.jtis.set(jti, expiresAt);
    this.revoked(jti);
  }

  /** Calls `listener` with each token revoked here or by another replica. */
  onRevoked(listener: (jti: string) => void): void {
    this.listeners.push(listener);
  }

  private revoked(jti: string): void {
    for (const listener of this.listeners) listener(jti);
  }

  isRevoked(jti: string): boolean {
    const exp = this.jtis.get(jti);
    if (exp === undefined) return false;
    if (exp + EXPIRED_TOKEN_GRACE_MS <= this.now()) {
      this.jtis.delete(jti);
      return false;
    }
    return true;
  }
}
