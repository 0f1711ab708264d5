// Typed refusals. Tollgate answers in the provider's own error shape (so unchanged SDKs work);
// these classes let an agent tell a budget or approval refusal from any other failure, and say
// which approval to wait on.

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

/** The session ended, its token was revoked, or its agent (or its team) may no longer call. */
export class SessionEndedError extends TollgateError {}

const CLASSES: Record<string, new (message: string, code: string, status: number, details?: Record<string, unknown>) => TollgateError> = {
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
};

/**
 * The typed error for a refusal thrown by the `openai` or `@anthropic-ai/sdk` client (or a raw
 * error body), or null when it is not one of Tollgate's budget, approval or session refusals.
 */
export function toTollgateError(err: unknown): TollgateError | null {
  if (err instanceof TollgateError) return err;
  if (typeof err !== 'object' || err === null) return null;
  const e = err as { status?: unknown; error?: unknown; message?: unknown };
  // openai: error = body.error; anthropic: error = the whole body { type, error: {...} }.
  let body = e.error as Record<string, unknown> | undefined;
  if (body && typeof body.error === 'object' && body.error !== null) body = body.error as Record<string, unknown>;
  const code = typeof body?.code === 'string' ? body.code : null;
  const Class = code ? CLASSES[code] : undefined;
  if (!Class || !body) return null;
  const { message, code: _code, type: _type, param: _param, ...details } = body;
  return new Class(typeof message === 'string' ? message : String(e.message), code!, typeof e.status === 'number' ? e.status : 0, details);
}
