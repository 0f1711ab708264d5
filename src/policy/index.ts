export * from './scope.js';
export * from './session-context.js';
export * from './tool-gate.js';
export { Authorizer } from './authorizer.js';
export { PolicyEngine, readPolicySources, type PolicyDecision, type PolicyRequest } from './engine.js';
export { PolicyLoadError } from './policy-set.js';
