// Obtaining sessions: `client_credentials` with a client secret, or RFC 8693 token exchange with
// a federated workload JWT (SPIFFE JWT-SVID, Kubernetes or CI OIDC token), or adopting a token
// handed over by a parent process.
import { tokenRefusal } from './errors.js';
import { TollgateSession, sessionParams, type TokenAnswer, type SessionRequest } from './session.js';

export interface TollgateOptions {
  /** The gateway, e.g. `http://127.0.0.1:8080` (default: `$TOLLGATE_URL`, else that). */
  baseUrl?: string;
  /** The agent's client id and secret (default: `$TOLLGATE_CLIENT_ID`, `$TOLLGATE_CLIENT_SECRET`). */
  clientId?: string;
  clientSecret?: string;
  /** A federated workload JWT, or a function that reads the current one (SPIRE rotates them). */
  workloadJwt?: string | (() => string | Promise<string>);
  /** Close this client's open sessions when the process exits or is interrupted (default true). */
  closeOnExit?: boolean;
  /** Refresh a token when less than this share of its life is left (default 0.2). */
  refreshAt?: number;
  fetch?: typeof fetch;
}

export type SessionOptions = SessionRequest;

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';

export class Tollgate {
  readonly baseUrl: string;
  readonly fetch: typeof fetch;
  readonly refreshAt: number;
  private readonly open = new Set<TollgateSession>();
  private exitHooked = false;

  constructor(private readonly options: TollgateOptions = {}) {
    this.baseUrl = (options.baseUrl ?? process.env.TOLLGATE_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
    this.fetch = options.fetch ?? globalThis.fetch;
    this.refreshAt = options.refreshAt ?? 0.2;
  }

  /**
   * Opens a session for a task: with the workload JWT when one is configured, else the client
   * secret. The answer is a session whose token refreshes itself.
   */
  async openSession(request: SessionOptions): Promise<TollgateSession> {
    const jwt = this.options.workloadJwt;
    const answer = jwt !== undefined
      ? await this.token({ grant_type: TOKEN_EXCHANGE, subject_token: typeof jwt === 'function' ? await jwt() : jwt, subject_token_type: JWT, ...sessionParams(request) })
      : await this.token({ grant_type: 'client_credentials', ...sessionParams(request) }, this.basicAuth());
    return this.adopt(answer.access_token, answer.expires_in);
  }

  /** A session from a token someone handed over (a parent process passing `TOLLGATE_TOKEN`). */
  fromToken(token = process.env.TOLLGATE_TOKEN ?? ''): TollgateSession {
    if (!token) throw new TypeError('no session token given (TOLLGATE_TOKEN is empty)');
    return this.adopt(token, null);
  }

  /** @internal Tracks a session so that it is closed on exit. */
  adopt(token: string, expiresIn: number | null): TollgateSession {
    const session = new TollgateSession(this, token, expiresIn);
    this.open.add(session);
    this.hookExit();
    return session;
  }

  /** @internal */
  forget(session: TollgateSession): void {
    this.open.delete(session);
  }

  /** Closes every session this client opened and has not closed. */
  async closeAll(): Promise<void> {
    await Promise.allSettled([...this.open].map((s) => s.close()));
  }

  /**
   * @internal One call to the token endpoint. A refusal is a TollgateError: typed (SessionEndedError,
   * BudgetExceededError…) with its Tollgate code when it can be told, else with the OAuth error code;
   * either way the OAuth code is in `details.oauth_error`.
   */
  async token(params: Record<string, string>, headers: Record<string, string> = {}): Promise<TokenAnswer> {
    const res = await this.fetch(`${this.baseUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(params).toString(),
    });
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) throw tokenRefusal(res.status, body);
    return body as unknown as TokenAnswer;
  }

  private basicAuth(): Record<string, string> {
    const id = this.options.clientId ?? process.env.TOLLGATE_CLIENT_ID;
    const secret = this.options.clientSecret ?? process.env.TOLLGATE_CLIENT_SECRET;
    if (!id || !secret) throw new TypeError('give clientId and clientSecret (or TOLLGATE_CLIENT_ID and TOLLGATE_CLIENT_SECRET), or a workloadJwt');
    return { authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}` };
  }

  /** Sessions still open when the process ends are closed: on a natural end and on SIGINT/SIGTERM. */
  private hookExit(): void {
    if (this.exitHooked || this.options.closeOnExit === false) return;
    this.exitHooked = true;
    process.once('beforeExit', () => void this.closeAll());
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        void this.closeAll().finally(() => process.kill(process.pid, signal));
      });
    }
  }
}
