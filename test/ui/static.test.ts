// The dashboard's static file server (src/server/ui.ts) over real HTTP: content types, caching,
// the CSP on every answer, single-page fallback, and no way out of its folder.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gateway } from '../../src/server/index.js';
import { DEFAULT_UI_DIR, UI_CSP } from '../../src/server/ui.js';
import { ADMIN_TOKEN, testConfig } from '../helpers/gateway.js';

/** A raw request: fetch() would normalize `..` and percent-encodings before they reach the server. */
function raw(url: string, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('dashboard static files', () => {
  let base: string;
  let root: string;
  let gateway: Gateway;
  let url: string;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'tollgate-ui-'));
    root = join(base, 'ui');
    mkdirSync(join(root, 'assets'), { recursive: true });
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>app</title>');
    writeFileSync(join(root, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    writeFileSync(join(root, 'assets', 'index-AbC123.js'), 'console.log(1)');
    writeFileSync(join(root, 'assets', 'index-AbC123.css'), 'body{}');
    writeFileSync(join(root, '.env'), 'SECRET=1');
    // Beside the root, never servable: a secret, and a link inside the root pointing at it.
    writeFileSync(join(base, 'secret.txt'), 'top secret');
    symlinkSync(join(base, 'secret.txt'), join(root, 'assets', 'link.txt'));
    const dataDir = join(base, 'data');
    gateway = await Gateway.create({ config: testConfig(), dataDir, env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN }, uiDir: root });
    url = await gateway.listen(0, '127.0.0.1');
  });

  afterAll(async () => {
    await gateway.close(500);
    rmSync(base, { recursive: true, force: true });
  });

  it('serves the page, scripts, styles and images with their content types and the CSP', async () => {
    const cases: [string, string][] = [
      ['/ui/', 'text/html; charset=utf-8'],
      ['/ui/assets/index-AbC123.js', 'text/javascript; charset=utf-8'],
      ['/ui/assets/index-AbC123.css', 'text/css; charset=utf-8'],
      ['/ui/favicon.svg', 'image/svg+xml'],
    ];
    for (const [path, type] of cases) {
      const res = await raw(url, path);
      expect(res.status, path).toBe(200);
      expect(res.headers['content-type'], path).toBe(type);
      expect(res.headers['content-security-policy'], path).toBe(UI_CSP);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('DENY');
    }
    expect((await raw(url, '/ui/')).body).toContain('<title>app</title>');
    expect((await raw(url, '/ui/assets/index-AbC123.js')).body).toBe('console.log(1)');
  });

  it('has a CSP that allows no inline script or style and nothing from elsewhere', () => {
    const directives = new Map(UI_CSP.split('; ').map((d) => [d.split(' ')[0]!, d.split(' ').slice(1).join(' ')]));
    expect(directives.get('default-src')).toBe("'none'");
    expect(directives.get('script-src')).toBe("'self'");
    expect(directives.get('style-src')).toBe("'self'");
    expect(directives.get('connect-src')).toBe("'self'");
    expect(directives.get('frame-ancestors')).toBe("'none'");
    expect(UI_CSP).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
  });

  it('caches hashed assets for good and revalidates the page', async () => {
    const asset = await raw(url, '/ui/assets/index-AbC123.js');
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const page = await raw(url, '/ui/');
    expect(page.headers['cache-control']).toBe('no-cache');
    const again = await raw(url, '/ui/', 'GET', { 'if-none-match': page.headers.etag as string });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
  });

  it('answers the app for its own pages, 404 for missing files, and redirects /ui and /', async () => {
    for (const path of ['/ui/agents', '/ui/sessions/ses_123', '/ui/audit?session=ses_1&descendants=true']) {
      const res = await raw(url, path);
      expect(res.status, path).toBe(200);
      expect(res.body).toContain('<title>app</title>');
    }
    expect((await raw(url, '/ui/assets/missing-123.js')).status).toBe(404);
    expect((await raw(url, '/ui/nothing.png')).status).toBe(404);
    const ui = await raw(url, '/ui');
    expect(ui.status).toBe(308);
    expect(ui.headers.location).toBe('/ui/');
    const home = await raw(url, '/');
    expect(home.status).toBe(302);
    expect(home.headers.location).toBe('/ui/');
  });

  it('never leaves its folder: dot segments, encoded slashes, NUL, dot-files and symbolic links', async () => {
    const attempts = [
      '/ui/../package.json',
      '/ui/%2e%2e/%2e%2e/package.json',
      '/ui/assets/..%2f..%2fsecret.txt',
      '/ui/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/ui/..%5c..%5csecret.txt',
      '/ui/assets/index-AbC123.js%00.png',
      '/ui/.env',
      '/ui/%2eenv',
      '/ui/assets/link.txt',
      '/ui//etc/passwd',
      '/ui/%c0%ae%c0%ae/secret.txt',
      '/ui/assets/%E0%A4%A',
    ];
    for (const path of attempts) {
      const res = await raw(url, path);
      expect(res.body, path).not.toContain('top secret');
      expect(res.body, path).not.toContain('SECRET=1');
      expect(res.body, path).not.toContain('"name": "tollgate"');
      // The URL parser resolves `/ui/../x` to `/x` before routing: that is a plain 404 of the gateway.
      expect(res.status, path).toBe(404);
    }
  });

  it('serves GET and HEAD only', async () => {
    const head = await raw(url, '/ui/assets/index-AbC123.js', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('14');
    expect(head.body).toBe('');
    const post = await raw(url, '/ui/', 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect(post.headers['content-security-policy']).toBe(UI_CSP);
  });

  it('says how to build the dashboard when it is not built', async () => {
    const dataDir = join(base, 'data2');
    const bare = await Gateway.create({ config: testConfig(), dataDir, env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN }, uiDir: join(base, 'not-built') });
    const bareUrl = await bare.listen(0, '127.0.0.1');
    try {
      const res = await raw(bareUrl, '/ui/');
      expect(res.status).toBe(404);
      expect(res.body).toContain('npm run build');
    } finally {
      await bare.close(500);
    }
  });
});

describe('the built dashboard (dist/ui, as `npm run build` makes it)', () => {
  it('has no inline script or style, and every file its page loads is served with its type', async (ctx) => {
    if (!existsSync(join(DEFAULT_UI_DIR, 'index.html'))) ctx.skip();
    const html = readFileSync(join(DEFAULT_UI_DIR, 'index.html'), 'utf8');
    // Every <script> has a src, no element has an inline handler or style attribute, no <style>.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    expect(html).not.toMatch(/\son[a-z]+=|\sstyle=|<style/i);
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.some((r) => /^\/ui\/assets\/index-[\w-]+\.js$/.test(r))).toBe(true);
    expect(refs.some((r) => /^\/ui\/assets\/index-[\w-]+\.css$/.test(r))).toBe(true);
    const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-ui-built-'));
    const gateway = await Gateway.create({ config: testConfig(), dataDir, env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
    const url = await gateway.listen(0, '127.0.0.1');
    try {
      for (const ref of refs) {
        const res = await raw(url, ref);
        expect(res.status, ref).toBe(200);
        expect(res.headers['content-type'], ref).toBe(ref.endsWith('.js') ? 'text/javascript; charset=utf-8' : ref.endsWith('.css') ? 'text/css; charset=utf-8' : 'image/svg+xml');
      }
    } finally {
      await gateway.close(500);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
