// The one interface every detector implements, and what the engine hands it: the signal, the
// state it updated for the signal's agent and session, and the profile's declared mission.
import type { DetectionConfig } from '../config/index.js';
import type { AlertSeverity, Mission, Profile, Session, TriageVerdict } from '../store/index.js';
import type { AgentBaseline, ToolMix, Window } from './baseline.js';
import type { RecentCalls } from './recent-calls.js';
import type { Signal } from './signals.js';

export type DetectorName = keyof DetectionConfig['detectors'];

/** What a detector found; the engine turns it into an alert (or updates the open one). */
export interface Finding {
  detector: DetectorName;
  /** One unresolved alert per detector and subject: `agent:<id>`, `session:<id>`, `source:<address>`. */
  subject: string;
  severity: Exclude<AlertSeverity, 'info'>;
  summary: string;
  evidence: Record<string, unknown>;
  verdict?: TriageVerdict;
  agentId: string | null;
  sessionId: string | null;
}

/** A session's recent calls, as the retry and out-of-task detectors read them. */
export interface SessionState {
  /** Model calls in the retry window, counted per prompt. */
  recent: RecentCalls;
  /** The call before this signal (null: the first the detectors saw). */
  previousCallAt: number | null;
  /** Sessions opened from this one. */
  children: number;
}

export interface AgentState {
  window: Window;
  baseline: AgentBaseline;
}

export interface DetectorInput {
  signal: Signal;
  /** The signal's agent (null for signals that name none, e.g. an unknown token). */
  agent: AgentState | null;
  /** The signal's session state and record (null when the signal names none). */
  session: SessionState | null;
  sessionRecord: Session | null;
  profile: Profile | null;
  /** The profile's declared mission (`{}` when none). */
  mission: Mission;
  /** The profile's learned tool mix (before this signal's tools were added). */
  tools: ToolMix | null;
  /** Tools this signal used (MCP `server/tool`, or function tools a model answer called). */
  toolsUsed: string[];
  /** Failed authentications from the signal's source in the credential window. */
  failedFromSource: number;
  config: DetectionConfig;
  /** IANA time zone of active hours (the budgets' zone). */
  timeZone: string;
}

export interface Detector {
  readonly name: DetectorName;
  observe(input: DetectorInput): Finding[];
}
