import { randomUUID } from 'node:crypto';

/**
 * A random, URL-safe id with a type prefix (`agt_…`, `ses_…`): 122 random bits from a UUIDv4,
 * whose generator draws from a pooled entropy buffer (far cheaper per call than randomBytes).
 */
export function newId(prefix: string): string {
  const uuid = randomUUID();
  return `${prefix}_${uuid.slice(0, 8)}${uuid.slice(9, 13)}${uuid.slice(14, 18)}${uuid.slice(19, 23)}${uuid.slice(24)}`;
}
