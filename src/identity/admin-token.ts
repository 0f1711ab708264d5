// The operator's admin token: from TOLLGATE_ADMIN_TOKEN, or generated once and kept in the data
// dir (mode 0600). Only its SHA-256 is held in memory; presented tokens are compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const ADMIN_TOKEN_FILE = 'admin-token';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Below this many characters an admin token is guessable enough to be warned about at start. */
export const ADMIN_TOKEN_MIN_LENGTH = 16;

export class AdminToken {
  private readonly hash: Buffer;
  /** Where the token was generated and stored, when it was (for the start-up message). */
  readonly generatedPath: string | null;
  /** Where an operator-chosen token shorter than ADMIN_TOKEN_MIN_LENGTH came from (for a warning at start); null when it is long enough. */
  readonly weakFrom: string | null;

  private constructor(token: string, generatedPath: string | null, from: string) {
    this.hash = digest(token);
    this.generatedPath = generatedPath;
    this.weakFrom = token.length < ADMIN_TOKEN_MIN_LENGTH ? from : null;
  }

  static fromEnvOrDataDir(dataDir: string, env: NodeJS.ProcessEnv = process.env): AdminToken {
    const fromEnv = env.TOLLGATE_ADMIN_TOKEN;
    if (fromEnv) return new AdminToken(fromEnv, null, 'TOLLGATE_ADMIN_TOKEN');
    const path = join(dataDir, ADMIN_TOKEN_FILE);
    if (existsSync(path)) {
      const stored = readFileSync(path, 'utf8').trim();
      // An empty file would start a gateway no one can administer.
      if (stored === '') throw new Error(`the admin token file ${path} is empty: delete it to have a token generated, or write one in it`);
      return new AdminToken(stored, null, path);
    }
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const token = `tga_${randomBytes(32).toString('base64url')}`;
    writeFileSync(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
    return new AdminToken(token, path, path);
  }

  /** Constant-time check of a presented token (hashing first equalises the lengths). */
  matches(presented: string): boolean {
    return timingSafeEqual(digest(presented), this.hash);
  }
}

/** Reads the admin token the way the CLI finds it: env first, then the data dir's file. */
export function readAdminToken(dataDir: string, env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.TOLLGATE_ADMIN_TOKEN) return env.TOLLGATE_ADMIN_TOKEN;
  const path = join(dataDir, ADMIN_TOKEN_FILE);
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : null;
}
