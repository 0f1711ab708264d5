// The reservation ledger for the embedded store: before a call is forwarded, its worst-case cost
// is held against the session's budget; when it ends, the real cost replaces the hold. Checks and
// holds happen in one synchronous step, so concurrent calls can never jointly overspend.
//
// Delegation: a child session's budget is a slice carved from its parent. The slice is held on the
// parent like a reservation while the child is active; when the child ends, the hold is settled
// with everything the child (and its own children) spent, so children's spend counts against the
// parent and unused budget returns to it.
import { GatewayError } from '../errors/index.js';
import type { Budget, Session, Store } from '../store/index.js';

export interface Amount {
  tokens: number;
  usdNano: number;
}

interface Account {
  sessionId: string;
  budget: Budget;
  /** Own spend plus what ended children spent. */
  spent: Amount;
  /** Holds for calls in flight and for active children's slices. */
  reserved: Amount;
  parent: Account | null;
  /** The hold on the parent for this account's slice (delegated sessions). */
  slice: Reservation | null;
  ended: boolean;
}

export interface Reservation {
  readonly sessionId: string;
  readonly amount: Amount;
  settled: boolean;
}

export interface Remaining {
  tokens: number | null;
  usdNano: number | null;
}

const ZERO: Amount = { tokens: 0, usdNano: 0 };
const add = (a: Amount, b: Amount): Amount => ({ tokens: a.tokens + b.tokens, usdNano: a.usdNano + b.usdNano });
const sub = (a: Amount, b: Amount): Amount => ({ tokens: a.tokens - b.tokens, usdNano: a.usdNano - b.usdNano });
const ownSpend = (s: Session): Amount => ({ tokens: s.spent.inputTokens + s.spent.outputTokens, usdNano: s.spent.usdNano });
/** The hold a child's slice places on its parent (a unit the child does not limit holds nothing). */
export const sliceAmount = (b: Budget): Amount => ({ tokens: b.tokens ?? 0, usdNano: b.usdNano ?? 0 });

export class BudgetLedger {
  private readonly accounts = new Map<string, Account>();

  constructor(private readonly store: Store) {}

  /**
   * Makes sure the session's account is loaded. After a restart the account is rebuilt from the
   * store: own spend, what ended children spent, and holds for active children's slices.
   */
  async load(session: Session): Promise<void> {
    if (this.accounts.has(session.id)) return;
    // Parents first, so a child's account can link to the hold its slice places on the parent.
    if (session.parentId && !this.accounts.has(session.parentId)) {
      const parent = await this.store.getSession(session.parentId);
      if (parent) await this.load(parent);
    }
    const tree = await this.store.sessionTree(session.id);
    if (this.accounts.has(session.id)) return; // loaded by a concurrent caller meanwhile
    this.build(session, tree);
  }

  private build(session: Session, tree: Session[]): void {
    const parent = session.parentId ? (this.accounts.get(session.parentId) ?? null) : null;
    const ended = session.status !== 'active';
    const account: Account = {
      sessionId: session.id,
      budget: session.budget,
      spent: ownSpend(session),
      reserved: { ...ZERO },
      parent,
      // The parent's account, built from the store, already holds this active child's slice.
      slice: parent && !ended ? { sessionId: parent.sessionId, amount: sliceAmount(session.budget), settled: false } : null,
      ended,
    };
    for (const child of tree.filter((s) => s.parentId === session.id)) {
      if (child.status === 'active') account.reserved = add(account.reserved, sliceAmount(child.budget));
      // An ended child's whole subtree spend counts here.
      else account.spent = this.subtree(child.id, tree).reduce((sum, s) => add(sum, ownSpend(s)), account.spent);
    }
    this.accounts.set(session.id, account);
  }

  private subtree(rootId: string, tree: Session[]): Session[] {
    const ids = new Set([rootId]);
    const out: Session[] = [];
    for (const s of tree) {
      if (s.id === rootId || (s.parentId !== null && ids.has(s.parentId))) {
        ids.add(s.id);
        out.push(s);
      }
    }
    return out;
  }

  private account(session: Session): Account {
    const account = this.accounts.get(session.id);
    if (!account) throw new Error(`ledger account for ${session.id} not loaded`);
    return account;
  }

  /** What is left to reserve, per unit (null: no limit in that unit). */
  remaining(session: Session): Remaining {
    const a = this.account(session);
    return {
      tokens: a.budget.tokens === null ? null : a.budget.tokens - a.spent.tokens - a.reserved.tokens,
      usdNano: a.budget.usdNano === null ? null : a.budget.usdNano - a.spent.usdNano - a.reserved.usdNano,
    };
  }

  /** Holds `amount`, or refuses with 402 `budget_exceeded` when it does not fit. */
  reserve(session: Session, amount: Amount): Reservation {
    const a = this.account(session);
    const left = this.remaining(session);
    const shortTokens = left.tokens !== null && amount.tokens > left.tokens;
    const shortUsd = left.usdNano !== null && amount.usdNano > left.usdNano;
    if (shortTokens || shortUsd) {
      throw new GatewayError('budget_exceeded', `The session's ${shortUsd ? 'USD' : 'token'} budget cannot cover this call.`, {
        details: { level: 'session', session_id: session.id, unit: shortUsd ? 'usd' : 'tokens' },
      });
    }
    a.reserved = add(a.reserved, amount);
    return { sessionId: session.id, amount, settled: false };
  }

  /**
   * Replaces a hold with the real cost (zero releases it all). Idempotent. A charge that lands on
   * a session after it ended (a call still in flight when it was closed) is carried up to the
   * ancestors that already settled its slice, so no spend escapes the tree's budgets.
   */
  settle(reservation: Reservation, actual: Amount): void {
    if (reservation.settled) return;
    reservation.settled = true;
    const a = this.accounts.get(reservation.sessionId);
    if (!a) return;
    a.reserved = sub(a.reserved, reservation.amount);
    a.spent = add(a.spent, actual);
    for (let child = a; child.ended && child.parent; child = child.parent) child.parent.spent = add(child.parent.spent, actual);
  }

  /** Carves a child's slice from its parent: holds it on the parent (402 if it does not fit). */
  delegate(parent: Session, child: Session): void {
    const p = this.account(parent);
    const slice = this.reserve(parent, sliceAmount(child.budget));
    this.accounts.set(child.id, { sessionId: child.id, budget: child.budget, spent: { ...ZERO }, reserved: { ...ZERO }, parent: p, slice, ended: false });
  }

  /**
   * Ends a session's account: its slice on the parent is settled with what it spent (unused
   * budget returns to the parent). End children before their parent.
   */
  end(sessionId: string): void {
    const a = this.accounts.get(sessionId);
    if (!a || a.ended) return;
    a.ended = true;
    if (a.slice && a.parent) {
      // The parent's spend grows by the child's; calls still in flight follow via settle().
      const spent = a.spent;
      a.slice.settled = true;
      a.parent.reserved = sub(a.parent.reserved, a.slice.amount);
      a.parent.spent = add(a.parent.spent, spent);
      for (let up = a.parent; up.ended && up.parent; up = up.parent) up.parent.spent = add(up.parent.spent, spent);
    }
  }

}
