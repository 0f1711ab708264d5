// Rate limits: requests per minute and tokens per minute, per session and per agent.
//
// Algorithm: a token bucket per key (level + id) with lazy refill, i.e. GCRA in "level" form.
// Each limit is a bucket of `limit` units that drains continuously at `limit` per minute; a call
// is admitted when its cost still fits. Why this and not a window:
// - O(1) time and memory per key: two numbers and a timestamp (a sliding log keeps every request
//   of the last minute; a fixed window lets 2× the limit through around its edge; the
//   two-window "sliding counter" only approximates, so its Retry-After would be a guess).
// - The exact time until a call fits is a division, so `Retry-After` and the reset headers are
//   exact, and a client that waits that long is admitted (with no other traffic).
// - Corrections are plain arithmetic: a call that used fewer tokens than estimated gives the
//   difference back to the bucket; one that used more is charged the rest (the bucket may go
//   into deficit, and later calls wait for it). It is also what OpenAI's headers describe:
//   capacity replenishes continuously, `reset` is the time until the bucket is full again.
// A full bucket admits a burst of `limit` at once (rpm 10 admits 10 concurrent calls, then one
// every 6 s), which matches what "N per minute" promises a client.
//
// Every check is synchronous and all-or-nothing across levels: every bucket is tested first and
// only then charged, in one turn of the event loop, so concurrent calls in this process can never
// jointly pass a limit and a refusal at one level charges no other.
//
// Memory: a second-chance sweep runs every few checks over a few keys from the front of each
// level's map: a key whose bucket has fully drained is evicted (an empty bucket and a missing one
// mean the same thing, so eviction loses nothing), a live one moves to the back. Keys are
// examined faster than checks create them, so idle keys cannot pile up. A hard cap bounds the
// maps even under a flood of distinct keys; past it the oldest key goes even if not drained.

export type RateLevel = 'session' | 'agent';
export type RateUnit = 'requests' | 'tokens';

/** The limits that apply to one call at one level; an absent limit is not enforced. */
export interface RateLimit {
  level: RateLevel;
  id: string;
  /** Requests per minute. */
  rpm?: number | undefined;
  /** Tokens per minute. */
  tpm?: number | undefined;
}

/** One limit's state, as the `x-ratelimit-*` headers report it. */
export interface LimitState {
  level: RateLevel;
  id: string;
  limit: number;
  /** Whole units left now (after this call's charge, on an admission). */
  remaining: number;
  /** Milliseconds until the bucket is full again. */
  resetMs: number;
}

/** The tightest limit per unit across the levels checked (null: no such limit applies). */
export interface RateStatus {
  requests: LimitState | null;
  tokens: LimitState | null;
}

interface Charge {
  level: RateLevel;
  id: string;
  /** Tokens charged at this key (the estimate, clamped to that level's tpm). */
  tokens: number;
  tpm: number;
}

export interface RateAdmission {
  readonly charges: readonly Charge[];
  readonly status: RateStatus;
  /** True once `adjust` has run; a second adjust changes nothing. */
  adjusted: boolean;
}

export type RateDecision =
  | { admitted: true; admission: RateAdmission; status: RateStatus }
  | {
      admitted: false;
      /** The limit that keeps the call waiting longest. */
      level: RateLevel;
      id: string;
      unit: RateUnit;
      limit: number;
      /** Milliseconds until the call would fit, with no other traffic. */
      retryAfterMs: number;
      status: RateStatus;
    };

export interface RateLimiterOptions {
  now?: () => number;
  /** Most keys held; beyond it the coldest is dropped even if not drained. */
  maxKeys?: number;
}

interface Bucket {
  /** Requests in the bucket (drains at `rpm` per minute). */
  requests: number;
  /** Tokens in the bucket (drains at `tpm` per minute). */
  tokens: number;
  /** The limits last checked at this key (0: not limited; that amount stays 0). */
  rpm: number;
  tpm: number;
  /** When the amounts above were last brought up to date. */
  at: number;
}

const MINUTE = 60_000;
/** Tolerance for floating-point drift in the drained amounts. */
const EPS = 1e-6;
/** Every SWEEP_EVERY checks (a power of 2), SWEEP keys per level are examined for eviction: 4 per
 * check, more than the at most 2 per check (one per level) that checks can create. */
const SWEEP_EVERY = 16;
const SWEEP = 64;

/** Milliseconds for `amount` units to drain at `perMinute`. */
const drainMs = (amount: number, perMinute: number) => (amount <= 0 || perMinute <= 0 ? 0 : (amount * MINUTE) / perMinute);

/** Drains the bucket at its own rates up to `now` (a clock that went back drains nothing). */
function drain(bucket: Bucket, now: number): void {
  const elapsed = now - bucket.at;
  if (elapsed <= 0) return;
  if (bucket.requests > 0) bucket.requests = Math.max(0, bucket.requests - (elapsed * bucket.rpm) / MINUTE);
  if (bucket.tokens > 0) bucket.tokens = Math.max(0, bucket.tokens - (elapsed * bucket.tpm) / MINUTE);
  bucket.at = now;
}

/** When both amounts will have drained: from then on the key holds nothing worth keeping. */
const idleAt = (b: Bucket) => b.at + Math.max(drainMs(b.requests, b.rpm), drainMs(b.tokens, b.tpm));

export class RateLimiter {
  /** One map per level, keyed by the id itself: the id strings come from cached sessions, so V8
   * has their hashes already (a concatenated `level:id` key would be hashed afresh every call). */
  private readonly levels: Record<RateLevel, Map<string, Bucket>> = { session: new Map(), agent: new Map() };
  private readonly now: () => number;
  private readonly maxKeys: number;
  private checks = 0;

  constructor(options: RateLimiterOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxKeys = options.maxKeys ?? 1_000_000;
  }

  /** Keys currently held (for tests and metrics). */
  get size(): number {
    return this.levels.session.size + this.levels.agent.size;
  }

  /**
   * Admits the call — charging one request and `estimatedTokens` at every level — or refuses it
   * and charges nothing. An estimate above a level's tpm is charged as the whole tpm: such a call
   * is admitted only into an empty bucket instead of never; `adjust` then charges the real usage.
   */
  check(limits: readonly RateLimit[], estimatedTokens: number): RateDecision {
    const now = this.now();
    if ((++this.checks & (SWEEP_EVERY - 1)) === 0) this.sweep(now);
    const estimate = Math.max(0, estimatedTokens);
    const buckets: Bucket[] = [];
    let refusal: { limit: RateLimit; unit: RateUnit; wait: number } | null = null;
    for (const limit of limits) {
      const bucket = this.touch(limit, now);
      buckets.push(bucket);
      if (limit.rpm !== undefined) {
        const over = bucket.requests + 1 - limit.rpm;
        if (over > EPS) {
          const wait = drainMs(over, limit.rpm);
          if (refusal === null || wait > refusal.wait) refusal = { limit, unit: 'requests', wait };
        }
      }
      if (limit.tpm !== undefined) {
        const over = bucket.tokens + Math.min(estimate, limit.tpm) - limit.tpm;
        if (over > EPS) {
          const wait = drainMs(over, limit.tpm);
          if (refusal === null || wait > refusal.wait) refusal = { limit, unit: 'tokens', wait };
        }
      }
    }
    if (refusal !== null) {
      const { limit, unit, wait } = refusal;
      return {
        admitted: false, level: limit.level, id: limit.id, unit,
        limit: (unit === 'requests' ? limit.rpm : limit.tpm)!,
        retryAfterMs: Math.max(1, Math.ceil(wait - EPS)), status: status(limits, buckets),
      };
    }
    const charges: Charge[] = [];
    for (let i = 0; i < limits.length; i++) {
      const limit = limits[i]!;
      const bucket = buckets[i]!;
      if (limit.rpm !== undefined) bucket.requests += 1;
      if (limit.tpm !== undefined) {
        const tokens = Math.min(estimate, limit.tpm);
        bucket.tokens += tokens;
        charges.push({ level: limit.level, id: limit.id, tokens, tpm: limit.tpm });
      }
    }
    const s = status(limits, buckets);
    return { admitted: true, admission: { charges, status: s, adjusted: false }, status: s };
  }

  /**
   * Replaces the tokens charged at admission with what the call really used: the difference is
   * given back (never below an empty bucket) or charged. Runs once per admission.
   */
  adjust(admission: RateAdmission, actualTokens: number): void {
    if (admission.adjusted) return;
    admission.adjusted = true;
    const now = this.now();
    const actual = Math.max(0, actualTokens);
    for (const charge of admission.charges) {
      const delta = actual - charge.tokens;
      if (delta === 0) continue;
      let bucket = this.levels[charge.level].get(charge.id);
      if (bucket === undefined) {
        // Evicted (it had drained, e.g. during a long stream): nothing is left to give back,
        // but an overrun is still charged.
        if (delta < 0) continue;
        bucket = this.create(this.levels[charge.level], charge.id, now);
        bucket.tpm = charge.tpm;
      }
      drain(bucket, now);
      if (bucket.tpm > 0) bucket.tokens = Math.max(0, bucket.tokens + delta);
    }
  }

  /** Brings a key's bucket up to `now` and adopts the limits being checked. */
  private touch(limit: RateLimit, now: number): Bucket {
    const map = this.levels[limit.level];
    let bucket = map.get(limit.id);
    if (bucket === undefined) bucket = this.create(map, limit.id, now);
    else drain(bucket, now);
    bucket.rpm = limit.rpm ?? 0;
    bucket.tpm = limit.tpm ?? 0;
    if (bucket.rpm === 0) bucket.requests = 0;
    if (bucket.tpm === 0) bucket.tokens = 0;
    return bucket;
  }

  private create(map: Map<string, Bucket>, id: string, now: number): Bucket {
    // Past the cap the oldest key goes even if not drained: memory stays bounded under a flood.
    if (this.size >= this.maxKeys) map.delete(map.keys().next().value!);
    const bucket: Bucket = { requests: 0, tokens: 0, rpm: 0, tpm: 0, at: now };
    map.set(id, bucket);
    return bucket;
  }

  /**
   * Second-chance sweep from the front of each map: a drained key is evicted, a live one moves
   * to the back. Run every SWEEP_EVERY checks over SWEEP keys per level, it examines keys faster
   * than checks can create them, so every idle key goes within a bounded number of checks.
   */
  private sweep(now: number): void {
    for (const map of [this.levels.session, this.levels.agent]) {
      let n = 0;
      for (const [id, bucket] of map) {
        if (n++ >= SWEEP) break;
        map.delete(id);
        if (idleAt(bucket) > now) map.set(id, bucket);
      }
    }
  }
}

function status(limits: readonly RateLimit[], buckets: readonly Bucket[]): RateStatus {
  const s: RateStatus = { requests: null, tokens: null };
  for (let i = 0; i < limits.length; i++) {
    const limit = limits[i]!;
    const bucket = buckets[i]!;
    if (limit.rpm !== undefined) s.requests = tighter(s.requests, state(limit, limit.rpm, bucket.requests));
    if (limit.tpm !== undefined) s.tokens = tighter(s.tokens, state(limit, limit.tpm, bucket.tokens));
  }
  return s;
}

function state(limit: RateLimit, max: number, used: number): LimitState {
  return {
    level: limit.level,
    id: limit.id,
    limit: max,
    remaining: Math.max(0, Math.floor(max - used + EPS)),
    resetMs: Math.max(0, Math.ceil(drainMs(used, max) - EPS)),
  };
}

/** The tighter of two limits: fewer units left, then the longer wait until full. */
function tighter(a: LimitState | null, b: LimitState): LimitState {
  if (a === null) return b;
  if (b.remaining !== a.remaining) return b.remaining < a.remaining ? b : a;
  return b.resetMs > a.resetMs ? b : a;
}
