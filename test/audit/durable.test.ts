// durable(requestId): the end of a response waits for the request's audit events. An event
// recorded with `awaited` (the model call's own, which settle awaits itself) is not tracked.
import { expect, it } from 'vitest';
import { auditFixture, type AuditFixture } from './helpers.js';

const stored = (fx: AuditFixture, requestId: string) => fx.rows().filter((r) => r.requestId === requestId).length;

it('durable(requestId) resolves once the request\'s tracked events are on disk, and at once for an awaited one', async () => {
  const fx = await auditFixture();
  try {
    const tracked = fx.audit.record({ type: 'auth.denied', actor: 'anonymous', requestId: 'req_tracked', data: { code: 'invalid_token' } });
    await fx.audit.durable('req_tracked');
    expect(stored(fx, 'req_tracked')).toBe(1);
    await tracked;

    const awaited = fx.audit.record({ type: 'model.call', actor: 'agent:agt_1', requestId: 'req_awaited', agentId: 'agt_1', data: { tokens: 3 } }, { awaited: true });
    let settled = false;
    const untracked = fx.audit.durable('req_awaited').then(() => (settled = true));
    // Nothing tracked for the request: durable() resolves without waiting for a commit.
    await Promise.resolve();
    await Promise.resolve();
    expect(settled).toBe(true);
    await untracked;
    // The event's own promise is the one that waits for the disk.
    await awaited;
    expect(stored(fx, 'req_awaited')).toBe(1);
  } finally {
    await fx.close();
  }
});

it('durable(requestId) rejects when a tracked event of the request could not be written', async () => {
  const fx = await auditFixture();
  await fx.store.close();
  try {
    const failed = fx.audit.record({ type: 'auth.denied', actor: 'anonymous', requestId: 'req_lost', data: {} });
    await expect(fx.audit.durable('req_lost')).rejects.toThrow();
    await expect(failed).rejects.toThrow();
  } finally {
    // The store is closed already: only the fixture's second connection is left to close.
    fx.db.close();
  }
});
