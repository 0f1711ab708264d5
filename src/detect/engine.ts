// The detection engine: a consumer of the durable audit stream (it is one of the audit log's
// sinks), so detectors run off the hot path — a call never waits for them — and judge exactly
// what the record holds. Events are queued and processed in order, one at a time: the state per
// agent (current window, learned baseline), per session (recent prompts, last call) and per
// profile (tool mix) is updated, then every enabled detector looks at the signal, and findings
// become alerts (alerts.ts) whose actions contain the agent (containment.ts). An alert is raised
// beside the judging of the events after it (in order per detector and subject): its writes and
// actions never hold up the detection of anything else.
import type { Logger } from 'pino';
import type { SinkStats } from '../audit/index.js';
import type { DetectionConfig } from '../config/index.js';
import type { Directory } from '../identity/index.js';
import type { Agent, ChainedEvent, Profile, Session, Store } from '../store/index.js';
import type { AlertService } from './alerts.js';
import { RecentCalls } from './recent-calls.js';
import { AgentBaseline, ToolMix, Window } from './baseline.js';
import * as detectors from './detectors/index.js';
import { signalOf, type Signal } from './signals.js';
import type { AgentState, Detector, DetectorInput, Finding, SessionState } from './types.js';

const ALL: readonly Detector[] = Object.values(detectors);

/** The records a signal is judged against: its session, its agent, the agent's profile. */
interface Records {
  session: Session | null;
  agent: Agent | null;
  profile: Profile | null;
}
/** Event types that carry a signal (a cheap filter before anything is queued). */
const READ = new Set(['model.call', 'tool.called', 'tool.denied', 'auth.denied', 'token.denied', 'credential.shared', 'session.delegated']);
/** Refusals that are failed authentications (not, say, a suspended session calling again). */
const AUTH_FAILURES = new Set(['unauthenticated', 'invalid_token', 'token_expired', 'token_revoked', 'invalid_client', 'invalid_grant']);
const MAX_QUEUE = 100_000;
const MAX_AGENTS = 50_000;
const MAX_SESSIONS = 100_000;
const MAX_SOURCES = 10_000;
/** Alerts raised at once, at most (their actions may each hold a webhook request open). */
const MAX_RAISING = 32;
/** Retry-window entries kept per session, at most. */
const MAX_RECENT = 512;

export interface DetectionEngineOptions {
  config: DetectionConfig;
  store: Store;
  directory: Directory;
  alerts: AlertService;
  timeZone: string;
  logger: Logger;
  /** How often learned baselines are saved (ms; 0: only on close). */
  saveEveryMs?: number;
  /** The clock events are stamped with (the gateway's). */
  now?: () => number;
}

export class DetectionEngine {
  readonly name = 'detection';
  private readonly queue: ChainedEvent[] = [];
  private draining: Promise<void> | null = null;
  private processed = 0;
  private dropped = 0;
  private readonly agents = new Map<string, AgentState>();
  private readonly sessions = new Map<string, SessionState>();
  private readonly toolMixes = new Map<string, ToolMix>();
  private readonly failedAuth = new Map<string, number[]>();
  private readonly dirty = new Set<string>();
  /** Alerts being raised, by detector and subject: the last raise of each (see raiseInTurn). */
  private readonly raising = new Map<string, Promise<void>>();
  private raisingNow = 0;
  private readonly waitingToRaise: (() => void)[] = [];
  private readonly detectors: Detector[];
  private readonly windowMs: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: DetectionEngineOptions) {
    this.detectors = ALL.filter((d) => o.config.detectors[d.name].enabled);
    this.windowMs = o.config.window_seconds * 1000;
  }

  /** Loads learned baselines and unresolved alerts; starts saving baselines periodically. */
  async start(): Promise<void> {
    for (const { key, data } of await this.o.store.loadBaselines()) {
      const [kind, id] = splitKey(key);
      if (kind === 'agent') this.agentState(id, 0).baseline.restore(data);
      else if (kind === 'tools') this.toolMix(id).restore(data);
    }
    await this.o.alerts.load();
    const every = this.o.saveEveryMs ?? 60_000;
    if (every > 0) {
      this.timer = setInterval(() => {
        this.pruneIdleSessions(this.o.now?.() ?? Date.now());
        void this.save().catch((err: unknown) => this.o.logger.warn({ err }, 'detector baselines could not be saved'));
      }, every);
      this.timer.unref();
    }
  }

  /** ExportSink: takes committed events; returns at once. */
  write(events: readonly ChainedEvent[]): void {
    for (const e of events) {
      if (!READ.has(e.type)) continue;
      if (this.queue.length >= MAX_QUEUE) {
        this.queue.shift();
        this.dropped++;
      }
      this.queue.push(e);
    }
    if (this.queue.length > 0 && !this.draining) this.draining = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.drain());
  }

  stats(): SinkStats {
    return { sent: this.processed, dropped: this.dropped, queued: this.queue.length };
  }

  /** Resolves once every event handed over so far has been judged and its alerts raised (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.draining || this.raising.size > 0) {
      if (this.draining) await this.draining;
      else await Promise.all(this.raising.values());
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.idle();
    await this.o.alerts.flush().catch((err: unknown) => this.o.logger.warn({ err }, 'alert updates could not be saved'));
    await this.save().catch((err: unknown) => this.o.logger.warn({ err }, 'detector baselines could not be saved'));
  }

  private async drain(): Promise<void> {
    try {
      for (let e = this.queue.shift(); e; e = this.queue.shift()) {
        const signal = signalOf(e);
        if (!signal) continue;
        try {
          // A promise only when the judgement has to wait for a record to load: most events are
          // judged without one.
          const waiting = this.judge(signal);
          if (waiting) await waiting;
        } catch (err) {
          this.o.logger.error({ err, event: e.id }, 'detection failed on an event');
        }
        this.processed++;
      }
    } finally {
      this.draining = null;
    }
  }

  /** Judges a signal; returns a promise only when it has to wait for the store to load a record. */
  private judge(signal: Signal): Promise<void> | undefined {
    // Whose profile judges it: the delegating session's for a delegation, else the signal's agent's.
    const sessionId = signal.kind === 'delegated' ? signal.parentId : signal.sessionId;
    const cached = this.cachedRecords(signal, sessionId);
    return cached ? this.judgeWith(signal, sessionId, cached) : this.loadRecords(signal, sessionId).then((r) => this.judgeWith(signal, sessionId, r));
  }

  /** The signal's session, agent and profile from the directory's cache; null if one must be loaded. */
  private cachedRecords(signal: Signal, sessionId: string | null): Records | null {
    const { directory } = this.o;
    const session = sessionId ? directory.sessions.peek(sessionId) : null;
    if (session === undefined) return null;
    const agentId = signal.kind === 'delegated' ? (session?.agentId ?? null) : signal.agentId;
    const agent = agentId ? directory.agents.peek(agentId) : null;
    if (agent === undefined) return null;
    const profile = agent ? directory.profiles.peek(agent.profileId) : null;
    if (profile === undefined) return null;
    return { session, agent, profile };
  }

  private async loadRecords(signal: Signal, sessionId: string | null): Promise<Records> {
    const { directory } = this.o;
    const session = sessionId ? await directory.sessions.get(sessionId) : null;
    const agentId = signal.kind === 'delegated' ? (session?.agentId ?? null) : signal.agentId;
    const agent = agentId ? await directory.agents.get(agentId) : null;
    const profile = agent ? await directory.profiles.get(agent.profileId) : null;
    return { session, agent, profile };
  }

  private judgeWith(signal: Signal, sessionId: string | null, records: Records): Promise<void> | undefined {
    const { session: sessionRecord, agent: agentRecord, profile } = records;
    const mix = profile ? this.toolMix(profile.id) : null;
    const warm = (mix?.total ?? 0) >= this.o.config.learning.warmup_tool_calls;

    const agent = signal.agentId && signal.kind !== 'auth_denied' ? this.agentState(signal.agentId, signal.time) : null;
    const session = sessionId && signal.kind !== 'auth_denied' ? this.sessionState(sessionId) : null;
    const toolsUsed = signal.kind === 'model' ? signal.tools : signal.kind === 'tool' ? [signal.tool] : [];
    let failedFromSource = 0;

    switch (signal.kind) {
      case 'model': {
        const w = agent!.window;
        w.usdNano += signal.costNano;
        w.calls++;
        if (signal.failed) w.failed++;
        if (signal.promptFp) w.prompts.set(signal.promptFp, (w.prompts.get(signal.promptFp) ?? 0) + 1);
        w.sessions.add(signal.sessionId);
        const horizon = signal.time - this.o.config.detectors.retry_loop.window_seconds * 1000;
        session!.recent.push({ time: signal.time, fp: signal.promptFp, rejected: signal.rejected, outcome: signal.outcome }, horizon);
        break;
      }
      case 'tool':
        agent!.window.usdNano += signal.costNano;
        agent!.window.sessions.add(signal.sessionId);
        break;
      case 'tool_denied':
        agent!.window.toolDenials++;
        break;
      case 'delegated':
        session!.children++;
        break;
      case 'auth_denied':
        if (signal.source && AUTH_FAILURES.has(signal.code)) failedFromSource = this.countFailure(signal.source, signal.time);
        break;
      case 'credential_shared':
        break;
    }
    if (agent) {
      for (const t of toolsUsed) {
        agent.window.toolCalls++;
        agent.window.tools.set(t, (agent.window.tools.get(t) ?? 0) + 1);
        if (warm && !mix!.has(t)) agent.window.newTools.add(t);
      }
    }

    const input: DetectorInput = {
      signal, agent, session, sessionRecord, profile, mission: profile?.mission ?? {}, tools: mix, toolsUsed, failedFromSource,
      config: this.o.config, timeZone: this.o.timeZone,
    };
    const findings: Finding[] = [];
    for (const d of this.detectors) for (const f of d.observe(input)) findings.push(f);

    if (session && (signal.kind === 'model' || signal.kind === 'tool')) session.previousCallAt = signal.time;
    if (mix && profile) {
      for (const t of toolsUsed) mix.learn(t);
      if (toolsUsed.length > 0) this.dirty.add(`tools:${profile.id}`);
    }
    if (findings.length === 0) return undefined;
    // A finding that only updates its open alert is done at once; the others are raised without
    // holding up the next event (see raiseInTurn).
    const owner = { teamId: signal.teamId ?? agentRecord?.teamId ?? null, profileId: profile?.id ?? null };
    for (const f of findings) if (!this.o.alerts.updateOpen(f)) this.raiseInTurn(f, owner);
    return undefined;
  }

  /**
   * Raises an alert — its audit events, its actions (a suspension, a webhook notice that may take
   * seconds) — after the raises of the same detector and subject before it, and beside everything
   * else: one storm of new findings (every looping session of a fleet raises its own alert) or a
   * slow webhook then holds up no other event's judgement. The alert is known at once (a finding
   * that follows updates it), so only its writes and actions run on.
   */
  private raiseInTurn(f: Finding, owner: { teamId: string | null; profileId: string | null }): void {
    const k = `${f.detector}|${f.subject}`;
    const before = this.raising.get(k);
    const run = () => this.o.alerts.raise(f, owner).then(
      () => undefined,
      (err: unknown) => this.o.logger.error({ err, detector: f.detector, subject: f.subject }, 'an alert could not be raised'),
    ).finally(() => this.releaseRaiseSlot());
    // At most MAX_RAISING at once: a storm's raises each hold a webhook request open, and a
    // receiver that never answers would otherwise gather them without bound.
    const raise = (): Promise<void> => {
      if (this.raisingNow < MAX_RAISING) {
        this.raisingNow++;
        return run();
      }
      return new Promise<void>((resolve) => this.waitingToRaise.push(resolve)).then(run);
    };
    const done: Promise<void> = (before ? before.then(raise) : raise()).finally(() => {
      if (this.raising.get(k) === done) this.raising.delete(k);
    });
    this.raising.set(k, done);
  }

  /** The agent's state, its window rolled forward to `time` (a finished active window teaches the baseline). */
  private agentState(agentId: string, time: number): AgentState {
    let s = this.agents.get(agentId);
    const start = time - (time % this.windowMs);
    if (!s) {
      if (this.agents.size >= MAX_AGENTS) this.agents.delete(this.agents.keys().next().value!);
      s = { window: new Window(start), baseline: new AgentBaseline(this.o.config.learning.half_life_windows) };
      this.agents.set(agentId, s);
    } else if (time >= s.window.start + this.windowMs) {
      if (s.window.active && !s.window.alerted) this.dirty.add(`agent:${agentId}`);
      s.baseline.learn(s.window);
      s.window = new Window(start);
    }
    return s;
  }

  private sessionState(sessionId: string): SessionState {
    let s = this.sessions.get(sessionId);
    if (!s) {
      if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
      s = { recent: new RecentCalls(MAX_RECENT), previousCallAt: null, children: 0 };
      this.sessions.set(sessionId, s);
    }
    return s;
  }

  private toolMix(profileId: string): ToolMix {
    let m = this.toolMixes.get(profileId);
    if (!m) this.toolMixes.set(profileId, (m = new ToolMix()));
    return m;
  }

  /** Counts a failed authentication from `source`; answers the count in the window. */
  private countFailure(source: string, time: number): number {
    const horizon = time - this.o.config.detectors.credential_misuse.window_seconds * 1000;
    let times = this.failedAuth.get(source);
    if (!times) {
      if (this.failedAuth.size >= MAX_SOURCES) this.failedAuth.delete(this.failedAuth.keys().next().value!);
      this.failedAuth.set(source, (times = []));
    }
    times.push(time);
    while (times.length > 0 && times[0]! < horizon) times.shift();
    return times.length;
  }

  /** Hands a finished raise's slot to the next one waiting for it. */
  private releaseRaiseSlot(): void {
    const next = this.waitingToRaise.shift();
    if (next) next();
    else this.raisingNow--;
  }

  /**
   * Forgets the retry window's calls of sessions that stopped calling: a window moves only when
   * its session calls again, and a finished session would otherwise keep its last minutes of
   * calls until it is evicted from the map.
   */
  pruneIdleSessions(now: number): void {
    const horizon = now - this.o.config.detectors.retry_loop.window_seconds * 1000;
    for (const s of this.sessions.values()) s.recent.prune(horizon);
  }

  /** Saves the baselines that changed since the last save. */
  async save(): Promise<void> {
    if (this.dirty.size === 0) return;
    const keys = [...this.dirty];
    this.dirty.clear();
    const updatedAt = Date.now();
    const rows = keys.flatMap((key) => {
      const [kind, id] = splitKey(key);
      const data = kind === 'agent' ? this.agents.get(id)?.baseline.toJSON() : this.toolMixes.get(id)?.toJSON();
      return data ? [{ key, data, updatedAt }] : [];
    });
    await this.o.store.saveBaselines(rows);
  }
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf(':');
  return [key.slice(0, i), key.slice(i + 1)];
}
