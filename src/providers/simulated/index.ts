// The simulated model provider: a local HTTP server speaking the OpenAI (Chat Completions,
// Responses, Embeddings, Models) and Anthropic (Messages) wire formats, streaming included.
// Deterministic and fast, for demos, tests and benchmarks. See docs/simulated-provider.md.
export { createSimulatedProvider } from './server.js';
export type {
  SimulatedProvider,
  SimulatedProviderOptions,
  SimulatedRequestLog,
  SimulatedServerOptions,
} from './types.js';
export type { Directives } from './directives.js';
export { parseDirectives } from './directives.js';
export { SIMULATED_MODELS } from './models.js';
export { DEFAULT_EMBEDDING_DIMENSIONS } from './openai-embeddings.js';
