// Tool deviation: an agent calling a tool its profile never called (once the profile's mix has
// warmed up, or at once when the profile declares `mission.tools`), one tool's share of the
// agent's recent tool calls far above its share in the profile's mix, or repeated refused tool
// calls — probing outside the scope (critical).
import { inScope } from '../../policy/scope.js';
import type { Detector, DetectorInput, Finding } from '../types.js';

export const toolDeviation: Detector = {
  name: 'tool_deviation',
  observe({ signal, agent, mission, tools, toolsUsed, config }: DetectorInput): Finding[] {
    if (!agent) return [];
    const c = config.detectors.tool_deviation;
    const w = agent.window;
    const base = { detector: 'tool_deviation' as const, subject: `agent:${signal.agentId}`, verdict: 'lateral_tool_misuse' as const, agentId: signal.agentId, sessionId: signal.sessionId };
    if (signal.kind === 'tool_denied' && w.toolDenials >= c.denied_calls) {
      return [{ ...base, severity: 'critical', summary: `${w.toolDenials} tool calls refused in ${config.window_seconds}s: calls outside the scope.`, evidence: { refused_tool_calls: w.toolDenials, last_refused: { tool: signal.tool, code: signal.code }, window_seconds: config.window_seconds } }];
    }
    const findings: Finding[] = [];
    const declared = mission.tools;
    const warm = (tools?.total ?? 0) >= config.learning.warmup_tool_calls;
    const unexpected = toolsUsed.filter((t) => (declared ? !inScope(declared, t) : warm && !tools?.has(t)));
    if (unexpected.length > 0) {
      findings.push({
        ...base, severity: 'warning',
        summary: `Called ${unexpected.length === 1 ? 'a tool' : 'tools'} its profile ${declared ? 'does not expect' : 'never used'}: ${unexpected.join(', ')}.`,
        evidence: { tools: unexpected, expected: declared ?? null, profile_tool_calls: tools?.total ?? 0, known_tools: tools ? [...tools.counts.keys()].slice(0, 20) : [] },
      });
    }
    for (const tool of toolsUsed) {
      const n = w.tools.get(tool) ?? 0;
      if (n < c.min_calls || !tools || !warm || !tools.has(tool)) continue;
      const share = n / w.toolCalls;
      const usual = tools.share(tool);
      if (share > Math.max(c.share_ratio * usual, 0.5)) {
        findings.push({
          ...base, severity: 'warning', summary: `${tool} is ${Math.round(share * 100)}% of recent tool calls (usually ${Math.round(usual * 100)}%).`,
          evidence: { tool, calls: n, share: Math.round(share * 1000) / 1000, usual_share: Math.round(usual * 1000) / 1000, window_tool_calls: w.toolCalls },
        });
      }
    }
    return findings;
  },
};
