// Verification of the audit chain: walks the events in seq order, a page at a time (the table is
// never loaded whole), recomputes each hash from the stored row, checks each link to the event
// before, and checks every signed checkpoint against the chain where it says the chain passed.
// Stops at the first broken event and names it.
import { GENESIS_HASH, recordHash, type AuditCheckpoint, type ChainRecord, type Store } from '../store/index.js';
import { checkCheckpoint, type CheckpointKeys } from './checkpoints.js';

export type BreakReason = 'hash_mismatch' | 'prev_mismatch' | 'missing' | 'checkpoint_mismatch' | 'bad_signature';

/** The first place the chain does not hold. */
export interface BrokenLink {
  /** The event's position (for a checkpoint: the position it vouches for). */
  seq: number;
  /** The event's id (for `missing`: the event stored where the missing one should be, if any). */
  id: string | null;
  reason: BreakReason;
  detail: string;
  /** The checkpoint involved, for `checkpoint_mismatch` and `bad_signature`. */
  checkpoint?: string;
}

export interface VerifyProgress {
  /** Events verified so far. */
  events: number;
  /** Events this run covers. */
  total: number;
}

export interface VerifyOptions {
  onProgress?: (progress: VerifyProgress) => void;
  /** Events read per query (default 5000). */
  pageSize?: number;
  /**
   * Continue after an event already verified (its seq and hash) instead of from the chain's
   * start: verification in slices, each carrying on from where the previous one stopped.
   */
  from?: { seq: number; hash: string };
  /** Stop after this many events; the result's `next` says where to carry on. */
  maxEvents?: number;
}

export interface VerifyResult {
  ok: boolean;
  /** Events verified. */
  events: number;
  /** Checkpoints verified. */
  checkpoints: number;
  first_broken?: BrokenLink;
  ms: number;
  events_per_second: number;
  /** The chain as it stood when this run began. */
  chain: { first_seq: number; last_seq: number; last_hash: string };
  /** Where to carry on (`from`), when `maxEvents` stopped the run before the end. */
  next?: { seq: number; hash: string };
}

const DEFAULT_PAGE = 5000;
const CHECKPOINT_PAGE = 1000;

/** Checkpoints in last_seq order, read a page at a time; `nextSeq` is known without awaiting. */
class CheckpointCursor {
  private buffer: AuditCheckpoint[] = [];
  private index = 0;
  private after: number;
  private exhausted = false;

  constructor(
    private readonly store: Store,
    after: number,
  ) {
    this.after = after;
  }

  /** last_seq of the next checkpoint; +Infinity when none is left. */
  nextSeq = Number.POSITIVE_INFINITY;

  async fill(): Promise<void> {
    if (this.index < this.buffer.length || this.exhausted) {
      this.nextSeq = this.buffer[this.index]?.lastSeq ?? Number.POSITIVE_INFINITY;
      return;
    }
    // Several checkpoints may share a last_seq: page by (last_seq) and drop the ones already seen.
    const page = await this.store.listCheckpoints(this.after, CHECKPOINT_PAGE);
    this.buffer = page;
    this.index = 0;
    if (page.length < CHECKPOINT_PAGE) this.exhausted = true;
    else {
      // Keep the last last_seq group whole for the next page: re-read it from its start.
      const lastSeq = page.at(-1)!.lastSeq;
      const whole = page.filter((c) => c.lastSeq < lastSeq);
      // (A whole page for one seq — a thousand replicas signing the same head — is taken as is.)
      if (whole.length > 0) this.buffer = whole;
      this.after = this.buffer.at(-1)!.lastSeq;
    }
    this.nextSeq = this.buffer[0]?.lastSeq ?? Number.POSITIVE_INFINITY;
  }

  async take(): Promise<AuditCheckpoint> {
    const c = this.buffer[this.index++]!;
    await this.fill();
    return c;
  }
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Verifies the audit chain (or a slice of it); never throws for a broken chain, only for a failing store. */
export async function verifyAudit(store: Store, keys: CheckpointKeys, options: VerifyOptions = {}): Promise<VerifyResult> {
  const started = performance.now();
  const head = await store.chainHead();
  const pageSize = options.pageSize ?? DEFAULT_PAGE;
  const from = options.from ?? { seq: head.firstSeq - 1, hash: GENESIS_HASH };
  const end = options.maxEvents === undefined ? head.lastSeq : Math.min(head.lastSeq, from.seq + options.maxEvents);
  const total = Math.max(0, end - from.seq);
  let prev = { seq: from.seq, hash: from.hash };
  let events = 0;
  let checkpoints = 0;
  let broken: BrokenLink | undefined;

  // From the start, checkpoints before the chain's first event are checked too: none should exist.
  const cursor = new CheckpointCursor(store, options.from ? from.seq : Number.MIN_SAFE_INTEGER);
  await cursor.fill();

  const checkpointAt = async (record: ChainRecord | null): Promise<BrokenLink | undefined> => {
    const c = await cursor.take();
    const checked = await checkCheckpoint(c, keys);
    if (!checked.ok) return { seq: c.lastSeq, id: record?.id ?? null, reason: checked.reason, detail: checked.detail, checkpoint: c.id };
    if (record === null) {
      return { seq: c.lastSeq, id: null, reason: 'checkpoint_mismatch', detail: `checkpoint ${c.id} vouches for seq ${c.lastSeq}, before the chain's first event (${head.firstSeq})`, checkpoint: c.id };
    }
    if (checked.claims.last_hash !== record.hash) {
      return { seq: record.seq, id: record.id, reason: 'checkpoint_mismatch', detail: `event ${record.seq} is not the one checkpoint ${c.id} signed (its hash differs): the chain was rewritten at or before it`, checkpoint: c.id };
    }
    checkpoints++;
    return undefined;
  };

  while (!broken && cursor.nextSeq <= from.seq) broken = await checkpointAt(null);

  let page = end > prev.seq ? store.readChain(prev.seq, Math.min(pageSize, end - prev.seq)) : Promise.resolve([]);
  walk: while (!broken && prev.seq < end) {
    const rows = await page;
    if (rows.length === 0) break;
    const lastRead = rows.at(-1)!.seq;
    // Read the next page while this one is hashed.
    page = lastRead < end ? store.readChain(lastRead, Math.min(pageSize, end - lastRead)) : Promise.resolve([]);
    for (const r of rows) {
      if (r.seq > end) break walk;
      const expected = prev.seq + 1;
      if (r.seq !== expected) {
        broken = { seq: expected, id: r.id, reason: 'missing', detail: `event ${expected} is missing: the next stored event is ${r.seq}` };
        break walk;
      }
      if (r.hash === null || recordHash(r) !== r.hash) {
        broken = { seq: r.seq, id: r.id, reason: 'hash_mismatch', detail: r.hash === null ? `event ${r.seq} has no hash` : `event ${r.seq} does not hash to its stored hash: it was altered` };
        break walk;
      }
      if (r.prevHash !== prev.hash) {
        broken = { seq: r.seq, id: r.id, reason: 'prev_mismatch', detail: `event ${r.seq} does not link to event ${prev.seq} (an event was removed, inserted or moved)` };
        break walk;
      }
      prev = { seq: r.seq, hash: r.hash };
      events++;
      while (!broken && cursor.nextSeq <= r.seq) broken = await checkpointAt(r);
      if (broken) break walk;
    }
    options.onProgress?.({ events, total });
    // Let the gateway serve requests between pages.
    await yieldToEventLoop();
  }
  // A page prefetched past a break is left unread; its promise must not reject unheard.
  page.catch(() => undefined);

  /** After the last event: the head must agree, and no checkpoint may vouch for events past the end. */
  const tail = async (): Promise<BrokenLink | undefined> => {
    if (prev.seq < head.lastSeq) {
      return { seq: prev.seq + 1, id: null, reason: 'missing', detail: `the chain head records ${head.lastSeq} as the last event, but the stored events end at ${prev.seq}` };
    }
    if (prev.hash !== head.lastHash) {
      return { seq: prev.seq, id: null, reason: 'hash_mismatch', detail: `the chain head records another hash for event ${prev.seq}` };
    }
    // Checkpoints past the events: fine if the events were appended since this run began, but a
    // checkpoint past the current end vouches for events that are gone (the tail was cut).
    if (cursor.nextSeq === Number.POSITIVE_INFINITY) return undefined;
    const now = await store.chainHead();
    while (cursor.nextSeq !== Number.POSITIVE_INFINITY) {
      const c = await cursor.take();
      if (c.lastSeq <= now.lastSeq) continue;
      const checked = await checkCheckpoint(c, keys);
      if (!checked.ok) return { seq: c.lastSeq, id: null, reason: checked.reason, detail: checked.detail, checkpoint: c.id };
      return { seq: now.lastSeq + 1, id: null, reason: 'missing', detail: `checkpoint ${c.id} vouches for event ${c.lastSeq}, but the stored events end at ${now.lastSeq}: the log was cut`, checkpoint: c.id };
    }
    return undefined;
  };

  const stoppedEarly = !broken && end < head.lastSeq && prev.seq === end;
  if (!broken && !stoppedEarly) broken = await tail();

  const ms = performance.now() - started;
  return {
    ok: broken === undefined,
    events,
    checkpoints,
    ...(broken ? { first_broken: broken } : {}),
    ms: Math.round(ms * 10) / 10,
    events_per_second: ms > 0 ? Math.round(events / (ms / 1000)) : 0,
    chain: { first_seq: head.firstSeq, last_seq: head.lastSeq, last_hash: head.lastHash },
    ...(stoppedEarly ? { next: prev } : {}),
  };
}
