import { dirname, resolve } from 'node:path';
import { DEFAULT_CONFIG_PATH, loadConfigFile, resolveDataDir } from '../../config/index.js';
import { ADMIN_TOKEN_MIN_LENGTH } from '../../identity/admin-token.js';
import { preloadTokenizer } from '../../providers/tokenizer.js';
import { Gateway } from '../../server/index.js';
import { describeStorage } from '../../store/index.js';
import { number } from '../client.js';

export async function serve(opts: Record<string, unknown>): Promise<void> {
  const file = typeof opts.config === 'string' ? resolve(opts.config) : DEFAULT_CONFIG_PATH.pathname;
  const config = loadConfigFile(file);
  if (typeof opts.dataDir === 'string') config.data_dir = opts.dataDir;
  const port = number(opts.port, '--port') ?? config.server.port;
  const host = typeof opts.host === 'string' ? opts.host : config.server.host;
  const dataDir = resolveDataDir(config);
  // Before it listens: the first exact token count would otherwise load the ranks under traffic.
  preloadTokenizer();
  const gateway = await Gateway.create({ config, dataDir, configDir: dirname(file) });
  const url = await gateway.listen(port, host).catch(async (err: NodeJS.ErrnoException) => {
    // Close what the start opened, so the process exits with the error instead of hanging.
    await gateway.close(0);
    throw new Error(err.code === 'EADDRINUSE' ? `port ${port} on ${host} is in use: stop what holds it, or pass --port (server.port)` : err.message);
  });
  if (gateway.adminToken.weakFrom) {
    gateway.logger.warn({ from: gateway.adminToken.weakFrom, min_length: ADMIN_TOKEN_MIN_LENGTH }, `the admin token is shorter than ${ADMIN_TOKEN_MIN_LENGTH} characters: easy to guess; use a long random one (unset it to have one generated)`);
  }
  if (gateway.adminToken.generatedPath) {
    // The path only — the token itself never goes to a log.
    gateway.logger.info({ path: gateway.adminToken.generatedPath }, 'generated an admin token (mode 0600); read it from this file');
  }
  gateway.logger.info({ url, config: file, data_dir: dataDir, store: gateway.store.kind, storage: describeStorage(config.storage), replica: gateway.replication?.replica.id, glibc_tunables: process.env.GLIBC_TUNABLES }, 'tollgate listening');
  if (typeof opts.config !== 'string') gateway.logger.info('new here? `npx tollgate demo` drives a minute of demo traffic through a gateway of its own (docs/demo.md)');
  // Out now rather than with the next batch of lines: scripts and supervisors wait for it.
  gateway.logger.flush();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    gateway.logger.info({ signal }, 'shutting down: finishing in-flight calls');
    gateway.close().then(
      () => {
        gateway.logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        gateway.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
