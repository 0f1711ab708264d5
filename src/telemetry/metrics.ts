// Prometheus metrics (prom-client), on a registry of their own (never the global one). Label
// values are bounded: team, profile, model and MCP server names come from the configuration and
// the store, unknown models become `other`, and past a cap of distinct names new ones do too.
// Label children are looked up once per label set and kept, so recording a call is a few map
// reads and increments.
import { collectDefaultMetrics, Registry, type Metric } from 'prom-client';
import type { ModelCallLine } from './types.js';

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const TTFB_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type Labels = Record<string, string>;

/** One counter series: a plain number the hot path adds to. */
class Child {
  value = 0;
  constructor(readonly labels: Labels) {}
  inc(by = 1): void {
    this.value += by;
  }
}

/** One histogram series: per-bucket counts (cumulated only when scraped). */
class Timer {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly labels: Labels, private readonly buckets: readonly number[]) {
    this.counts = new Float64Array(buckets.length);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}

/**
 * prom-client's own children hash and validate their labels on every increment; these keep a
 * plain number per series and hand prom-client's registry the values only when scraped.
 */
class FastCounter {
  private readonly series: Child[] = [];
  constructor(registry: Registry, readonly name: string, readonly help: string) {
    registry.registerMetric(this as unknown as Metric);
  }
  readonly type = 'counter';
  child(labels: Labels): Child {
    const c = new Child(labels);
    this.series.push(c);
    return c;
  }
  get() {
    return { name: this.name, help: this.help, type: this.type, aggregator: 'sum', values: this.series.map((c) => ({ labels: c.labels, value: c.value })) };
  }
}

class FastHistogram {
  private readonly series: Timer[] = [];
  constructor(registry: Registry, readonly name: string, readonly help: string, private readonly buckets: readonly number[]) {
    registry.registerMetric(this as unknown as Metric);
  }
  readonly type = 'histogram';
  child(labels: Labels): Timer {
    const t = new Timer(labels, this.buckets);
    this.series.push(t);
    return t;
  }
  get() {
    const values: { metricName: string; labels: Labels; value: number }[] = [];
    for (const t of this.series) {
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += t.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...t.labels, le: String(this.buckets[i]) }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { ...t.labels, le: '+Inf' }, value: t.count });
      values.push({ metricName: `${this.name}_sum`, labels: t.labels, value: t.sum });
      values.push({ metricName: `${this.name}_count`, labels: t.labels, value: t.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: 'sum', values };
  }
}

/** The children of one (team, profile, model) label set. */
interface CallSeries {
  /** api → outcome → the requests counter's series (a model served on several APIs has one per API). */
  outcomes: Map<string, Map<string, Child>>;
  input: Child;
  output: Child;
  cached: Child;
  reasoning: Child;
  cost: Child;
  /** Keyed by api, then [plain, streamed]. */
  timers: Map<string, { duration: [Timer, Timer]; ttfb: [Timer, Timer] }>;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly requests: FastCounter;
  private readonly tokens: FastCounter;
  private readonly cost: FastCounter;
  private readonly denials: FastCounter;
  private readonly tools: FastCounter;
  private readonly duration: FastHistogram;
  private readonly ttfb: FastHistogram;
  inFlight = 0;
  /** team → profile → model → series. */
  private readonly series = new Map<string, Map<string, Map<string, CallSeries>>>();
  private readonly denialChildren = new Map<string, Child>();
  private readonly toolChildren = new Map<string, Child>();

  constructor(options: { sessionIndexBacklog?: () => Promise<Record<string, number>> } = {}) {
    const r = this.registry;
    this.requests = new FastCounter(r, 'tollgate_requests_total', 'Model calls that reached the upstream, by outcome (ok, upstream_error, stream_cut, client_aborted, tool_blocked, revoked).');
    this.tokens = new FastCounter(r, 'tollgate_tokens_total', 'Tokens charged: input (cached included), output (reasoning included), cached input, reasoning.');
    this.cost = new FastCounter(r, 'tollgate_cost_usd_total', 'USD charged for model calls.');
    this.denials = new FastCounter(r, 'tollgate_denials_total', 'Model calls refused with 401, 402, 403 or 429, by error code.');
    this.tools = new FastCounter(r, 'tollgate_tool_calls_total', 'MCP tool calls by outcome (ok, error, denied); server "model" is a function tool in a model call.');
    this.duration = new FastHistogram(r, 'tollgate_request_duration_seconds', 'Model call duration, from the request to the end of its answer (streams: to the end of the stream).', DURATION_BUCKETS);
    this.ttfb = new FastHistogram(r, 'tollgate_upstream_ttfb_seconds', 'Upstream time to first byte: from sending the request to the response headers.', TTFB_BUCKETS);
    const inFlight = (): number => this.inFlight;
    r.registerMetric({ name: 'tollgate_requests_in_flight', help: 'Model calls being handled.', type: 'gauge', get: () => ({ name: 'tollgate_requests_in_flight', help: 'Model calls being handled.', type: 'gauge', aggregator: 'sum', values: [{ labels: {}, value: inFlight() }] }) } as unknown as Metric);
    const backlog = options.sessionIndexBacklog;
    if (backlog) {
      const name = 'tollgate_session_index_backlog_rows';
      const help = 'Rows written but not yet in the session indexes SQLite keeps in bulk, by table: seconds of traffic normally; growing means the passes fail.';
      // Read at scrape time (two indexed lookups per table).
      r.registerMetric({ name, help, type: 'gauge', get: async () => ({ name, help, type: 'gauge', aggregator: 'sum', values: Object.entries(await backlog()).map(([table, value]) => ({ labels: { table }, value })) }) } as unknown as Metric);
    }
    collectDefaultMetrics({ register: this.registry });
  }

  /** Records one spend line; `model` is already a bounded label. */
  modelCall(line: ModelCallLine, model: string, team: string, profile: string, ttfbSeconds: number | null, durationSeconds: number): void {
    const s = this.seriesFor(team, profile, model);
    let byOutcome = s.outcomes.get(line.api);
    if (!byOutcome) s.outcomes.set(line.api, (byOutcome = new Map<string, Child>()));
    let outcome = byOutcome.get(line.outcome);
    if (!outcome) byOutcome.set(line.outcome, (outcome = this.requests.child({ api: line.api, model, team, profile, outcome: line.outcome })));
    outcome.inc();
    if (line.inputTokens > 0) s.input.inc(line.inputTokens);
    if (line.outputTokens > 0) s.output.inc(line.outputTokens);
    if (line.cachedInputTokens > 0) s.cached.inc(line.cachedInputTokens);
    if (line.reasoningTokens > 0) s.reasoning.inc(line.reasoningTokens);
    if (line.costUsdNano > 0) s.cost.inc(line.costUsdNano / 1e9);
    let timers = s.timers.get(line.api);
    if (!timers) {
      const t = (h: FastHistogram, stream: string) => h.child({ api: line.api, model, stream });
      s.timers.set(line.api, (timers = { duration: [t(this.duration, 'false'), t(this.duration, 'true')], ttfb: [t(this.ttfb, 'false'), t(this.ttfb, 'true')] }));
    }
    const i = line.stream ? 1 : 0;
    timers.duration[i].observe(durationSeconds);
    if (ttfbSeconds !== null) timers.ttfb[i].observe(ttfbSeconds);
  }

  denied(code: string, team: string, profile: string): void {
    const key = `${code}\u0000${team}\u0000${profile}`;
    let child = this.denialChildren.get(key);
    if (!child) this.denialChildren.set(key, (child = this.denials.child({ code, team, profile })));
    child.inc();
  }

  toolCall(server: string, outcome: 'ok' | 'error' | 'denied'): void {
    const key = `${server}\u0000${outcome}`;
    let child = this.toolChildren.get(key);
    if (!child) this.toolChildren.set(key, (child = this.tools.child({ server, outcome })));
    child.inc();
  }

  private seriesFor(team: string, profile: string, model: string): CallSeries {
    let byProfile = this.series.get(team);
    if (!byProfile) this.series.set(team, (byProfile = new Map<string, Map<string, CallSeries>>()));
    let byModel = byProfile.get(profile);
    if (!byModel) byProfile.set(profile, (byModel = new Map<string, CallSeries>()));
    let s = byModel.get(model);
    if (!s) {
      const tok = (direction: string) => this.tokens.child({ direction, model, team, profile });
      s = { outcomes: new Map(), input: tok('input'), output: tok('output'), cached: tok('cached'), reasoning: tok('reasoning'), cost: this.cost.child({ model, team, profile }), timers: new Map() };
      byModel.set(model, s);
    }
    return s;
  }
}
