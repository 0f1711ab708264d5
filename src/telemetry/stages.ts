// Where a model call's time goes, stage by stage, from timers inside the pipeline: always on
// (a lap is one performance.now() and a few additions), read at `GET /admin/v1/debug/stages`
// and by `npm run bench`, so a regression points at the stage that grew.
import { isoTime } from '../util/time.js';

/**
 * The pipeline's stages, in order. `forward` runs until the upstream's headers arrive; `relay`
 * reads (or streams) the answer, `meter` counts what it used, `settle` charges it and appends the
 * spend line, `audit` appends the call's event onto the chain.
 */
export const STAGES = ['auth', 'resolve', 'parse', 'policy', 'rate_limit', 'reserve', 'forward', 'relay', 'meter', 'settle', 'audit', 'durable', 'respond'] as const;
export type Stage = (typeof STAGES)[number];

/** Buckets of a log2 histogram in microseconds: [0,1), [1,2), [2,4) … up to ~67 s. */
const BUCKETS = 27;

class StageStat {
  count = 0;
  totalUs = 0;
  readonly histogram = new Uint32Array(BUCKETS);

  add(us: number): void {
    this.count++;
    this.totalUs += us;
    this.histogram[Math.min(BUCKETS - 1, us < 1 ? 0 : 1 + Math.floor(Math.log2(us)))]!++;
  }

  /** The upper edge of the bucket holding quantile `q` (µs): coarse (×2), cheap, enough to compare runs. */
  quantile(q: number): number {
    let seen = 0;
    const target = q * this.count;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.histogram[i]!;
      if (seen >= target && seen > 0) return 2 ** i;
    }
    return 0;
  }
}

export interface StageReport {
  stage: Stage;
  count: number;
  mean_us: number;
  p50_us: number;
  p99_us: number;
}

/** Something a stage clock runs on (the call's context). */
export interface Lapped {
  lapAt?: number;
}

export class StageTimes {
  private stats = new Map<Stage, StageStat>(STAGES.map((s) => [s, new StageStat()]));
  private since = Date.now();

  /** Starts the clock for a call. */
  start(call: Lapped): void {
    call.lapAt = performance.now();
  }

  /** Charges the time since the last lap to `stage`. */
  lap(call: Lapped, stage: Stage): void {
    const now = performance.now();
    if (call.lapAt !== undefined) this.stats.get(stage)!.add((now - call.lapAt) * 1000);
    call.lapAt = now;
  }

  report(): { since: string; stages: StageReport[] } {
    return {
      since: isoTime(this.since),
      stages: STAGES.map((stage) => {
        const s = this.stats.get(stage)!;
        return { stage, count: s.count, mean_us: s.count ? Math.round((s.totalUs / s.count) * 10) / 10 : 0, p50_us: s.quantile(0.5), p99_us: s.quantile(0.99) };
      }),
    };
  }

  reset(): void {
    this.stats = new Map(STAGES.map((s) => [s, new StageStat()]));
    this.since = Date.now();
  }
}
