// Serves the dashboard (built by Vite from ui/ into dist/ui) at /ui. A static file server with a
// small surface: GET and HEAD only; each path segment must be a plain file name (no `..`, no
// encoded slashes, no dot-files), the file must resolve inside the root and be a regular file;
// hashed assets are cached for good, the page itself is revalidated. Every answer carries a strict
// Content-Security-Policy: scripts and styles from this origin only, no inline code, no framing.
// The dashboard talks to the admin API with the admin token the operator types in (kept in
// sessionStorage by the page); nothing here reads or sets credentials.
import { createHash } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GatewayError } from '../errors/index.js';
import { sendError } from '../util/http.js';

/** Where `npm run build` puts the dashboard: dist/ui at the package root (this file is two levels below it, in src/ or dist/). */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

export const UI_PATH = '/ui';

/**
 * https://www.w3.org/TR/CSP3/ — nothing inline, nothing from elsewhere; `connect-src 'self'` is
 * the admin API on this origin. Trusted Types (https://w3c.github.io/trusted-types/dist/spec/)
 * with no policy allowed makes any HTML-string sink (innerHTML…) throw: data is rendered as text.
 */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  'trusted-types',
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': UI_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** A file name as Vite writes them: letters, digits, `.`, `_`, `-`; not starting with a dot. */
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$/;

/** Assets whose names carry a content hash (Vite's `assets/` folder) never change under one URL. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

export class Dashboard {
  private realRoot: Promise<string | null> | null = null;

  constructor(readonly root: string = DEFAULT_UI_DIR) {}

  private resolvedRoot(): Promise<string | null> {
    // Resolved once it exists: a build made after the start is picked up on the next request.
    this.realRoot ??= realpath(this.root).catch(() => {
      this.realRoot = null;
      return null;
    });
    return this.realRoot;
  }

  /** Answers a request whose path is /ui or below it. */
  async handle(req: IncomingMessage, res: ServerResponse, pathname: string, requestId: string): Promise<void> {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new GatewayError('method_not_allowed', undefined, { headers: { allow: 'GET, HEAD' } });
      if (pathname === UI_PATH) {
        res.writeHead(308, { ...SECURITY_HEADERS, location: `${UI_PATH}/`, 'content-length': 0 });
        res.end();
        return;
      }
      const segments = this.segments(pathname);
      const root = await this.resolvedRoot();
      if (root === null) throw new GatewayError('not_found', 'The dashboard is not built: run `npm run build`.');
      let file = segments.length === 0 ? null : await this.file(root, segments);
      const asset = segments[0] === 'assets';
      if (file === null) {
        // A page of the single-page app (/ui/agents/agt_…): the app itself answers. A missing
        // asset, or anything that looks like a file, is a plain 404.
        if (asset || (segments.length > 0 && extname(segments.at(-1)!) !== '')) throw new GatewayError('not_found', `No dashboard file ${pathname}.`);
        file = await this.file(root, ['index.html']);
        if (file === null) throw new GatewayError('not_found', 'The dashboard is not built: run `npm run build`.');
      }
      const body = await readFile(file);
      const type = CONTENT_TYPES[extname(file)] ?? 'application/octet-stream';
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
      const headers: Record<string, string | number> = {
        ...SECURITY_HEADERS,
        'content-type': type,
        'cache-control': asset ? IMMUTABLE : 'no-cache',
        etag,
        'x-request-id': requestId,
      };
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, headers);
        res.end();
        return;
      }
      res.writeHead(200, { ...headers, 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (err) {
      sendError(res, err, 'admin', requestId, SECURITY_HEADERS);
    }
  }

  /** The decoded path segments below /ui/, each a plain file name, or a 404. */
  private segments(pathname: string): string[] {
    if (!pathname.startsWith(`${UI_PATH}/`)) throw new GatewayError('not_found');
    const raw = pathname.slice(UI_PATH.length + 1);
    if (raw === '') return [];
    const out: string[] = [];
    for (const part of raw.split('/')) {
      let name: string;
      try {
        name = decodeURIComponent(part);
      } catch {
        throw new GatewayError('not_found');
      }
      // `..`, `.`, empty segments, encoded `/` or `\`, NUL and dot-files all fail this one test.
      if (!SEGMENT.test(name)) throw new GatewayError('not_found');
      out.push(name);
    }
    return out;
  }

  /** The real path of a regular file under root, or null. Symbolic links may not lead out of it. */
  private async file(root: string, segments: string[]): Promise<string | null> {
    try {
      const real = await realpath(join(root, ...segments));
      if (!real.startsWith(root + sep)) return null;
      return (await stat(real)).isFile() ? real : null;
    } catch {
      return null;
    }
  }
}
