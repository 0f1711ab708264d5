export { BudgetLedger, type Amount, type Reservation, type Remaining } from './ledger.js';
