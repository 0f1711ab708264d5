// `tollgate/sdk`: what an agent needs to use Tollgate well — a session token from its client
// secret or a federated workload JWT, refreshed before it expires; ready-configured `openai`,
// `@anthropic-ai/sdk` and MCP clients; child sessions for sub-agents with budget slices; typed
// budget and approval refusals and a way to wait for a human's decision; sessions closed when a
// task ends (and when the process exits). No dependency of its own: the clients it builds come
// from the packages the agent already has (docs/sdk.md).
export { Tollgate, type TollgateOptions, type SessionOptions } from './client.js';
export { TollgateSession, type DelegateOptions, type AgentApproval, type RunOptions } from './session.js';
export { TollgateError, BudgetExceededError, ApprovalRequiredError, ApprovalDeniedError, SessionSuspendedError, SessionEndedError, toTollgateError } from './errors.js';
