// Revocation reaches calls already running. A model call checks its caller once, when it starts;
// a stream may then run for up to `server.stream_max_seconds`. When a token is revoked, or a
// session, agent or team changes here or on another replica (the directory drops or replaces its
// entry), the calls in flight that it could concern are checked again, and those whose caller may
// no longer call are cut: a stream ends with the refusal as its error event and is charged for
// what was delivered (`revoked`); a call still waiting for its answer gets the refusal itself.
// MCP calls (a tool call, a resource read, a prompt) are tracked the same way: cut, they are
// cancelled upstream and answered with the refusal.
import { GatewayError } from '../errors/index.js';
import type { DirectoryChange } from '../identity/directory.js';
import { callerStanding } from './authenticate.js';
import { CallAbort } from './call-abort.js';
import type { CallContext, PipelineDeps } from './context.js';

/** Refusals that mean the caller lost its standing (not a store that failed to answer). */
const LOST_STANDING = new Set(['token_revoked', 'invalid_token', 'session_inactive', 'session_suspended', 'agent_inactive', 'team_suspended']);

/** What stops a running call: a model or MCP call's `CallAbort`, or what ends an MCP session. */
export interface Cuttable {
  readonly aborted: boolean;
  /** Stops the call because its caller lost its standing. */
  revoke(err: GatewayError): void;
}

/**
 * What a call in flight is checked by: its token's claims and who it is, with no reference to the
 * call's context. Kept in reused slots of an array, not a Set: measured at 32 connections
 * (`bench:compare`), a Set of call contexts cost ~25 % more CPU per call, nearly all of it in the
 * garbage collector, though each left the Set as its call ended; a Set of these small entries
 * ~4 %; the slots nothing measurable.
 */
export interface InFlightCall {
  claims: NonNullable<CallContext['claims']>;
  sessionId: string;
  /** The session's delegation chain (root first, itself last): a change to an ancestor concerns it too. */
  chain: readonly string[];
  agentId: string;
  agentName: string;
  abort: Cuttable;
}

export class InFlightCalls {
  /** Calls in flight; a call's slot is emptied when it ends, and reused. */
  private readonly slots: (InFlightCall | null)[] = [];
  private readonly free: number[] = [];

  constructor(private readonly deps: Pick<PipelineDeps, 'revocations' | 'directory' | 'approvals' | 'now' | 'logger'>) {
    deps.directory.onChange((change) => this.directoryChanged(change));
    deps.revocations.onRevoked((jti) => this.recheck((call) => call.claims.jti === jti));
  }

  /** Counts an authenticated model call in; returns what counts it out. */
  add(ctx: CallContext): () => void {
    return this.track({ claims: ctx.claims!, sessionId: ctx.session!.id, chain: ctx.session!.chain, agentId: ctx.agent!.id, agentName: ctx.agent!.name, abort: ctx.abort });
  }

  /** Counts a running call in (`abort` is revoked if its caller loses its standing); returns what counts it out. */
  track(call: InFlightCall): () => void {
    const slot = this.free.pop() ?? this.slots.length;
    this.slots[slot] = call;
    return () => {
      if (this.slots[slot] !== call) return;
      this.slots[slot] = null;
      this.free.push(slot);
    };
  }

  get size(): number {
    return this.slots.length - this.free.length;
  }

  private directoryChanged({ kind, id }: DirectoryChange): void {
    if (this.size === 0 || kind === 'profile') return;
    if (id === null) return this.recheck(() => true);
    // Its own id first: a session stored before chains existed has an empty one.
    if (kind === 'session') return this.recheck((call) => call.sessionId === id || call.chain.includes(id));
    // An agent: its own calls, and every delegated one — a session it delegated to another agent
    // stops with it (the standing check walks each ancestor's agent), and a call carries only its
    // sessions' ids, not their agents'.
    if (kind === 'agent') return this.recheck((call) => call.agentId === id || call.agentName === id || call.chain.length > 1);
    // A team: its sessions' calls, but also those of its agents' sessions opened for another team
    // and of sessions delegated from its own (rare, and a check per session): all are checked.
    this.recheck(() => true);
  }

  /** Checks again the calls `concerned` picks, once per session, and cuts those whose caller lost its standing. */
  private recheck(concerned: (call: InFlightCall) => boolean): void {
    const bySession = new Map<string, InFlightCall[]>();
    for (const call of this.slots) {
      if (call === null || call.abort.aborted || !concerned(call)) continue;
      // A session's calls may carry different tokens (a refreshed one): each token is checked.
      if (this.deps.revocations.isRevoked(call.claims.jti)) {
        this.cut(call, new GatewayError('token_revoked'));
        continue;
      }
      const calls = bySession.get(call.sessionId);
      if (calls) calls.push(call);
      else bySession.set(call.sessionId, [call]);
    }
    for (const calls of bySession.values()) {
      callerStanding(calls[0]!.claims, this.deps).catch((err: unknown) => {
        if (err instanceof GatewayError && LOST_STANDING.has(err.code)) for (const call of calls) this.cut(call, err);
        // A store that cannot answer now cuts nothing: the call was admitted, and the next one is checked.
        else this.deps.logger.warn({ err }, 'could not check the calls in flight after a revocation');
      });
    }
  }

  /**
   * Cuts every model and tool call still running with `err` (a shutdown's grace ran out): a stream
   * ends with it as its error event, and each is charged as the gateway's own cut (`stream_cut`),
   * not as its client leaving. MCP sessions end with the server's close.
   */
  cutAll(err: GatewayError): void {
    for (const call of this.slots) if (call !== null && call.abort instanceof CallAbort) call.abort.abort(err);
  }

  private cut(call: InFlightCall, err: GatewayError): void {
    if (this.slots.includes(call)) call.abort.revoke(err);
  }
}
