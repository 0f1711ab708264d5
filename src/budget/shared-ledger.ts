// The ledger for several replicas on one PostgreSQL: the accounts live in the table
// `budget_accounts` (migration 9) and every change is one call of a plpgsql function that locks
// the accounts it touches in key order — so replicas contending for one session queue on its row
// and never deadlock, and no check-and-hold can be lost between two replicas.
//
// One round trip per reservation — or fewer: calls arriving while one is at the database go
// together in the next. tollgate_reserve() checks every level of each call, holds all or none,
// writes the call's hold (its reservation row, naming this replica) and returns the accounts as
// they now stand, which refreshes this process's copy (what `remaining` and the output cap read) —
// a refusal's answer too: a call refused on a copy that missed other replicas' spend is priced
// again from it, with a cap the budget can pay for (pipeline/reserve.ts). Settling
// costs no round trip of its own: the call's spend line, group-committed, settles the hold in the
// same statement (tollgate_settle_lines in recordUsage). Only a hold released without a line (a
// refusal after reserving, a tool's price) is settled here, through a queue that is retried until
// the database takes it — through an outage, never dropped.
import type { Logger } from 'pino';
import { backendOf, endServerProcess, type PendingReservation, type PeriodBudget, type ServerProcess, type Session, type Store } from '../store/index.js';
import { AboveMost, add, budgetExceeded, LoadedAccounts, ownSpend, sliceAmount, sub, subtree, type Account, type Amount, type Ledger, type Level, type Reservation } from './ledger.js';
import type { PeriodWindow } from './periods.js';

/** A store whose database also holds the shared ledger's tables (PostgresStore). */
export interface SharedLedgerStore extends Store {
  query(text: string, values?: unknown[]): Promise<Record<string, unknown>[]>;
}

interface AccountRow {
  key: unknown;
  budget_tokens: unknown;
  budget_usd_nano: unknown;
  spent_tokens: unknown;
  spent_usd_nano: unknown;
  reserved_tokens: unknown;
  reserved_usd_nano: unknown;
  ended: unknown;
}

const ZERO: Amount = { tokens: 0, usdNano: 0 };
const nullable = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** A settle owed to the database: a hold released or charged without a spend line. */
interface OwedSettle {
  /** The hold's reservation row, when it has one (deleted with the settle). */
  id: string | null;
  keys: string[];
  amount: Amount;
  actual: Amount;
}

const RETRY_MAX_MS = 2_000;
/** Most calls reserved in one round trip. */
const MAX_RESERVE_BATCH = 256;

interface QueuedReserve {
  accounts: readonly Account[];
  amount: Amount;
  hold: PendingReservation | undefined;
  resolve: (r: Reservation) => void;
  reject: (err: unknown) => void;
}

export class SharedLedger extends LoadedAccounts implements Ledger {
  readonly durableHolds = true;
  private owed: OwedSettle[] = [];
  /** What this replica's own calls hold on each account (the rest of a copy's `reserved` is others'). */
  private readonly ownHeld = new WeakMap<Account, Amount>();
  /**
   * Holds whose reservation's outcome is unknown (its statement timed out or its connection
   * broke): the server process it went to is ended, so that it cannot run it late, then each hold
   * that did land is released — the call was refused, nothing was spent. Retried like `owed`.
   */
  private doubtful: { backend: ServerProcess; ids: string[] }[] = [];
  private reserving: QueuedReserve[] = [];
  private reserveInFlight = false;
  private flushing: Promise<void> | null = null;
  private retryMs = 50;

  constructor(
    private readonly store: SharedLedgerStore,
    private readonly replicaId: string,
    private readonly logger: Logger,
    now: () => number = Date.now,
  ) {
    super(now);
  }

  /** The database holds every replica's holds: only this replica's own would be lost with its copy. */
  protected override stillHeld(account: Account): boolean {
    const own = this.ownHeld.get(account);
    return own !== undefined && (own.tokens !== 0 || own.usdNano !== 0);
  }

  // --- loading ----------------------------------------------------------------------------

  /**
   * The session's account: this process's copy, or read from the database — created there, the
   * first time any replica needs it, from the store's record of the session (own spend, what
   * ended children spent, active children's slices held).
   */
  async load(session: Session): Promise<Account> {
    const cached = this.accounts.get(session.id);
    if (cached) return cached;
    const [row] = await this.store.query('SELECT * FROM budget_accounts WHERE key = $1', [session.id]);
    if (row) return this.remember(session.id, 'session', row as unknown as AccountRow);
    const tree = await this.store.sessionTree(session.id);
    let spent = ownSpend(session);
    let reserved = { ...ZERO };
    for (const child of tree.filter((s) => s.parentId === session.id)) {
      if (child.status === 'active') reserved = add(reserved, sliceAmount(child.budget));
      else spent = subtree(child.id, tree).reduce((sum, s) => add(sum, ownSpend(s)), spent);
    }
    const delegated = session.parentId !== null && session.status === 'active';
    const slice = delegated ? sliceAmount(session.budget) : ZERO;
    const [created] = await this.store.query(
      `INSERT INTO budget_accounts (key, level, budget_tokens, budget_usd_nano, spent_tokens, spent_usd_nano, reserved_tokens, reserved_usd_nano, parent_key, slice_tokens, slice_usd_nano, ended, updated_at)
       VALUES ($1, 'session', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key RETURNING *`,
      [session.id, session.budget.tokens, session.budget.usdNano, spent.tokens, spent.usdNano, reserved.tokens, reserved.usdNano, session.parentId, slice.tokens, slice.usdNano, session.status !== 'active', this.clock()],
    );
    return this.remember(session.id, 'session', created as unknown as AccountRow);
  }

  /**
   * An agent's or a team's account for the current period, created (by the first replica that
   * needs it) from the spend recorded since the period began; the configured budget is kept current.
   */
  async loadPeriod(level: 'agent' | 'team', id: string, budget: PeriodBudget, window: PeriodWindow): Promise<Account> {
    const key = `${level}:${id}:${window.key}`;
    const cached = this.accounts.get(key);
    if (cached && cached.budget.tokens === budget.tokens && cached.budget.usdNano === budget.usdNano) return cached;
    const spent = cached ? cached.spent : await this.store.spendSince(level === 'agent' ? { agentId: id } : { teamId: id }, window.start);
    const [row] = await this.store.query(
      `INSERT INTO budget_accounts (key, level, budget_tokens, budget_usd_nano, spent_tokens, spent_usd_nano, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (key) DO UPDATE SET budget_tokens = EXCLUDED.budget_tokens, budget_usd_nano = EXCLUDED.budget_usd_nano RETURNING *`,
      [key, level, budget.tokens, budget.usdNano, spent.tokens, spent.usdNano, this.clock()],
    );
    const account = this.remember(key, level, row as unknown as AccountRow);
    this.periodLoaded(level, id, key);
    return account;
  }

  forget(key: string): void {
    this.accounts.delete(key);
  }

  /**
   * The accounts as the database has them now, into this process's copies (in place). For a call
   * (`always` false) only when the copies hold more than this replica's own holds: only others'
   * holds, which may have settled since, can make a copy more cautious than the database (one
   * round trip then, none otherwise). Other replicas' spend makes a copy less cautious instead:
   * the database's guarded reservation refuses what the copy let through, and its answer (the
   * accounts as they then stand) refreshes the copy — the caller prices the call again from it
   * (pipeline/reserve.ts), so the hot path pays no read for it. A view of the numbers (the admin
   * API) reads `always`.
   */
  async readAfresh(accounts: readonly Account[], always = false): Promise<void> {
    const stale = always || accounts.some((a) => {
      const own = this.ownHeld.get(a) ?? ZERO;
      return a.reserved.tokens > own.tokens || a.reserved.usdNano > own.usdNano;
    });
    if (!stale || accounts.length === 0) return;
    const rows = await this.store.query('SELECT * FROM budget_accounts WHERE key = ANY($1::text[])', [accounts.map((a) => a.key)]);
    const byKey = new Map(rows.map((r) => [String(r.key), r as unknown as AccountRow]));
    for (const account of accounts) {
      const row = byKey.get(account.key);
      if (row) refresh(account, row);
    }
  }

  /** This process's copy of an account, updated in place (callers hold references to it). */
  private remember(key: string, level: Level, row: AccountRow): Account {
    const account = this.accounts.get(key) ?? { key, level, budget: { tokens: null, usdNano: null }, spent: { ...ZERO }, reserved: { ...ZERO }, parent: null, slice: null, ended: false };
    refresh(account, row);
    this.accounts.set(key, account);
    return account;
  }

  // --- reserving and settling -------------------------------------------------------------

  /**
   * Queued for the next round trip. While one batch is at the database, the calls that arrive
   * wait and go together in the next: one round trip and one commit for all of them, so a busy
   * replica pays a commit per batch rather than per call, and a lone call waits for nothing.
   */
  reserve(accounts: readonly Account[], amount: Amount, hold?: PendingReservation): Promise<Reservation> {
    return new Promise<Reservation>((resolve, reject) => {
      this.reserving.push({ accounts, amount, hold, resolve, reject });
      if (!this.reserveInFlight) void this.sendReserves();
    });
  }

  private async sendReserves(): Promise<void> {
    this.reserveInFlight = true;
    while (this.reserving.length > 0) {
      const batch = this.reserving.splice(0, MAX_RESERVE_BATCH);
      try {
        const calls = batch.map((r) => ({ keys: r.accounts.map((a) => a.key), tokens: r.amount.tokens, usd: r.amount.usdNano, hold: r.hold ? holdRow(r.hold) : null }));
        const [row] = await this.store.query('SELECT tollgate_reserve($1, $2::json) AS result', [this.replicaId, JSON.stringify(calls)]);
        const result = row!.result as { short: ({ unit: string; key: string } | null)[]; accounts: AccountRow[] };
        const states = new Map(result.accounts.map((r) => [String(r.key), r]));
        batch.forEach((r, i) => {
          for (const a of r.accounts) refresh(a, states.get(a.key)!);
          // The first account (in the caller's order: session, agent, team) that could not cover it.
          const short = result.short[i];
          if (short) r.reject(budgetExceeded(r.accounts.find((a) => a.key === short.key) ?? r.accounts[0]!, short.unit === 'usd' ? 'usd' : 'tokens'));
          else {
            for (const a of r.accounts) this.ownHeld.set(a, add(this.ownHeld.get(a) ?? ZERO, r.amount));
            r.resolve({ holds: r.accounts.map((account) => ({ account, amount: r.amount })), settled: false, ...(r.hold ? { id: r.hold.id } : {}) });
          }
        });
      } catch (err) {
        const backend = backendOf(err);
        const ids = batch.flatMap((r) => (r.hold ? [r.hold.id] : []));
        if (backend !== null && ids.length > 0) {
          this.doubtful.push({ backend, ids });
          void this.flush();
        }
        for (const r of batch) r.reject(err);
      }
    }
    this.reserveInFlight = false;
  }

  settle(reservation: Reservation, actual: Amount, recorded = false): void {
    if (reservation.settled) return;
    reservation.settled = true;
    for (const { account, amount } of reservation.holds) {
      account.reserved = sub(account.reserved, amount);
      account.spent = add(account.spent, actual);
      const own = this.ownHeld.get(account);
      if (own) this.ownHeld.set(account, sub(own, amount));
    }
    // A spend line with the hold's id settles it in the database, in the line's own statement.
    if (recorded && reservation.id !== undefined) return;
    const first = reservation.holds[0];
    if (!first) return;
    this.owed.push({ id: reservation.id ?? null, keys: reservation.holds.map((h) => h.account.key), amount: first.amount, actual });
    void this.flush();
  }

  /** Writes the settles owed; on failure keeps them and tries again (backing off to 2 s). */
  flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async drain(): Promise<void> {
    while (this.owed.length > 0 || this.doubtful.length > 0) {
      try {
        // Settles first, then one reservation in doubt (its releases join the settles): neither
        // waits for ever behind the other.
        if (this.owed.length > 0) await this.writeOwed();
        const doubt = this.doubtful[0];
        if (doubt) {
          await this.releaseDoubtful(doubt);
          this.doubtful.shift();
        }
        this.retryMs = 50;
      } catch (err) {
        this.logger.warn({ err, owed: this.owed.length, doubtful: this.doubtful.length, retry_ms: this.retryMs }, 'shared ledger: settle failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, this.retryMs).unref());
        this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
      }
    }
  }

  /** The settles owed, in one or two statements; on failure they are kept, in order, ahead of anything queued since. */
  private async writeOwed(): Promise<void> {
    const batch = this.owed;
    this.owed = [];
    try {
      const withRow = batch.filter((o) => o.id !== null);
      const withoutRow = batch.filter((o) => o.id === null);
      if (withRow.length > 0) {
        await this.store.query('SELECT tollgate_settle_lines($1::text[], $2::bigint[], $3::bigint[])', [withRow.map((o) => o.id), withRow.map((o) => o.actual.tokens), withRow.map((o) => o.actual.usdNano)]);
      }
      if (withoutRow.length > 0) {
        await this.store.query('SELECT tollgate_apply_settle($1::json)', [JSON.stringify(withoutRow.map((o) => ({ keys: o.keys, tokens: o.amount.tokens, usd: o.amount.usdNano, actual_tokens: o.actual.tokens, actual_usd: o.actual.usdNano })))]);
      }
    } catch (err) {
      // A settle is never dropped.
      this.owed = [...batch, ...this.owed];
      throw err;
    }
  }

  /**
   * A reservation whose answer never came: its server process is ended first (it cannot then run
   * the statement late), then every hold it may have written is owed a release at zero — the call
   * was refused (a hold that never landed is no row, and settling it does nothing).
   */
  private async releaseDoubtful(doubt: { backend: ServerProcess; ids: string[] }): Promise<void> {
    if (!(await endServerProcess(this.store, doubt.backend))) {
      this.logger.warn({ pid: doubt.backend.pid }, 'shared ledger: could not end the server process of an unanswered reservation; releasing its holds anyway');
    }
    for (const id of doubt.ids) this.owed.push({ id, keys: [], amount: ZERO, actual: ZERO });
  }

  // --- delegation and the session lifecycle ------------------------------------------------

  async delegate(parent: Session, child: Session): Promise<void> {
    const p = this.session(parent.id);
    const slice = sliceAmount(child.budget);
    const [row] = await this.store.query('SELECT tollgate_delegate($1, $2, $3, $4, $5, $6, $7) AS ok', [parent.id, child.id, child.budget.tokens, child.budget.usdNano, slice.tokens, slice.usdNano, this.clock()]);
    if (!row?.ok) throw budgetExceeded(p, slice.usdNano > 0 ? 'usd' : 'tokens');
    p.reserved = add(p.reserved, slice);
    const [opened] = await this.store.query('SELECT * FROM budget_accounts WHERE key = $1', [child.id]);
    this.remember(child.id, 'session', opened as unknown as AccountRow);
  }

  async grow(sessionId: string, extra: Amount, most?: Amount): Promise<void> {
    const [row] = await this.store.query('SELECT tollgate_grow_within($1, $2, $3, $4, $5) AS outcome, (SELECT parent_key FROM budget_accounts WHERE key = $1) AS parent',
      [sessionId, extra.tokens, extra.usdNano, most?.tokens ?? null, most?.usdNano ?? null]);
    const parent = typeof row?.parent === 'string' ? row.parent : null;
    const outcome = row?.outcome;
    // Grown or not, read afresh: another replica may have changed it since this copy was read.
    await this.reload([sessionId, parent]);
    if (outcome === 'tokens' || outcome === 'usd') throw new AboveMost(outcome === 'usd' ? 'usdNano' : 'tokens');
    // A delegated session's growth is carved from its parent: that is the account short.
    if (outcome !== 'ok') throw budgetExceeded({ key: parent ?? sessionId, level: 'session' }, extra.usdNano > 0 ? 'usd' : 'tokens');
  }

  async end(sessionId: string): Promise<void> {
    const [row] = await this.store.query('SELECT tollgate_end($1), (SELECT parent_key FROM budget_accounts WHERE key = $1) AS parent', [sessionId]);
    await this.reload([sessionId, typeof row?.parent === 'string' ? row.parent : null]);
    this.retire(sessionId);
  }

  /** Reads these sessions' accounts afresh (those this process has loaded). */
  private async reload(keys: (string | null)[]): Promise<void> {
    const wanted = keys.filter((k): k is string => k !== null && this.accounts.has(k));
    if (wanted.length === 0) return;
    for (const row of await this.store.query('SELECT * FROM budget_accounts WHERE key = ANY($1::text[])', [wanted])) this.remember(String(row.key), 'session', row as unknown as AccountRow);
  }
}

function refresh(account: Account, row: AccountRow): void {
  account.budget = { tokens: nullable(row.budget_tokens), usdNano: nullable(row.budget_usd_nano) };
  account.spent = { tokens: Number(row.spent_tokens), usdNano: Number(row.spent_usd_nano) };
  account.reserved = { tokens: Number(row.reserved_tokens), usdNano: Number(row.reserved_usd_nano) };
  account.ended = row.ended === true;
}

/** The reservation row as json_populate_record reads it. */
function holdRow(r: PendingReservation): Record<string, unknown> {
  return ({
    id: r.id, request_id: r.requestId, session_id: r.sessionId, agent_id: r.agentId, team_id: r.teamId, profile_id: r.profileId,
    model: r.model, provider: r.provider, api: r.api, stream: r.stream, prompt_tokens: r.promptTokens, output_tokens: r.outputTokens,
    usd_nano: r.usdNano, chain: r.chain, created_at: r.createdAt, expires_at: r.expiresAt,
  });
}
