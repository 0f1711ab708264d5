export type { ApiAdapter, ApiKind, CanonicalCall, MeteredUsage, ReturnedToolCall, StreamMeter, UpstreamRewrite } from './api.js';
export { openAiChat } from './openai-chat.js';
export { openAiEmbeddings } from './openai-embeddings.js';
export { openAiResponses } from './openai-responses.js';
export { anthropicMessages } from './anthropic-messages.js';
