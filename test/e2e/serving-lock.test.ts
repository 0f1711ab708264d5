// One serving process per SQLite file: a second `tollgate serve` on a data directory a gateway is
// serving stops before it reads or writes anything — it used to charge the live gateway's holds
// as a dead process's, append to its chain and sign a checkpoint over it, and only then fail on
// the port. A killed gateway's claim goes with it: the next start reconciles as before.
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { crashAdmin as admin, crashChat, crashDir, expectAuditVerifies, expectBalanced, openCrashSession, startOn } from '../helpers/crash.js';
import { cleanEnv, CLI } from '../helpers/process.js';

const execFileAsync = promisify(execFile);

describe('one gateway per SQLite store', () => {
  it('refuses a second serve on the same data, which leaves the running gateway\'s billing and audit log untouched', async () => {
    const dir = crashDir('tollgate-lock-');
    const first = await startOn(dir);
    try {
      const { token, sessionId } = await openCrashSession(first.url, 1);
      // A paced stream in flight (its hold is in the store) while the second process starts.
      const streaming = crashChat(first.url, token, 'slow [[sim:tokens=40]] [[sim:tokens_per_second=40]]', true, 500);
      await new Promise((r) => setTimeout(r, 300));
      const port = new URL(first.url).port;
      const second = await execFileAsync(process.execPath, [CLI, 'serve', '--config', 'tollgate.yaml', '--port', port], { cwd: dir, env: cleanEnv({ TOLLGATE_ADMIN_TOKEN: 'tga_crash-test-0123456789' }) })
        .then(() => null, (err: { code: number; stderr: string }) => err);
      expect(second?.code).toBe(1);
      expect(second?.stderr).toMatch(/^error: the SQLite store .*tollgate\.db is in use by another Tollgate process/m);
      // On another port too: the store is what is claimed.
      const third = await execFileAsync(process.execPath, [CLI, 'serve', '--config', 'tollgate.yaml', '--port', '0'], { cwd: dir, env: cleanEnv({ TOLLGATE_ADMIN_TOKEN: 'tga_crash-test-0123456789' }) })
        .then(() => null, (err: { code: number; stderr: string }) => err);
      expect(third?.stderr).toMatch(/is in use by another Tollgate process/);

      expect(await streaming).not.toBeNull();
      // The stream was charged once, by its own line: nothing reconciled, no foreign events.
      const { lines } = await expectBalanced(first.url, sessionId);
      expect(lines.map((l) => l.outcome)).toEqual(['ok']);
      for (const type of ['reservation.reconciled', 'audit.head_moved']) {
        expect((await admin(first.url, 'GET', `/admin/v1/audit/events?type=${type}`)).data).toEqual([]);
      }
      expect((await admin(first.url, 'GET', '/admin/v1/audit/events?type=config.applied')).data).toHaveLength(1);
      await expectAuditVerifies(first.url);
      // Its files are its owner's alone, like the keys beside them.
      for (const file of ['tollgate.db', 'tollgate.db-wal']) expect(statSync(join(dir, '.tollgate', file)).mode & 0o777).toBe(0o600);
    } finally {
      await first.stop('SIGKILL');
    }
    // Killed, it holds nothing: the next start serves (and reconciles what the kill cut, if anything).
    const next = await startOn(dir);
    await expectAuditVerifies(next.url);
    await next.stop();
  }, 60_000);
});
