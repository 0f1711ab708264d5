// Stage 4 — authorize: the model must exist, be in the session's scope, and be served on the
// API the client used. (The policy engine joins here as a further check.)
import { GatewayError } from '../errors/index.js';
import type { CallContext, PipelineDeps } from './context.js';

export function authorize(ctx: CallContext, deps: PipelineDeps): void {
  const call = ctx.call!;
  const session = ctx.session!;
  const route = deps.providers.model(call.model);
  if (!route) throw new GatewayError('model_not_found', `The model "${call.model}" does not exist.`, { param: 'model' });
  if (!session.models.includes(route.name)) {
    throw new GatewayError('model_not_allowed', `This session may not use the model "${call.model}".`, { param: 'model' });
  }
  if (!route.provider.endpoint(call.api)) {
    throw new GatewayError('unsupported_api', `The model "${call.model}" is not served on this API.`, { param: 'model' });
  }
  if (route.provider.missingKey) throw new GatewayError('provider_not_configured');
  ctx.route = route;
}
