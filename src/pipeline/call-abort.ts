// What stops a call's upstream request: the client going away, or the answer running past
// `server.stream_max_seconds`. The upstream call (upstream-call.ts) listens for its `abort`; an
// EventEmitter costs ~0.2 µs per call where an AbortController with its listener costs ~3 µs,
// and every call makes one.
import { EventEmitter } from 'node:events';
import { GatewayError } from '../errors/index.js';

export class CallAbort extends EventEmitter {
  aborted = false;
  /** Why the call was stopped: a GatewayError when the gateway cut it, else the client left. */
  reason: Error | undefined = undefined;

  /** Set when the call was cut because its caller was revoked (`InFlightCalls`). */
  revokedBy: GatewayError | null = null;

  /**
   * Whether the current attempt's request went out to the upstream (undici took it onto a
   * connection before any stop): the upstream may then have begun the work. Reset per attempt.
   */
  requestSent = false;

  private controller: AbortController | null = null;

  /** The same stop as an AbortSignal, for an API that takes one (an MCP call): made on first use. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  /** Stopped because the client went away (not by the gateway: a revocation, a time limit). */
  get clientLeft(): boolean {
    return this.aborted && !(this.reason instanceof GatewayError);
  }

  /** Cuts the call because its caller lost its standing. */
  revoke(err: GatewayError): void {
    if (this.aborted) return;
    this.revokedBy = err;
    this.abort(err);
  }

  abort(reason: Error = new Error('The client closed the connection.')): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
    this.emit('abort');
  }
}
