// Out-of-task use: a session called again after a long silence (its task should have ended), a
// session still calling long past its profile's expected task length, or calls outside the
// profile's active hours. Warnings: the call itself may be fine; a human should look.
import type { Detector, DetectorInput, Finding } from '../types.js';
import { isoTime, wallClock } from '../../util/time.js';

export const outOfTask: Detector = {
  name: 'out_of_task',
  observe({ signal, session, sessionRecord, mission, config, timeZone }: DetectorInput): Finding[] {
    if ((signal.kind !== 'model' && signal.kind !== 'tool') || !session) return [];
    const c = config.detectors.out_of_task;
    const base = { detector: 'out_of_task' as const, subject: `session:${signal.sessionId}`, severity: 'warning' as const, agentId: signal.agentId, sessionId: signal.sessionId };
    const findings: Finding[] = [];
    if (session.previousCallAt !== null && signal.time - session.previousCallAt >= c.idle_seconds * 1000) {
      const idle = Math.round((signal.time - session.previousCallAt) / 1000);
      findings.push({ ...base, summary: `The session called again after ${idle}s without calls.`, evidence: { idle_seconds: idle, limit_seconds: c.idle_seconds, previous_call_at: isoTime(session.previousCallAt) } });
    }
    if (sessionRecord && mission.sessionMinutes !== undefined) {
      const ageMinutes = (signal.time - sessionRecord.createdAt) / 60_000;
      if (ageMinutes > c.overrun_ratio * mission.sessionMinutes) {
        findings.push({ ...base, summary: `The session is still calling after ${Math.round(ageMinutes)} minutes (tasks take about ${mission.sessionMinutes}).`, evidence: { age_minutes: Math.round(ageMinutes), expected_minutes: mission.sessionMinutes, overrun_ratio: c.overrun_ratio } });
      }
    }
    if (mission.activeHours) {
      const at = clockIn(signal.time, timeZone);
      const { from, to } = mission.activeHours;
      const inside = from <= to ? at >= from && at < to : at >= from || at < to;
      if (!inside) findings.push({ ...base, summary: `Called at ${at} (${timeZone}), outside active hours ${from}-${to}.`, evidence: { local_time: at, time_zone: timeZone, active_hours: mission.activeHours } });
    }
    return findings;
  },
};

/** `HH:MM` of `time` in `timeZone`. */
function clockIn(time: number, timeZone: string): string {
  const { h, min } = wallClock(time, timeZone);
  return `${String(h).padStart(2, '0')}:${String(min).padStart(2, '0')}`;
}
