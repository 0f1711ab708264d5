// Rate limits: requests per minute and tokens per minute, per session and per agent.
//
// Algorithm: a token bucket per key (level + id) with lazy refill — GCRA, kept as "amount in the
// bucket" rather than "theoretical arrival time" so a change of limit needs no conversion. Each
// limit is a bucket of `limit` units that drains continuously at `limit` per minute; a call is
// admitted when its cost still fits. Why this rather than a window:
// - O(1) time and memory per key: two amounts and a timestamp. A sliding log keeps every request
//   of the last minute (O(limit) per key); the two-window "sliding counter" only approximates,
//   so the Retry-After it gives is a guess.
// - The time until a call fits is one division, so `Retry-After` and the reset headers are exact
//   and a client that waits that long is admitted (barring other traffic).
// - Corrections are plain arithmetic: a call that used fewer tokens than estimated gives the
//   difference back; one that used more is charged the rest (the bucket may go into deficit and
//   later calls wait for it). A window of timestamped entries would have to find and rewrite one.
// - It is what OpenAI's headers describe: capacity replenishes continuously, `reset` is the time
//   until the limit is fully available again.
// The trade-off: a full bucket admits a burst of the whole limit (rpm 10 admits 10 concurrent
// calls, then one every 6 s), so a 60 s span can see up to 2 × limit − 1 calls (a burst, then the
// refill); the sustained rate never exceeds the limit. That burst is what a client reading "10 per
// minute" expects to be allowed.
//
// Every check is synchronous and all-or-nothing across levels: every bucket is tested first and
// only then charged, in one turn of the event loop, so concurrent calls in this process can never
// jointly pass a limit and a refusal at one level charges no other.
//
// Memory: every check moves a cursor two keys further through each level's map and evicts keys
// whose buckets have fully drained (an empty bucket and a missing one mean the same thing, so
// eviction loses nothing). Keys are examined faster than checks create them, so idle keys cannot
// pile up: a level holds about the keys active in the last minute, at most twice that, and a level
// of at most `sweepAbove` (256) keys is not swept at all. A hard cap (`maxKeys`) bounds the maps
// even under a flood of distinct keys; past it the oldest key goes even if live.

/**
 * `throttle`: a session contained by a detector; `agent_throttle`: an agent contained by a
 * detector — one bucket for all its sessions, so a new session does not escape it
 * (docs/detection.md#actions-and-containment).
 */
export type RateLevel = 'session' | 'agent' | 'throttle' | 'agent_throttle';
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
  /** Most keys held; beyond it the oldest is dropped even if not drained. */
  maxKeys?: number;
  /** A level holding at most this many keys is not swept (a few idle keys cost nothing). */
  sweepAbove?: number;
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
/** Keys examined for eviction per level per check: more than the one a check can create. */
const SWEEP = 2;
const LEVELS: readonly RateLevel[] = ['session', 'agent'];

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
  private readonly levels: Record<RateLevel, Map<string, Bucket>> = { session: new Map(), agent: new Map(), throttle: new Map(), agent_throttle: new Map() };
  private readonly cursors: Record<RateLevel, MapIterator<[string, Bucket]>> = {
    session: this.levels.session.entries(), agent: this.levels.agent.entries(), throttle: this.levels.throttle.entries(),
    agent_throttle: this.levels.agent_throttle.entries(),
  };
  private readonly now: () => number;
  private readonly maxKeys: number;
  private readonly sweepAbove: number;

  constructor(options: RateLimiterOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxKeys = options.maxKeys ?? 1_000_000;
    this.sweepAbove = options.sweepAbove ?? 256;
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
    this.sweep(now);
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
   * Examines the next SWEEP keys of each level with a cursor that persists across checks (a Map
   * iterator stays valid while the map changes) and evicts those that have drained. Every key is
   * met once per pass, and keys are examined faster than checks create them (at most one per
   * level per check), so idle keys cannot pile up. No key is moved: a live one stays put.
   */
  private sweep(now: number): void {
    for (const level of LEVELS) {
      const map = this.levels[level];
      if (map.size <= this.sweepAbove) continue; // a few idle keys cost less than the iterator work
      let cursor = this.cursors[level];
      for (let n = 0; n < SWEEP; n++) {
        let next = cursor.next();
        if (next.done === true) {
          if (map.size === 0) break;
          cursor = map.entries(); // start the next pass
          next = cursor.next();
          if (next.done === true) break;
        }
        const [id, bucket] = next.value;
        if (idleAt(bucket) <= now) map.delete(id);
      }
      this.cursors[level] = cursor;
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
