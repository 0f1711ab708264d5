// Chooses the store the configuration names: PostgreSQL (`storage.postgres`, several replicas)
// or the embedded SQLite file. The connection URL may carry a password: it is read here and
// never logged (`shownUrl` is what may be printed).
import { isAbsolute, join } from 'node:path';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './store.js';

export interface StorageConfig {
  sqlite: { path: string; synchronous: 'NORMAL' | 'FULL'; write_thread?: boolean; thread_nice?: number };
  postgres?: { url?: string; url_env?: string; schema?: string; pool_size: number; statement_timeout_ms: number };
}

/** The configured store (not yet migrated). */
export function openStore(storage: StorageConfig, dataDir: string, env: NodeJS.ProcessEnv = process.env): Store {
  const pg = storage.postgres;
  if (pg) {
    return new PostgresStore({ connectionString: postgresUrl(pg, env), schema: pg.schema, max: pg.pool_size, statementTimeoutMs: pg.statement_timeout_ms });
  }
  const path = storage.sqlite.path;
  return new SqliteStore({ path: isAbsolute(path) ? path : join(dataDir, path), synchronous: storage.sqlite.synchronous, writeThread: storage.sqlite.write_thread, threadNice: storage.sqlite.thread_nice });
}

function postgresUrl(pg: NonNullable<StorageConfig['postgres']>, env: NodeJS.ProcessEnv): string {
  if (pg.url) return pg.url;
  const url = env[pg.url_env!];
  if (!url) throw new Error(`storage.postgres.url_env: the environment variable ${pg.url_env} is not set`);
  return url;
}

/** A connection URL fit for a log line: the password, if any, masked. */
export function shownUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** Where the configured store keeps its data, for log lines (never a password). */
export function describeStorage(storage: StorageConfig, env: NodeJS.ProcessEnv = process.env): string {
  const pg = storage.postgres;
  if (!pg) return storage.sqlite.path;
  const url = pg.url ?? env[pg.url_env!] ?? '';
  return `${shownUrl(url)}${pg.schema ? ` (schema ${pg.schema})` : ''}`;
}
