// Typed refusals. Tollgate answers in the provider's own error shape (so unchanged SDKs work);
// these classes let an agent tell a budget or approval refusal from any other failure, and say
// which approval to wait on.
import { ERRORS } from '../errors/index.js';

export class TollgateError extends Error {
  constructor(
    message: string,
    /** Tollgate's error code (docs/errors.md), e.g. `budget_exceeded`. */
    readonly code: string,
    /** The HTTP status. */
    readonly status: number,
    /** The error's machine-readable details (level, limits, approval id…). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** 402 `budget_exceeded`: a budget (details.level: session, agent or team) is spent. */
export class BudgetExceededError extends TollgateError {}

/** A human must decide before the agent goes on: wait with `waitForApproval(approvalId)`. */
export class ApprovalRequiredError extends TollgateError {
  get approvalId(): string | null {
    return typeof this.details.approval_id === 'string' ? this.details.approval_id : null;
  }
}

/** 402 `approval_denied` / 403 `tool_approval_denied`, or an approval waited on was denied. */
export class ApprovalDeniedError extends TollgateError {}

/** 403 `session_suspended`: a detector or an operator contained the session; its resume approval decides. */
export class SessionSuspendedError extends ApprovalRequiredError {}

/** The session ended, its token was revoked or expired, or its agent (or its team) may no longer call. */
export class SessionEndedError extends TollgateError {}

type TollgateErrorClass = new (message: string, code: string, status: number, details?: Record<string, unknown>) => TollgateError;

const CLASSES: Record<string, TollgateErrorClass> = {
  budget_exceeded: BudgetExceededError,
  approval_required: ApprovalRequiredError,
  tool_approval_required: ApprovalRequiredError,
  approval_denied: ApprovalDeniedError,
  tool_approval_denied: ApprovalDeniedError,
  session_suspended: SessionSuspendedError,
  session_inactive: SessionEndedError,
  agent_inactive: SessionEndedError,
  team_suspended: SessionEndedError,
  token_revoked: SessionEndedError,
  token_expired: SessionEndedError,
};

/** @internal The error for a Tollgate code: its typed class, else a plain TollgateError. */
export function typedError(message: string, code: string, status: number, details: Record<string, unknown> = {}): TollgateError {
  return new (CLASSES[code] ?? TollgateError)(message, code, status, details);
}

/** @internal The HTTP status the gateway answers a Tollgate code with (0 when the code is not one of its own). */
export function statusOf(code: string): number {
  return Object.hasOwn(ERRORS, code) ? ERRORS[code as keyof typeof ERRORS].status : 0;
}

const record = (v: unknown): Record<string, unknown> | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

/** A JSON-RPC error's `data` (where the MCP gateway puts the Tollgate code) as a typed error. */
function fromRpcData(data: Record<string, unknown>, message: string, status: number): TollgateError | null {
  const code = typeof data.code === 'string' ? data.code : null;
  if (!code || !CLASSES[code]) return null;
  const { code: _code, ...details } = data;
  return typedError(message, code, status || statusOf(code), details);
}

/**
 * The typed error for a refusal thrown by the `openai` or `@anthropic-ai/sdk` client, by the
 * `@modelcontextprotocol/sdk` client (an `McpError`, or the transport's `StreamableHTTPError`
 * when the gateway refused the HTTP request itself), or a raw error body — or null when it is not
 * one of Tollgate's budget, approval or session refusals.
 */
export function toTollgateError(err: unknown): TollgateError | null {
  if (err instanceof TollgateError) return err;
  const e = record(err);
  if (!e) return null;
  // openai: error = body.error; anthropic: error = the whole body { type, error: {...} }.
  let body = record(e.error);
  const inner = record(body?.error);
  if (inner) body = inner;
  const code = typeof body?.code === 'string' ? body.code : null;
  if (body && code && CLASSES[code]) {
    const { message, code: _code, type: _type, param: _param, ...details } = body;
    return typedError(typeof message === 'string' ? message : String(e.message), code, typeof e.status === 'number' ? e.status : 0, details);
  }
  const text = typeof e.message === 'string' ? e.message : '';
  // MCP: a JSON-RPC error answered by the gateway (McpError): data = { code, request_id, …details }.
  const data = record(e.data);
  if (typeof e.code === 'number' && data) return fromRpcData(data, text.replace(/^MCP error -?\d+: /, ''), 0);
  // MCP: the HTTP request itself refused (401, 403): the transport throws its status and the body's text.
  if (typeof e.code === 'number' && e.code >= 400 && text.startsWith('Streamable HTTP error: ')) {
    try {
      const answer = record(JSON.parse(text.slice(text.indexOf('{'))));
      const error = record(answer?.error);
      const rpcData = record(error?.data);
      if (error && rpcData) return fromRpcData(rpcData, typeof error.message === 'string' ? error.message : text, e.code);
    } catch {
      // Not a JSON-RPC answer: not the gateway's refusal.
    }
  }
  return null;
}

/**
 * @internal A refusal of `POST /oauth/token` as a TollgateError. The endpoint's RFC 6749 refusals
 * carry an OAuth error code and the gateway's message (`error_description`), and the Tollgate code
 * behind them (`tollgate_code`, with `tollgate_details`): typed by that code. Without one (a
 * failure of the gateway's own), the OAuth code stays.
 */
export function tokenRefusal(status: number, body: Record<string, unknown>): TollgateError {
  const oauth = typeof body.error === 'string' ? body.error : 'token_error';
  const message = typeof body.error_description === 'string' ? body.error_description : `token endpoint answered ${status}`;
  const code = typeof body.tollgate_code === 'string' ? body.tollgate_code : null;
  if (code) return typedError(message, code, status, { ...(record(body.tollgate_details) ?? {}), oauth_error: oauth });
  return new TollgateError(message, oauth, status, { oauth_error: oauth });
}
