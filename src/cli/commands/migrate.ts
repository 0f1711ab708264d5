import { resolve } from 'node:path';
import { DEFAULT_CONFIG_PATH, loadConfigFile, resolveDataDir } from '../../config/index.js';
import { describeStorage, openStore } from '../../store/index.js';
import { output } from '../output.js';

/**
 * Applies the configured store's pending migrations. On PostgreSQL they run under an advisory
 * lock, so this may run while replicas start (each of which migrates too): every version is
 * applied exactly once.
 */
export async function migrate(opts: Record<string, unknown>): Promise<void> {
  const file = typeof opts.config === 'string' ? resolve(opts.config) : DEFAULT_CONFIG_PATH.pathname;
  const config = loadConfigFile(file);
  if (typeof opts.dataDir === 'string') config.data_dir = opts.dataDir;
  const store = openStore(config.storage, resolveDataDir(config));
  try {
    const applied = await store.migrate();
    const where = describeStorage(config.storage);
    output(opts, { store: store.kind, where, applied }, () => {
      process.stdout.write(applied.length > 0 ? `${store.kind} ${where}: applied ${applied.join(', ')}\n` : `${store.kind} ${where}: up to date\n`);
    });
  } finally {
    await store.close();
  }
}
