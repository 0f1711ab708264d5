// `npx tsx bench/dashboard.ts` (after `npm run build`): how big the built dashboard is and how
// fast it loads in Debian's Chromium against a local gateway with some spend recorded — a cold
// load (fresh browser profile, empty cache) and a warm one (hashed assets from the cache), each
// to the overview showing its figures. Medians of several loads.
import { readdirSync, readFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import OpenAI from 'openai';
import { chromium } from 'playwright-core';
import { parse as parseYaml, stringify } from 'yaml';
import { defaultConfigText, parseConfig } from '../src/config/index.js';
import { Gateway } from '../src/server/index.js';
import { DEFAULT_UI_DIR } from '../src/server/ui.js';

const ROUNDS = 7;
const ADMIN = 'tga_bench-admin-token';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function sizes() {
  const dir = join(DEFAULT_UI_DIR, 'assets');
  return readdirSync(dir).map((f) => {
    const body = readFileSync(join(dir, f));
    return { file: f, bytes: statSync(join(dir, f)).size, gzip: gzipSync(body).length };
  });
}

async function main() {
  for (const s of sizes()) console.log(`${s.file}: ${(s.bytes / 1024).toFixed(1)} KiB, ${(s.gzip / 1024).toFixed(1)} KiB gzipped`);
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-bench-ui-'));
  const config = parseConfig(stringify({ ...(parseYaml(defaultConfigText()) as object), logging: { level: 'silent' } }), 'bench');
  const gateway = await Gateway.create({ config, dataDir, env: { TOLLGATE_ADMIN_TOKEN: ADMIN } });
  const url = await gateway.listen(0, '127.0.0.1');
  const opened = await fetch(`${url}/admin/v1/sessions`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'demo-agent', task: 'bench' }) });
  const { token } = (await opened.json()) as { token: string };
  const openai = new OpenAI({ apiKey: token, baseURL: `${url}/v1`, maxRetries: 0 });
  for (let i = 0; i < 200; i++) await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `call ${i}` }] });

  const profile = mkdtempSync(join(tmpdir(), 'tollgate-bench-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args: FLAGS, viewport: { width: 1440, height: 900 } });
  const page = context.pages()[0] ?? (await context.newPage());
  // Signed in: the token as the sign-in form would keep it.
  await page.goto(`${url}/ui/`);
  await page.evaluate((t) => (globalThis as any).sessionStorage.setItem('tollgate.admin-token', t), ADMIN);
  const cold: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    for (const [list, clear] of [[cold, true], [warm, false]] as const) {
      if (clear) {
        const cdp = await context.newCDPSession(page);
        await cdp.send('Network.clearBrowserCache');
        await cdp.detach();
      }
      const started = Date.now();
      await page.goto(`${url}/ui/`);
      // The overview with its figures: spend, the spend chart and the top agents.
      await page.getByRole('table', { name: 'Top agents' }).waitFor();
      await page.locator('.chart canvas').first().waitFor();
      await page.waitForFunction(() => ![...(globalThis as any).document.querySelectorAll('.stat-value')].some((e: any) => e.textContent === '…'));
      list.push(Date.now() - started);
    }
  }
  console.log(`overview with data, cold cache: median ${median(cold)} ms (${cold.join(', ')})`);
  console.log(`overview with data, warm cache: median ${median(warm)} ms (${warm.join(', ')})`);
  await context.close();
  await gateway.close(500);
  rmSync(profile, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
}

await main();
