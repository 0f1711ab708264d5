// The spend journal: holds of calls now starting and spend lines of calls that ended, written in
// order through one group commit. A line removes its call's hold in the same transaction, so
// holds left in the store after a crash are exactly the calls that never settled; reconciling
// them charges each once, at the worst case it held, marked estimated.
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/index.js';
import type { PendingReservation, Store, UsageRecord } from '../store/index.js';

export type JournalEntry = { usage: UsageRecord } | { reservation: PendingReservation };

/** Where holds and spend lines are queued: the store's WriteQueue, shared with the audit log. */
export interface Journal {
  /** Resolves once the entry is durable. */
  add(entry: JournalEntry): Promise<void>;
  flush(): Promise<void>;
}

/** How long a hold stays in a shared store before another replica may reconcile it. */
export const RESERVATION_LIFETIME_MS = 6 * 3600_000;

/**
 * Charges every reservation that expires before `before` and was never settled. Returns how many.
 * The line reuses the reservation's id: a call whose line did land is never charged again.
 */
export async function reconcileReservations(store: Store, before: number, now: number, audit: AuditLog, logger: Logger): Promise<number> {
  const open = await store.listReservations(before);
  if (open.length === 0) return 0;
  const records: UsageRecord[] = open.map((r) => ({
    id: r.id, requestId: r.requestId, sessionId: r.sessionId, agentId: r.agentId, teamId: r.teamId, profileId: r.profileId,
    model: r.model, provider: r.provider, api: r.api, stream: r.stream,
    inputTokens: r.promptTokens, outputTokens: r.outputTokens, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0,
    costUsdNano: r.usdNano, estimated: true, outcome: 'reconciled', httpStatus: 0, latencyMs: now - r.createdAt, createdAt: now, chain: r.chain,
  }));
  await store.recordUsage(records);
  for (const r of open) {
    await audit.record({ type: 'reservation.reconciled', actor: 'system', requestId: r.requestId, agentId: r.agentId, sessionId: r.sessionId, teamId: r.teamId, chain: r.chain, data: { line: r.id, usd: r.usdNano / 1e9, tokens: r.promptTokens + r.outputTokens } });
  }
  logger.warn({ count: open.length }, 'reconciled reservations of calls that never settled (charged at their held worst case)');
  return open.length;
}
