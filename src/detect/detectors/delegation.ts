// Delegation anomalies: a delegation chain deeper, or a session opening more children, than the
// delegating profile's mission expects (the configured `delegation.max_depth` is the hard cap;
// this is the profile's expectation, far below it).
import type { Detector, DetectorInput, Finding } from '../types.js';

export const delegation: Detector = {
  name: 'delegation',
  observe({ signal, session, mission }: DetectorInput): Finding[] {
    if (signal.kind !== 'delegated') return [];
    const findings: Finding[] = [];
    const base = { detector: 'delegation' as const, severity: 'warning' as const, agentId: signal.agentId, sessionId: signal.sessionId };
    if (mission.maxDelegationDepth !== undefined && signal.depth > mission.maxDelegationDepth) {
      findings.push({ ...base, subject: `session:${signal.sessionId}`, summary: `Delegation ${signal.depth} deep (expected at most ${mission.maxDelegationDepth}).`, evidence: { depth: signal.depth, expected: mission.maxDelegationDepth, parent: signal.parentId } });
    }
    if (mission.maxFanout !== undefined && session && session.children > mission.maxFanout) {
      findings.push({ ...base, subject: `session:${signal.parentId}`, sessionId: signal.parentId, summary: `A session opened ${session.children} child sessions (expected at most ${mission.maxFanout}).`, evidence: { children: session.children, expected: mission.maxFanout, latest_child: signal.sessionId } });
    }
    return findings;
  },
};
