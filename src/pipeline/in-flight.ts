// Revocation reaches calls already running. A model call checks its caller once, when it starts;
// a stream may then run for up to `server.stream_max_seconds`. When a token is revoked, or a
// session, agent or team changes here or on another replica (the directory drops or replaces its
// entry), the calls in flight that it could concern are checked again, and those whose caller may
// no longer call are cut: a stream ends with the refusal as its error event and is charged for
// what was delivered (`revoked`); a call still waiting for its answer gets the refusal itself.
import { GatewayError } from '../errors/index.js';
import type { DirectoryChange } from '../identity/directory.js';
import { callerStanding } from './authenticate.js';
import type { CallAbort } from './call-abort.js';
import type { CallContext, PipelineDeps } from './context.js';

/** Refusals that mean the caller lost its standing (not a store that failed to answer). */
const LOST_STANDING = new Set(['token_revoked', 'invalid_token', 'session_inactive', 'session_suspended', 'agent_inactive']);

interface InFlightCall {
  ctx: CallContext;
  abort: CallAbort;
}

export class InFlightCalls {
  private readonly calls = new Set<InFlightCall>();

  constructor(private readonly deps: Pick<PipelineDeps, 'revocations' | 'directory' | 'approvals' | 'now' | 'logger'>) {
    deps.directory.onChange((change) => this.directoryChanged(change));
    deps.revocations.onRevoked((jti) => this.recheck((ctx) => ctx.claims!.jti === jti));
  }

  /** Counts an authenticated call in; returns what counts it out. */
  add(ctx: CallContext, abort: CallAbort): () => void {
    const call = { ctx, abort };
    this.calls.add(call);
    return () => this.calls.delete(call);
  }

  get size(): number {
    return this.calls.size;
  }

  private directoryChanged({ kind, id }: DirectoryChange): void {
    if (this.calls.size === 0 || kind === 'profile') return;
    if (id === null) return this.recheck(() => true);
    if (kind === 'session') return this.recheck((ctx) => ctx.session!.id === id);
    if (kind === 'agent') return this.recheck((ctx) => ctx.agent!.id === id || ctx.agent!.name === id);
    this.recheck((ctx) => ctx.session!.teamId === id);
  }

  /** Checks again the calls `concerned` picks, once per session, and cuts those whose caller lost its standing. */
  private recheck(concerned: (ctx: CallContext) => boolean): void {
    const bySession = new Map<string, InFlightCall[]>();
    for (const call of this.calls) {
      if (call.abort.aborted || !concerned(call.ctx)) continue;
      // A session's calls may carry different tokens (a refreshed one): each token is checked.
      if (this.deps.revocations.isRevoked(call.ctx.claims!.jti)) {
        this.cut(call, new GatewayError('token_revoked'));
        continue;
      }
      const calls = bySession.get(call.ctx.session!.id);
      if (calls) calls.push(call);
      else bySession.set(call.ctx.session!.id, [call]);
    }
    for (const calls of bySession.values()) {
      callerStanding(calls[0]!.ctx.claims!, this.deps).catch((err: unknown) => {
        if (err instanceof GatewayError && LOST_STANDING.has(err.code)) for (const call of calls) this.cut(call, err);
        // A store that cannot answer now cuts nothing: the call was admitted, and the next one is checked.
        else this.deps.logger.warn({ err }, 'could not check the calls in flight after a revocation');
      });
    }
  }

  private cut(call: InFlightCall, err: GatewayError): void {
    if (call.abort.aborted || !this.calls.has(call)) return;
    call.ctx.revokedBy = err;
    call.abort.abort(err);
  }
}
