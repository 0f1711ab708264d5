export { spendSpike } from './spend-spike.js';
export { retryLoop } from './retry-loop.js';
export { toolDeviation } from './tool-deviation.js';
export { outOfTask } from './out-of-task.js';
export { credentialMisuse } from './credential-misuse.js';
export { delegation } from './delegation.js';
