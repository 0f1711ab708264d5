// The gateway's master key: encrypts signing keys at rest (AES-256-GCM) and derives the key that
// hashes client secrets (HMAC-SHA256, via HKDF). From TOLLGATE_MASTER_KEY (base64 of 32 bytes),
// or generated once into the data dir (mode 0600). Replicas sharing a store must share this key.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const MASTER_KEY_FILE = 'master-key';
const PREFIX = 'enc:v1:';

export class MasterKey {
  private constructor(private readonly key: Buffer) {}

  static fromBytes(key: Buffer): MasterKey {
    if (key.length !== 32) throw new Error('the master key must be 32 bytes (base64 in TOLLGATE_MASTER_KEY)');
    return new MasterKey(key);
  }

  static fromEnvOrDataDir(dataDir: string, env: NodeJS.ProcessEnv = process.env): MasterKey {
    if (env.TOLLGATE_MASTER_KEY) return MasterKey.fromBytes(Buffer.from(env.TOLLGATE_MASTER_KEY, 'base64'));
    const path = join(dataDir, MASTER_KEY_FILE);
    if (existsSync(path)) return MasterKey.fromBytes(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64'));
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const key = randomBytes(32);
    writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
    return new MasterKey(key);
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64');
  }

  decrypt(sealed: string): string {
    if (!sealed.startsWith(PREFIX)) throw new Error('not an encrypted value');
    const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }

  /** A 32-byte key for one purpose, derived so that no two uses share key material. */
  derive(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.key, Buffer.alloc(0), `tollgate:${purpose}`, 32));
  }
}
