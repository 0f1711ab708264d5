// Where Tollgate POSTs its notices (approvals, alerts, the audit export). The docs let a
// credential ride in the URL: in its query (`?token=…`), or as `https://user:password@host/…` —
// which fetch refuses to send, so that part moves to an `Authorization: Basic` header. Neither
// ever reaches a log, nor does the path (Slack's and Discord's hold their secret there): errors
// name the receiver by its origin only.

export class WebhookTarget {
  /** The URL fetch is given: without credentials. */
  private readonly url: string;
  private readonly auth: Record<string, string> = {};
  /** The receiver as logs may name it: its origin (scheme, host, port) only. */
  readonly display: string;

  constructor(raw: string) {
    const u = new URL(raw);
    if (u.username || u.password) {
      this.auth.authorization = `Basic ${Buffer.from(`${decodeOrKeep(u.username)}:${decodeOrKeep(u.password)}`).toString('base64')}`;
      u.username = '';
      u.password = '';
    }
    this.url = u.toString();
    this.display = u.origin;
  }

  /** POSTs `body` (JSON); a failure to reach the receiver rejects with an error that names only `display`. */
  async post(body: string, headers: Record<string, string>, timeoutMs: number): Promise<Response> {
    try {
      return await fetch(this.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers, ...this.auth }, body, signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      // undici's errors can carry the URL (credentials and query included): say what happened
      // instead, and leave the original off so that no logger serialises it.
      const e = err as Error & { cause?: { code?: string } };
      // eslint-disable-next-line preserve-caught-error
      throw new Error(`POST ${this.display} failed: ${e.cause?.code ?? e.name}`);
    }
  }
}

/** A URL's user or password as written: percent-decoded, or as it is where it is not valid escaping (a bare `%`). */
function decodeOrKeep(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
