// Session tokens from the token endpoint (what agents run; no admin token needed), and
// revocation of one token by its id (an admin command).
import { AdminClient, CliError, number, requestToken, type TokenResponse } from '../client.js';
import { output, printFields } from '../output.js';

const GRANT_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const TOKEN_TYPES: Record<string, string> = {
  access_token: 'urn:ietf:params:oauth:token-type:access_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
};

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** A short token type name expanded to its URN (a full URN passes through). */
function tokenType(v: string, flag: string): string {
  const urn = TOKEN_TYPES[v];
  if (urn) return urn;
  if (v.startsWith('urn:')) return v;
  throw new CliError(`${flag} must be access_token or jwt`);
}

const num = (v: unknown, flag: string): string | undefined => {
  const n = number(v, flag);
  return n === undefined ? undefined : String(n);
};

/** The session-shaping extension parameters both grants take. */
function sessionParams(opts: Record<string, unknown>): Record<string, string | undefined> {
  const scope = str(opts.scope)?.split(/[\s,]+/).filter(Boolean).join(' ');
  return {
    task: str(opts.task),
    budget_usd: num(opts.budgetUsd, '--budget-usd'),
    budget_tokens: num(opts.budgetTokens, '--budget-tokens'),
    scope: scope === '' ? undefined : scope,
    ttl_seconds: num(opts.ttl, '--ttl'),
  };
}

/**
 * The options behind sessionParams' fields, for errors about them; `models` is what the session
 * service calls the scope (`models not held by the profile: …`).
 */
const SESSION_FLAGS = { task: '--task', budget_usd: '--budget-usd', budget_tokens: '--budget-tokens', scope: '--scope', models: '--scope', ttl_seconds: '--ttl', 'budget.usd': '--budget-usd', 'budget.tokens': '--budget-tokens' };

function printIssued(opts: Record<string, unknown>, t: TokenResponse): void {
  if (opts.env) {
    // Ids and tokens are base64url/[a-z0-9_] only, so they need no shell quoting.
    process.stdout.write(`export TOLLGATE_SESSION=${t.session_id}\nexport TOLLGATE_TOKEN=${t.access_token}\n`);
    return;
  }
  output(opts, t, () => {
    printFields([['session', t.session_id], ['models', t.scope.split(' ').join(', ')], ['expires_in', `${t.expires_in}s`]]);
    process.stdout.write(`\ntoken (use it as the API key):\n${t.access_token}\n`);
  });
}

/** RFC 8693 token exchange: delegation (with --task), a refresh (without), or a federated workload JWT. */
export async function exchange(opts: Record<string, unknown>): Promise<void> {
  const subject = str(opts.subjectToken);
  if (!subject) throw new CliError('pass --subject-token, or set TOLLGATE_TOKEN');
  const actorToken = str(opts.actorToken);
  if (actorToken === undefined && opts.actorTokenType !== undefined) throw new CliError('--actor-token-type needs --actor-token');
  const issued = await requestToken(opts, {
    grant_type: GRANT_TOKEN_EXCHANGE,
    subject_token: subject,
    subject_token_type: tokenType(str(opts.subjectTokenType) ?? 'access_token', '--subject-token-type'),
    ...sessionParams(opts),
    agent: str(opts.agent),
    actor_token: actorToken,
    // An actor token is a workload JWT unless said otherwise.
    actor_token_type: actorToken === undefined ? undefined : tokenType(str(opts.actorTokenType) ?? 'jwt', '--actor-token-type'),
  }, undefined, SESSION_FLAGS);
  printIssued(opts, issued);
}

/** The client_credentials grant: the agent opens a session itself with one of its secrets. */
export async function get(opts: Record<string, unknown>): Promise<void> {
  const id = str(opts.clientId);
  const secret = str(opts.clientSecret);
  if (!id || !secret) throw new CliError('pass --client-id and --client-secret (or set TOLLGATE_CLIENT_ID and TOLLGATE_CLIENT_SECRET)');
  const issued = await requestToken(opts, { grant_type: 'client_credentials', ...sessionParams(opts) }, { id, secret }, SESSION_FLAGS);
  printIssued(opts, issued);
}

/** A token's id: given as is, or read from the token itself (its jti claim; the signature is the gateway's to check). */
function tokenId(given: string): string {
  const parts = given.split('.');
  if (parts.length !== 3) return given;
  try {
    const jti = (JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { jti?: unknown }).jti;
    if (typeof jti === 'string') return jti;
  } catch {
    // not a JWT after all: the gateway says what is wrong with it
  }
  return given;
}

export async function revoke(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const result = await new AdminClient(opts).post<{ revoked: string }>(`/admin/v1/tokens/${encodeURIComponent(tokenId(args[0]!))}/revoke`, {
    reason: str(opts.reason),
  });
  output(opts, result, () => process.stdout.write(`revoked: ${result.revoked}\n`));
}
