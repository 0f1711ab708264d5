// Retry loop: one session sending the same (or near-same: see fingerprint.ts) prompt again and
// again. Failing each time is the costly loop — an agent retrying a prompt that cannot work —
// and is critical; the same prompt answered many times is a warning.
import type { Detector, DetectorInput, Finding } from '../types.js';
import { isoTime } from '../../util/time.js';

export const retryLoop: Detector = {
  name: 'retry_loop',
  observe({ signal, session, config }: DetectorInput): Finding[] {
    if (signal.kind !== 'model' || !session || signal.promptFp === null) return [];
    const c = config.detectors.retry_loop;
    const same = session.recent.repeats(signal.promptFp);
    if (!same) return [];
    const { failed, outcomes } = same;
    const critical = failed >= c.failed_repeats;
    if (!critical && same.calls < c.repeats) return [];
    return [{
      detector: 'retry_loop', subject: `session:${signal.sessionId}`, severity: critical ? 'critical' : 'warning',
      summary: critical
        ? `The same prompt failed ${failed} times in ${c.window_seconds}s and was retried each time.`
        : `The same prompt was sent ${same.calls} times in ${c.window_seconds}s.`,
      verdict: 'prompt_loop',
      evidence: {
        prompt_fingerprint: signal.promptFp, calls: same.calls, failed, outcomes, window_seconds: c.window_seconds,
        first_at: isoTime(same.firstAt), last_at: isoTime(signal.time),
      },
      agentId: signal.agentId, sessionId: signal.sessionId,
    }];
  },
};
