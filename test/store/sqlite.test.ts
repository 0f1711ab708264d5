import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/index.js';
import { storeContract } from './contract.js';

storeContract('sqlite (file, WAL)', async () => new SqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'tollgate-store-')), 'test.db') }));
storeContract('sqlite (memory)', async () => new SqliteStore({ path: ':memory:' }));
