// One session: its token (refreshed before it expires), clients already pointed at the gateway
// with that token, delegation to sub-agents, waiting for a human, and closing when the task ends.
// Types only: the packages are the agent's own (optional peer dependencies), loaded when asked for.
import type Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';
import type { Tollgate } from './client.js';
import { ApprovalDeniedError, ApprovalRequiredError, TollgateError, toTollgateError } from './errors.js';

export interface TokenAnswer {
  access_token: string;
  expires_in: number;
  session_id: string;
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

export class TollgateSession {
  readonly id: string;
  readonly agentId: string;
  private current: string;
  private expiresAt: number;
  private issuedAt: number;
  private refreshing: Promise<string> | null = null;
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
  }

  /** The current token, refreshed first when most of its life is gone (one refresh at a time). */
  async token(): Promise<string> {
    const life = this.expiresAt - this.issuedAt;
    if (this.closed || Date.now() < this.expiresAt - life * this.client.refreshAt) return this.current;
    this.refreshing ??= this.refresh().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  /** Exchanges the token for a fresh one for the same session. */
  async refresh(): Promise<string> {
    const answer = await this.client.token({ grant_type: TOKEN_EXCHANGE, subject_token: this.current, subject_token_type: ACCESS_TOKEN });
    this.current = answer.access_token;
    this.issuedAt = Date.now();
    this.expiresAt = Date.now() + answer.expires_in * 1000;
    return this.current;
  }

  /**
   * `fetch` with this session's token: what the ready-made clients use, and what an agent can
   * use for anything else on the gateway.
   */
  readonly fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    const token = await this.token();
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
      const body = (await res.json()) as AgentApproval & { error?: { code: string; message: string } };
      if (!res.ok) throw new TollgateError(body.error?.message ?? `approval lookup answered ${res.status}`, body.error?.code ?? 'error', res.status);
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
        if (decided.status === 'denied') throw new ApprovalDeniedError(`approval ${decided.id} was denied${decided.reason ? `: ${decided.reason}` : ''}`, 'approval_denied', 402, { approval_id: decided.id });
      }
    }
  }
}
