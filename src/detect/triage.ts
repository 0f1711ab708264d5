// The triage verdict on a spend alert: where the security team should look first. The agent's
// identity is the same in all three cases; the verdict is read from its behaviour in the window
// that spiked, against its own baseline:
//   lateral_tool_misuse — tools the profile never used, refused tool calls, or one tool's share
//                         far above the profile's mix;
//   prompt_loop         — the same prompt again and again, or failures followed by retries;
//   legitimate_throughput — otherwise: more distinct tasks and prompts at a normal cost per call.
import type { TriageVerdict } from '../store/index.js';
import type { AgentBaseline, ToolMix, Window } from './baseline.js';

export interface Triage {
  verdict: TriageVerdict;
  evidence: Record<string, unknown>;
}

/** At most this many examples (fingerprints, tools) are quoted as evidence. */
const EXAMPLES = 5;

/** `declaredErrorRate`: the profile's `mission.error_rate`, used until an error rate is learned. */
export function triage(w: Window, baseline: AgentBaseline, mix: ToolMix | null, shareRatio: number, declaredErrorRate?: number): Triage {
  const repeats = [...w.prompts.entries()].sort((a, b) => b[1] - a[1]);
  const [topPrompt, topCount] = repeats[0] ?? [null, 0];
  const distinctShare = w.calls > 0 ? w.prompts.size / w.calls : 1;
  const errorRate = w.calls > 0 ? w.failed / w.calls : 0;
  const usualErrorRate = baseline.windows > 0 ? baseline.errorRate.mean : (declaredErrorRate ?? 0);
  const usualCostPerCall = baseline.calls.mean > 0 ? baseline.spend.mean / baseline.calls.mean : null;
  const costPerCall = w.calls > 0 ? w.usdNano / w.calls : null;
  const shifted = [...w.tools.entries()]
    .filter(([tool, n]) => w.toolCalls > 0 && mix !== null && mix.total > 0 && n / w.toolCalls > Math.max(shareRatio * mix.share(tool), 0.5))
    .map(([tool, n]) => ({ tool, share: round(n / w.toolCalls), usual_share: round(mix?.share(tool) ?? 0) }));
  const evidence: Record<string, unknown> = {
    calls: w.calls,
    distinct_prompts: w.prompts.size,
    distinct_sessions: w.sessions.size,
    most_repeated_prompt: topPrompt ? { fingerprint: topPrompt, calls: topCount } : null,
    failed_calls: w.failed,
    error_rate: round(errorRate),
    usual_error_rate: round(usualErrorRate),
    cost_per_call_usd: costPerCall === null ? null : costPerCall / 1e9,
    usual_cost_per_call_usd: usualCostPerCall === null ? null : usualCostPerCall / 1e9,
    tool_calls: w.toolCalls,
    new_tools: [...w.newTools].slice(0, EXAMPLES),
    refused_tool_calls: w.toolDenials,
    tool_share_shifts: shifted.slice(0, EXAMPLES),
  };
  if (w.newTools.size > 0 || w.toolDenials > 0 || shifted.length > 0) return { verdict: 'lateral_tool_misuse', evidence };
  const looping = (topCount >= 3 && distinctShare <= 0.5) || (w.failed >= 3 && errorRate > Math.max(0.3, 2 * usualErrorRate));
  if (looping) return { verdict: 'prompt_loop', evidence };
  return { verdict: 'legitimate_throughput', evidence };
}

const round = (x: number) => Math.round(x * 1000) / 1000;
