// The dashboard end to end in a real browser: Debian's Chromium driven by playwright-core (one
// browser for the whole file), against a real gateway serving the built dashboard (dist/ui) and
// real calls made with the official `openai` client. Screenshots of every page, at laptop and
// phone sizes, go to test-artifacts/dashboard/ (not committed).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import OpenAI from 'openai';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_UI_DIR } from '../../src/server/ui.js';
import { usd } from '../../ui/src/format.js';
import { ADMIN_TOKEN, startGateway, type TestGateway } from '../helpers/gateway.js';
import { delegate } from '../helpers/oauth.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = resolve('test-artifacts/dashboard');
const LAPTOP = { width: 1440, height: 900 };
const PHONE = { width: 390, height: 844 };

// A missing browser skips (and says so); a missing build fails, in beforeAll.
const skipReason = existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed (npm test installs it with apt-get as root: see scripts/ensure-chromium.ts)`;
if (skipReason) console.warn(`[browser tests] skipped: ${skipReason}`);

type ApiError = InstanceType<typeof OpenAI.APIError>;

describe.skipIf(skipReason !== null)('dashboard in Chromium', { timeout: 60_000 }, () => {
  let gw: TestGateway;
  let context: BrowserContext;
  let page: Page;
  let profileDir: string;
  /** Console errors and uncaught exceptions: a CSP or Trusted Types violation shows up here. */
  const problems: string[] = [];

  const client = (token: string) => new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  const call = (token: string, content = 'hello [[sim:tokens=24]]') =>
    client(token).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 40, messages: [{ role: 'user', content }] }).then(() => 'ok' as const, (e: ApiError) => e);

  async function shot(name: string, viewport = LAPTOP) {
    await page.setViewportSize(viewport);
    // Charts resize on the next frame; a settled page shows what a person sees.
    await page.waitForTimeout(250);
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
    // Readable on a phone: nothing wider than the screen (wide tables scroll inside their box).
    const [scroll, inner] = await page.evaluate(() => [(globalThis as any).document.documentElement.scrollWidth, (globalThis as any).innerWidth]);
    expect(scroll, `${name}: page ${scroll}px wide in a ${inner}px window`).toBeLessThanOrEqual(inner);
    if (viewport !== LAPTOP) await page.setViewportSize(LAPTOP);
  }

  async function open(path: string, heading: string) {
    await page.goto(`${gw.url}/ui${path}`);
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  }

  // Functions passed to page.evaluate run in the browser: its globals are reached through
  // `globalThis as any`, as the tests compile without the DOM library.

  /** Waits until the element's text is `text` (the page updates itself: no reload). */
  async function textIs(selector: string, text: string, timeout = 15_000) {
    await page.waitForFunction(([s, t]) => (globalThis as any).document.querySelector(s!)?.textContent?.trim() === t, [selector, text], { timeout });
  }

  beforeAll(async () => {
    if (!existsSync(join(DEFAULT_UI_DIR, 'index.html'))) throw new Error(`The dashboard is not built (${DEFAULT_UI_DIR}): run \`npm run build\` first.`);
    mkdirSync(ARTIFACTS, { recursive: true });
    gw = await startGateway({
      teams: [{ name: 'demo', owner: 'platform@example.com', budget: { usd: 0.05, period: 'day' } }, { name: 'research' }],
      profiles: [
        { name: 'assistant', models: ['gpt-4o-mini', 'gpt-4o'], session_budget: { default: { usd: 1 }, max: { usd: 5 } } },
        { name: 'careful', models: ['gpt-4o-mini'], session_budget: { default: { usd: 0.0002 }, max: { usd: 1 } }, enforcement: { mode: 'soft', soft_threshold: 0.5 } },
      ],
      agents: [
        { name: 'demo-agent', team: 'demo', profile: 'assistant', owner: 'you@example.com', environment: 'dev' },
        { name: 'support-bot', team: 'demo', profile: 'careful', owner: 'care@example.com', environment: 'prod' },
        { name: 'researcher', team: 'research', profile: 'assistant', owner: 'lab@example.com', environment: 'dev' },
        { name: 'looper', team: 'research', profile: 'assistant', owner: 'lab@example.com', environment: 'dev' },
      ],
      // A same prompt failing twice is a critical retry loop (notify + suspend the session); the
      // warning for a repeated prompt is kept out of the other tests' way.
      detection: { detectors: { retry_loop: { repeats: 50, failed_repeats: 2 } } },
      delegation: { max_depth: 3, allow_cross_team: true },
    });
    profileDir = mkdtempSync(join(tmpdir(), 'tollgate-chromium-'));
    context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: LAPTOP });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      // Failed requests are judged below, by their URL.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('response', (r) => {
      const path = new URL(r.url()).pathname;
      // Expected: the wrong token at sign-in, and the alerts API where this gateway has none.
      const expected = (r.status() === 401 && path === '/admin/v1/teams') || (r.status() === 404 && path.startsWith('/admin/v1/alerts'));
      if (r.status() >= 400 && !expected) problems.push(`${r.status()} ${r.request().method()} ${path}`);
    });
  }, 60_000);

  // A failed test leaves what the page showed, and what it said, beside the other screenshots.
  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail' || !page) return;
    const name = ctx.task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
    await page.screenshot({ path: join(ARTIFACTS, `failed-${name}.png`), fullPage: true }).catch(() => undefined);
    const alerts = await page.getByRole('alert').allTextContents().catch(() => []);
    if (alerts.length) console.error(`[${ctx.task.name}] the page showed: ${alerts.join(' | ')}`);
  });

  afterAll(async () => {
    await context?.close();
    await gw?.close();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  });

  it('signs in with the admin token, kept in sessionStorage and never in a cookie', async () => {
    await page.goto(`${gw.url}/ui/`);
    await page.getByLabel('Operator token').fill('tga_wrong-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'not an operator token' }).waitFor();
    await shot('login');
    await page.getByLabel('Operator token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    expect(await page.evaluate(() => Object.values((globalThis as any).sessionStorage))).toEqual([ADMIN_TOKEN]);
    expect(await page.evaluate(() => (globalThis as any).document.cookie)).toBe('');
    expect((await context.cookies()).length).toBe(0);
    // A reload keeps the tab signed in.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  });

  it('shows an agent\'s spend after calls through the gateway, and keeps it current without a reload', async () => {
    const { token } = await gw.openSession({ agent: 'demo-agent', task: 'weekly report' });
    for (const n of [30, 50, 70]) expect(await call(token, `draft [[sim:tokens=${n}]]`)).toBe('ok');
    const spent = async () => (await gw.admin('GET', '/admin/v1/usage?agent=demo-agent&limit=1000')).body.data.reduce((s: number, u: { cost_usd: number }) => s + u.cost_usd, 0) as number;
    const before = await spent();
    expect(before).toBeGreaterThan(0);

    // A suspended team is marked on its agents' rows.
    expect((await gw.admin('POST', '/admin/v1/teams/research/suspend', { reason: 'review' })).status).toBe(200);
    await page.getByRole('navigation').getByRole('link', { name: 'Agents' }).click();
    await page.getByRole('heading', { level: 1, name: 'Agents' }).waitFor();
    await textIs('tr[data-agent="demo-agent"] td.spend', usd(before));
    await textIs('tr[data-agent="researcher"] td:nth-child(3)', 'research suspended');
    await textIs('tr[data-agent="demo-agent"] td:nth-child(3)', 'demo');
    expect((await gw.admin('POST', '/admin/v1/teams/research/resume', {})).status).toBe(200);
    // Another call: the list catches up by itself.
    expect(await call(token, 'more [[sim:tokens=90]]')).toBe('ok');
    const after = await spent();
    expect(usd(after)).not.toBe(usd(before));
    await textIs('tr[data-agent="demo-agent"] td.spend', usd(after));
    await shot('agents');

    await page.getByRole('link', { name: 'demo-agent' }).click();
    await page.getByRole('heading', { level: 1, name: 'demo-agent' }).waitFor();
    await textIs('[data-testid="agent-spend"]', usd(after));
    await page.getByRole('link', { name: 'weekly report' }).waitFor();
    await shot('agent');
    await shot('agent-phone', PHONE);
  });

  it('approves a pending step-up with extra budget, and the agent\'s next call succeeds', async () => {
    const { token, sessionId } = await gw.openSession({ agent: 'support-bot', task: 'refund customer 4411' });
    let refused: ApiError | undefined;
    for (let i = 0; i < 200 && !refused; i++) {
      const r = await call(token, 'x [[sim:tokens=20]]');
      if (r !== 'ok') refused = r;
    }
    expect(refused?.status).toBe(402);
    expect((refused!.error as { code: string }).code).toBe('approval_required');
    expect(await call(token)).not.toBe('ok');
    const approvalId = (refused!.error as { approval_id: string }).approval_id;

    await page.getByRole('navigation').getByRole('link', { name: 'Approvals' }).click();
    const card = page.locator(`[data-approval="${approvalId}"]`);
    await card.waitFor();
    await card.getByRole('link', { name: sessionId }).waitFor();
    await shot('approvals');
    await card.getByLabel('Extra budget (USD)').fill('0.01');
    await card.getByLabel('Reason').fill('customer escalation');
    await card.getByRole('button', { name: 'Approve' }).click();
    await card.waitFor({ state: 'detached' });

    const approval = (await gw.admin('GET', `/admin/v1/approvals/${approvalId}`)).body;
    expect(approval).toMatchObject({ status: 'approved', reason: 'customer escalation', extra_budget: { usd: 0.01 } });
    expect(await call(token)).toBe('ok');
    await page.getByRole('table', { name: 'Decided approvals' }).getByText('customer escalation').waitFor();
  });

  it('revokes a session from its delegation tree, and that branch\'s next call is refused', async () => {
    const root = await gw.openSession({ agent: 'demo-agent', task: 'market study' });
    const child = await delegate(gw.url, root.token, { agent: 'researcher', task: 'collect filings', budget_usd: '0.2' });
    expect(child.status, JSON.stringify(child.body)).toBe(200);
    const grandchild = await delegate(gw.url, child.body.access_token, { agent: 'researcher', task: 'summarise filings', budget_usd: '0.05' });
    expect(grandchild.status).toBe(200);
    for (const t of [root.token, child.body.access_token, grandchild.body.access_token]) expect(await call(t)).toBe('ok');

    await open(`/sessions/${grandchild.body.session_id}`, 'summarise filings');
    const tree = page.getByRole('list', { name: 'Delegation tree' });
    for (const task of ['market study', 'collect filings', 'summarise filings']) await tree.getByRole('link', { name: task }).waitFor();
    await shot('session-tree');
    await shot('session-tree-phone', PHONE);

    const branch = page.locator(`[data-node="${child.body.session_id}"]`);
    await branch.getByRole('button', { name: 'Revoke branch' }).click();
    await branch.getByRole('textbox').fill('leaked token');
    await branch.getByRole('button', { name: 'Revoke branch' }).click();
    await page.locator(`[data-node="${child.body.session_id}"] .badge`).filter({ hasText: 'revoked' }).waitFor();
    await page.locator(`[data-node="${grandchild.body.session_id}"] .badge`).filter({ hasText: 'revoked' }).waitFor();

    const refused = await call(child.body.access_token);
    expect(refused).not.toBe('ok');
    expect((refused as ApiError).status).toBe(401);
    expect(await call(grandchild.body.access_token)).not.toBe('ok');
    // The rest of the tree keeps working.
    expect(await call(root.token)).toBe('ok');
    expect((await gw.session(child.body.session_id)).status).toBe('revoked');
    // An ended session's budget says what it spent of what it had, not what is "left".
    await open(`/sessions/${child.body.session_id}`, 'collect filings');
    const legend = page.locator('.budget-legend').first();
    await legend.filter({ hasText: 'ended' }).waitFor();
    expect(await legend.textContent()).not.toContain('left of');
  });

  it('renders what agents send as text, never as markup', async () => {
    const task = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
    await gw.openSession({ agent: 'demo-agent', task });
    await open('/sessions', 'Sessions');
    await page.getByRole('link', { name: task }).waitFor();
    expect(await page.evaluate(() => (globalThis as any).__pwned)).toBeUndefined();
    expect(await page.locator('main img').count()).toBe(0);
    await shot('sessions');
  });

  it('shows a detector\'s alert with its evidence, the session it suspended, and acknowledges and resolves it', async () => {
    // The same prompt rejected twice: a critical retry loop, and the session is suspended.
    const { token, sessionId } = await gw.openSession({ agent: 'looper', task: 'nightly import' });
    for (let i = 0; i < 2; i++) expect(await call(token, 'import the ledger [[sim:error=400]]')).not.toBe('ok');
    await gw.gateway.detection.idle();
    const [alert] = (await gw.admin('GET', `/admin/v1/alerts?session_id=${sessionId}`)).body.data;
    expect(alert).toMatchObject({ detector: 'retry_loop', severity: 'critical', status: 'open', verdict: 'prompt_loop' });
    expect((await gw.session(sessionId)).status).toBe('suspended');
    expect(((await call(token)) as ApiError).status).toBe(403);

    await page.getByRole('navigation').getByRole('link', { name: 'Alerts' }).click();
    await page.locator(`tr[data-alert="${alert.id}"]`).getByRole('link', { name: alert.summary }).click();
    await page.getByRole('heading', { level: 1, name: alert.summary }).waitFor();
    const evidence = page.getByRole('table', { name: 'Evidence' });
    await evidence.getByRole('row', { name: /prompt_fingerprint/ }).waitFor();
    await evidence.getByRole('row', { name: /failed\s*2/ }).waitFor();
    await page.getByText('suspend_session').first().waitFor();
    await shot('alert');

    await page.getByRole('button', { name: 'Acknowledge' }).click();
    await page.getByRole('button', { name: 'Confirm acknowledge' }).click();
    await page.locator('.page-actions .badge').filter({ hasText: 'acknowledged' }).waitFor();
    expect((await gw.admin('GET', `/admin/v1/alerts/${alert.id}`)).body).toMatchObject({ status: 'acknowledged', acknowledged_by: 'admin' });

    // The suspended session is shown as such, and its resume approval brings it back.
    await open('/sessions', 'Sessions');
    await page.getByRole('button', { name: 'Suspended' }).click();
    await page.locator(`tr[data-session="${sessionId}"] .badge`).filter({ hasText: 'suspended' }).waitFor();
    await open('/approvals', 'Approvals');
    const resume = page.locator('[data-approval]').filter({ hasText: 'Resume a suspended session' }).filter({ hasText: sessionId });
    await resume.getByRole('button', { name: 'Approve' }).click();
    await resume.waitFor({ state: 'detached' });
    expect(await call(token)).toBe('ok');

    await open(`/alerts/${alert.id}`, alert.summary);
    await page.getByRole('button', { name: 'Resolve' }).click();
    await page.getByRole('textbox', { name: 'Resolve: reason' }).fill('import job fixed');
    await page.getByRole('button', { name: 'Confirm resolve' }).click();
    await page.locator('.page-actions .badge').filter({ hasText: 'resolved' }).waitFor();
    expect((await gw.admin('GET', `/admin/v1/alerts/${alert.id}`)).body).toMatchObject({ status: 'resolved', resolved_by: 'admin' });
    await open('/alerts', 'Alerts');
    await page.getByRole('button', { name: 'All' }).click();
    await page.locator(`tr[data-alert="${alert.id}"]`).waitFor();
    await shot('alerts');
  });

  it('says so when a gateway has no alerts API, instead of failing', async () => {
    await page.route('**/admin/v1/alerts**', (r) => r.fulfill({ status: 404, contentType: 'application/json', body: '{"error":{"code":"not_found","message":"No admin route /admin/v1/alerts."}}' }));
    try {
      await open('/alerts', 'Alerts');
      await page.getByText('no alerts API yet').waitFor();
      await open('/', 'Overview');
      await page.getByText('alerts API not available').waitFor();
    } finally {
      await page.unroute('**/admin/v1/alerts**');
    }
  });

  it('explores the audit log of a session and its descendants, with the chain verified', async () => {
    const root = await gw.openSession({ agent: 'demo-agent', task: 'audited task' });
    const child = await delegate(gw.url, root.token, { agent: 'researcher', task: 'audited child', budget_usd: '0.1' });
    expect(await call(child.body.access_token)).toBe('ok');
    await open(`/audit?session=${root.sessionId}&descendants=true`, 'Audit');
    const events = page.getByRole('table', { name: 'Audit events' });
    await events.getByText('model.call').first().waitFor();
    // The child's events are in a search for the root and its descendants.
    await events.getByText(child.body.session_id.slice(0, 12)).first().waitFor();
    await page.getByText('chain intact').waitFor();
    // Following: a new call appears without a reload.
    const rows = await events.locator('tbody tr').count();
    expect(await call(root.token)).toBe('ok');
    await page.waitForFunction((n) => (globalThis as any).document.querySelectorAll('table[aria-label="Audit events"] tbody tr').length > n, rows, { timeout: 15_000 });
    await events.locator('tbody tr').first().locator('td').first().click();
    await page.getByRole('table', { name: /^Event \d+$/ }).waitFor();
    await shot('audit');
  });

  it('shows spend, request rate, approvals and budget burn-down on the overview, on a laptop and a phone', async () => {
    await open('/', 'Overview');
    await page.getByRole('img', { name: 'Spend by team' }).locator('canvas').first().waitFor();
    await page.getByRole('img', { name: /^Burn-down of / }).locator('canvas').first().waitFor();
    await page.getByText('Budgets this period').waitFor();
    await page.getByRole('table', { name: 'Top agents' }).getByRole('link', { name: 'demo-agent' }).waitFor();
    await shot('overview');
    await shot('overview-phone', PHONE);
  });

  it('access review: a viewer sees findings but no actions; an operator revokes an unused secret in one click and signs off', async () => {
    const secret = (await gw.admin('POST', '/admin/v1/agents/researcher/secrets', {})).body;
    const finding = `credential_never_used:${secret.id}`;
    const viewer = (await gw.admin('POST', '/admin/v1/operators', { name: 'vera', role: 'viewer' })).body.token;
    const operator = (await gw.admin('POST', '/admin/v1/operators', { name: 'oscar', role: 'operator' })).body.token;
    const signInAs = async (token: string, who: string) => {
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('Operator token').fill(token);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await textIs('[data-testid="whoami"]', who);
    };

    await signInAs(viewer, 'vera · viewer');
    await open('/review', 'Access review');
    // The role is known (a reload asks whoami again) before what it hides is judged.
    await textIs('[data-testid="whoami"]', 'vera · viewer');
    const row = page.locator(`tr[data-finding="${finding}"]`);
    await row.waitFor();
    expect(await row.getByRole('button').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Sign off' }).count()).toBe(0);
    // Nor can a viewer approve: a pending step-up shows no decision form.
    const { token } = await gw.openSession({ agent: 'support-bot', task: 'review check' });
    let approvalId: string | undefined;
    for (let i = 0; i < 200 && !approvalId; i++) {
      const r = await call(token, 'x [[sim:tokens=20]]');
      if (r !== 'ok') approvalId = (r.error as { approval_id: string }).approval_id;
    }
    await open('/approvals', 'Approvals');
    await textIs('[data-testid="whoami"]', 'vera · viewer');
    const card = page.locator(`[data-approval="${approvalId}"]`);
    await card.getByText('Deciding needs the approver role.').waitFor();
    expect(await card.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    expect(await card.getByRole('button', { name: 'Deny' }).count()).toBe(0);
    expect((await gw.admin('POST', `/admin/v1/approvals/${approvalId}/deny`, { reason: 'not needed' })).status).toBe(200);

    await signInAs(operator, 'oscar · operator');
    await open('/review', 'Access review');
    await row.getByRole('button', { name: 'Revoke' }).click();
    await row.getByRole('button', { name: 'Apply: revoke credential' }).click();
    await row.waitFor({ state: 'detached' });
    const secrets = (await gw.admin('GET', '/admin/v1/agents/researcher/secrets')).body.data;
    expect(secrets.find((s: { id: string }) => s.id === secret.id).status).toBe('revoked');
    const [revoked] = (await gw.admin('GET', '/admin/v1/audit/events?type=credential.revoked')).body.data;
    expect(revoked).toMatchObject({ actor: 'operator:oscar', data: { credential: secret.id, finding } });
    await page.getByLabel('Sign-off note').fill('monthly review');
    await page.getByRole('button', { name: 'Sign off' }).click();
    await page.getByRole('button', { name: 'Sign off this review' }).click();
    await page.getByRole('status').filter({ hasText: 'Signed off' }).waitFor();
    const [signed] = (await gw.admin('GET', '/admin/v1/access-review/sign-offs')).body.data;
    expect(signed).toMatchObject({ signed_by: 'operator:oscar', remediated: [finding], note: 'monthly review' });
    await shot('access-review');
    await shot('access-review-phone', PHONE);
    await signInAs(ADMIN_TOKEN, 'admin · admin');
  });

  it('ran without a console error, a CSP or Trusted Types violation, or an uncaught exception', () => {
    expect(problems).toEqual([]);
  });
});
