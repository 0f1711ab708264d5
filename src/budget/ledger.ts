// The reservation ledger for the embedded store: before a call is forwarded, its worst-case cost
// is held against the session's budget; when it ends, the real cost replaces the hold. Checks and
// holds happen in one synchronous step, so concurrent calls can never jointly overspend.
import { GatewayError } from '../errors/index.js';
import type { Budget, Session } from '../store/index.js';

export interface Amount {
  tokens: number;
  usdNano: number;
}

interface Account {
  budget: Budget;
  spent: Amount;
  reserved: Amount;
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

export class BudgetLedger {
  private readonly accounts = new Map<string, Account>();

  private account(session: Session): Account {
    let account = this.accounts.get(session.id);
    if (!account) {
      const s = session.spent;
      account = {
        budget: session.budget,
        spent: { tokens: s.inputTokens + s.outputTokens, usdNano: s.usdNano },
        reserved: { tokens: 0, usdNano: 0 },
      };
      this.accounts.set(session.id, account);
    }
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
    a.reserved.tokens += amount.tokens;
    a.reserved.usdNano += amount.usdNano;
    return { sessionId: session.id, amount, settled: false };
  }

  /** Replaces the hold with the real cost (zero releases it all). Idempotent. */
  settle(reservation: Reservation, actual: Amount): void {
    if (reservation.settled) return;
    reservation.settled = true;
    const a = this.accounts.get(reservation.sessionId);
    if (!a) return;
    a.reserved.tokens -= reservation.amount.tokens;
    a.reserved.usdNano -= reservation.amount.usdNano;
    a.spent.tokens += actual.tokens;
    a.spent.usdNano += actual.usdNano;
  }

  /** Drops a session's account (closed, revoked), so a later load starts from the store. */
  forget(sessionId: string): void {
    this.accounts.delete(sessionId);
  }
}
