// Credential misuse: one session token used from several sources at once (a shared credential:
// critical), a token presented after it was revoked, and many failed authentications from one
// source (guessing or a leaked, dead credential being tried).
import type { Detector, DetectorInput, Finding } from '../types.js';

export const credentialMisuse: Detector = {
  name: 'credential_misuse',
  observe({ signal, failedFromSource, config }: DetectorInput): Finding[] {
    const c = config.detectors.credential_misuse;
    if (signal.kind === 'credential_shared') {
      return [{
        detector: 'credential_misuse', subject: `session:${signal.sessionId}`, severity: 'critical',
        summary: `One session token used from ${signal.sources.length} sources at once: ${signal.sources.join(', ')}.`,
        evidence: { kind: 'shared_credential', sources: signal.sources }, agentId: signal.agentId, sessionId: signal.sessionId,
      }];
    }
    if (signal.kind !== 'auth_denied') return [];
    const findings: Finding[] = [];
    if (signal.code === 'token_revoked' && signal.sessionId) {
      findings.push({
        detector: 'credential_misuse', subject: `session:${signal.sessionId}`, severity: 'warning',
        summary: `A revoked token was presented${signal.source ? ` from ${signal.source}` : ''}.`,
        evidence: { kind: 'revoked_token_replay', source: signal.source }, agentId: signal.agentId, sessionId: signal.sessionId,
      });
    }
    if (signal.source && failedFromSource >= c.failed_auth) {
      findings.push({
        detector: 'credential_misuse', subject: `source:${signal.source}`, severity: 'warning',
        summary: `${failedFromSource} failed authentications from ${signal.source} in ${c.window_seconds}s.`,
        evidence: { kind: 'failed_authentications', source: signal.source, failures: failedFromSource, window_seconds: c.window_seconds, last_code: signal.code },
        agentId: signal.agentId, sessionId: signal.sessionId,
      });
    }
    return findings;
  },
};
