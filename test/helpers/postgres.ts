// The test PostgreSQL (127.0.0.1:5432, database `test`, or TOLLGATE_TEST_PG_URL): whether it can
// be reached, and fresh schemas so tests never see each other's data.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { it } from 'vitest';
import { shownUrl } from '../../src/store/index.js';

export const PG_URL = process.env.TOLLGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const inCi = !!process.env.CI && !['0', 'false'].includes(process.env.CI.toLowerCase());

/** Why PostgreSQL cannot be used, or null if it can. */
export async function unreachable(): Promise<string | null> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    const e = err as Error & { code?: string };
    // A socket error's code (ECONNREFUSED) says it best; a server error's code is an opaque SQLSTATE.
    return err instanceof pg.DatabaseError || !e.code ? e.message : e.code;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Null when PostgreSQL is reachable; otherwise the reason, after declaring a failing test in CI
 * (which must run the PostgreSQL suites) or warning that `suite` is skipped.
 */
export async function postgresProblem(suite: string): Promise<string | null> {
  const reason = await unreachable();
  if (reason === null) return null;
  const problem = `PostgreSQL at ${shownUrl(PG_URL)} unreachable (${reason})`;
  if (inCi) {
    // A failing test rather than a failing import, so the summary line counts it as a failure.
    it(`reaches PostgreSQL (CI must run ${suite})`, () => {
      throw new Error(`${problem}: CI must run ${suite} (set TOLLGATE_TEST_PG_URL)`);
    });
  } else {
    console.warn(`${problem}: skipping ${suite}`);
  }
  return problem;
}

/** A new schema name; `dropSchemas` removes every one handed out. */
export function schemaPool(prefix: string) {
  const schemas: string[] = [];
  return {
    fresh(): string {
      const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      return schema;
    },
    async dropAll(): Promise<void> {
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      try {
        for (const s of schemas.splice(0)) await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(s)} CASCADE`);
      } finally {
        await admin.end();
      }
    },
  };
}
