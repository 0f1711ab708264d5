export * from './scope.js';
export * from './session-context.js';
export * from './tool-gate.js';
