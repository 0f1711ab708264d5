// The CLI's client for the admin API: finds the gateway URL and admin token, and turns the API's
// errors into readable messages. Also the token endpoint, which agents call without an admin token.
import { resolve } from 'node:path';
import { readAdminToken } from '../identity/index.js';
import { text } from './output.js';

export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

export interface GlobalOptions {
  url?: string;
  adminToken?: string;
  dataDir?: string;
  json?: boolean;
}

/** The gateway's base URL, without a trailing slash. */
export function gatewayUrl(opts: GlobalOptions): string {
  return (opts.url ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
}

/** One HTTP exchange with the gateway whose answer must be JSON. */
async function exchange(base: string, path: string, init: RequestInit): Promise<{ status: number; ok: boolean; json: unknown }> {
  let res: Response;
  try {
    res = await fetch(base + path, init);
  } catch (err) {
    throw new CliError(`cannot reach the gateway at ${base}: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`);
  }
  const text = await res.text();
  try {
    return { status: res.status, ok: res.ok, json: JSON.parse(text) };
  } catch {
    throw new CliError(`unexpected answer from ${base} (HTTP ${res.status})`);
  }
}

export class AdminClient {
  private readonly base: string;
  private readonly token: string;

  constructor(opts: GlobalOptions) {
    this.base = gatewayUrl(opts);
    const token = opts.adminToken ?? readAdminToken(resolve(opts.dataDir ?? '.tollgate'));
    if (!token) throw new CliError('no admin token: set TOLLGATE_ADMIN_TOKEN, pass --admin-token, or run from the directory the gateway was started in (it keeps .tollgate/admin-token)');
    this.token = token;
  }

  /**
   * `flags` names the command's option for each body field or query parameter
   * (`{ ttl_seconds: '--ttl' }`): an error about one then speaks of the option the user typed,
   * not of the API's field.
   */
  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown, flags?: Flags): Promise<T> {
    const { status, ok, json } = await exchange(this.base, path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!ok) {
      const error = (json as { error?: { code?: string; message?: string; param?: string } }).error;
      const message = flagged(error?.message ?? 'request failed', error?.param, flags);
      throw new CliError(`${message} (HTTP ${status}${error?.code ? `, ${error.code}` : ''})`);
    }
    return json as T;
  }

  /** `flags`: the command's option for each query parameter (`{ status: '--status' }`), as for post. */
  get<T>(path: string, flags?: Flags): Promise<T> {
    return this.request<T>('GET', path, undefined, flags);
  }

  post<T>(path: string, body: unknown, flags?: Flags): Promise<T> {
    return this.request<T>('POST', path, body, flags);
  }
}

/**
 * A command's option for each field of the body it sends, by the field's path (`budget.usd`), or
 * for each query parameter it sends (`status`).
 */
export type Flags = Record<string, string>;

/** Where a schema error's field is (admin.ts's validationError: `body.ttl_seconds: …`, `query.status: …`). */
const WHERE = ['body.', 'query.'];

/**
 * An API error about a body field or query parameter, told in the command's terms: the field's
 * path at the start of the message (`body.ttl_seconds: …`, `query.status: …`, `budget.usd is
 * above …`) becomes the option (`--ttl: …`); a message that names the field elsewhere gets the
 * option after it. Without `param` (OAuth's errors have none), a message that starts with a
 * field's name.
 */
function flagged(message: string, param: string | undefined, flags: Flags | undefined): string {
  if (!flags) return message;
  const field = param === undefined ? Object.keys(flags).find((f) => [`${f} `, `${f}:`, `"${f}"`].some((p) => message.startsWith(p))) : fieldOf(param, flags);
  if (field === undefined) return message;
  const flag = flags[field]!;
  // A key inside the option's value (`--context` given `{"data_sensitivity": …}`) stays named.
  const inner = param !== undefined && param !== field ? ` ${param.slice(field.length + 1)}` : '';
  for (const prefix of [...WHERE.map((w) => w + (param ?? field)), param ?? field]) if (message.startsWith(prefix)) return flag + inner + message.slice(prefix.length);
  for (const prefix of [...WHERE.map((w) => w + field), `"${field}"`, field]) if (message.startsWith(prefix)) return flag + message.slice(prefix.length);
  return `${message} (${flag})`;
}

/** The longest path of `param` that has an option: `models.2` is the --models option's. */
function fieldOf(param: string, flags: Flags): string | undefined {
  const segments = param.split('.');
  while (segments.length > 0 && flags[segments.join('.')] === undefined) segments.pop();
  return segments.length === 0 ? undefined : segments.join('.');
}

/** The token endpoint's answer (RFC 6749 §5.1, with Tollgate's session_id). */
export interface TokenResponse {
  access_token: string;
  issued_token_type: string;
  token_type: string;
  expires_in: number;
  scope: string;
  session_id: string;
}

/** application/x-www-form-urlencoded encoding of one value (what RFC 6749 §2.3.1 asks of Basic credentials). */
const formEncode = (value: string): string => new URLSearchParams({ v: value }).toString().slice(2);

/**
 * Asks the token endpoint (`POST /oauth/token`) for a session token. Agents call it, so it needs
 * no admin token; `client` authenticates with HTTP Basic (client_credentials). OAuth errors
 * (`{ error, error_description }`) become CliErrors.
 */
export async function requestToken(opts: GlobalOptions, params: Record<string, string | undefined>, client?: { id: string; secret: string }, flags?: Flags): Promise<TokenResponse> {
  const base = gatewayUrl(opts);
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) form.set(k, v);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (client) headers.authorization = `Basic ${Buffer.from(`${formEncode(client.id)}:${formEncode(client.secret)}`).toString('base64')}`;
  const { status, ok, json } = await exchange(base, '/oauth/token', { method: 'POST', headers, body: form.toString() });
  if (!ok) {
    const { error, error_description: description } = json as { error?: unknown; error_description?: unknown };
    throw new CliError(`${typeof description === 'string' ? flagged(description, undefined, flags) : 'token request failed'} (HTTP ${status}${typeof error === 'string' ? `, ${error}` : ''})`);
  }
  return json as TokenResponse;
}

/** Builds a query string from the defined values. */
export function query(params: Record<string, unknown>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') search.set(k, text(v));
  const s = search.toString();
  return s ? `?${s}` : '';
}

export const csv = (value: unknown): string[] | undefined =>
  typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : undefined;

export function number(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new CliError(`${name} must be a number`);
  return n;
}
