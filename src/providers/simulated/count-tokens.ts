// Token counting, as the providers answer it without running the model: Anthropic's
// `POST /v1/messages/count_tokens` (https://docs.anthropic.com/en/api/messages-count-tokens) and
// OpenAI's `POST /v1/responses/input_tokens`. The prompt is read as the API's own route reads it,
// and the count is the one the simulator bills a call of that prompt (`countPromptTokens`), so a
// count and the call after it agree.
import { countPromptTokens, type PromptParts } from '../prompt-tokens.js';
import { messagesPrompt } from './anthropic-messages.js';
import type { ApiError, Dialect } from './errors.js';
import { responsesPrompt } from './openai-responses.js';
import { sendJsonText } from './reply.js';
import type { Route } from './route.js';
import { isError, requireModel } from './validate.js';

/** A counting route: the API's prompt, read by `promptOf`, answered as `{ ...fields, input_tokens }`. */
function countingRoute(dialect: Dialect, auth: Route['auth'], promptOf: (body: Record<string, unknown>) => PromptParts | ApiError, fields: Record<string, unknown>): Route {
  return {
    dialect,
    auth,
    model: false,
    prepare(raw) {
      const checked = requireModel(raw);
      if (isError(checked)) return checked;
      const prompt = promptOf(checked.body);
      if (isError(prompt)) return prompt;
      const json = JSON.stringify({ ...fields, input_tokens: countPromptTokens(prompt) });
      return { directives: {}, stream: false, respond: (ctx) => sendJsonText(ctx, 200, json) };
    },
  };
}

export const messagesCountTokensRoute = countingRoute('anthropic', 'bearer-or-x-api-key', messagesPrompt, {});
export const responsesInputTokensRoute = countingRoute('openai', 'bearer', (body) => responsesPrompt(body, true), { object: 'response.input_tokens' });
