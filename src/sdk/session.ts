// One session: its token (refreshed before it expires), clients already pointed at the gateway
// with that token, delegation to sub-agents, waiting for a human, and closing when the task ends.
// Types only: the packages are the agent's own (optional peer dependencies), loaded when asked for.
import type Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';
import type { Tollgate } from './client.js';
import { ApprovalDeniedError, ApprovalRequiredError, TollgateError, toTollgateError, typedError } from './errors.js';
import { refusalResponse } from './refusals.js';

export interface TokenAnswer {
  access_token: string;
  expires_in: number;
  session_id: string;
  /** Seconds until the session itself ends (a token never outlives it). */
  session_expires_in?: number;
  scope?: string;
}

/** What a session is for and what it may spend; each within the agent's profile. */
export interface SessionRequest {
  task: string;
  budgetUsd?: number;
  budgetTokens?: number;
  /** Narrow the models (names or globs). */
  models?: string[];
  /** Narrow the MCP scopes (`server/tool`, `server/uri`, `server/prompt` globs). */
  tools?: string[];
  resources?: string[];
  prompts?: string[];
  ttlSeconds?: number;
  dataSensitivity?: 'public' | 'internal' | 'confidential' | 'restricted';
  intendedAction?: string;
  /** Business tags for chargeback (cost center, ticket…). */
  tags?: Record<string, string>;
}

export interface DelegateOptions extends SessionRequest {
  /** The sub-agent (id or name); default: this session's agent. */
  agent?: string;
  /** The sub-agent's workload JWT, when its profile requires proof of identity. */
  actorToken?: string;
}

/** An approval as the agent sees it (`GET /agent/v1/approvals/{id}`). */
export interface AgentApproval {
  id: string;
  kind: 'budget' | 'tool' | 'resume';
  status: 'pending' | 'approved' | 'denied';
  session_id: string;
  reason: string | null;
  decided_at: string | null;
}

export interface RunOptions {
  /** Wait for a human when a call needs an approval (default true), this long at most (default 10 min). */
  waitForApproval?: boolean;
  timeoutMs?: number;
}

/** The OAuth form parameters of a session request. */
export function sessionParams(r: SessionRequest): Record<string, string> {
  const p: Record<string, string> = { task: r.task };
  if (r.budgetUsd !== undefined) p.budget_usd = String(r.budgetUsd);
  if (r.budgetTokens !== undefined) p.budget_tokens = String(r.budgetTokens);
  const scope = [...(r.models ?? []), ...(r.tools ?? []).map((t) => `tool:${t}`), ...(r.resources ?? []).map((t) => `resource:${t}`), ...(r.prompts ?? []).map((t) => `prompt:${t}`)];
  if (scope.length > 0) p.scope = scope.join(' ');
  if (r.ttlSeconds !== undefined) p.ttl_seconds = String(r.ttlSeconds);
  if (r.dataSensitivity) p.data_sensitivity = r.dataSensitivity;
  if (r.intendedAction) p.intended_action = r.intendedAction;
  for (const [k, v] of Object.entries(r.tags ?? {})) p[`tag.${k}`] = v;
  return p;
}

/** The claims of a JWT, read without verifying it (the gateway verifies; the agent only reads its own token). */
function claimsOf(token: string): { sid?: string; sub?: string; exp?: number; iat?: number } {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sid?: string; sub?: string; exp?: number; iat?: number };
  } catch {
    return {};
  }
}

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const ANTHROPIC_PLACEHOLDER = 'tollgate-session-token';

/** The soonest the background refresh runs again (a token close to its session's end never loops). */
const MIN_TIMER_MS = 500;
/** Between attempts after a refresh failed, while the token is still valid: a quarter of what is left, within these. */
const RETRY_MS = [500, 30_000] as const;
/** Refusals no later refresh can turn around: the background refresh stops. */
const FINAL = new Set(['session_inactive', 'token_revoked', 'token_expired', 'invalid_token']);

/** A refusal of the token endpoint (4xx), as opposed to a failure to reach it. */
const isRefusal = (err: unknown): err is TollgateError => err instanceof TollgateError && err.status >= 400 && err.status < 500;

/** The longest a timer waits in Node (2^31 - 1 ms): a longer one fires at once. */
const MAX_TIMER_MS = 2_147_483_647;

export class TollgateSession {
  readonly id: string;
  readonly agentId: string;
  private current: string;
  private expiresAt: number;
  private issuedAt: number;
  private refreshing: Promise<string> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** The last refresh failed: when the next may be tried (cleared by a refresh that works). */
  private failure: { retryAt: number } | null = null;
  /** The last refusal of a refresh while the token was still valid: the reason it could not be kept fresh. */
  private refusal: TollgateError | null = null;
  /** The token expired and could not be refreshed: every request is answered with this refusal. */
  private ended: TollgateError | null = null;
  private closed = false;

  constructor(
    private readonly client: Tollgate,
    token: string,
    expiresIn: number | null,
  ) {
    const c = claimsOf(token);
    if (!c.sid || !c.sub) throw new TypeError('not a Tollgate session token');
    this.id = c.sid;
    this.agentId = c.sub;
    this.current = token;
    this.issuedAt = (c.iat ?? Date.now() / 1000) * 1000;
    this.expiresAt = expiresIn !== null ? Date.now() + expiresIn * 1000 : (c.exp ?? 0) * 1000;
    this.schedule();
  }

  /**
   * The current token, refreshed first when most of its life is gone (one refresh at a time).
   * A background timer (which never keeps the process alive) refreshes it ahead of expiry too, so
   * an idle session stays usable. When a refresh fails while the token is still valid, the token
   * is used as it is (the gateway's answer to the request then says what is wrong); once it has
   * expired, the refusal is thrown (typed: SessionEndedError, SessionSuspendedError…).
   */
  async token(): Promise<string> {
    if (this.closed) return this.current;
    if (this.ended) throw this.ended;
    const now = Date.now();
    if (now < this.expiresAt - (this.expiresAt - this.issuedAt) * this.client.refreshAt) return this.current;
    if (this.failure && now < this.failure.retryAt && now < this.expiresAt) return this.current;
    try {
      return await this.refresh();
    } catch (err) {
      if (Date.now() < this.expiresAt) return this.current;
      throw this.expired(err);
    }
  }

  /** Exchanges the token for a fresh one for the same session; concurrent calls share one exchange. */
  refresh(): Promise<string> {
    this.refreshing ??= this.exchange().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  private async exchange(): Promise<string> {
    let answer: TokenAnswer;
    try {
      answer = await this.client.token({ grant_type: TOKEN_EXCHANGE, subject_token: this.current, subject_token_type: ACCESS_TOKEN });
    } catch (err) {
      this.failed(err);
      throw err;
    }
    this.current = answer.access_token;
    this.issuedAt = Date.now();
    this.expiresAt = Date.now() + answer.expires_in * 1000;
    this.failure = null;
    this.refusal = null;
    // A token that ends with its session cannot be made to last longer: no background refresh
    // then (a call still refreshes on demand, and picks up a renewal of the session).
    const cut = answer.expires_in <= 0 || (answer.session_expires_in !== undefined && answer.expires_in >= answer.session_expires_in - 1);
    if (cut) this.stopTimer();
    else this.schedule();
    return this.current;
  }

  /** A refresh failed: retried in the background while the token lasts, unless nothing can change the answer. */
  private failed(err: unknown): void {
    const now = Date.now();
    const retryIn = Math.min(RETRY_MS[1], Math.max(RETRY_MS[0], (this.expiresAt - now) / 4));
    this.failure = { retryAt: now + retryIn };
    if (isRefusal(err) && err.code !== 'token_expired') this.refusal = err;
    if (now >= this.expiresAt || (err instanceof TollgateError && FINAL.has(err.code))) this.stopTimer();
    else this.schedule(retryIn);
  }

  /**
   * The token expired and its refresh failed: a refusal (4xx) is final — it is what every request
   * is answered with from now on. The refusal given before the token expired says why better than
   * "expired" does.
   */
  private expired(err: unknown): unknown {
    if (!isRefusal(err)) return err;
    this.ended = err.code === 'token_expired' && this.refusal ? this.refusal : err;
    this.stopTimer();
    return this.ended;
  }

  /**
   * Arms the background refresh: when `refreshAt` of the token's life is left (taken between 10 %
   * and 50 %), or in `delay` ms.
   */
  private schedule(delay?: number): void {
    this.stopTimer();
    if (this.closed || this.ended) return;
    const life = this.expiresAt - this.issuedAt;
    const at = this.expiresAt - life * Math.min(0.5, Math.max(0.1, this.client.refreshAt));
    this.timer = setTimeout(() => {
      this.timer = null;
      // Too late: the next request tries once, and answers with the refusal.
      if (this.closed || Date.now() >= this.expiresAt) return;
      this.refresh().catch(() => undefined);
    }, Math.min(MAX_TIMER_MS, Math.max(MIN_TIMER_MS, delay ?? at - Date.now())));
    // Never what keeps the process alive.
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * `fetch` with this session's token: what the ready-made clients use, and what an agent can
   * use for anything else on the gateway. When the token can no longer be refreshed, the request
   * is not sent: it is answered with the refusal, in the shape the gateway refuses that API's
   * requests (OpenAI's, Anthropic's, MCP's JSON-RPC or the agent API's), so the official clients
   * raise their usual API error rather than a network error.
   */
  readonly fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    let token: string;
    try {
      token = await this.token();
    } catch (err) {
      if (isRefusal(err)) return refusalResponse(err, this.client.baseUrl, input, init, headers);
      throw err;
    }
    headers.set('authorization', `Bearer ${token}`);
    if (headers.has('x-api-key')) headers.set('x-api-key', token);
    return this.client.fetch(input, { ...init, headers });
  };

  /** An `openai` client on the gateway with this session's token (the agent's own `openai` package). */
  async openai<T = OpenAI>(options: Record<string, unknown> = {}): Promise<T> {
    const { default: OpenAI } = await import('openai');
    return new OpenAI({ baseURL: `${this.client.baseUrl}/v1`, apiKey: 'tollgate-session-token', fetch: this.fetch, ...options }) as T;
  }

  /** An `@anthropic-ai/sdk` client on the gateway with this session's token. */
  async anthropic<T = Anthropic>(options: Record<string, unknown> = {}): Promise<T> {
    const { default: Anthropic } = await import('@anthropic-ai/sdk');
    return new Anthropic({ baseURL: this.client.baseUrl, apiKey: ANTHROPIC_PLACEHOLDER, fetch: this.fetch, ...options }) as T;
  }

  /** An MCP Streamable HTTP client transport to `/mcp/{server}` with this session's token. */
  async mcpTransport(server: string) {
    const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
    return new StreamableHTTPClientTransport(new URL(`${this.client.baseUrl}/mcp/${encodeURIComponent(server)}`), { fetch: this.fetch });
  }

  /** Opens a child session for a sub-agent: a slice of this session's budget, a narrower scope. */
  async delegate(options: DelegateOptions): Promise<TollgateSession> {
    const params: Record<string, string> = { grant_type: TOKEN_EXCHANGE, subject_token: await this.token(), subject_token_type: ACCESS_TOKEN, ...sessionParams(options) };
    if (options.agent) params.agent = options.agent;
    if (options.actorToken) Object.assign(params, { actor_token: options.actorToken, actor_token_type: 'urn:ietf:params:oauth:token-type:jwt' });
    const answer = await this.client.token(params);
    return this.client.adopt(answer.access_token, answer.expires_in);
  }

  /** Ends the session (task done): it and its children close, unused budget returns upward. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopTimer();
    this.client.forget(this);
    await this.client.fetch(`${this.client.baseUrl}/oauth/revoke`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: this.current }).toString(),
    });
  }

  /**
   * Waits for a human's decision on an approval of this session (or of one delegated from it):
   * long polls the gateway until it is approved or denied. Resolves with the decided approval;
   * rejects on timeout.
   */
  async waitForApproval(approvalId: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<AgentApproval> {
    const deadline = Date.now() + (options.timeoutMs ?? 600_000);
    for (;;) {
      const wait = Math.max(0, Math.min(30, Math.floor((deadline - Date.now()) / 1000)));
      const res = await this.fetch(`${this.client.baseUrl}/agent/v1/approvals/${encodeURIComponent(approvalId)}?wait=${wait}`, options.signal ? { signal: options.signal } : {});
      const body = (await res.json()) as AgentApproval & { error?: { code: string; message: string; details?: Record<string, unknown> } };
      if (!res.ok) throw typedError(body.error?.message ?? `approval lookup answered ${res.status}`, body.error?.code ?? 'error', res.status, body.error?.details);
      if (body.status !== 'pending') return body;
      if (Date.now() >= deadline) throw new TollgateError(`approval ${approvalId} is still pending`, 'approval_timeout', 0, { approval_id: approvalId });
    }
  }

  /**
   * Runs `call` (a model or tool call with this session's clients); refusals come back typed. When
   * it needs a human (a step-up, a tool approval, a suspended session), waits for the decision and
   * runs it again if approved; a denial is an ApprovalDeniedError.
   */
  async run<T>(call: () => Promise<T>, options: RunOptions = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        const typed = toTollgateError(err);
        if (!typed) throw err;
        if (!(typed instanceof ApprovalRequiredError) || !typed.approvalId || options.waitForApproval === false || attempt >= 3) throw typed;
        const decided = await this.waitForApproval(typed.approvalId, { timeoutMs: options.timeoutMs });
        if (decided.status === 'denied') {
          const tool = decided.kind === 'tool';
          throw new ApprovalDeniedError(`approval ${decided.id} was denied${decided.reason ? `: ${decided.reason}` : ''}`, tool ? 'tool_approval_denied' : 'approval_denied', tool ? 403 : 402, { approval_id: decided.id });
        }
      }
    }
  }
}
