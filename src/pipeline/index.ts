export { handleModelCall } from './model-call.js';
export { newCallContext, type PipelineDeps, type CallContext } from './context.js';
export { authenticate, callerStanding, presentedToken } from './authenticate.js';
export { readBody, parseJsonObject, checkJsonDepth, exceedsJsonDepth, MAX_JSON_DEPTH } from './parse.js';
export { SharedCredentialWatch } from './shared-credentials.js';
export { RefusalLog } from './refusals.js';
export { SessionConcurrency } from './concurrency.js';
export { InFlightCalls, type InFlightCall } from './in-flight.js';
export { handleTokenCount, TOKEN_COUNTING } from './count-tokens.js';
