// Stage 4 — authorize: the model must exist, be in the session's scope (the names it was given
// when it opened, and its profile's scope as it is now, so narrowing a profile takes effect at
// once), and be served on the API the client used. The policy engine judges next (policy.ts).
import { DO_NOT_RETRY, GatewayError } from '../errors/index.js';
import { inScope } from '../policy/scope.js';
import type { ApiKind } from '../providers/apis/index.js';
import type { ModelRoute } from '../providers/registry.js';
import type { Profile, Session } from '../store/index.js';
import type { CallContext, PipelineDeps } from './context.js';

export function authorize(ctx: CallContext, deps: PipelineDeps): void {
  ctx.route = allowedRoute(ctx.call!.model, ctx.call!.api, ctx.session!, ctx.profile ?? null, deps);
}

/** The route of `model` for a call of `api` by `session`, or the refusal: unknown, out of scope, not served on that API, or without its provider key. */
export function allowedRoute(model: string, api: ApiKind, session: Session, profile: Profile | null, deps: Pick<PipelineDeps, 'providers'>): ModelRoute {
  const route = deps.providers.model(model);
  if (!route) throw new GatewayError('model_not_found', `The model "${model}" does not exist.`, { param: 'model' });
  if (!session.models.includes(route.name) || (profile && !inScope(profile.models, route.name))) {
    throw new GatewayError('model_not_allowed', `This session may not use the model "${model}".`, { param: 'model' });
  }
  if (!route.provider.serves(api)) {
    throw new GatewayError('unsupported_api', `The model "${model}" is not served on this API.`, { param: 'model' });
  }
  if (route.provider.missingKey) throw new GatewayError('provider_not_configured', undefined, { headers: DO_NOT_RETRY });
  return route;
}
