export { growSessionBudget, MemoryLedger, remainingOf, sliceAmount, type Account, type Amount, type Ledger, type Level, type Reservation, type Remaining } from './ledger.js';
export { SharedLedger, type SharedLedgerStore } from './shared-ledger.js';
export { periodWindow, type PeriodWindow } from './periods.js';
export { RateLimiter, type RateAdmission, type RateDecision, type RateLevel, type RateLimit, type RateStatus, type RateUnit, type LimitState } from './rate-limit.js';
export { ApprovalService, type Decision, type GateState } from './approvals.js';
export { chargeReservations, reconcileReservations, recordMissingSpendEvents, reservationLine, spendLineEventData, RESERVATION_LIFETIME_MS, type Journal, type JournalEntry } from './journal.js';
