// Tollgate's programmatic surface: run the gateway or the simulated provider in-process.
export { Gateway, type GatewayOptions, openApiDocument } from './server/index.js';
export { parseConfig, loadConfigFile, defaultConfigText, ConfigError, type Config } from './config/index.js';
export { createSimulatedProvider, type SimulatedProvider, type SimulatedProviderOptions } from './providers/simulated/index.js';
export { SqliteStore, type Store } from './store/index.js';
export { GatewayError, ERRORS, type ErrorCode } from './errors/index.js';
