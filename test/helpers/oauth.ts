// Calls to the token endpoint as an OAuth client would make them (form-encoded).
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
export const JWT = 'urn:ietf:params:oauth:token-type:jwt';

export async function tokenRequest(url: string, params: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any>, headers: res.headers };
}

/** Delegates from `parentToken` (RFC 8693 token exchange with extension parameters). */
export function delegate(url: string, parentToken: string, params: Record<string, string>) {
  return tokenRequest(url, { grant_type: TOKEN_EXCHANGE, subject_token: parentToken, subject_token_type: ACCESS_TOKEN, ...params });
}

export function decodeJwt(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
}
