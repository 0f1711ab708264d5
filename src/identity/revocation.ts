// Revoked token ids, held in memory for the hot path and in the store for restarts (and, later,
// other replicas). An entry lives until the token would have expired anyway.
import type { Store } from '../store/index.js';

export class RevocationList {
  private readonly jtis = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  async load(): Promise<void> {
    this.jtis.clear();
    for (const t of await this.store.listRevokedTokens(this.now())) this.jtis.set(t.jti, t.expiresAt);
  }

  async revoke(jti: string, expiresAt: number): Promise<void> {
    await this.store.revokeToken({ jti, expiresAt, revokedAt: this.now() });
    this.jtis.set(jti, expiresAt);
  }

  isRevoked(jti: string): boolean {
    const exp = this.jtis.get(jti);
    if (exp === undefined) return false;
    if (exp <= this.now()) {
      this.jtis.delete(jti);
      return false;
    }
    return true;
  }
}
