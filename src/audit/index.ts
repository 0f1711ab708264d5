// The audit record: data-plane, control-plane and security events (tokens issued and refused,
// sessions opened, delegated and revoked, policy decisions, tool calls, keys rotated), appended
// through a group commit onto one tamper-evident hash chain (store/chain.ts), sealed by signed
// checkpoints, and copied to the export sinks once durable. See docs/audit.md.
import type { AuditCheckpoint, AuditEvent, ChainedEvent, Store } from '../store/index.js';
import { ChainWalker, GENESIS_HASH, WriteQueue } from '../store/index.js';
import { newTimeOrderedId } from '../util/ids.js';
import type { Logger } from '../util/logger.js';
import { checkCheckpoint, signCheckpoint, type CheckpointKeys, type CheckpointSigner } from './checkpoints.js';
import type { ExportSink } from './export.js';
import { ACKNOWLEDGEABLE, verifyAudit, type BrokenLink, type VerifyOptions, type VerifyResult } from './verify.js';
import { GatewayError } from '../errors/index.js';

export { verifyAudit, type AcknowledgedBreak, type BreakReason, type BrokenLink, type VerifyOptions, type VerifyProgress, type VerifyResult } from './verify.js';
export { signCheckpoint, checkCheckpoint, storedCheckpointKeys, jwksCheckpointKeys, CHECKPOINT_TYPE, type CheckpointKeys, type CheckpointSigner, type CheckpointClaims, type TrustedKey } from './checkpoints.js';
export { createExportSinks, eventLine, JsonlSink, WebhookSink, type EventLine, type ExportSettings, type ExportSink, type LineTarget, type SinkStats } from './export.js';

export type NewEvent = Pick<AuditEvent, 'type' | 'actor'> & Partial<Omit<AuditEvent, 'id' | 'time' | 'type' | 'actor'>> & {
  /** The operator behind an admin-plane action: recorded as `data.operator` ({ id, name, role }). */
  operator?: { id: string; name: string; role: string };
};

export interface AuditLogOptions {
  logger?: Logger;
  /** Signs checkpoints (the gateway's KeyRing); without it, checkpoint() does nothing. */
  signer?: CheckpointSigner;
  /** Keys verification trusts (`storedCheckpointKeys`); without them no checkpoint verifies. */
  keys?: CheckpointKeys;
  /** Where durable events are copied. */
  sinks?: ExportSink[];
  /** Sign a checkpoint this often once start() is called (0: only on close). */
  checkpointIntervalMs?: number;
  /** The queue events are committed through, shared with the spend journal (default: its own). */
  queue?: WriteQueue;
}

const NO_KEYS: CheckpointKeys = { key: async () => undefined };

export class AuditLog {
  private readonly queue: WriteQueue;
  /** Each request's events not yet durable, so the end of its response can wait for them. */
  private readonly pending = new Map<string, Set<Promise<void>>>();
  /** Events recorded once what they wait for is ready (`recordWhen`): a flush waits for them. */
  private readonly waiting = new Set<Promise<void>>();
  /** The last event this process appended: on a private store, nobody else moves the head. */
  private lastWritten: { seq: number; hash: string } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private checkpointing: Promise<AuditCheckpoint | null> | null = null;
  private closed = false;
  private readonly logger: Logger | undefined;
  private readonly sinks: ExportSink[];
  readonly keys: CheckpointKeys;

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
    private readonly options: AuditLogOptions = {},
  ) {
    this.logger = options.logger;
    this.sinks = [...(options.sinks ?? [])];
    this.keys = options.keys ?? NO_KEYS;
    // Hashing happens in the store, once per batch: the whole batch is linked in its transaction.
    this.queue = options.queue ?? new WriteQueue(store, options.logger);
    this.queue.onCommitted((stored) => this.committed(stored));
  }

  /**
   * Appends an event; resolves once it is durable. A caller that does not wait (`void`) never
   * sees a failed write as an unhandled rejection: failures are logged here. An event with a
   * request id is tracked for `durable(requestId)`, unless `awaited`: a caller that awaits this
   * promise itself (the model call's own event, in settle) spares a per-request entry that every
   * call would add and delete.
   */
  record(e: NewEvent, options?: { awaited: true }): Promise<void> {
    const requestId = e.requestId ?? null;
    const durable = this.queue.add({ event: {
      id: newTimeOrderedId('evt'),
      time: this.now(),
      type: e.type,
      actor: e.actor,
      requestId,
      agentId: e.agentId ?? null,
      sessionId: e.sessionId ?? null,
      teamId: e.teamId ?? null,
      chain: e.chain ?? null,
      data: e.operator ? { ...e.data, operator: { id: e.operator.id, name: e.operator.name, role: e.operator.role } } : (e.data ?? {}),
    } });
    durable.catch(() => undefined);
    if (requestId !== null && !options?.awaited) this.track(requestId, durable);
    return durable;
  }

  /**
   * Records the event `ready` resolves to, once it does (a model call's event waiting for its long
   * prompt's fingerprint); resolves once it is durable. `flush` — admin reads, checkpoints,
   * shutdown — waits for it first, so a read after the call still finds its event.
   */
  recordWhen(ready: Promise<NewEvent>, options?: { awaited: true }): Promise<void> {
    const recorded = ready.then((e) => this.record(e, options));
    recorded.catch(() => undefined);
    this.waiting.add(recorded);
    const done = () => this.waiting.delete(recorded);
    recorded.then(done, done);
    return recorded;
  }

  private track(requestId: string, durable: Promise<void>): void {
    let set = this.pending.get(requestId);
    if (!set) this.pending.set(requestId, (set = new Set()));
    set.add(durable);
    const done = () => {
      set.delete(durable);
      if (set.size === 0 && this.pending.get(requestId) === set) this.pending.delete(requestId);
    };
    durable.then(done, done);
  }

  /**
   * Resolves once every event recorded so far for `requestId` is durable (rejects if one could
   * not be written). The data plane awaits it before the end of a response, together with the
   * spend line: both are group-committed, so this costs a lone call one commit at most.
   */
  durable(requestId: string): Promise<void> {
    const set = this.pending.get(requestId);
    if (!set || set.size === 0) return Promise.resolve();
    return Promise.all(set).then(() => undefined);
  }

  /**
   * What a refusal waits for before it is answered: its events on disk. While the store fails its
   * writes (a full disk, a database out of reach), they are kept and written once it recovers, and
   * the refusal is answered at once rather than held for the outage; a write that fails for good
   * does not hold it either.
   */
  refusalDurable(requestId: string): Promise<void> {
    if (this.queue.failing) return Promise.resolve();
    const durable = this.durable(requestId).catch(() => undefined);
    // Written with the batch that meets the outage: answered when the outage is known.
    return new Promise<void>((resolve) => {
      const stop = this.queue.onStall(resolve);
      void durable.then(() => {
        stop();
        resolve();
      });
    });
  }

  /** Writes everything recorded so far, and the events waiting to be (`recordWhen`). */
  flush(): Promise<void> {
    if (this.waiting.size === 0) return this.queue.flush();
    return Promise.allSettled(this.waiting).then(() => this.queue.flush());
  }

  /** Adds a consumer of durable events (the detection engine) after construction. */
  addSink(sink: ExportSink): void {
    this.sinks.push(sink);
  }

  /** After a batch committed: check nobody else moved the chain, then export it. */
  private committed(stored: ChainedEvent[]): void {
    const first = stored[0];
    const last = stored.at(-1);
    if (!first || !last) return;
    if (!this.store.capabilities.shared && this.lastWritten && (first.seq !== this.lastWritten.seq + 1 || first.prevHash !== this.lastWritten.hash)) {
      this.logger?.error(
        { expected: { seq: this.lastWritten.seq + 1, prev_hash: this.lastWritten.hash }, found: { seq: first.seq, prev_hash: first.prevHash } },
        'audit chain head moved outside this gateway: the database was written by something else',
      );
      void this.record({ type: 'audit.head_moved', actor: 'system', data: { expected_seq: this.lastWritten.seq + 1, expected_prev_hash: this.lastWritten.hash, found_seq: first.seq, found_prev_hash: first.prevHash } });
    }
    this.lastWritten = { seq: last.seq, hash: last.hash! };
    for (const sink of this.sinks) {
      try {
        sink.write(stored);
      } catch (err) {
        this.logger?.error({ err, sink: sink.name }, 'audit export failed');
      }
    }
  }

  /** Verifies the chain with this log's store and keys. */
  verify(options: VerifyOptions = {}): Promise<VerifyResult> {
    return verifyAudit(this.store, this.keys, options);
  }

  /**
   * Signs a checkpoint at the chain's current end — after verifying the stretch since the
   * latest checkpoint, so a checkpoint never seals a broken chain. Returns null when there is
   * nothing new to seal; throws (and signs nothing) when the chain does not verify.
   */
  checkpoint(): Promise<AuditCheckpoint | null> {
    // One at a time: the timer and close() may meet.
    this.checkpointing ??= this.signCheckpoint().finally(() => (this.checkpointing = null));
    return this.checkpointing;
  }

  /**
   * Events verified per turn of the event loop while a checkpoint is prepared, where the store
   * cannot walk the chain off the event loop (the SQLite store walks it on its checkpointer
   * thread). Verifying costs ~11 µs per event (read back, SHA-256); at thousands of calls a
   * second a checkpoint covers millions of events, so it runs in slices of ~3 ms with requests
   * served in between, rather than verify's default pages of 5,000 (~55 ms each).
   */
  private static readonly CHECKPOINT_LOOP_SLICE = 250;

  private async signCheckpoint(): Promise<AuditCheckpoint | null> {
    const signer = this.options.signer;
    if (!signer) return null;
    const stretch = await this.unsealed();
    if (!stretch) return null;
    const result = await this.verify({ from: stretch.from, loopSlice: AuditLog.CHECKPOINT_LOOP_SLICE });
    if (!result.ok) {
      const b = result.first_broken!;
      throw new Error(`audit chain broken at seq ${b.seq} (${b.reason}: ${b.detail}): not signing a checkpoint`);
    }
    const checkpoint = await signCheckpoint(signer, { lastSeq: result.chain.last_seq, lastHash: result.chain.last_hash }, this.now());
    await this.store.putCheckpoint(checkpoint);
    this.logger?.info({ checkpoint: checkpoint.id, last_seq: checkpoint.lastSeq, kid: checkpoint.kid, verified: result.events }, 'audit checkpoint signed');
    return checkpoint;
  }

  /**
   * The stretch a checkpoint would seal: from the latest checkpoint, if it holds (signed by us,
   * and the chain passes through it), else from the start; null when nothing is new. Throws when
   * a private store's head moved under this gateway.
   */
  private async unsealed(): Promise<{ from: { seq: number; hash: string } | undefined } | null> {
    await this.flush();
    const head = await this.store.chainHead();
    if (head.lastSeq < head.firstSeq) return null;
    if (!this.store.capabilities.shared && this.lastWritten && (this.lastWritten.seq !== head.lastSeq || this.lastWritten.hash !== head.lastHash)) {
      throw new Error(`audit chain head moved outside this gateway (it wrote seq ${this.lastWritten.seq}, the head says ${head.lastSeq}): not signing a checkpoint`);
    }
    const latest = await this.store.latestCheckpoint();
    let from: { seq: number; hash: string } | undefined;
    if (latest) {
      const checked = await checkCheckpoint(latest, this.keys);
      const [at] = await this.store.readChain(latest.lastSeq - 1, 1);
      if (checked.ok && at?.seq === latest.lastSeq && at.hash === checked.claims.last_hash) from = { seq: at.seq, hash: at.hash };
      if (from && from.seq >= head.lastSeq) return null;
    }
    return { from };
  }

  /**
   * Acknowledges a break at event `seq` an operator looked into: the event is stored but altered
   * (`hash_mismatch`), does not link to the one before (`prev_mismatch`), or is this gateway's
   * `audit.head_moved` record. A checkpoint is signed at that event as stored, carrying the
   * acknowledgement (what, why, who), and an `audit.break_acknowledged` event records it.
   * Verification then goes on from there — reporting the break as acknowledged
   * (VerifyResult.acknowledged), hiding nothing — and so do checkpoints, which a break since the
   * latest one otherwise stops for good. A break the chain cannot go on from (an event missing, a
   * checkpoint that does not hold) cannot be acknowledged.
   */
  async acknowledgeBreak(seq: number, note: string, by: { actor: string; operator?: NewEvent['operator']; requestId?: string }): Promise<{ first_broken: BrokenLink; checkpoint: AuditCheckpoint }> {
    const signer = this.options.signer;
    if (!signer) throw new GatewayError('conflict', 'This gateway signs no checkpoints: there is nothing to acknowledge a break with.');
    await this.flush();
    const [before, stored] = seq > 1 ? await this.store.readChain(seq - 2, 2) : [undefined, ...(await this.store.readChain(0, 1))];
    const at = before?.seq === seq ? before : stored;
    if (at?.seq !== seq || at.hash === null) {
      throw new GatewayError('conflict', `Event ${seq} is not stored with a hash: a break there cannot be acknowledged (a missing event, or one past the chain's end). Restore the store from a backup taken before it, with the export copy for what came after.`);
    }
    const walker = new ChainWalker(before?.seq === seq - 1 && before.hash !== null ? { seq: before.seq, hash: before.hash } : { seq: seq - 1, hash: at.prevHash ?? GENESIS_HASH });
    walker.step(at);
    const found = walker.result().broken;
    const b: BrokenLink | undefined = found && ACKNOWLEDGEABLE.has(found.reason)
      ? found
      : at.type === 'audit.head_moved' ? { seq, id: at.id, reason: 'head_moved', detail: `the gateway recorded that the chain's head moved under it (event ${seq})` } : undefined;
    if (!b) throw new GatewayError('conflict', `Event ${seq} hashes and links to the one before it: there is no break there to acknowledge (\`tollgate audit verify\` names the first one).`);
    const earlier = await this.store.listCheckpoints(seq - 1, 100);
    if (earlier.some((c) => c.lastSeq === seq && c.lastHash === at.hash)) {
      throw new GatewayError('conflict', `The break at event ${seq} is already acknowledged, or sealed by a checkpoint.`, { details: { first_broken: b } });
    }
    const checkpoint = await signCheckpoint(signer, { lastSeq: seq, lastHash: at.hash }, this.now(), { reason: b.reason, note, by: by.actor });
    await this.store.putCheckpoint(checkpoint);
    await this.record({
      type: 'audit.break_acknowledged', actor: by.actor, requestId: by.requestId, operator: by.operator,
      data: { seq, reason: b.reason, detail: b.detail, note, checkpoint: checkpoint.id },
    });
    this.logger?.warn({ seq, reason: b.reason, checkpoint: checkpoint.id, by: by.actor }, 'audit chain break acknowledged: verification and checkpoints go on from it');
    return { first_broken: b, checkpoint };
  }

  /** Starts signing checkpoints every `checkpointIntervalMs`. */
  start(): void {
    const every = this.options.checkpointIntervalMs ?? 0;
    if (this.timer || every <= 0 || !this.options.signer) return;
    this.timer = setInterval(() => {
      this.checkpoint().catch((err: unknown) => this.logger?.error({ err }, 'audit checkpoint refused'));
    }, every);
    this.timer.unref();
  }

  /** On shutdown: writes what is queued, signs a last checkpoint, and empties the export sinks. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.flush();
    await this.checkpoint().catch((err: unknown) => this.logger?.error({ err }, 'audit checkpoint refused at shutdown'));
    await Promise.all(this.sinks.map((s) => s.close()));
  }

  /** What each export sink sent, dropped and holds. */
  exportStats(): Record<string, ReturnType<ExportSink['stats']>> {
    return Object.fromEntries(this.sinks.map((s) => [s.name, s.stats()]));
  }
}
