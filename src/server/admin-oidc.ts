// Dashboard sign-in by OpenID Connect (admin.oidc), the admin plane's only routes without a
// bearer token: whether it is on, the start (a redirect to the identity provider) and the
// callback, which hands the dashboard its token in the URL fragment — never sent to a server,
// never a cookie; the dashboard moves it to sessionStorage and clears the address bar.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditLog } from '../audit/index.js';
import { asGatewayError, GatewayError } from '../errors/index.js';
import { operatorActor, type OidcLogin, type OperatorService } from '../identity/index.js';
import { baseUrl, sendJson } from '../util/http.js';
import { isoTime } from '../util/time.js';

export const OIDC_PATH = '/admin/oidc';

export interface OidcDeps {
  login: OidcLogin;
  operators: OperatorService;
  audit: AuditLog;
  /** How long a dashboard sign-in lasts. */
  sessionTtlMs: number;
  /** The registered callback URL; null: this request's origin + /admin/oidc/callback. */
  redirectUri: string | null;
}

function redirect(res: ServerResponse, location: string, requestId: string): void {
  res.writeHead(302, { location, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'x-request-id': requestId });
  res.end();
}

/** Handles `/admin/oidc/*`; `deps` is null when OIDC sign-in is not configured. */
export async function handleOidc(req: IncomingMessage, res: ServerResponse, url: URL, deps: OidcDeps | null, requestId: string): Promise<void> {
  if (req.method !== 'GET') throw new GatewayError('method_not_allowed', undefined, { headers: { allow: 'GET' } });
  const route = url.pathname.slice(OIDC_PATH.length);
  if (route === '/config') {
    sendJson(res, 200, deps ? { enabled: true, login_url: `${OIDC_PATH}/login` } : { enabled: false }, { 'cache-control': 'no-store', 'x-request-id': requestId });
    return;
  }
  if (!deps || (route !== '/login' && route !== '/callback')) throw new GatewayError('not_found', deps ? `No route ${url.pathname}.` : 'OIDC sign-in is not configured (admin.oidc).');
  if (route === '/login') {
    redirect(res, await deps.login.start(deps.redirectUri ?? `${baseUrl(req)}${OIDC_PATH}/callback`), requestId);
    return;
  }
  try {
    const error = url.searchParams.get('error');
    if (error) throw new GatewayError('unauthenticated', `The identity provider refused the sign-in (${error.slice(0, 100)}).`);
    const code = url.searchParams.get('code');
    const state = url.searchParams.get('state');
    if (!code || !state) throw new GatewayError('invalid_request', 'The callback needs "code" and "state".');
    const user = await deps.login.finish(code, state);
    const operator = await deps.operators.fromOidc(user.name, user.role);
    const { token, expiresAt } = deps.operators.issueDashboardToken(operator, deps.sessionTtlMs);
    await deps.audit.record({
      type: 'operator.signed_in', actor: operatorActor(operator), operator, requestId,
      data: { via: 'oidc', subject: user.subject, groups: user.groups, expires_at: isoTime(expiresAt), source: req.socket.remoteAddress ?? null },
    });
    redirect(res, `/ui/#token=${encodeURIComponent(token)}`, requestId);
  } catch (err) {
    const e = asGatewayError(err);
    await deps.audit.record({ type: 'operator.sign_in_denied', actor: 'anonymous', requestId, data: { via: 'oidc', code: e.code, reason: e.message, source: req.socket.remoteAddress ?? null } }).catch(() => undefined);
    redirect(res, `/ui/#sign_in_error=${encodeURIComponent(e.message)}`, requestId);
  }
}
