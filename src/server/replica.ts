// One gateway process among several on a shared store. Each replica has an id and heartbeats a
// row in `replicas` (the database's clock, so replicas' clocks need not agree). Holds of calls in
// flight name their replica; when a replica has been silent for `replica_timeout_seconds`, any
// survivor claims its holds (one UPDATE: exactly one claimant) and charges each once, at the worst
// case it held — unless its spend line landed, in which case the hold is already gone. A replica
// restarted with its old id (storage.postgres.replica_id) settles its own holds at once.
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/index.js';
import { chargeReservations } from '../budget/index.js';
import { rowToReservation, type PostgresStore } from '../store/index.js';

const DB_NOW = `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`;

export interface ReplicaOptions {
  id: string;
  timeoutMs: number;
  audit: AuditLog;
  logger: Logger;
  now: () => number;
}

export class Replica {
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> | null = null;

  constructor(
    private readonly store: PostgresStore,
    private readonly options: ReplicaOptions,
  ) {}

  get id(): string {
    return this.options.id;
  }

  /** Registers this replica and settles what a previous process of the same id left in flight. */
  async start(): Promise<void> {
    await this.store.query(
      `INSERT INTO replicas (id, started_at, heartbeat_at) VALUES ($1, ${DB_NOW}, ${DB_NOW})
       ON CONFLICT (id) DO UPDATE SET started_at = EXCLUDED.started_at, heartbeat_at = EXCLUDED.heartbeat_at`,
      [this.id],
    );
    // Nothing of this process is in flight yet: holds under this id are a dead predecessor's.
    await this.settle(await this.store.query('SELECT * FROM reservations WHERE accounts IS NOT NULL AND replica_id = $1 ORDER BY id', [this.id]));
    await this.reconcileDead();
    // A beat at least three times per timeout, so one late beat never makes a live replica look dead.
    const every = Math.max(200, Math.min(5_000, this.options.timeoutMs / 3));
    this.timer = setInterval(() => void this.beat(), every);
    this.timer.unref();
  }

  /** One heartbeat, then the holds of replicas that stopped beating. Errors are logged, not thrown. */
  beat(): Promise<void> {
    this.beating ??= (async () => {
      try {
        await this.store.query(`UPDATE replicas SET heartbeat_at = ${DB_NOW} WHERE id = $1`, [this.id]);
        await this.reconcileDead();
      } catch (err) {
        this.options.logger.warn({ err }, 'replica heartbeat failed');
      } finally {
        this.beating = null;
      }
    })();
    return this.beating;
  }

  /** Claims and charges the holds of dead replicas. Returns how many. */
  async reconcileDead(): Promise<number> {
    const claimed = await this.store.query(
      `UPDATE reservations r SET replica_id = $1
       WHERE r.accounts IS NOT NULL AND r.replica_id IS DISTINCT FROM $1
         AND NOT EXISTS (SELECT 1 FROM replicas p WHERE p.id = r.replica_id AND p.heartbeat_at >= ${DB_NOW} - $2)
       RETURNING r.*`,
      [this.id, Math.round(this.options.timeoutMs)],
    );
    const charged = await this.settle(claimed);
    // A dead replica with nothing left to settle is forgotten.
    await this.store.query(
      `DELETE FROM replicas p WHERE p.heartbeat_at < ${DB_NOW} - $1 AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.replica_id = p.id)`,
      [Math.round(this.options.timeoutMs)],
    );
    return charged;
  }

  private settle(rows: Record<string, unknown>[]): Promise<number> {
    const { audit, logger, now } = this.options;
    return chargeReservations(this.store, rows.map(rowToReservation), now(), audit, logger);
  }

  /** Stops beating; on a clean stop (nothing in flight) the row goes too. */
  async stop(clean: boolean): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.beating;
    if (clean) await this.store.query('DELETE FROM replicas p WHERE p.id = $1 AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.replica_id = p.id)', [this.id]).catch(() => undefined);
  }
}
