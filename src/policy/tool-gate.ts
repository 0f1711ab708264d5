// The tool gate: the one place a tool call is judged and recorded, whether it arrives through
// the MCP gateway (`/mcp/{server}`) or is returned by a model inside a chat answer. It checks the
// name, the session's scope, the rate limits, the policy engine and approvals, reserves the
// tool's configured cost, and records the call on the audit log when it ends.
import type { ContentLog } from '../audit/content.js';
import { createHash } from 'node:crypto';
import type { AuditLog } from '../audit/index.js';
import { RESERVATION_LIFETIME_MS, type ApprovalService, type Journal, type Ledger, type RateAdmission, type RateLimiter, type Reservation } from '../budget/index.js';
import type { McpToolSettings } from '../config/index.js';
import { GatewayError } from '../errors/index.js';
import type { Directory } from '../identity/directory.js';
import { admit, limitsFor } from '../pipeline/rate-limit.js';
import { softThresholdGate } from '../pipeline/reserve.js';
import { loadAccounts } from '../pipeline/resolve.js';
import { usdToNano } from '../providers/pricing.js';
import type { Agent, PendingReservation, Profile, Session, UsageRecord } from '../store/index.js';
import { newTimeOrderedId } from '../util/ids.js';
import type { Telemetry } from '../telemetry/index.js';
import type { Authorizer } from './authorizer.js';
import { inLayers, inScope, TOOL_NAME, toolId } from './scope.js';
import { contextOf } from './session-context.js';

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
  /** The server marks the tool destructive (its `destructiveHint`); the config's setting wins. */
  destructive?: boolean;
  /** Ends a wait for a human's approval early: the caller lost its standing (the reason), or the client went away. */
  signal?: AbortSignal;
}

export interface ToolCallResult {
  ok: boolean;
  /** Not ok, yet the server may have run it (timed out or cancelled after it was sent): still charged. */
  ran?: boolean;
  /** Size of the result as JSON, in bytes. */
  resultBytes: number;
  /** Why it failed (a JSON-RPC error message, a timeout). */
  error?: string;
  /** Cut while it ran because its caller lost its standing: the refusal's code (`session_inactive`, `token_revoked`…). */
  revoked?: string;
  /** The result as text (JSON), for content logging; read only when the profile logs content. */
  resultText?: string;
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
  /** The policy engine's front; null: scope checks only. */
  authorizer: Authorizer | null;
  approvals: ApprovalService;
  directory: Directory;
  rateLimiter: RateLimiter;
  ledger: Ledger;
  /** The spend journal (a priced tool call leaves a spend line like a model call). */
  usage: Journal;
  timeZone: string;
  /** Per-tool settings from the config (`mcp_servers[].tools`). */
  toolSettings: (server: string, tool: string) => McpToolSettings | undefined;
  /** How long an approved tool call stays usable. */
  approvalTtlMs: number;
  /** Metrics and traces of tool calls and refusals. */
  telemetry?: Pick<Telemetry, 'toolCall' | 'toolDenied'>;
  /** Content logging (arguments and results), per the session's profile `content_logging`. */
  content?: ContentLog;
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
   * Judges a tool without running it: its name, the session's scope, and (for calls and
   * returned calls) the policies. Throws a GatewayError (`tool_not_allowed`, `policy_denied`…)
   * after recording the refusal (`tool.denied`); resolves with `approval` when only a human may
   * allow it (a policy annotated `@approval("required")`).
   */
  async authorize(check: ToolCallCheck, phase: ToolPhase = 'call', kind: ScopeKind = 'tools'): Promise<'allow' | 'approval'> {
    try {
      if (kind !== 'resources') checkToolName(check.tool);
      if (!sessionMayUse(check.session, kind, check.server, check.tool)) {
        throw new GatewayError(kind === 'tools' ? 'tool_not_allowed' : 'forbidden', `This session may not use the ${WHAT[kind]} "${scopedToolId(check.server, check.tool)}".`);
      }
      if (kind !== 'tools' || phase === 'offered' || !this.deps.authorizer) return 'allow';
      const settings = check.server === null ? undefined : this.deps.toolSettings(check.server, check.tool);
      const decision = await this.deps.authorizer.decide({
        action: 'call_tool', agent: check.agent, session: check.session, context: contextOf(check.session), requestId: check.requestId, source: check.source, phase,
        resource: this.deps.authorizer.tool(check.server, check.tool, settings?.destructive ?? check.destructive ?? false),
        estimatedCostNano: settings?.cost_usd === undefined ? 0 : usdToNano(settings.cost_usd),
      });
      if (decision.effect === 'approval' && phase === 'returned') {
        // Nobody can approve a call the agent will make itself: refuse it here.
        throw new GatewayError('policy_denied', `Denied by policy: ${decision.reasons.join('; ')} (call it through the MCP gateway to ask for an approval).`, { details: { policies: decision.policies } });
      }
      return decision.effect === 'approval' ? 'approval' : 'allow';
    } catch (err) {
      await this.recordDenial(check, phase, kind, err);
      throw err;
    }
  }

  /**
   * Admits a call the agent makes (through MCP): judged as `authorize` does, rate-limited, held
   * for a human where a policy, the profile (`tool_approvals`) or the tool's settings ask for
   * one, and its configured cost reserved. The ticket ends the call: it charges the cost (when
   * the call succeeded) and records it (`tool.called`).
   */
  async begin(check: ToolCallCheck, kind: ScopeKind = 'tools'): Promise<ToolCallTicket> {
    const id = scopedToolId(check.server, check.tool);
    const effect = await this.authorize(check, 'call', kind);
    let hold: { reservation: Reservation; costNano: number; lineId: string } | null = null;
    let admission: RateAdmission | null = null;
    try {
      const { accounts, profile } = await loadAccounts(check.session, this.deps);
      const limits = limitsFor(check.session, profile);
      if (limits.length > 0) admission = admit(this.deps.rateLimiter, limits, 0);
      if (kind === 'tools') {
        const settings = check.server === null ? undefined : this.deps.toolSettings(check.server, check.tool);
        // The price is held first: a call the budget cannot pay never uses up an approval.
        if (settings?.cost_usd) {
          const costNano = usdToNano(settings.cost_usd);
          await this.softThreshold(check, profile, costNano);
          // The hold and the call's spend line share an id: on a shared ledger the hold is durable
          // (a replica killed mid-call leaves it to reconcile) and the line settles it.
          const lineId = newTimeOrderedId('use');
          const reservation = await this.deps.ledger.reserve(accounts, { tokens: 0, usdNano: costNano }, toolHold(check, id, lineId, costNano, this.deps.now()));
          hold = { reservation, costNano, lineId };
        }
        const approvalLayers = check.session.scopes.approvals ?? [];
        const needsHuman = effect === 'approval' || settings?.approval === true || approvalLayers.some((layer) => inScope(layer, id)) || (profile !== null && inScope(profile.toolApprovals, id));
        if (needsHuman) await this.approved(check, id, profile);
      }
    } catch (err) {
      if (hold) this.deps.ledger.settle(hold.reservation, { tokens: 0, usdNano: 0 });
      if (admission) this.deps.rateLimiter.adjust(admission, 0);
      await this.recordDenial(check, 'call', kind, err);
      throw err;
    }
    const started = this.deps.now();
    const startedPerf = performance.now();
    let ended = false;
    return {
      id,
      end: async (result) => {
        if (ended) return;
        ended = true;
        this.deps.telemetry?.toolCall(check, kind, result.ok, startedPerf);
        const writes: Promise<void>[] = [];
        if (hold) {
          // The tool's price is charged when it ran (or may have: timed out or cancelled after it
          // was sent); a call the server refused or failed costs nothing.
          const charged = result.ok || result.ran === true ? hold.costNano : 0;
          this.deps.ledger.settle(hold.reservation, { tokens: 0, usdNano: charged }, true);
          writes.push(this.deps.usage.add({ usage: toolUsageLine(check, id, hold.lineId, charged, result.ok, startedPerf, this.deps.now()) }));
        }
        // The call's policy decision too: all of it is on disk before the agent hears back.
        writes.push(this.deps.audit.durable(check.requestId));
        writes.push(this.deps.audit.record({
          ...eventBase(check), type: `${WHAT[kind]}.called`,
          data: { [WHAT[kind]]: id, ok: result.ok, error: result.error ?? null, ...(result.revoked ? { revoked: result.revoked } : {}), result_bytes: result.resultBytes, duration_ms: this.deps.now() - started, cost_usd: hold && result.ok ? hold.costNano / 1e9 : 0, source: check.source, ...argumentFacts(check.arguments) },
        }));
        if (this.deps.content) writes.push(this.recordContent(check, result));
        await Promise.all(writes);
      },
    };
  }

  /** Arguments and result of a call, when its session's profile logs content. */
  private async recordContent(check: ToolCallCheck, result: ToolCallResult): Promise<void> {
    const setting = (await this.deps.directory.profiles.get(check.session.profileId))?.contentLogging;
    if (!setting || setting.mode === 'off') return;
    const texts: ['tool_arguments' | 'tool_result', string][] = [['tool_arguments', JSON.stringify(check.arguments ?? null)]];
    if (result.resultText !== undefined) texts.push(['tool_result', result.resultText]);
    await this.deps.content!.record(setting, { requestId: check.requestId, sessionId: check.session.id, agentId: check.agent.id }, texts);
  }

  /**
   * A human must allow this exact call: an approved, unused approval for the same tool and
   * arguments (within its lifetime) is used once; otherwise one is raised (or the pending one
   * joined) and the call waits for it as long as the profile holds calls, then is refused with
   * the approval's id to wait on.
   */
  private async approved(check: ToolCallCheck, id: string, profile: Profile | null): Promise<void> {
    const hash = argumentsHash(check.arguments);
    const { approvals } = this.deps;
    let approval = await approvals.findToolApproval(check.session.id, id, hash, this.deps.approvalTtlMs);
    if (approval?.status === 'approved' && (await approvals.consume(approval, check.requestId))) return;
    if (approval?.status === 'denied') throw new GatewayError('tool_approval_denied', `A human denied this call of "${id}".`, { details: { approval_id: approval.id } });
    if (approval?.status !== 'pending') {
      approval = await approvals.requestTool(check.session, {
        tool: id, arguments: check.arguments ?? {}, arguments_sha256: hash, agent: check.agent.name, request_id: check.requestId,
      }, check.requestId);
    }
    const holdMs = (check.session.enforcement ?? profile?.enforcement)?.holdSeconds ?? 0;
    const decided = holdMs > 0 ? await approvals.wait(approval.id, holdMs * 1000, check.signal) : null;
    // Cut while it waited (its token, session, agent or team revoked): refused as such at once.
    if (check.signal?.reason instanceof GatewayError) throw check.signal.reason;
    if (decided?.status === 'approved') {
      // The wait may have outlived the session (revoked, closed, expired) or its agent.
      const [session, agent] = await Promise.all([this.deps.directory.sessions.get(check.session.id), this.deps.directory.agents.get(check.agent.id)]);
      if (session?.status !== 'active' || session.expiresAt <= this.deps.now()) throw new GatewayError('session_inactive');
      if (agent?.status !== 'active') throw new GatewayError('agent_inactive');
      if (await approvals.consume(decided, check.requestId)) return;
    }
    if (decided?.status === 'denied') throw new GatewayError('tool_approval_denied', `A human denied this call of "${id}".`, { details: { approval_id: decided.id } });
    throw new GatewayError('tool_approval_required', `This call of "${id}" needs a human approval: approval ${approval.id} is pending. Call again with the same arguments once it is approved.`, {
      details: { approval_id: approval.id, tool: id, arguments_sha256: hash },
    });
  }

  /** Soft mode: a priced call that would take the session past its threshold needs the budget step-up too. */
  private async softThreshold(check: ToolCallCheck, profile: Profile | null, costNano: number): Promise<void> {
    const enforcement = check.session.enforcement ?? profile?.enforcement ?? null;
    if (enforcement?.mode !== 'soft') return;
    await this.deps.approvals.load(check.session.id);
    try {
      softThresholdGate(check.session, enforcement, this.deps, { tokens: 0, usdNano: costNano });
    } catch (err) {
      if (!(err instanceof GatewayError) || err.code !== 'approval_required') throw err;
      const approval = await this.deps.approvals.request(check.session, { ...err.details, tool: scopedToolId(check.server, check.tool), request_id: check.requestId }, check.requestId);
      throw new GatewayError('approval_required', `${err.message} Approval ${approval.id} is pending.`, { details: { ...err.details, approval_id: approval.id } });
    }
  }

  /** Records a refusal; resolves once it is durable (the refused caller hears of it only then). */
  private recordDenial(check: ToolCallCheck, phase: ToolPhase, kind: ScopeKind, err: unknown): Promise<void> {
    const e = err instanceof GatewayError ? err : null;
    this.deps.telemetry?.toolDenied(check, kind, e?.code ?? 'internal_error');
    return this.deps.audit.record({
      ...eventBase(check), type: `${WHAT[kind]}.denied`,
      data: { [WHAT[kind]]: scopedToolId(check.server, check.tool), phase, code: e?.code ?? 'internal_error', reason: e?.message ?? String(err), ...(e?.details ?? {}), source: check.source, ...argumentFacts(check.arguments) },
    }).catch(() => undefined);
  }
}

/** A priced tool call's hold as the store keeps it (reconciled at its price should the call never end). */
function toolHold(check: ToolCallCheck, id: string, lineId: string, costNano: number, now: number): PendingReservation {
  const s = check.session;
  return {
    id: lineId, requestId: check.requestId, sessionId: s.id, agentId: s.agentId, teamId: s.teamId, profileId: s.profileId,
    model: id, provider: check.server ?? '', api: 'mcp.tools', stream: false, promptTokens: 0, outputTokens: 0, usdNano: costNano,
    chain: s.chain, createdAt: now, expiresAt: now + RESERVATION_LIFETIME_MS,
  };
}

function toolUsageLine(check: ToolCallCheck, id: string, lineId: string, costNano: number, ok: boolean, startedPerf: number, now: number): UsageRecord {
  const s = check.session;
  return {
    id: lineId, requestId: check.requestId, sessionId: s.id, agentId: s.agentId, teamId: s.teamId, profileId: s.profileId,
    model: id, provider: check.server ?? '', api: 'mcp.tools', stream: false,
    inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0,
    costUsdNano: costNano, estimated: false, outcome: ok ? 'ok' : 'upstream_error', httpStatus: ok ? 200 : 502,
    latencyMs: Math.round((performance.now() - startedPerf) * 1000) / 1000, createdAt: now, chain: s.chain,
  };
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
