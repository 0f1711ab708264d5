export { BudgetLedger, sliceAmount, type Amount, type Reservation, type Remaining } from './ledger.js';
