// GET /v1/models and GET /v1/models/{id}: the OpenAI model list
// (https://platform.openai.com/docs/api-reference/models/list), or Anthropic's
// (https://docs.anthropic.com/en/api/models-list) when the request carries `anthropic-version`,
// as the Anthropic SDK's does.
import { sendJsonText } from './reply.js';
import type { Route } from './route.js';
import { isoTime } from '../../util/time.js';

/** Model ids the provider lists; any other model name is accepted by the model endpoints too. */
export const SIMULATED_MODELS: readonly string[] = [
  'gpt-4o',
  'gpt-4o-mini',
  'gpt-4.1-mini',
  'o3-mini',
  'text-embedding-3-small',
  'claude-sonnet-4-6',
  'claude-haiku-4-5',
];

/** A fixed creation time (2025-01-01T00:00:00Z) keeps the lists byte-for-byte stable. */
const CREATED = 1_735_689_600;

function openaiModel(id: string) {
  return { id, object: 'model', created: CREATED, owned_by: 'tollgate-simulated' };
}

function anthropicModel(id: string) {
  return { type: 'model', id, display_name: id, created_at: isoTime(CREATED * 1000) };
}

const CLAUDE = SIMULATED_MODELS.filter((id) => id.startsWith('claude'));
const OPENAI_LIST = JSON.stringify({ object: 'list', data: SIMULATED_MODELS.map(openaiModel) });
const ANTHROPIC_LIST = JSON.stringify({
  data: CLAUDE.map(anthropicModel),
  has_more: false,
  first_id: CLAUDE[0] ?? null,
  last_id: CLAUDE[CLAUDE.length - 1] ?? null,
});

export const modelsRoute: Route = {
  dialect: 'openai',
  auth: 'bearer-or-x-api-key',
  model: false,
  prepare(_body, _settings, headers) {
    const json = headers['anthropic-version'] !== undefined ? ANTHROPIC_LIST : OPENAI_LIST;
    return { directives: {}, stream: false, respond: (ctx) => sendJsonText(ctx, 200, json) };
  },
};

/** GET /v1/models/{id}, given the id from the path. */
export function modelRoute(id: string): Route {
  return {
    dialect: 'openai',
    auth: 'bearer-or-x-api-key',
    model: false,
    prepare(_body, _settings, headers) {
      if (!SIMULATED_MODELS.includes(id)) {
        return { status: 404, message: `The model '${id}' does not exist`, param: 'model', code: 'model_not_found' };
      }
      const body = headers['anthropic-version'] !== undefined ? anthropicModel(id) : openaiModel(id);
      const json = JSON.stringify(body);
      return { directives: {}, stream: false, respond: (ctx) => sendJsonText(ctx, 200, json) };
    },
  };
}
