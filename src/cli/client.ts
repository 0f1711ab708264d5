// The CLI's client for the admin API: finds the gateway URL and admin token, and turns the API's
// errors into readable messages.
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

export class AdminClient {
  private readonly base: string;
  private readonly token: string;

  constructor(opts: GlobalOptions) {
    this.base = (opts.url ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
    const token = opts.adminToken ?? readAdminToken(resolve(opts.dataDir ?? '.tollgate'));
    if (!token) throw new CliError('no admin token: set TOLLGATE_ADMIN_TOKEN, pass --admin-token, or run from the directory the gateway was started in (it keeps .tollgate/admin-token)');
    this.token = token;
  }

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new CliError(`cannot reach the gateway at ${this.base}: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new CliError(`unexpected answer from ${this.base} (HTTP ${res.status})`);
    }
    if (!res.ok) {
      const error = (json as { error?: { code?: string; message?: string } }).error;
      throw new CliError(`${error?.message ?? 'request failed'} (HTTP ${res.status}${error?.code ? `, ${error.code}` : ''})`);
    }
    return json as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }
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
