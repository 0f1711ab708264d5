// Turns Tollgate's objects into policy requests (the agent as principal; the model, tool,
// child agent or profile as resource; the session's context) and records every decision on the
// audit log. A deny is thrown as `policy_denied`; `approval` is returned for the caller to ask a
// human (tool calls) or refused (everything else).
import type { AuditLog } from '../audit/index.js';
import { GatewayError } from '../errors/index.js';
import type { Directory } from '../identity/directory.js';
import type { SessionPolicy } from '../identity/sessions.js';
import type { ModelRoute } from '../providers/registry.js';
import type { Agent, Profile, Session } from '../store/index.js';
import { entity, type EntityFacts, type PolicyAction, type PolicyDecision, type PolicyEngine, type RequestContext } from './engine.js';
import { contextOf, sensitivityLevel, type SessionContext } from './session-context.js';
import { wallClock } from '../util/time.js';

export interface AuthorizerDeps {
  engine: PolicyEngine;
  audit: AuditLog;
  directory: Directory;
  /** Time zone of `hour` and `weekday`. */
  timeZone: string;
  now: () => number;
}

export interface DecisionInput {
  action: PolicyAction;
  agent: Agent;
  resource: EntityFacts;
  context: SessionContext;
  /** Session the decision is about (for the audit record); null before a session exists. */
  session: Session | null;
  requestId: string | null;
  source?: string | null;
  estimatedCostNano?: number;
  phase?: string;
  /** An allow is recorded by the caller in its own event (a model call's `model.call`); refusals are recorded here. */
  allowRecordedByCaller?: boolean;
  /**
   * Where no human can be asked (everything but a tool call), an `@approval` forbid is a plain
   * deny: decided, recorded and thrown as one, so the log names no approval that was never raised.
   */
  approvalIsDeny?: boolean;
}

export class Authorizer implements SessionPolicy {
  private readonly principals = new WeakMap<Agent, EntityFacts>();
  private readonly models = new WeakMap<ModelRoute, EntityFacts>();
  private clock = { until: 0, hour: 0, weekday: 0 };

  constructor(private readonly deps: AuthorizerDeps) {}

  /** Decides and records; throws `policy_denied` on a deny. */
  async decide(input: DecisionInput): Promise<PolicyDecision> {
    const principal = await this.principal(input.agent);
    const context = this.requestContext(input);
    const decided = this.deps.engine.decide({ action: input.action, principal, resource: input.resource, context });
    const decision: PolicyDecision = input.approvalIsDeny && decided.effect === 'approval' ? { ...decided, effect: 'deny' } : decided;
    const session = input.session;
    if (input.allowRecordedByCaller && decision.effect === 'allow') return decision;
    void this.deps.audit.record({
      type: 'policy.decision', actor: `agent:${input.agent.id}`, requestId: input.requestId, agentId: input.agent.id,
      sessionId: session?.id ?? null, teamId: input.agent.teamId, chain: session?.chain ?? null,
      data: {
        action: input.action, resource: `${input.resource.type}::${input.resource.id}`, effect: decision.effect, policies: decision.policies,
        reasons: decision.reasons, errors: decision.errors, cached: decision.cached, policy_version: decision.version,
        // The whole context policies can read, so a refusal shows why.
        context: {
          environment: context.environment, data_sensitivity: context.data_sensitivity, sensitivity_level: context.sensitivity_level, intended_action: context.intended_action,
          estimated_cost_usd_micros: context.estimated_cost_usd_micros, delegation_depth: context.delegation_depth, hour: context.hour, weekday: context.weekday, source: context.source, phase: context.phase,
        },
      },
    });
    if (decision.effect === 'deny') throw denied(decision);
    return decision;
  }

  /**
   * A model call: denied unless every policy allows it (an approval-only deny is a deny here).
   * An allow is returned for the call's own `model.call` event to carry — one event per call.
   */
  async modelCall(session: Session, agent: Agent, route: ModelRoute, estimatedCostNano: number, requestId: string, source: string | null): Promise<PolicyDecision> {
    return this.decide({ action: 'call_model', agent, resource: this.model(route), context: contextOf(session), session, requestId, source, estimatedCostNano, allowRecordedByCaller: true, approvalIsDeny: true });
  }

  async authorizeOpen(agent: Agent, profile: Profile, context: SessionContext, requestId?: string): Promise<void> {
    await this.decide({ action: 'open_session', agent, resource: entity('Profile', profile.name, { name: profile.name }), context, session: null, requestId: requestId ?? null, approvalIsDeny: true });
  }

  async authorizeDelegate(parent: Session, child: Agent, _childProfile: Profile, context: SessionContext, requestId?: string): Promise<void> {
    const parentAgent = await this.deps.directory.agents.get(parent.agentId);
    if (!parentAgent) throw new GatewayError('agent_inactive');
    await this.decide({ action: 'delegate', agent: parentAgent, resource: await this.principal(child), context, session: parent, requestId: requestId ?? null, approvalIsDeny: true });
  }

  /** The tool as a policy resource: `server/tool` (or the bare name of a function tool). */
  tool(server: string | null, name: string, destructive: boolean): EntityFacts {
    const id = server === null ? name : `${server}/${name}`;
    const parents = server === null ? [] : [{ type: 'Server' as const, id: server, attrs: { name: server } }];
    return entity('Tool', id, { name, server: server ?? '', destructive }, parents);
  }

  model(route: ModelRoute): EntityFacts {
    let facts = this.models.get(route);
    if (!facts) {
      const approved = route.provider.approvedDataSensitivity;
      facts = entity('Model', route.name, {
        name: route.name, provider: route.provider.name, provider_type: route.provider.type,
        approved_data_sensitivity: approved, approved_sensitivity_level: sensitivityLevel(approved),
      });
      this.models.set(route, facts);
    }
    return facts;
  }

  /** The agent as a policy entity, member of its team and profile (cached per loaded agent). */
  async principal(agent: Agent): Promise<EntityFacts> {
    const cached = this.principals.get(agent);
    if (cached) return cached;
    const [team, profile] = await Promise.all([this.deps.directory.teams.get(agent.teamId), this.deps.directory.profiles.get(agent.profileId)]);
    const teamName = team?.name ?? agent.teamId;
    const profileName = profile?.name ?? agent.profileId;
    const facts = entity('Agent', agent.name, { name: agent.name, team: teamName, profile: profileName, environment: agent.environment, owner: agent.owner ?? '' }, [
      { type: 'Team', id: teamName, attrs: { name: teamName } },
      { type: 'Profile', id: profileName, attrs: { name: profileName } },
    ]);
    this.principals.set(agent, facts);
    return facts;
  }

  private requestContext(input: DecisionInput): RequestContext {
    const c = input.context;
    const { hour, weekday } = this.localTime();
    const depth = typeof c.delegation_depth === 'number' ? c.delegation_depth : (input.session ? input.session.chain.length - 1 : 0);
    return {
      environment: c.environment,
      data_sensitivity: c.data_sensitivity,
      sensitivity_level: sensitivityLevel(c.data_sensitivity),
      intended_action: c.intended_action,
      estimated_cost_usd_micros: Math.max(0, Math.ceil((input.estimatedCostNano ?? 0) / 1000)),
      delegation_depth: Number.isInteger(depth) ? depth : 0,
      hour,
      weekday,
      source: input.source ?? '',
      phase: input.phase ?? 'request',
    };
  }

  /** Hour and weekday in the configured time zone, recomputed once a minute (Intl is slow). */
  private localTime(): { hour: number; weekday: number } {
    const now = this.deps.now();
    if (now >= this.clock.until) {
      const { h, weekday } = wallClock(now, this.deps.timeZone);
      this.clock = { until: Math.floor(now / 60_000) * 60_000 + 60_000, hour: h, weekday };
    }
    return this.clock;
  }
}

function denied(decision: PolicyDecision): GatewayError {
  const why = decision.reasons.join('; ') || 'forbidden by policy';
  return new GatewayError('policy_denied', `Denied by policy: ${why}.`, { details: { policies: decision.policies } });
}
