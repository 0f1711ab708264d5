// Verification of the audit chain: walks the events in seq order, a page at a time (the table is
// never loaded whole), recomputes each hash from the stored row, checks each link to the event
// before, and checks every signed checkpoint against the chain where it says the chain passed.
// Stops at the first broken event and names it. The walking (ChainWalker) runs off the event loop
// where the store can (Store.walkChain: SQLite's checkpointer thread), else here.
import { ChainWalker, GENESIS_HASH, type AuditCheckpoint, type ChainPosition, type ChainRecord, type ChainWalk, type Store } from '../store/index.js';
import { checkCheckpoint, type CheckpointClaims, type CheckpointKeys } from './checkpoints.js';

/**
 * `head_moved`: the chain may hash and link throughout, but the gateway that wrote it recorded
 * (`audit.head_moved`) that the head had moved under it — something else wrote the database, and
 * the events since the checkpoint before that record may have been rewritten and re-hashed.
 */
export type BreakReason = 'hash_mismatch' | 'prev_mismatch' | 'missing' | 'checkpoint_mismatch' | 'bad_signature' | 'head_moved';

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
  /**
   * Events read and hashed per turn of the event loop where the store cannot walk the chain off
   * it (`Store.walkChain`); default `pageSize`.
   */
  loopSlice?: number;
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
  /**
   * Breaks an operator acknowledged (AuditLog.acknowledgeBreak), each anchored again by a signed
   * checkpoint at the broken event as stored: verification went on from there. Present when any.
   */
  acknowledged?: AcknowledgedBreak[];
}

/** A break verification found acknowledged, and carried on after. */
export interface AcknowledgedBreak {
  seq: number;
  reason: string;
  note: string;
  by: string;
  checkpoint: string;
  /** When it was acknowledged (the checkpoint's signed time). */
  at: number;
}

/** Breaks an acknowledgement may anchor past: the event is stored, so the chain can go on from it. */
export const ACKNOWLEDGEABLE: ReadonlySet<BreakReason> = new Set(['hash_mismatch', 'prev_mismatch', 'head_moved']);

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

  /** The next checkpoint, not taken. */
  peek(): AuditCheckpoint | undefined {
    return this.buffer[this.index];
  }

  async take(): Promise<AuditCheckpoint> {
    const c = this.buffer[this.index++]!;
    await this.fill();
    return c;
  }
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The chain read with readChain and walked on this thread, a page of `pageSize` read ahead while
 * the one before is hashed: where the store cannot walk it off the event loop.
 */
class PagedWalk {
  private rows: ChainRecord[] = [];
  private at = 0;
  private ahead: Promise<ChainRecord[]> | null = null;
  /** The seq of the last row walked: the next row read follows it. */
  private position: number | null = null;

  constructor(
    private readonly store: Store,
    private readonly pageSize: number,
    private readonly end: number,
  ) {}

  /** Walks up to `limit` events after `from`, at most a page of them. */
  async walk(from: ChainPosition, limit: number): Promise<ChainWalk> {
    if (this.position !== from.seq) {
      // The first walk, or another walker went on since: read from `from`.
      this.rows = [];
      this.at = 0;
      this.ahead = null;
    }
    const walker = new ChainWalker(from);
    for (let n = 0; n < Math.min(limit, this.pageSize); n++) {
      if (this.at >= this.rows.length && !(await this.nextPage(from.seq))) break;
      const r = this.rows[this.at++]!;
      this.position = r.seq;
      if (!walker.step(r)) break;
    }
    return walker.result();
  }

  /** The next page (the one read ahead, or read now after `after`); false when none is left. */
  private async nextPage(after: number): Promise<boolean> {
    const from = this.rows.at(-1)?.seq ?? after;
    this.rows = await (this.ahead ?? this.read(from));
    this.at = 0;
    const last = this.rows.at(-1)?.seq;
    this.ahead = last !== undefined && last < this.end ? this.read(last) : null;
    // A page read ahead past a break is left unread; its promise must not reject unheard.
    this.ahead?.catch(() => undefined);
    return this.rows.length > 0;
  }

  private read(after: number): Promise<ChainRecord[]> {
    return after < this.end ? this.store.readChain(after, Math.min(this.pageSize, this.end - after)) : Promise.resolve([]);
  }
}

/** The first `audit.head_moved` record in (after, upTo] not acknowledged, as a break. */
async function headMovedIn(store: Store, after: number, upTo: number, acknowledged: ReadonlySet<number>): Promise<BrokenLink | undefined> {
  if (upTo <= after) return undefined;
  const moved = await store.searchEvents({ type: 'audit.head_moved', afterSeq: after, order: 'asc', limit: acknowledged.size + 1 });
  const e = moved.find((m) => !acknowledged.has(m.seq));
  if (!e || e.seq > upTo) return undefined;
  const seqOf = (v: unknown) => (typeof v === 'number' ? String(v) : '?');
  return {
    seq: e.seq, id: e.id, reason: 'head_moved',
    detail: `the gateway found the chain's head moved outside it before event ${seqOf(e.data.found_seq)} (it expected to append ${seqOf(e.data.expected_seq)} onto the event it wrote last): something else wrote the database, and the events since the checkpoint before may have been rewritten`,
  };
}

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
  const acknowledged: AcknowledgedBreak[] = [];
  const acknowledge = (c: AuditCheckpoint, claims: CheckpointClaims) => {
    const a = claims.acknowledges!;
    acknowledged.push({ seq: c.lastSeq, reason: a.reason, note: a.note, by: a.by, checkpoint: c.id, at: claims.time });
  };

  // From the start, checkpoints before the chain's first event are checked too: none should exist.
  const cursor = new CheckpointCursor(store, options.from ? from.seq : Number.MIN_SAFE_INTEGER);
  await cursor.fill();

  const checkpointAt = async (record: { seq: number; id: string | null; hash: string } | null): Promise<BrokenLink | undefined> => {
    const c = await cursor.take();
    const checked = await checkCheckpoint(c, keys);
    if (!checked.ok) return { seq: c.lastSeq, id: record?.id ?? null, reason: checked.reason, detail: checked.detail, checkpoint: c.id };
    if (record === null) {
      return { seq: c.lastSeq, id: null, reason: 'checkpoint_mismatch', detail: `checkpoint ${c.id} vouches for seq ${c.lastSeq}, before the chain's first event (${head.firstSeq})`, checkpoint: c.id };
    }
    if (checked.claims.last_hash !== record.hash) {
      return { seq: record.seq, id: record.id, reason: 'checkpoint_mismatch', detail: `event ${record.seq} is not the one checkpoint ${c.id} signed (its hash differs): the chain was rewritten at or before it`, checkpoint: c.id };
    }
    // An acknowledged head_moved: the chain links through it; the record is what it acknowledges.
    if (checked.claims.acknowledges) acknowledge(c, checked.claims);
    checkpoints++;
    return undefined;
  };

  /**
   * A break at an event an operator acknowledged: the next checkpoint is signed at that event as
   * stored, acknowledging a break of this kind. Then the walk goes on from the stored event.
   */
  const acknowledgedAt = async (b: BrokenLink): Promise<ChainPosition | undefined> => {
    const c = cursor.peek();
    if (!c || c.lastSeq !== b.seq || !ACKNOWLEDGEABLE.has(b.reason)) return undefined;
    const checked = await checkCheckpoint(c, keys);
    if (!checked.ok || checked.claims.acknowledges?.reason !== b.reason) return undefined;
    const [stored] = await store.readChain(b.seq - 1, 1);
    if (stored?.seq !== b.seq || stored.hash !== checked.claims.last_hash) return undefined;
    await cursor.take();
    acknowledge(c, checked.claims);
    checkpoints++;
    return { seq: stored.seq, hash: stored.hash };
  };

  while (!broken && cursor.nextSeq <= from.seq) broken = await checkpointAt(null);

  const paged = new PagedWalk(store, options.loopSlice ?? pageSize, end);
  while (!broken && prev.seq < end) {
    // A slice ends at the next checkpoint, so that the checkpoint is held to the event it vouches for.
    const limit = Math.min(end, cursor.nextSeq) - prev.seq;
    const walk = await (store.walkChain?.(prev, Math.min(limit, pageSize)) ?? paged.walk(prev, limit));
    events += walk.events;
    if (walk.broken) {
      const anchor = await acknowledgedAt(walk.broken);
      if (!anchor) {
        broken = walk.broken;
        break;
      }
      events++;
      prev = anchor;
      options.onProgress?.({ events, total });
      continue;
    }
    // The stored events end here: tail() names what is missing.
    if (walk.events === 0) break;
    prev = { seq: walk.last.seq, hash: walk.last.hash };
    while (!broken && cursor.nextSeq <= prev.seq) broken = await checkpointAt(walk.last);
    options.onProgress?.({ events, total });
    // Let the gateway serve requests between slices.
    await yieldToEventLoop();
  }

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
  // A consistent rewrite since the last checkpoint hashes and links; the gateway that noticed it
  // said so on the chain, and that record breaks the stretch it lands in.
  const acknowledgedMoves = new Set(acknowledged.filter((a) => a.reason === 'head_moved').map((a) => a.seq));
  const moved = await headMovedIn(store, from.seq, broken ? Math.min(broken.seq - 1, end) : end, acknowledgedMoves);
  if (moved) {
    broken = moved;
    // The walk went past it: what verified is what came before it.
    events = Math.min(events, moved.seq - 1 - from.seq);
  }

  const ms = performance.now() - started;
  return {
    ok: broken === undefined,
    events,
    checkpoints,
    ...(broken ? { first_broken: broken } : {}),
    ...(acknowledged.length > 0 ? { acknowledged } : {}),
    ms: Math.round(ms * 10) / 10,
    events_per_second: ms > 0 ? Math.round(events / (ms / 1000)) : 0,
    chain: { first_seq: head.firstSeq, last_seq: head.lastSeq, last_hash: head.lastHash },
    ...(stoppedEarly ? { next: prev } : {}),
  };
}
