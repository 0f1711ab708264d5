import { randomFillSync } from 'node:crypto';

// Ids are drawn from a pooled buffer of CSPRNG bytes, refilled 4 KiB at a time: one syscall per
// ~250 ids instead of one per id, and no UUID formatting to undo. Ids name rows; they are not
// secrets (credentials are signed or hashed), but they stay unguessable all the same.
const pool = Buffer.alloc(4096);
let used = pool.length;

function randomHex(bytes: number): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const hex = pool.toString('hex', used, used + bytes);
  used += bytes;
  return hex;
}

/** A random, URL-safe id with a type prefix (`agt_…`, `ses_…`): 128 random bits as 32 hex digits. */
export function newId(prefix: string): string {
  return `${prefix}_${randomHex(16)}`;
}

let lastMs = -1;
let lastMsHex = '';

/**
 * An id for rows written on every call (spend lines and their holds, audit events, captured
 * content): the same shape as newId, but its first 12 hex digits are the time in milliseconds,
 * as in a UUIDv7, and 80 random bits follow. Ids made later sort later, so each new row lands at
 * the end of its table's id index instead of on a random page: a commit dirties one index page
 * rather than one per row, and the write-ahead log stays small. Only for rows that carry their
 * time anyway.
 */
export function newTimeOrderedId(prefix: string, now = Date.now()): string {
  if (now !== lastMs) {
    lastMs = now;
    lastMsHex = now.toString(16).padStart(12, '0');
  }
  return `${prefix}_${lastMsHex}${randomHex(10)}`;
}
