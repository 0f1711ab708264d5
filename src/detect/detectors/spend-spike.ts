// Spend spike: an agent's spend — or its call rate — in the current window far above what its
// windows usually hold: its learned baseline once warmed up, else its profile's declared
// `mission.usd_per_minute` / `calls_per_minute`. Every spend alert carries a triage verdict.
import { triage } from '../triage.js';
import type { Detector, DetectorInput, Finding } from '../types.js';
import { isoTime } from '../../util/time.js';

/** A window with fewer calls than this is never a call-rate spike (a few calls prove nothing). */
const MIN_CALLS = 10;
/** Sessions the evidence names, at most (`distinct_sessions` counts them all). */
const MAX_SESSIONS = 20;

export const spendSpike: Detector = {
  name: 'spend_spike',
  observe({ signal, agent, mission, tools, config }: DetectorInput): Finding[] {
    if (!agent || (signal.kind !== 'model' && signal.kind !== 'tool')) return [];
    const c = config.detectors.spend_spike;
    const w = agent.window;
    const b = agent.baseline;
    const perWindow = config.window_seconds / 60;
    const learned = b.windows >= config.learning.warmup_windows;
    const usual = {
      spend: learned && b.spend.mean > 0 ? b.spend.mean : mission.usdPerMinute !== undefined ? mission.usdPerMinute * 1e9 * perWindow : null,
      calls: learned && b.calls.mean > 0 ? b.calls.mean : mission.callsPerMinute !== undefined ? mission.callsPerMinute * perWindow : null,
    };
    const spendRatio = usual.spend && w.usdNano >= c.min_usd * 1e9 ? w.usdNano / usual.spend : 0;
    const callsRatio = usual.calls && w.calls >= MIN_CALLS ? w.calls / usual.calls : 0;
    const ratio = Math.max(spendRatio, callsRatio);
    if (ratio < c.warning_ratio) return [];
    w.alerted = true;
    // Once per severity per window: the alert holds the evidence at its raise and escalation,
    // and an operator who resolves it is not paged again by the same window.
    const severity = ratio >= c.critical_ratio ? 'critical' : 'warning';
    if (w.spikeReported === severity || w.spikeReported === 'critical') return [];
    w.spikeReported = severity;
    const t = triage(w, b, tools, config.detectors.tool_deviation.share_ratio, mission.errorRate);
    // The spread is floored at a tenth of the mean: perfectly steady traffic would make any change infinite.
    const z = learned && usual.spend ? (w.usdNano - usual.spend) / Math.max(b.spend.sd, usual.spend / 10) : null;
    const what = spendRatio >= callsRatio
      ? `Spend ${ratio.toFixed(1)}× the usual rate: $${(w.usdNano / 1e9).toFixed(4)} in ${config.window_seconds}s (usually $${(usual.spend! / 1e9).toFixed(4)})`
      : `Calls ${ratio.toFixed(1)}× the usual rate: ${w.calls} in ${config.window_seconds}s (usually ${usual.calls!.toFixed(1)})`;
    // The agent is the subject, its sessions are where it happens: the session of the call that
    // crossed first, then the others of the window.
    const sessions = [signal.sessionId];
    for (const s of w.sessions) {
      if (sessions.length >= MAX_SESSIONS) break;
      if (s !== signal.sessionId) sessions.push(s);
    }
    const across = w.sessions.size > 1 ? ` across ${w.sessions.size} sessions` : ` in session ${signal.sessionId}`;
    return [{
      detector: 'spend_spike', subject: `agent:${signal.agentId}`, severity,
      summary: `${what}${across}; looks like ${t.verdict.replaceAll('_', ' ')}.`,
      verdict: t.verdict,
      evidence: {
        window_start: isoTime(w.start), window_seconds: config.window_seconds,
        spend_usd: w.usdNano / 1e9, expected_usd: usual.spend === null ? null : usual.spend / 1e9, ratio: round(ratio),
        spend_ratio: round(spendRatio), calls_ratio: round(callsRatio), expected_calls: usual.calls === null ? null : round(usual.calls),
        z_score: z === null ? null : round(z), baseline: learned ? 'learned' : 'declared', baseline_windows: b.windows, ...t.evidence,
        sessions,
      },
      agentId: signal.agentId, sessionId: signal.sessionId,
    }];
  },
};

const round = (x: number) => Math.round(x * 100) / 100;
