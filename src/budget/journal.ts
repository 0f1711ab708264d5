// The spend journal: holds of calls now starting and spend lines of calls that ended, written in
// order through one group commit. A line removes its call's hold in the same transaction, so
// holds left in the store after a crash are exactly the calls that never settled; reconciling
// them charges each once, at the worst case it held, marked estimated.
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/index.js';
import type { Admission, PendingReservation, Store, UsageRecord } from '../store/index.js';

export type JournalEntry = { usage: UsageRecord } | { reservation: PendingReservation };

/** Where holds and spend lines are queued: the store's WriteQueue, shared with the audit log. */
export interface Journal {
  /** Resolves once the entry is durable. */
  add(entry: JournalEntry): Promise<void>;
  flush(): Promise<void>;
  /**
   * Runs `queue`, whose writes (on this queue: the journal's and the audit log's) nobody waits
   * for, deferred: they share a commit with later writes, within a few ms (`GroupCommit.deferred`).
   */
  deferred<R>(queue: () => R): R;
  /** Whether a call may go upstream while its hold is written (see `WriteQueue.admission`). */
  admission(options?: { probe?: boolean }): Admission;
  /** A batch of writes waits for the store to come back (a full disk, a database out of reach). */
  readonly stalled: boolean;
}

/**
 * What a `model.call` event says about its spend line (the pipeline adds what only the call knows:
 * the policy decision, tool calls, fallback attempt, prompt fingerprint).
 */
export function spendLineEventData(r: UsageRecord): Record<string, unknown> {
  return {
    usage_line: r.id, model: r.model, provider: r.provider, api: r.api, stream: r.stream, outcome: r.outcome, http_status: r.httpStatus,
    input_tokens: r.inputTokens, output_tokens: r.outputTokens, cached_input_tokens: r.cachedInputTokens, cache_write_tokens: r.cacheWriteTokens,
    reasoning_tokens: r.reasoningTokens, cost_usd_nano: r.costUsdNano, estimated: r.estimated, latency_ms: r.latencyMs,
  };
}

/** How long a hold stays in a shared store before another replica may reconcile it. */
export const RESERVATION_LIFETIME_MS = 6 * 3600_000;

/**
 * Charges every reservation that expires before `before` and was never settled. Returns how many.
 * The line reuses the reservation's id: a call whose line did land is never charged again.
 */
export async function reconcileReservations(store: Store, before: number, now: number, audit: AuditLog, logger: Logger): Promise<number> {
  return chargeReservations(store, await store.listReservations(before), now, audit, logger);
}

/** The line that charges a never-settled hold at the worst case it held (same id as the call's line). */
export function reservationLine(r: PendingReservation, now: number): UsageRecord {
  return {
    id: r.id, requestId: r.requestId, sessionId: r.sessionId, agentId: r.agentId, teamId: r.teamId, profileId: r.profileId,
    model: r.model, provider: r.provider, api: r.api, stream: r.stream,
    inputTokens: r.promptTokens, outputTokens: r.outputTokens, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0,
    costUsdNano: r.usdNano, estimated: true, outcome: 'reconciled', httpStatus: 0, latencyMs: now - r.createdAt, createdAt: now, chain: r.chain,
  };
}

/**
 * Charges each of `open` once (a line that already landed is never charged again: the ids
 * match) and records a `reservation.reconciled` event for each. Returns how many.
 */
export async function chargeReservations(store: Store, open: readonly PendingReservation[], now: number, audit: AuditLog, logger: Logger): Promise<number> {
  if (open.length === 0) return 0;
  const records = open.map((r) => reservationLine(r, now));
  await store.recordUsage(records);
  for (const r of records) await audit.record(reconciledEvent(r));
  logger.warn({ count: open.length }, 'reconciled reservations of calls that never settled (charged at their held worst case)');
  return open.length;
}

function reconciledEvent(r: UsageRecord) {
  return {
    type: 'reservation.reconciled', actor: 'system', requestId: r.requestId, agentId: r.agentId, sessionId: r.sessionId, teamId: r.teamId, chain: r.chain,
    data: { line: r.id, usd: r.costUsdNano / 1e9, tokens: r.inputTokens + r.outputTokens },
  };
}

/** Spend lines looked at by `recordMissingSpendEvents`: more than a crash can leave unflushed. */
const RECENT_LINES = 1000;

/**
 * After a crash on a private store: the newest spend lines whose charging event never became
 * durable get it now. A call's line and its `model.call` event are one transaction only where the
 * store writes batches (`writeBatch`); otherwise, and in reconciliation (lines, then their
 * `reservation.reconciled` events), a `kill -9` between two writes keeps a line without its event.
 * Then every line on the ledger has its event on the audit chain, marked `recovered`. Returns how
 * many were written.
 */
export async function recordMissingSpendEvents(store: Store, audit: AuditLog, logger: Logger): Promise<number> {
  const lines = await store.listUsage({ limit: RECENT_LINES });
  if (lines.length === 0) return 0;
  // Events are stamped when recorded, a moment after their line: a minute's margin covers it.
  const since = Math.min(...lines.map((l) => l.createdAt)) - 60_000;
  const charged = new Set<string>();
  for (const type of ['model.call', 'reservation.reconciled']) {
    for (const e of await store.listEvents({ type, since, limit: RECENT_LINES * 10 })) {
      const line = type === 'model.call' ? e.data.usage_line : e.data.line;
      if (typeof line === 'string') charged.add(`${type}:${line}`);
    }
  }
  let written = 0;
  // Oldest first, so the chain keeps the lines' order.
  for (const r of lines.reverse()) {
    const type = r.outcome === 'reconciled' ? 'reservation.reconciled' : 'model.call';
    if (charged.has(`${type}:${r.id}`)) continue;
    if (type === 'reservation.reconciled') await audit.record({ ...reconciledEvent(r), data: { ...reconciledEvent(r).data, recovered: true } });
    else await audit.record({ type, actor: `agent:${r.agentId}`, requestId: r.requestId, agentId: r.agentId, sessionId: r.sessionId, teamId: r.teamId, chain: r.chain, data: { ...spendLineEventData(r), recovered: true } });
    written++;
  }
  if (written > 0) logger.warn({ count: written }, 'recorded the audit events of spend lines that a crash left without them');
  return written;
}
