// A provider in trouble — refusing the gateway's key, out of reach, too slow — fails every call
// sent to it, and each call's own log line says only its status. The operator hears of it here:
// one line per provider and kind of trouble at most once a minute (a flood of identical lines
// hides everything else), at `error` for a refused key (a configuration to fix, see
// providers[].api_key_env) and `warn` for the rest, with how many calls it hit since the line before.
import type { Logger } from 'pino';
import type { GatewayError } from '../errors/index.js';
import { LogThrottle } from '../util/log-throttle.js';

export type TroubleKind = 'key_refused' | 'unreachable' | 'timeout';

const REPORT_EVERY_MS = 60_000;

export class ProviderTrouble {
  private readonly throttle: LogThrottle;

  constructor(private readonly logger: Logger, now: () => number = Date.now) {
    this.throttle = new LogThrottle(REPORT_EVERY_MS, now);
  }

  /** An upstream answer with `status`: a refused key (401/403) is trouble, anything else is not. */
  answered(provider: string, status: number): void {
    if (status === 401 || status === 403) this.report(provider, 'key_refused', { upstream_status: status });
  }

  /** A call that got no answer (`upstreamFailure`'s error): the provider out of reach, or too slow. */
  failed(provider: string, err: GatewayError): void {
    if (err.code !== 'upstream_unavailable' && err.code !== 'upstream_timeout') return;
    const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
    this.report(provider, err.code === 'upstream_timeout' ? 'timeout' : 'unreachable', { cause: typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : null });
  }

  private report(provider: string, kind: TroubleKind, detail: Record<string, unknown>): void {
    const heldBack = this.throttle.due(`${provider}\u0000${kind}`);
    if (heldBack === null) return;
    const fields = { provider, trouble: kind, calls_since_last_report: heldBack, ...detail };
    if (kind === 'key_refused') this.logger.error(fields, `provider "${provider}" refused the gateway's key (calls answer 502): check its key (providers[].api_key_env)`);
    else if (kind === 'timeout') this.logger.warn(fields, `provider "${provider}" is too slow to answer (calls answer 504; providers[].timeout_ms)`);
    else this.logger.warn(fields, `provider "${provider}" is out of reach (calls answer 502)`);
  }
}
