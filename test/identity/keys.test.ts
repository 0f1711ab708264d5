// Signing-key rotation: calls in flight during a rotation all succeed; the old key verifies
// through the overlap window and not after; private keys are encrypted at rest.
import Database from 'better-sqlite3';
import { importJWK, SignJWT, type JWK } from 'jose';
import OpenAI from 'openai';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MasterKey } from '../../src/identity/index.js';
import { startGateway } from '../helpers/gateway.js';
import { decodeJwt } from '../helpers/oauth.js';

const kidOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid as string;

describe('signing keys', () => {
  it('rotates while calls are in flight without a single failure, and retires the old key after the overlap', async () => {
    let shift = 0;
    const gw = await startGateway({ tokens: { ttl_seconds: 60, key_overlap_seconds: 120 } }, {}, () => Date.now() + shift);
    try {
      const { token: oldToken } = await gw.openSession();
      const oldKid = kidOf(oldToken);
      const openai = new OpenAI({ apiKey: oldToken, baseURL: `${gw.url}/v1`, maxRetries: 0 });
      let rotatedKid = '';
      const results = await Promise.allSettled(
        Array.from({ length: 60 }, async (_, i) => {
          if (i === 20) rotatedKid = (await gw.admin('POST', '/admin/v1/keys/rotate')).body.kid;
          // Half the calls stream slowly so they span the rotation.
          if (i % 2 === 0) {
            const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: '[[sim:tokens=5]] [[sim:tokens_per_second=50]]' }] });
            for await (const _chunk of stream) void _chunk;
          } else {
            await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
          }
          // New sessions opened during the rotation get working tokens too.
          const fresh = await gw.openSession();
          const res = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${fresh.token}` } });
          if (res.status !== 200) throw new Error(`fresh token refused: ${res.status}`);
        }),
      );
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      expect(rotatedKid).not.toBe(oldKid);
      const { token: newToken } = await gw.openSession();
      expect(kidOf(newToken)).toBe(rotatedKid);
      const published = (await (await fetch(`${gw.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
      expect(published.keys.map((k) => k.kid).sort()).toEqual([oldKid, rotatedKid].sort());

      // A token signed with the old key now, during the overlap, still verifies...
      const stored = (await gw.gateway.store.listSigningKeys()).find((k) => k.kid === oldKid)!;
      const oldKey = await importJWK(JSON.parse(MasterKey.fromEnvOrDataDir(gw.dataDir, {}).decrypt(stored.privateJwk)) as JWK, 'EdDSA');
      const claims = decodeJwt(newToken);
      const sign = async (ttl = 60) => {
        const now = Math.floor((Date.now() + shift) / 1000);
        return new SignJWT({ sid: claims.sid, scope: claims.scope }).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: oldKid })
          .setIssuer('tollgate').setAudience('tollgate').setSubject(claims.sub).setJti(`tok_x${now}`).setIssuedAt(now).setExpirationTime(now + ttl).sign(oldKey);
      };
      expect((await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${await sign()}` } })).status).toBe(200);
      // Regression: a token verified (and cached) during the overlap kept passing after it.
      const longLived = await sign(600);
      expect((await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${longLived}` } })).status).toBe(200);
      // ...and after the overlap it does not, and the JWKS no longer lists it.
      shift = 121_000;
      await gw.gateway.runMaintenance(); // what the minute timer does
      const late = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${await sign()}` } });
      expect(late.status).toBe(401);
      expect(((await late.json()) as { error: { code: string } }).error.code).toBe('invalid_token');
      expect((await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${longLived}` } })).status).toBe(401);
      const after = (await (await fetch(`${gw.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
      expect(after.keys.map((k) => k.kid)).toEqual([rotatedKid]);
    } finally {
      await gw.close();
    }
  });

  it('keeps private keys encrypted at rest and the master key file private', async () => {
    const gw = await startGateway();
    try {
      const db = new Database(join(gw.dataDir, 'tollgate.db'), { readonly: true });
      const rows = db.prepare('SELECT private_jwk FROM signing_keys').all() as { private_jwk: string }[];
      db.close();
      expect(rows.length).toBeGreaterThan(0);
      for (const r of rows) {
        expect(r.private_jwk).toMatch(/^enc:v1:/);
        expect(r.private_jwk).not.toContain('"d"');
      }
      const { statSync } = await import('node:fs');
      expect(statSync(join(gw.dataDir, 'master-key')).mode & 0o777).toBe(0o600);
    } finally {
      await gw.close();
    }
  });
});
