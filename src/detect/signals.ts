// What the detectors read: the durable audit events, reduced to the few kinds of behaviour they
// judge. Detection is a consumer of the one record — it sees exactly what an investigator sees.
import type { ChainedEvent } from '../store/index.js';

interface Base {
  time: number;
  agentId: string | null;
  sessionId: string | null;
  teamId: string | null;
}

export type Signal =
  /**
   * `failed`: the call did not get its answer (an upstream error of any kind, a cut stream).
   * `rejected`: the call as sent cannot work — the provider refused it (a 4xx but those of
   * `NOT_THE_PROMPT`), or its answer was a tool call outside the scope — so sending it again fails again.
   * A provider's outage fails calls (and SDKs retry them by themselves) without rejecting them.
   */
  | (Base & { kind: 'model'; agentId: string; sessionId: string; costNano: number; failed: boolean; rejected: boolean; outcome: string; promptFp: string | null; model: string; tools: string[] })
  | (Base & { kind: 'tool'; agentId: string; sessionId: string; tool: string; ok: boolean; costNano: number })
  | (Base & { kind: 'tool_denied'; agentId: string; sessionId: string; tool: string; code: string })
  | (Base & { kind: 'auth_denied'; code: string; source: string | null })
  | (Base & { kind: 'credential_shared'; agentId: string; sessionId: string; sources: string[] })
  | (Base & { kind: 'delegated'; agentId: string; sessionId: string; parentId: string; depth: number });

export type SignalKind = Signal['kind'];

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/**
 * 4xx answers that say nothing against the prompt: the provider refusing the gateway's own key
 * (401, 403), a model it does not serve (404), a conflict SDKs retry (409), a timeout (408), a
 * rate limit (429). Sending the same prompt again is right once those pass.
 */
const NOT_THE_PROMPT = new Set([401, 403, 404, 408, 409, 429]);

/** Outcomes of a call that got no (whole) answer: `failed`. */
export const FAILED_OUTCOMES = ['upstream_error', 'stream_cut'] as const;

/**
 * The signal an audit event carries, or null for events the detectors do not read. Each signal is
 * one literal with every field named: a spread of a shared base would cost ~4 µs per event on
 * Node 20's V8 (see store/chain.ts), and this runs on every call.
 */
export function signalOf(e: ChainedEvent): Signal | null {
  const d = e.data;
  const { time, agentId, sessionId, teamId } = e;
  switch (e.type) {
    case 'model.call': {
      if (!agentId || !sessionId) return null;
      const outcome = str(d.outcome) ?? 'ok';
      const status = num(d.http_status);
      const rejected = outcome === 'tool_blocked' || (outcome === 'upstream_error' && status >= 400 && status < 500 && !NOT_THE_PROMPT.has(status));
      return {
        kind: 'model', time, agentId, sessionId, teamId, costNano: num(d.cost_usd_nano), outcome, failed: (FAILED_OUTCOMES as readonly string[]).includes(outcome), rejected,
        promptFp: str(d.prompt_fp), model: str(d.model) ?? '', tools: Array.isArray(d.tool_calls) ? d.tool_calls.filter((t): t is string => typeof t === 'string') : [],
      };
    }
    case 'tool.called':
      if (!agentId || !sessionId) return null;
      return { kind: 'tool', time, agentId, sessionId, teamId, tool: str(d.tool) ?? '', ok: d.ok === true, costNano: Math.round(num(d.cost_usd) * 1e9) };
    case 'tool.denied':
      // Tools merely offered to a model and refused (or stripped) are the client's tool list, not a call.
      if (!agentId || !sessionId || d.phase === 'offered') return null;
      return { kind: 'tool_denied', time, agentId, sessionId, teamId, tool: str(d.tool) ?? '', code: str(d.code) ?? '' };
    case 'auth.denied':
    case 'token.denied':
      return { kind: 'auth_denied', time, agentId, sessionId, teamId, code: str(d.code) ?? str(d.error) ?? 'unknown', source: str(d.source) };
    case 'credential.shared':
      if (!agentId || !sessionId) return null;
      return { kind: 'credential_shared', time, agentId, sessionId, teamId, sources: Array.isArray(d.sources) ? d.sources.map(String) : [] };
    case 'session.delegated': {
      const parent = str(d.parent);
      if (!agentId || !sessionId || !parent) return null;
      return { kind: 'delegated', time, agentId, sessionId, teamId, parentId: parent, depth: num(d.depth) };
    }
    default:
      return null;
  }
}
