// Token counting, as the providers answer it without running the model: Anthropic's
// `POST /v1/messages/count_tokens` (https://docs.anthropic.com/en/api/messages-count-tokens) and
// OpenAI's `POST /v1/responses/input_tokens`. The count is the one the simulator bills a call of
// the same prompt (`countPromptTokens`), so a count and the call after it agree.
import { countPromptTokens } from '../prompt-tokens.js';
import { sendJsonText } from './reply.js';
import type { Route } from './route.js';
import { isError, invalid, requireModel } from './validate.js';

export const messagesCountTokensRoute: Route = {
  dialect: 'anthropic',
  auth: 'bearer-or-x-api-key',
  model: false,
  prepare(raw) {
    const checked = requireModel(raw);
    if (isError(checked)) return checked;
    const { body } = checked;
    const messages = body.messages;
    if (!Array.isArray(messages) || messages.length === 0) return invalid('messages: at least one message is required');
    const system = body.system;
    if (system !== undefined && typeof system !== 'string' && !Array.isArray(system)) {
      return invalid('system: Input should be a valid string or a list of text blocks');
    }
    const tools = Array.isArray(body.tools) ? (body.tools as unknown[]) : undefined;
    const json = JSON.stringify({ input_tokens: countPromptTokens({ system, messages: messages as unknown[], tools }) });
    return { directives: {}, stream: false, respond: (ctx) => sendJsonText(ctx, 200, json) };
  },
};

export const responsesInputTokensRoute: Route = {
  dialect: 'openai',
  auth: 'bearer',
  model: false,
  prepare(raw) {
    const checked = requireModel(raw);
    if (isError(checked)) return checked;
    const { body } = checked;
    const input = body.input;
    if (input !== undefined && input !== null && typeof input !== 'string' && !Array.isArray(input)) {
      return invalid("Invalid 'input': expected a string or an array of input items.", 'input');
    }
    const instructions = body.instructions;
    if (instructions !== undefined && instructions !== null && typeof instructions !== 'string') {
      return invalid("Invalid 'instructions': expected a string.", 'instructions');
    }
    // A string input is one user message, as in a response.
    const messages: unknown[] = input === undefined || input === null ? [] : typeof input === 'string' ? [{ role: 'user', content: input }] : (input as unknown[]);
    const tools = Array.isArray(body.tools) ? (body.tools as unknown[]) : undefined;
    const json = JSON.stringify({ object: 'response.input_tokens', input_tokens: countPromptTokens({ system: instructions ?? undefined, messages, tools }) });
    return { directives: {}, stream: false, respond: (ctx) => sendJsonText(ctx, 200, json) };
  },
};
