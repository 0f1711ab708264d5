// Signed checkpoints: the gateway's statement that the audit chain passed through `last_hash` at
// `last_seq`, as a compact JWS (RFC 7515) signed with the token signing key (EdDSA, Ed25519).
// Hashes alone can be recomputed by anyone who rewrites the table; a checkpoint cannot be
// forged without the gateway's private key, so a rewrite from some point on is caught at the
// first checkpoint after that point.
import { CompactSign, compactVerify, decodeProtectedHeader, importJWK, type CryptoKey, type JWK } from 'jose';
import type { MasterKey } from '../identity/index.js';
import type { AuditCheckpoint, Store } from '../store/index.js';
import { newId } from '../util/ids.js';
import { isoTime } from '../util/time.js';

/** JWS `typ` of a checkpoint, so no other signed object of the gateway (a token) passes for one. */
export const CHECKPOINT_TYPE = 'tollgate-audit-checkpoint';
const ALG = 'EdDSA';

/** Slack around a key's service for checkpoint dates: replicas reload keys once a minute, and clocks differ. */
const KEY_SLACK_MS = 10 * 60_000;

/** What signs checkpoints: the gateway's KeyRing. */
export interface CheckpointSigner {
  signingKey(): { kid: string; privateKey: CryptoKey };
}

/** A verification key and the time span checkpoints it signed may be dated within. */
export interface TrustedKey {
  key: CryptoKey;
  notBefore: number;
  notAfter: number;
}

/** Where verification finds the keys it trusts, by `kid`. */
export interface CheckpointKeys {
  key(kid: string): Promise<TrustedKey | undefined>;
}

/**
 * A break an operator looked into and acknowledged (AuditLog.acknowledgeBreak): the checkpoint
 * that carries it anchors the chain again at the broken event as stored, so that what follows is
 * verified and sealed from there. Verification reports it; it never hides it.
 */
export interface BreakAcknowledgement {
  /** The break's reason as verification named it. */
  reason: string;
  /** The operator's account of it. */
  note: string;
  /** Who acknowledged it (`admin`, `operator:<name>`). */
  by: string;
}

/** The signed content of a checkpoint. */
export interface CheckpointClaims {
  last_seq: number;
  last_hash: string;
  time: number;
  acknowledges?: BreakAcknowledgement;
}

export async function signCheckpoint(signer: CheckpointSigner, at: { lastSeq: number; lastHash: string }, time: number, acknowledges?: BreakAcknowledgement): Promise<AuditCheckpoint> {
  const { kid, privateKey } = signer.signingKey();
  const claims: CheckpointClaims = acknowledges ? { last_seq: at.lastSeq, last_hash: at.lastHash, time, acknowledges } : { last_seq: at.lastSeq, last_hash: at.lastHash, time };
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims))).setProtectedHeader({ alg: ALG, kid, typ: CHECKPOINT_TYPE }).sign(privateKey);
  return { id: newId('ckp'), lastSeq: at.lastSeq, lastHash: at.lastHash, time, kid, jws };
}

export type CheckpointCheck =
  | { ok: true; claims: CheckpointClaims }
  | { ok: false; reason: 'bad_signature' | 'checkpoint_mismatch'; detail: string };

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Checks a stored checkpoint: its JWS verifies under a trusted key, was dated while that key
 * was in service, and says what its row says. Only the signed claims are trusted.
 */
export async function checkCheckpoint(c: AuditCheckpoint, keys: CheckpointKeys): Promise<CheckpointCheck> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(c.jws);
  } catch {
    return { ok: false, reason: 'bad_signature', detail: `checkpoint ${c.id} is not a JWS` };
  }
  if (header.alg !== ALG || header.typ !== CHECKPOINT_TYPE || typeof header.kid !== 'string') {
    return { ok: false, reason: 'bad_signature', detail: `checkpoint ${c.id} is not an EdDSA ${CHECKPOINT_TYPE} JWS with a kid` };
  }
  const trusted = await keys.key(header.kid);
  if (!trusted) return { ok: false, reason: 'bad_signature', detail: `checkpoint ${c.id} is signed by key ${header.kid}, which is not one of the gateway's keys` };
  let claims: CheckpointClaims;
  try {
    const { payload } = await compactVerify(c.jws, trusted.key, { algorithms: [ALG] });
    claims = JSON.parse(new TextDecoder().decode(payload)) as CheckpointClaims;
  } catch {
    return { ok: false, reason: 'bad_signature', detail: `checkpoint ${c.id}: the signature does not verify under key ${header.kid}` };
  }
  const ack = claims.acknowledges;
  const ackMalformed = ack !== undefined && (typeof ack !== 'object' || ack === null || typeof ack.reason !== 'string' || typeof ack.note !== 'string' || typeof ack.by !== 'string');
  if (!Number.isSafeInteger(claims.last_seq) || typeof claims.last_hash !== 'string' || !HEX64.test(claims.last_hash) || !Number.isFinite(claims.time) || ackMalformed) {
    return { ok: false, reason: 'bad_signature', detail: `checkpoint ${c.id}: the signed content is malformed` };
  }
  if (claims.time < trusted.notBefore || claims.time > trusted.notAfter) {
    return { ok: false, reason: 'bad_signature', detail: `checkpoint ${c.id} is dated ${isoTime(claims.time)}, outside the service of key ${header.kid}` };
  }
  if (claims.last_seq !== c.lastSeq || claims.last_hash !== c.lastHash || header.kid !== c.kid) {
    return { ok: false, reason: 'checkpoint_mismatch', detail: `checkpoint ${c.id}: its row was altered (it signs seq ${claims.last_seq}, the row says ${c.lastSeq})` };
  }
  return { ok: true, claims };
}

/**
 * The gateway's signing keys as the store holds them, retired ones included, each trusted for
 * checkpoints dated within its service. With the master key, a key counts only if its private
 * half decrypts under it (AES-GCM authenticates) and matches its public half: someone who can
 * write the store but does not hold the master key cannot slip in a key of their own.
 */
export function storedCheckpointKeys(store: Store, master: MasterKey | null): CheckpointKeys {
  let loaded: Promise<Map<string, TrustedKey>> | null = null;
  const load = async () => {
    const keys = new Map<string, TrustedKey>();
    for (const k of await store.listSigningKeys()) {
      if (k.alg !== ALG) continue;
      let publicJwk: JWK;
      try {
        publicJwk = JSON.parse(k.publicJwk) as JWK;
        if (master) {
          const privateJwk = JSON.parse(master.decrypt(k.privateJwk)) as JWK;
          if (privateJwk.x !== publicJwk.x || privateJwk.crv !== publicJwk.crv) continue;
        }
        const key = (await importJWK({ ...publicJwk, alg: ALG }, ALG)) as CryptoKey;
        keys.set(k.kid, { key, notBefore: k.createdAt - KEY_SLACK_MS, notAfter: k.retiredAt === null ? Number.POSITIVE_INFINITY : k.retiredAt + KEY_SLACK_MS });
      } catch {
        // Not decryptable with this master key, or not a key at all: not trusted.
      }
    }
    return keys;
  };
  const reload = () => {
    const loading = load();
    // A failed load (the store unreachable) is retried on the next call.
    loading.catch(() => (loaded = null));
    return (loaded = loading);
  };
  return {
    key: async (kid) => {
      // Loaded once, and again when a kid is unknown (a rotation since). Verification stops at
      // the first checkpoint it cannot verify, so a forged kid costs one reload.
      let keys = await (loaded ?? reload());
      if (!keys.has(kid)) keys = await reload();
      return keys.get(kid);
    },
  };
}

/** Keys from a JWK Set (e.g. a saved copy of /.well-known/jwks.json), trusted at any date. */
export function jwksCheckpointKeys(jwks: { keys: JWK[] }): CheckpointKeys {
  const keys = new Map<string, Promise<TrustedKey>>();
  for (const jwk of jwks.keys) {
    if (typeof jwk.kid !== 'string') continue;
    keys.set(jwk.kid, importJWK({ ...jwk, alg: ALG }, ALG).then((key) => ({ key: key as CryptoKey, notBefore: Number.NEGATIVE_INFINITY, notAfter: Number.POSITIVE_INFINITY })));
  }
  return { key: async (kid) => keys.get(kid) };
}
