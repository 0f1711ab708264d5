import { randomUUID } from 'node:crypto';

const compact = (uuid: string) => `${uuid.slice(0, 8)}${uuid.slice(9, 13)}${uuid.slice(14, 18)}${uuid.slice(19, 23)}${uuid.slice(24)}`;

/**
 * A random, URL-safe id with a type prefix (`agt_…`, `ses_…`): 122 random bits from a UUIDv4,
 * whose generator draws from a pooled entropy buffer (far cheaper per call than randomBytes).
 */
export function newId(prefix: string): string {
  return `${prefix}_${compact(randomUUID())}`;
}

/**
 * An id for rows written on every call (spend lines and their holds, audit events, captured
 * content): the same shape as newId, but its first 12 hex digits are the time in milliseconds,
 * as in a UUIDv7, and the UUIDv4's last 80 bits follow (74 of them random). Ids made later sort
 * later, so each new row lands at the end of its table's id index instead of on a random page:
 * a commit dirties one index page rather than one per row, and the write-ahead log stays small.
 * Only for rows that carry their time anyway.
 */
export function newTimeOrderedId(prefix: string, now = Date.now()): string {
  return `${prefix}_${now.toString(16).padStart(12, '0')}${compact(randomUUID()).slice(12)}`;
}
