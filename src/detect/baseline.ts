// Learned baselines. An exponentially weighted mean and variance over *active* windows (windows
// with at least one call): an agent idle overnight has no zeros dragging its rate down, so its
// first busy minute in the morning is judged against its busy minutes, not its average day.
// Until `half-life` windows are seen the weight is 1/n (a plain running mean), so the first,
// often partial, window does not linger in the baseline.

export interface EwmaState {
  mean: number;
  variance: number;
  /** Windows folded in. */
  n: number;
}

export class Ewma {
  private readonly alpha: number;
  state: EwmaState = { mean: 0, variance: 0, n: 0 };

  constructor(halfLifeWindows: number) {
    this.alpha = 1 - 2 ** (-1 / halfLifeWindows);
  }

  add(x: number): void {
    const s = this.state;
    s.n++;
    const weight = Math.max(this.alpha, 1 / s.n);
    const diff = x - s.mean;
    const step = weight * diff;
    s.mean += step;
    s.variance = (1 - weight) * (s.variance + diff * step);
  }

  get mean(): number {
    return this.state.mean;
  }

  get sd(): number {
    return Math.sqrt(this.state.variance);
  }
}

/** One agent's totals in the current window. */
export class Window {
  usdNano = 0;
  calls = 0;
  failed = 0;
  toolCalls = 0;
  toolDenials = 0;
  /** Calls per prompt fingerprint. */
  readonly prompts = new Map<string, number>();
  readonly sessions = new Set<string>();
  readonly tools = new Map<string, number>();
  /** Tools this window used that the profile had never used. */
  readonly newTools = new Set<string>();
  /** A spend alert fired on this window: it does not teach the baseline. */
  alerted = false;
  /** The highest spend-spike severity already reported for this window (reported once each). */
  spikeReported: 'warning' | 'critical' | null = null;

  constructor(readonly start: number) {}

  get active(): boolean {
    return this.calls > 0 || this.toolCalls > 0;
  }
}

/** What an agent's active windows usually look like. */
export class AgentBaseline {
  readonly spend: Ewma;
  readonly calls: Ewma;
  readonly errorRate: Ewma;

  constructor(halfLifeWindows: number) {
    this.spend = new Ewma(halfLifeWindows);
    this.calls = new Ewma(halfLifeWindows);
    this.errorRate = new Ewma(halfLifeWindows);
  }

  learn(w: Window): void {
    if (!w.active || w.alerted) return;
    this.spend.add(w.usdNano);
    this.calls.add(w.calls);
    this.errorRate.add(w.calls > 0 ? w.failed / w.calls : 0);
  }

  get windows(): number {
    return this.spend.state.n;
  }

  toJSON(): Record<string, unknown> {
    return { spend: this.spend.state, calls: this.calls.state, error_rate: this.errorRate.state };
  }

  restore(data: Record<string, unknown>): void {
    const take = (e: Ewma, v: unknown) => {
      const s = v as Partial<EwmaState> | undefined;
      if (s && typeof s.mean === 'number' && typeof s.variance === 'number' && typeof s.n === 'number') e.state = { mean: s.mean, variance: s.variance, n: s.n };
    };
    take(this.spend, data.spend);
    take(this.calls, data.calls);
    take(this.errorRate, data.error_rate);
  }
}

/** A profile's learned tool mix: how often each tool is called by its agents. */
export class ToolMix {
  readonly counts = new Map<string, number>();
  total = 0;

  has(tool: string): boolean {
    return this.counts.has(tool);
  }

  share(tool: string): number {
    return this.total === 0 ? 0 : (this.counts.get(tool) ?? 0) / this.total;
  }

  learn(tool: string): void {
    this.counts.set(tool, (this.counts.get(tool) ?? 0) + 1);
    this.total++;
  }

  toJSON(): Record<string, unknown> {
    return { counts: Object.fromEntries(this.counts), total: this.total };
  }

  restore(data: Record<string, unknown>): void {
    const counts = data.counts as Record<string, unknown> | undefined;
    for (const [tool, n] of Object.entries(counts ?? {})) if (typeof n === 'number') this.counts.set(tool, n);
    this.total = typeof data.total === 'number' ? data.total : [...this.counts.values()].reduce((a, b) => a + b, 0);
  }
}
