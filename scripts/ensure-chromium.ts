// Makes sure Debian's Chromium is installed for the dashboard's browser tests (run by `npm test`
// before Vitest). Playwright's own browser download is never used: `playwright-core` drives the
// system's /usr/bin/chromium. When it is missing and cannot be installed (not root, no apt, no
// network), this says why and exits 0: the browser tests then report themselves skipped.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';

function run(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return r.status === 0;
}

function main(): void {
  if (existsSync(CHROMIUM)) return;
  if (process.env.TOLLGATE_SKIP_BROWSER_INSTALL) {
    console.warn(`[browser tests] ${CHROMIUM} is missing and TOLLGATE_SKIP_BROWSER_INSTALL is set: the browser tests will be skipped.`);
    return;
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    console.warn(`[browser tests] ${CHROMIUM} is missing and this is not root, so it cannot be installed: run \`sudo apt-get install -y chromium\`. The browser tests will be skipped.`);
    return;
  }
  console.log(`[browser tests] ${CHROMIUM} is missing: installing Debian's chromium with apt-get (once per machine)…`);
  // Other processes may hold the dpkg lock for a while (unattended upgrades, another install).
  const lock = ['-o', 'DPkg::Lock::Timeout=300'];
  const ok = run('apt-get', [...lock, 'update', '-qq']) && run('apt-get', [...lock, 'install', '-y', '-qq', '--no-install-recommends', 'chromium']);
  if (ok && existsSync(CHROMIUM)) console.log(`[browser tests] installed ${CHROMIUM}.`);
  else console.warn(`[browser tests] could not install chromium with apt-get (see above): the browser tests will be skipped.`);
}

main();
