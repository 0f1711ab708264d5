// Spend spike: an agent's spend in the current window far above what its windows usually cost —
// its learned baseline once warmed up, else its profile's declared `mission.usd_per_minute`.
// Every spend alert carries a triage verdict (triage.ts).
import { triage } from '../triage.js';
import type { Detector, DetectorInput, Finding } from '../types.js';

export const spendSpike: Detector = {
  name: 'spend_spike',
  observe({ signal, agent, mission, tools, config }: DetectorInput): Finding[] {
    if (!agent || (signal.kind !== 'model' && signal.kind !== 'tool') || signal.costNano <= 0) return [];
    const c = config.detectors.spend_spike;
    const w = agent.window;
    if (w.usdNano < c.min_usd * 1e9) return [];
    const learned = agent.baseline.windows >= config.learning.warmup_windows && agent.baseline.spend.mean > 0;
    const declared = mission.usdPerMinute !== undefined ? mission.usdPerMinute * 1e9 * (config.window_seconds / 60) : null;
    const expected = learned ? agent.baseline.spend.mean : declared;
    if (expected === null || expected <= 0) return [];
    const ratio = w.usdNano / expected;
    if (ratio < c.warning_ratio) return [];
    w.alerted = true;
    // Once per severity per window: the alert holds the evidence at its raise and escalation,
    // and an operator who resolves it is not paged again by the same window.
    const severity = ratio >= c.critical_ratio ? 'critical' : 'warning';
    if (w.spikeReported === severity || w.spikeReported === 'critical') return [];
    w.spikeReported = severity;
    const t = triage(w, agent.baseline, tools, config.detectors.tool_deviation.share_ratio);
    // The spread is floored at a tenth of the mean: perfectly steady traffic would make any change infinite.
    const sd = Math.max(agent.baseline.spend.sd, expected / 10);
    return [{
      detector: 'spend_spike', subject: `agent:${signal.agentId}`, severity,
      summary: `Spend ${ratio.toFixed(1)}× the usual rate: $${(w.usdNano / 1e9).toFixed(4)} in ${config.window_seconds}s (usually $${(expected / 1e9).toFixed(4)}); looks like ${t.verdict.replaceAll('_', ' ')}.`,
      verdict: t.verdict,
      evidence: {
        window_start: new Date(w.start).toISOString(), window_seconds: config.window_seconds, spend_usd: w.usdNano / 1e9, expected_usd: expected / 1e9,
        ratio: Math.round(ratio * 100) / 100, z_score: learned ? Math.round(((w.usdNano - expected) / sd) * 100) / 100 : null,
        baseline: learned ? 'learned' : 'declared', baseline_windows: agent.baseline.windows, ...t.evidence,
      },
      agentId: signal.agentId, sessionId: signal.sessionId,
    }];
  },
};
