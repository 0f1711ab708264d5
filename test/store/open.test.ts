// Choosing the store from the configuration: storage.postgres selects PostgreSQL (url or url_env,
// exactly one), otherwise the SQLite file; the URL's password never reaches a log line.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import { describeStorage, openStore, PostgresStore, SqliteStore } from '../../src/store/index.js';

const storage = (yaml: string) => parseConfig(`storage: ${yaml}\n`, 'test.yaml').storage;

describe('openStore', () => {
  it('opens SQLite by default and PostgreSQL when storage.postgres is set', async () => {
    const sqlite = openStore(storage('{ sqlite: { path: ":memory:" } }'), '/tmp');
    expect(sqlite).toBeInstanceOf(SqliteStore);
    await sqlite.close();
    const pg = openStore(storage('{ postgres: { url_env: TG_TEST_URL, schema: s1, pool_size: 3 } }'), '/tmp', { TG_TEST_URL: 'postgres://u:secret@127.0.0.1:1/db' });
    expect(pg).toBeInstanceOf(PostgresStore);
    expect(pg.kind).toBe('postgres');
    await pg.close();
  });

  it('refuses a missing url_env variable, and a config with both or neither of url and url_env', () => {
    expect(() => openStore(storage('{ postgres: { url_env: TG_NOT_SET } }'), '/tmp', {})).toThrow(/TG_NOT_SET is not set/);
    expect(() => storage('{ postgres: { url: "postgres://h/db", url_env: X } }')).toThrow(ConfigError);
    expect(() => storage('{ postgres: { schema: s } }')).toThrow(ConfigError);
    expect(() => storage('{ postgres: { url: "mysql://h/db" } }')).toThrow(ConfigError);
  });

  it('describes the store for logs without the password', () => {
    const described = describeStorage(storage('{ postgres: { url: "postgres://tollgate:hunter2@db:5432/tg", schema: tg } }'));
    expect(described).toBe('postgres://tollgate:***@db:5432/tg (schema tg)');
    expect(describeStorage(storage('{ postgres: { url_env: U } }'), { U: 'postgres://a:b@h/d' })).not.toContain(':b@');
  });
});
