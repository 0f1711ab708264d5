// Retry loop: one session sending the same (or near-same: see fingerprint.ts) prompt again and
// again. Failing each time is the costly loop — an agent retrying a prompt that cannot work —
// and is critical; the same prompt answered many times is a warning.
import type { Detector, DetectorInput, Finding } from '../types.js';

export const retryLoop: Detector = {
  name: 'retry_loop',
  observe({ signal, session, config }: DetectorInput): Finding[] {
    if (signal.kind !== 'model' || !session || signal.promptFp === null) return [];
    const c = config.detectors.retry_loop;
    const same = session.recent.filter((r) => r.fp === signal.promptFp);
    const failed = same.filter((r) => r.failed).length;
    const critical = failed >= c.failed_repeats;
    if (!critical && same.length < c.repeats) return [];
    const outcomes: Record<string, number> = {};
    for (const r of same) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
    return [{
      detector: 'retry_loop', subject: `session:${signal.sessionId}`, severity: critical ? 'critical' : 'warning',
      summary: critical
        ? `The same prompt failed ${failed} times in ${c.window_seconds}s and was retried each time.`
        : `The same prompt was sent ${same.length} times in ${c.window_seconds}s.`,
      verdict: 'prompt_loop',
      evidence: {
        prompt_fingerprint: signal.promptFp, calls: same.length, failed, outcomes, window_seconds: c.window_seconds,
        first_at: new Date(same[0]!.time).toISOString(), last_at: new Date(signal.time).toISOString(),
      },
      agentId: signal.agentId, sessionId: signal.sessionId,
    }];
  },
};
