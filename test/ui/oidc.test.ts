// OIDC sign-in to the dashboard in a real browser (Debian's Chromium, playwright-core): the
// sign-in page offers the identity provider, the redirects run through a small local provider
// (test/helpers/oidc-issuer.ts), and the dashboard ends signed in as the mapped operator — the
// token in sessionStorage, gone from the address bar, no cookie — or shows why it was refused.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_UI_DIR } from '../../src/server/ui.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { TestIssuer } from '../helpers/oidc-issuer.js';

const CHROMIUM = '/usr/bin/chromium';
const skipReason = existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed (npm test installs it with apt-get as root: see scripts/ensure-chromium.ts)`;
if (skipReason) console.warn(`[browser tests] skipped: ${skipReason}`);

describe.skipIf(skipReason !== null)('dashboard OIDC sign-in in Chromium', { timeout: 60_000 }, () => {
  let issuer: TestIssuer;
  let gw: TestGateway;
  let context: BrowserContext;
  let page: Page;
  let profileDir: string;
  const problems: string[] = [];

  beforeAll(async () => {
    if (!existsSync(join(DEFAULT_UI_DIR, 'index.html'))) throw new Error(`The dashboard is not built (${DEFAULT_UI_DIR}): run \`npm run build\` first.`);
    issuer = new TestIssuer();
    await issuer.start();
    gw = await startGateway({ admin: { oidc: { issuer: issuer.url, client_id: 'tollgate-dashboard', role_mapping: { 'tollgate-viewers': 'viewer', 'tollgate-approvers': 'approver' } } } });
    profileDir = mkdtempSync(join(tmpdir(), 'tollgate-chromium-'));
    context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await gw?.close();
    issuer?.server.close();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  });

  it('signs in through the identity provider as the mapped operator, the token kept in the tab only', async () => {
    issuer.user = { sub: 'u-9', email: 'ana@example.com', groups: ['tollgate-approvers'] };
    await page.goto(`${gw.url}/ui/`);
    await page.getByRole('link', { name: 'Sign in with your identity provider' }).click();
    await page.getByTestId('whoami').filter({ hasText: 'ana@example.com · approver' }).waitFor();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    expect(new URL(page.url()).hash).toBe('');
    const stored = await page.evaluate<string[]>(() => Object.values((globalThis as any).sessionStorage));
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatch(/^tgd_/);
    expect((await context.cookies()).length).toBe(0);
    // An approver sees no suspend button on an agent.
    await page.goto(`${gw.url}/ui/agents/demo-agent`);
    await page.getByRole('heading', { level: 1, name: 'demo-agent' }).waitFor();
    await page.getByTestId('whoami').filter({ hasText: 'ana@example.com · approver' }).waitFor();
    expect(await page.getByRole('button', { name: 'Suspend' }).count()).toBe(0);
    await page.getByRole('button', { name: 'Sign out' }).click();
  });

  it('shows why a sign-in was refused (no mapped group) and stays signed out', async () => {
    issuer.user = { sub: 'u-10', email: 'eve@example.com', groups: ['everyone'] };
    await page.goto(`${gw.url}/ui/`);
    await page.getByRole('link', { name: 'Sign in with your identity provider' }).click();
    await page.getByRole('alert').filter({ hasText: 'no group that maps to an operator role' }).waitFor();
    expect(new URL(page.url()).hash).toBe('');
    expect(await page.evaluate(() => Object.keys((globalThis as any).sessionStorage).length)).toBe(0);
  });

  it('ran without a console error or an uncaught exception', () => {
    expect(problems).toEqual([]);
  });
});
