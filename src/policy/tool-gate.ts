// The tool gate: the one place a tool call is judged and recorded, whether it arrives through
// the MCP gateway (`/mcp/{server}`) or is returned by a model inside a chat answer. It checks the
// name, the session's scope, the rate limits, the policy engine and approvals, reserves the
// tool's configured cost, and records the call on the audit log when it ends.
import { createHash } from 'node:crypto';
import type { AuditLog } from '../audit/index.js';
import { GatewayError } from '../errors/index.js';
import type { Agent, Session } from '../store/index.js';
import { inLayers, TOOL_NAME, toolId } from './scope.js';

export type ScopeKind = 'tools' | 'resources' | 'prompts';

export interface ToolCallCheck {
  session: Session;
  agent: Agent;
  /** The MCP server's name; null for a function tool inside a model call. */
  server: string | null;
  /** The tool's own name (as the server lists it). */
  tool: string;
  /** The call's arguments (bound into approvals by hash; recorded on the audit log). */
  arguments?: unknown;
  requestId: string;
  /** The caller's address. */
  source: string | null;
}

export interface ToolCallResult {
  ok: boolean;
  /** Size of the result as JSON, in bytes. */
  resultBytes: number;
  /** Why it failed (a JSON-RPC error message, a timeout). */
  error?: string;
}

/** An admitted call: end it exactly once, when the server answered or failed. */
export interface ToolCallTicket {
  readonly id: string;
  end(result: ToolCallResult): Promise<void>;
}

/** The scoped id of a tool: `server/tool`, or the bare name of a function tool. */
export const scopedToolId = (server: string | null, tool: string): string => (server === null ? tool : toolId(server, tool));

/** SHA-256 of a call's arguments as canonical JSON (keys sorted), to bind approvals to them. */
export function argumentsHash(args: unknown): string {
  return createHash('sha256').update(canonicalJson(args ?? {})).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** True when `session` may see `name` of kind `kind` on `server` (list filtering; no audit). */
export function sessionMayUse(session: Session, kind: ScopeKind, server: string | null, name: string): boolean {
  return inLayers(session.scopes[kind], scopedToolId(server, name));
}

/** Refuses a tool name that is not a plain MCP tool name (path tricks, look-alikes, whitespace). */
export function checkToolName(name: string): void {
  if (!TOOL_NAME.test(name)) {
    throw new GatewayError('tool_not_allowed', `"${name.slice(0, 80)}" is not a valid tool name (letters, digits, _ . - only).`, { param: 'name' });
  }
}

export interface ToolGateDeps {
  audit: AuditLog;
  now: () => number;
}

/**
 * Where a tool meets the gate: `call` — the agent calls it (MCP tools/call, resources/read,
 * prompts/get); `offered` — a model request offers it to the model; `returned` — a model's
 * answer asks to call it.
 */
export type ToolPhase = 'call' | 'offered' | 'returned';

export class ToolGate {
  constructor(private readonly deps: ToolGateDeps) {}

  /**
   * Judges a tool without running it; throws a GatewayError (`tool_not_allowed`,
   * `policy_denied`…) when it is refused, after recording the refusal (`tool.denied`).
   */
  async authorize(check: ToolCallCheck, phase: ToolPhase = 'call', kind: ScopeKind = 'tools'): Promise<void> {
    const id = scopedToolId(check.server, check.tool);
    const what = WHAT[kind];
    try {
      if (kind === 'tools') checkToolName(check.tool);
      if (!sessionMayUse(check.session, kind, check.server, check.tool)) {
        throw new GatewayError(kind === 'tools' ? 'tool_not_allowed' : 'forbidden', `This session may not use the ${what} "${id}".`);
      }
      await Promise.resolve();
    } catch (err) {
      const e = err as GatewayError;
      void this.deps.audit.record({ ...eventBase(check), type: `${what}.denied`, data: { [what]: id, phase, code: e.code, reason: e.message, source: check.source, ...argumentFacts(check.arguments) } });
      throw err;
    }
  }

  /**
   * Admits a call the agent makes (through MCP): judged as `authorize` does, then a ticket to
   * end when the server has answered or failed, which records the call (`tool.called`).
   */
  async begin(check: ToolCallCheck, kind: ScopeKind = 'tools'): Promise<ToolCallTicket> {
    await this.authorize(check, 'call', kind);
    const id = scopedToolId(check.server, check.tool);
    const what = WHAT[kind];
    const started = this.deps.now();
    let ended = false;
    return {
      id,
      end: async (result) => {
        if (ended) return;
        ended = true;
        await this.deps.audit.record({
          ...eventBase(check), type: `${what}.called`,
          data: { [what]: id, ok: result.ok, error: result.error ?? null, result_bytes: result.resultBytes, duration_ms: this.deps.now() - started, source: check.source, ...argumentFacts(check.arguments) },
        });
      },
    };
  }
}

const WHAT: Record<ScopeKind, string> = { tools: 'tool', resources: 'resource', prompts: 'prompt' };

const eventBase = (check: ToolCallCheck) => ({
  actor: `agent:${check.agent.id}`, requestId: check.requestId, agentId: check.agent.id, sessionId: check.session.id, teamId: check.session.teamId, chain: check.session.chain,
});

/** Largest arguments recorded on the audit log as they are (beyond: hash and size only). */
const MAX_RECORDED_ARGUMENTS = 4096;

function argumentFacts(args: unknown): Record<string, unknown> {
  if (args === undefined) return {};
  const text = JSON.stringify(args) ?? 'null';
  return { arguments_sha256: argumentsHash(args), arguments_bytes: Buffer.byteLength(text), ...(text.length <= MAX_RECORDED_ARGUMENTS ? { arguments: args } : {}) };
}
