// Stage 4 — authorize: the model must exist, be in the session's scope (the names it was given
// when it opened, and its profile's scope as it is now, so narrowing a profile takes effect at
// once), and be served on the API the client used. The policy engine judges next (policy.ts).
import { GatewayError } from '../errors/index.js';
import { inScope } from '../policy/scope.js';
import type { CallContext, PipelineDeps } from './context.js';

export function authorize(ctx: CallContext, deps: PipelineDeps): void {
  const call = ctx.call!;
  const session = ctx.session!;
  const route = deps.providers.model(call.model);
  if (!route) throw new GatewayError('model_not_found', `The model "${call.model}" does not exist.`, { param: 'model' });
  if (!session.models.includes(route.name) || (ctx.profile && !inScope(ctx.profile.models, route.name))) {
    throw new GatewayError('model_not_allowed', `This session may not use the model "${call.model}".`, { param: 'model' });
  }
  if (!route.provider.serves(call.api)) {
    throw new GatewayError('unsupported_api', `The model "${call.model}" is not served on this API.`, { param: 'model' });
  }
  if (route.provider.missingKey) throw new GatewayError('provider_not_configured');
  ctx.route = route;
}
