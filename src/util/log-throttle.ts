// A failure that repeats on every call or batch (a provider refusing the gateway's key, a collector
// out of reach) is said at most once per interval per key: a flood of identical lines hides
// everything else. Each line says how many times it was held back since the one before.
export class LogThrottle {
  private readonly said = new Map<string, { at: number; heldBack: number }>();

  constructor(private readonly everyMs: number, private readonly now: () => number = Date.now) {}

  /** Whether `key` is to be said now: the times it was held back since it was last said, else null (held back). */
  due(key: string): number | null {
    const now = this.now();
    const last = this.said.get(key);
    if (last && now - last.at < this.everyMs) {
      last.heldBack++;
      return null;
    }
    this.said.set(key, { at: now, heldBack: 0 });
    return last?.heldBack ?? 0;
  }
}
