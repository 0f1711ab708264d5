// Retry loop: one session sending the same (or near-same: see fingerprint.ts) prompt again and
// again. Rejected each time is the costly loop — an agent retrying a prompt that cannot work (the
// provider refuses it as sent, or the model's answer is a blocked tool call) — and is critical;
// the same prompt failing for other reasons (a provider's outage, which SDKs retry by themselves:
// containing every session through an outage helps no one) or sent many times however it ended
// is a warning.
import { FAILED_OUTCOMES } from '../signals.js';
import type { Detector, DetectorInput, Finding } from '../types.js';
import { isoTime } from '../../util/time.js';

export const retryLoop: Detector = {
  name: 'retry_loop',
  observe({ signal, session, config }: DetectorInput): Finding[] {
    if (signal.kind !== 'model' || !session || signal.promptFp === null) return [];
    const c = config.detectors.retry_loop;
    const same = session.recent.repeats(signal.promptFp);
    if (!same) return [];
    const { rejected, outcomes } = same;
    // Every failure, rejected or not (the signal's `failed`).
    const failed = FAILED_OUTCOMES.reduce((sum, o) => sum + (outcomes[o] ?? 0), 0);
    const critical = rejected >= c.failed_repeats;
    const failing = failed >= c.failed_repeats;
    if (!critical && !failing && same.calls < c.repeats) return [];
    return [{
      detector: 'retry_loop', subject: `session:${signal.sessionId}`, severity: critical ? 'critical' : 'warning',
      summary: critical
        ? `The same prompt was rejected ${rejected} times in ${c.window_seconds}s and was retried each time.`
        : failing
          ? `The same prompt failed ${failed} times in ${c.window_seconds}s (upstream errors or cut streams: retried, as during an outage).`
          : `The same prompt was sent ${same.calls} times in ${c.window_seconds}s.`,
      verdict: 'prompt_loop',
      evidence: {
        prompt_fingerprint: signal.promptFp, calls: same.calls, failed, rejected, outcomes, window_seconds: c.window_seconds,
        first_at: isoTime(same.firstAt), last_at: isoTime(signal.time),
      },
      agentId: signal.agentId, sessionId: signal.sessionId,
    }];
  },
};
