// The write queue's admission: after a batch fails for good, calls are refused, then one call at
// a time tests the store; a batch that commits lets calls through again. Against a real SQLite
// store and a real failure (a spend line for a session that does not exist: a foreign key).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reservationLine } from '../../src/budget/journal.js';
import { isStoreUnavailable } from '../../src/errors/index.js';
import { isSqliteOutage, SqliteStore, WriteQueue } from '../../src/store/index.js';
import { PROBE_AFTER_MS } from '../../src/store/write-queue.js';

let store: SqliteStore;
afterEach(async () => store?.close());

const orphanLine = () =>
  reservationLine({
    id: 'use_orphan', requestId: 'req_1', sessionId: 'ses_missing', agentId: 'agt_x', teamId: 'team_x', profileId: 'prf_x', model: 'm', provider: 'p',
    api: 'chat', stream: false, promptTokens: 1, outputTokens: 1, usdNano: 1, chain: ['ses_missing'], createdAt: 0, expiresAt: 1,
  }, 1);
const event = { id: 'evt_1', time: Date.now(), type: 'test.event', actor: 'system', requestId: null, agentId: null, sessionId: null, teamId: null, chain: null, data: {} };

describe('WriteQueue admission', () => {
  it('refuses after a failed batch, lets one probe through after a pause, and admits once a batch commits', async () => {
    store = new SqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'tollgate-queue-')), 'q.db') });
    await store.migrate();
    const queue = new WriteQueue(store, undefined, isSqliteOutage);
    expect(queue.admission()).toBe('admit');
    const failed = await queue.add({ usage: orphanLine() }).then(() => null, (err: unknown) => err);
    expect(String(failed)).toMatch(/FOREIGN KEY/);
    // Not an outage (kept and retried) but a write that fails for good: its writers answer 503.
    expect(isSqliteOutage(failed)).toBe(false);
    expect(isStoreUnavailable(failed)).toBe(true);
    expect(queue.failing).toBe(true);
    // Not an outage being waited out: the gateway stays ready (a call tests the store).
    expect(queue.stalled).toBe(false);
    const at = performance.now();
    expect(queue.admission({ now: at })).toBe('refuse');
    // A caller that cannot wait for its hold is not let through as the probe, nor uses it up.
    expect(queue.admission({ now: at + PROBE_AFTER_MS, probe: false })).toBe('refuse');
    expect(queue.admission({ now: at + PROBE_AFTER_MS })).toBe('probe');
    // One probe at a time.
    expect(queue.admission({ now: at + 2 * PROBE_AFTER_MS })).toBe('refuse');
    await queue.add({ event });
    expect(queue.failing).toBe(false);
    expect(queue.admission()).toBe('admit');
  });

  it('an outage that turns into a failure for good no longer refuses for ever: the probe takes over', async () => {
    store = new SqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'tollgate-queue-')), 'q.db') });
    await store.migrate();
    // The first failure is taken for an outage (kept and retried), the second is final.
    let failures = 0;
    const queue = new WriteQueue(store, undefined, () => ++failures === 1);
    const failed = queue.add({ usage: orphanLine() }).then(() => null, (err: unknown) => err);
    // (The writer thread starts with the first batch.)
    for (let i = 0; i < 200 && !queue.stalled; i++) await new Promise((r) => setTimeout(r, 5));
    expect(queue.stalled).toBe(true);
    expect(queue.admission()).toBe('refuse');
    expect(String(await failed)).toMatch(/FOREIGN KEY/);
    expect(queue.stalled).toBe(false);
    expect(queue.admission({ now: performance.now() + PROBE_AFTER_MS })).toBe('probe');
  });

  it('counts a full, read-only, failing or locked file as an outage, and a wrong write not', () => {
    for (const code of ['SQLITE_FULL', 'SQLITE_IOERR_WRITE', 'SQLITE_READONLY', 'SQLITE_BUSY', 'SQLITE_CANTOPEN']) expect(isSqliteOutage({ code })).toBe(true);
    for (const code of ['SQLITE_CONSTRAINT_FOREIGNKEY', 'SQLITE_ERROR', 'SQLITE_FULLX', undefined]) expect(isSqliteOutage({ code })).toBe(false);
    expect(isSqliteOutage(null)).toBe(false);
  });
});
