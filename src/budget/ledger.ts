// The reservation ledger. `Ledger` is the contract the pipeline, sessions and approvals use;
// `MemoryLedger` (here) keeps the accounts in this process, for the embedded store, where this
// process is the only writer; `SharedLedger` (shared-ledger.ts) keeps them in PostgreSQL for
// several replicas. Before a call is forwarded its worst-case cost
// is held at every level that applies — the session, its agent, its team — all or nothing; when
// the call ends, the real cost replaces the holds. Checks and holds run in one synchronous step,
// so concurrent calls in this process can never jointly overspend any level.
//
// Delegation: a child session's budget is a slice carved from its parent. The slice is held on the
// parent while the child is active; when the child ends, the hold is settled with everything the
// child (and its own children) spent, so children's spend counts against the parent and unused
// budget returns to it.
import { MAX_USD } from '../config/schema.js';
import { GatewayError } from '../errors/index.js';
import type { Budget, PendingReservation, PeriodBudget, Session, Store } from '../store/index.js';
import type { PeriodWindow } from './periods.js';

export interface Amount {
  tokens: number;
  usdNano: number;
}

export type Level = 'session' | 'agent' | 'team';

export interface Account {
  readonly key: string;
  readonly level: Level;
  budget: Budget;
  /** Settled spend (for sessions: own plus what ended children spent). */
  spent: Amount;
  /** Holds for calls in flight (and, for sessions, active children's slices). */
  reserved: Amount;
  parent: Account | null;
  /** The hold on the parent for this session's slice (delegated sessions). */
  slice: Hold | null;
  ended: boolean;
}

export interface Hold {
  account: Account;
  amount: Amount;
}

export interface Reservation {
  readonly holds: Hold[];
  settled: boolean;
  /** The id of the call's hold in a shared store (its spend line carries the same id). */
  readonly id?: string;
}

/**
 * The ledger contract. Reads of loaded accounts (`session`, `remaining`) are synchronous; what
 * changes accounts may wait on a database (a MemoryLedger never does: its results are plain values).
 */
export interface Ledger {
  /**
   * True when reserve() itself makes a call's hold durable (given `hold`), so the spend journal
   * need not write it; a crash mid-call leaves the hold to reconcile either way.
   */
  readonly durableHolds: boolean;
  load(session: Session): Promise<Account>;
  loadPeriod(level: 'agent' | 'team', id: string, budget: PeriodBudget, window: PeriodWindow): Promise<Account>;
  session(sessionId: string): Account;
  remaining(accounts: readonly Account[]): Remaining;
  /** Holds `amount` on every account, or on none: 402 `budget_exceeded` naming the level short. */
  reserve(accounts: readonly Account[], amount: Amount, hold?: PendingReservation): Reservation | Promise<Reservation>;
  /**
   * Replaces the holds with the real cost (zero releases them). Idempotent. `recorded`: a spend
   * line with the reservation's id is being written, and settles a shared hold with it.
   */
  settle(reservation: Reservation, actual: Amount, recorded?: boolean): void;
  delegate(parent: Session, child: Session): void | Promise<void>;
  /**
   * Adds to a session's budget (negative: takes back). With `most`, a unit grown above it throws
   * `AboveMost`, checked with the growth under the account's lock (replicas renewing at once).
   */
  grow(sessionId: string, extra: Amount, most?: Amount): void | Promise<void>;
  end(sessionId: string): void | Promise<void>;
  /** Forgets a cached account (another replica changed it); the next load reads it afresh. */
  forget(key: string): void;
  /**
   * Reads the accounts afresh where other processes change them too (a shared ledger: this copy
   * learns of other replicas' holds and spend only when it next reserves, from the database's
   * answer — a refusal's too). Without `always`, only when the copy may be more cautious than the
   * database (other replicas' holds in it); with it, whatever the copy (a view of the numbers).
   * Absent in memory.
   */
  readAfresh?(accounts: readonly Account[], always?: boolean): Promise<void>;
  /** Writes still owed to the store (a shared ledger retries them through an outage). */
  flush(): Promise<void>;
}

export interface Remaining {
  tokens: number | null;
  usdNano: number | null;
  /** The level whose budget binds (leaves the least), when any level is limited. */
  level: Level | null;
}

const ZERO: Amount = { tokens: 0, usdNano: 0 };
export const add = (a: Amount, b: Amount): Amount => ({ tokens: a.tokens + b.tokens, usdNano: a.usdNano + b.usdNano });
export const sub = (a: Amount, b: Amount): Amount => ({ tokens: a.tokens - b.tokens, usdNano: a.usdNano - b.usdNano });
/** The hold a child's slice places on its parent (a unit the child does not limit holds nothing). */
export const sliceAmount = (b: Budget): Amount => ({ tokens: b.tokens ?? 0, usdNano: b.usdNano ?? 0 });

function left(a: Account): { tokens: number | null; usdNano: number | null } {
  return {
    tokens: a.budget.tokens === null ? null : a.budget.tokens - a.spent.tokens - a.reserved.tokens,
    usdNano: a.budget.usdNano === null ? null : a.budget.usdNano - a.spent.usdNano - a.reserved.usdNano,
  };
}

/**
 * What is left across `accounts`, per unit (null: no limit), and which level binds: the one
 * leaving the least USD (or, without USD limits, the fewest tokens).
 */
export function remainingOf(accounts: readonly Account[]): Remaining {
  const out: Remaining = { tokens: null, usdNano: null, level: null };
  let usdLevel: Level | null = null;
  let tokensLevel: Level | null = null;
  for (const a of accounts) {
    const l = left(a);
    if (l.tokens !== null && (out.tokens === null || l.tokens < out.tokens)) {
      out.tokens = l.tokens;
      tokensLevel = a.level;
    }
    if (l.usdNano !== null && (out.usdNano === null || l.usdNano < out.usdNano)) {
      out.usdNano = l.usdNano;
      usdLevel = a.level;
    }
  }
  out.level = usdLevel ?? tokensLevel;
  return out;
}

/** The refusal when `account` cannot cover a call (`unit` short). */
export function budgetExceeded(account: Pick<Account, 'key' | 'level'>, unit: 'usd' | 'tokens'): GatewayError {
  return new GatewayError('budget_exceeded', `The ${account.level}'s ${unit === 'usd' ? 'USD' : 'token'} budget cannot cover this call.`, {
    details: { level: account.level, unit, ...(account.level === 'session' ? { session_id: account.key } : {}) },
  });
}

/** The most a budget may hold: whole tokens and nano-USD stay exact below 2^53. */
const MOST: Amount = { tokens: Number.MAX_SAFE_INTEGER, usdNano: MAX_USD * 1e9 };

/** A growth that would take a session's budget above `grow`'s `most` in `unit`: nothing was changed. */
export class AboveMost extends Error {
  constructor(readonly unit: keyof Amount) {
    super(`the session's ${unit} budget would be above its maximum`);
  }
}

/** The unit in which adding `extra` takes `budget` above `most`, if any (an unlimited unit never is). */
function aboveMost(budget: Budget, extra: Amount, most: Amount): keyof Amount | null {
  for (const unit of ['tokens', 'usdNano'] as const) {
    const now = budget[unit];
    if (now !== null && extra[unit] > 0 && now + extra[unit] > most[unit]) return unit;
  }
  return null;
}

/**
 * Adds to a session's budget for an operator (a renewal, an approved step-up): never past `most`
 * (a renewal: the profile's maximum) nor past what a budget may hold — checked by the ledger with
 * the growth, under the account's lock, so two operators at once (on two replicas too) cannot
 * both pass. A delegated session's addition is carved from its parent; more than the parent has
 * left is the operator's mistake, named as such (400 on `param`), not a call's 402.
 */
export async function growSessionBudget(ledger: Ledger, session: Session, extra: Amount, param: string, most?: Budget): Promise<void> {
  await ledger.load(session);
  const ceiling: Amount = { tokens: Math.min(most?.tokens ?? MOST.tokens, MOST.tokens), usdNano: Math.min(most?.usdNano ?? MOST.usdNano, MOST.usdNano) };
  try {
    await ledger.grow(session.id, extra, ceiling);
  } catch (err) {
    if (err instanceof AboveMost) {
      const name = err.unit === 'tokens' ? 'tokens' : 'usd';
      const profileMost = most?.[err.unit] ?? null;
      const what = profileMost !== null && profileMost <= MOST[err.unit] ? "the profile's maximum" : 'the most a budget may hold';
      throw new GatewayError('invalid_request', `${param}.${name}: the session's budget would be above ${what}`, { param: `${param}.${name}` });
    }
    if (!(err instanceof GatewayError) || err.code !== 'budget_exceeded' || session.parentId === null) throw err;
    throw new GatewayError('invalid_request', `${param} is more than the parent session "${session.parentId}" has left`, { param, details: { parent_session_id: session.parentId } });
  }
}

/** A session and its descendants, from the rows of the tree it belongs to. */
export function subtree(rootId: string, tree: readonly Session[]): Session[] {
  const ids = new Set([rootId]);
  return tree.filter((s) => {
    if (s.id !== rootId && (s.parentId === null || !ids.has(s.parentId))) return false;
    ids.add(s.id);
    return true;
  });
}

/** The settled spend a session's own lines add up to. */
export const ownSpend = (s: Session): Amount => ({ tokens: s.spent.inputTokens + s.spent.outputTokens, usdNano: s.spent.usdNano });

/** How long an account no longer used (an ended session's, a past period's) stays loaded. */
const RETIRED_GRACE_MS = 60_000;

/** What both ledgers share: the loaded accounts and reading them. */
export abstract class LoadedAccounts {
  protected readonly accounts = new Map<string, Account>();
  /**
   * Accounts no call will use again — ended sessions', past periods' — in the order they were
   * retired. A long-running gateway opens sessions without end: their accounts are dropped once
   * a grace has passed (a request already past authentication may still read its session's) and
   * nothing is held on them for calls in flight (their holds settle through the objects anyway,
   * but a later load would rebuild the account without them).
   */
  private readonly retired: { key: string; account: Account; at: number }[] = [];
  /** The current period's account key per agent or team (`level:id`). */
  private readonly periodKeys = new Map<string, string>();

  constructor(protected readonly clock: () => number = Date.now) {}

  /** Loaded accounts (tests: that retired ones are dropped). */
  get loadedCount(): number {
    return this.accounts.size;
  }

  /** Marks an account as one no call will use again, and drops those retired long enough. */
  protected retire(key: string): void {
    const account = this.accounts.get(key);
    const now = this.clock();
    if (account) this.retired.push({ key, account, at: now });
    while (this.retired.length > 0 && this.retired[0]!.at <= now - RETIRED_GRACE_MS) {
      const r = this.retired.shift()!;
      if (this.stillHeld(r.account)) {
        r.at = now;
        this.retired.push(r);
        continue;
      }
      if (this.accounts.get(r.key) === r.account) this.accounts.delete(r.key);
    }
  }

  /** Whether dropping the account would lose holds only this copy knows of. */
  protected stillHeld(account: Account): boolean {
    return account.reserved.tokens !== 0 || account.reserved.usdNano !== 0;
  }

  /** The period account `key` is now the current one of `level:id`: the one before it is retired. */
  protected periodLoaded(level: string, id: string, key: string): void {
    const owner = `${level}:${id}`;
    const before = this.periodKeys.get(owner);
    if (before === key) return;
    this.periodKeys.set(owner, key);
    if (before !== undefined) this.retire(before);
  }

  /** The loaded account of a session (load() first). */
  session(sessionId: string): Account {
    const account = this.accounts.get(sessionId);
    if (!account) throw new Error(`ledger account for ${sessionId} not loaded`);
    return account;
  }

  remaining(accounts: readonly Account[]): Remaining {
    return remainingOf(accounts);
  }
}

export class MemoryLedger extends LoadedAccounts implements Ledger {
  readonly durableHolds = false;

  constructor(
    private readonly store: Store,
    now: () => number = Date.now,
  ) {
    super(now);
  }

  // --- loading ----------------------------------------------------------------------------

  /**
   * Makes sure the session's account is loaded. After a restart it is rebuilt from the store:
   * own spend, what ended children spent, and holds for active children's slices.
   */
  async load(session: Session): Promise<Account> {
    const existing = this.accounts.get(session.id);
    if (existing) return existing;
    // Parents first, so a child's account can link to the hold its slice places on the parent.
    if (session.parentId && !this.accounts.has(session.parentId)) {
      const parent = await this.store.getSession(session.parentId);
      if (parent) await this.load(parent);
    }
    const tree = await this.store.sessionTree(session.id);
    return this.accounts.get(session.id) ?? this.build(session, tree);
  }

  private build(session: Session, tree: Session[]): Account {
    const parent = session.parentId ? (this.accounts.get(session.parentId) ?? null) : null;
    const ended = session.status !== 'active';
    const account: Account = { key: session.id, level: 'session', budget: session.budget, spent: ownSpend(session), reserved: { ...ZERO }, parent, slice: null, ended };
    // The parent's account, built from the store, already holds this active child's slice.
    if (parent && !ended) account.slice = { account: parent, amount: sliceAmount(session.budget) };
    for (const child of tree.filter((s) => s.parentId === session.id)) {
      if (child.status === 'active') account.reserved = add(account.reserved, sliceAmount(child.budget));
      // An ended child's whole subtree spend counts here.
      else account.spent = subtree(child.id, tree).reduce((sum, s) => add(sum, ownSpend(s)), account.spent);
    }
    this.accounts.set(session.id, account);
    // An ended session's account is read for a view (the admin API), never charged again.
    if (ended) this.retire(session.id);
    return account;
  }


  /**
   * The account of an agent's or a team's budget for the current period, loaded from the spend
   * recorded since the period began. A new period is a new account: the old one simply stops
   * being used (spend history stays in the store).
   */
  async loadPeriod(level: 'agent' | 'team', id: string, budget: PeriodBudget, window: PeriodWindow): Promise<Account> {
    const key = `${level}:${id}:${window.key}`;
    const existing = this.accounts.get(key);
    if (existing) {
      existing.budget = { tokens: budget.tokens, usdNano: budget.usdNano };
      return existing;
    }
    const spent = await this.store.spendSince(level === 'agent' ? { agentId: id } : { teamId: id }, window.start);
    const account = this.accounts.get(key) ?? { key, level, budget: { tokens: budget.tokens, usdNano: budget.usdNano }, spent, reserved: { ...ZERO }, parent: null, slice: null, ended: false };
    this.accounts.set(key, account);
    this.periodLoaded(level, id, key);
    return account;
  }

  // --- reserving and settling -------------------------------------------------------------

  /** Holds `amount` on every account, or on none, in one synchronous step. */
  reserve(accounts: readonly Account[], amount: Amount): Reservation {
    for (const a of accounts) {
      const l = left(a);
      const shortUsd = l.usdNano !== null && amount.usdNano > l.usdNano;
      const shortTokens = l.tokens !== null && amount.tokens > l.tokens;
      if (shortUsd || shortTokens) throw budgetExceeded(a, shortUsd ? 'usd' : 'tokens');
    }
    const holds = accounts.map((account) => {
      account.reserved = add(account.reserved, amount);
      return { account, amount };
    });
    return { holds, settled: false };
  }

  /**
   * Replaces the holds with the real cost. A charge that lands on a session after it ended (a call still in flight when it was closed) is carried up to the
   * ancestors that already settled its slice, so no spend escapes the tree's budgets.
   */
  settle(reservation: Reservation, actual: Amount): void {
    if (reservation.settled) return;
    reservation.settled = true;
    for (const { account, amount } of reservation.holds) {
      account.reserved = sub(account.reserved, amount);
      account.spent = add(account.spent, actual);
      // An ended session's calls in flight stayed held on its ancestors (see end()): release there too.
      for (let child = account; child.ended && child.parent; child = child.parent) {
        child.parent.reserved = sub(child.parent.reserved, amount);
        child.parent.spent = add(child.parent.spent, actual);
      }
    }
  }

  // --- delegation and the session lifecycle ------------------------------------------------

  /** Carves a child's slice from its parent: holds it on the parent (402 if it does not fit). */
  delegate(parent: Session, child: Session): void {
    const p = this.session(parent.id);
    const amount = sliceAmount(child.budget);
    this.reserve([p], amount);
    this.accounts.set(child.id, { key: child.id, level: 'session', budget: child.budget, spent: { ...ZERO }, reserved: { ...ZERO }, parent: p, slice: { account: p, amount }, ended: false });
  }

  /**
   * Adds budget to a session (renewal, approval). For a delegated session the addition is carved
   * from its parent like the original slice (402 if the parent cannot cover it).
   */
  grow(sessionId: string, extra: Amount, most?: Amount): void {
    const a = this.session(sessionId);
    const above = most ? aboveMost(a.budget, extra, most) : null;
    if (above) throw new AboveMost(above);
    if (a.slice) {
      this.reserve([a.slice.account], extra);
      a.slice.amount = add(a.slice.amount, extra);
    }
    a.budget = {
      tokens: a.budget.tokens === null ? null : a.budget.tokens + extra.tokens,
      usdNano: a.budget.usdNano === null ? null : a.budget.usdNano + extra.usdNano,
    };
  }

  /**
   * Ends a session's account: its slice on the parent is settled with what it spent, and unused
   * budget returns to the parent — except what its calls still in flight hold, which stays held on
   * the parent until they settle (so the parent cannot spend it twice). End children first.
   */
  end(sessionId: string): void {
    const a = this.accounts.get(sessionId);
    if (!a || a.ended) return;
    a.ended = true;
    if (a.slice && a.parent) {
      const spent = a.spent;
      const inFlight = a.reserved;
      a.parent.reserved = add(sub(a.parent.reserved, a.slice.amount), inFlight);
      a.parent.spent = add(a.parent.spent, spent);
      for (let up = a.parent; up.ended && up.parent; up = up.parent) {
        up.parent.reserved = add(up.parent.reserved, inFlight);
        up.parent.spent = add(up.parent.spent, spent);
      }
      a.slice = null;
    }
    this.retire(sessionId);
  }

  forget(): void {
    // This process is the only writer: its accounts are never stale.
  }

  async flush(): Promise<void> {}
}
