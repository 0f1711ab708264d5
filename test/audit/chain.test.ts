// The tamper-evident audit chain: a clean log verifies; tampering with the database directly
// (edit, delete, reorder, a consistent rewrite, forged or altered checkpoints, a cut tail) is
// caught, and verification names the first broken event.
import Database from 'better-sqlite3';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHECKPOINT_TYPE, jwksCheckpointKeys, verifyAudit, type VerifyProgress } from '../../src/audit/index.js';
import { canonicalJson, GENESIS_HASH, recordHash, SqliteStore } from '../../src/store/index.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { auditFixture, rewriteFrom, type AuditFixture } from './helpers.js';

let fx: AuditFixture;

afterEach(async () => {
  await fx.close();
});

/** Where verification walks the chain: the SQLite checkpointer thread, or the event loop. */
let writeThread = true;

/** 60 events with a checkpoint after the 40th, and 20 after it. */
async function sealedLog(): Promise<AuditFixture> {
  fx = await auditFixture({}, writeThread);
  await fx.record(40);
  expect(await fx.audit.checkpoint()).toMatchObject({ lastSeq: 40 });
  await fx.record(20, 41);
  return fx;
}

describe.each([
  ['on the SQLite checkpointer thread', true],
  ['on the event loop', false],
])('audit chain, walked %s', (_where, thread) => {
  beforeEach(() => {
    writeThread = thread;
  });

  it('verifies a clean log: every event and every checkpoint', async () => {
    await sealedLog();
    expect(await fx.audit.checkpoint()).toMatchObject({ lastSeq: 60 });
    // Nothing new since: no checkpoint.
    expect(await fx.audit.checkpoint()).toBeNull();
    const result = await fx.audit.verify();
    expect(result).toMatchObject({ ok: true, events: 60, checkpoints: 2, chain: { first_seq: 1, last_seq: 60 } });
    expect(result.first_broken).toBeUndefined();
    expect(result.events_per_second).toBeGreaterThan(0);
  });

  it('names an edited event (hash_mismatch)', async () => {
    await sealedLog();
    const victim = fx.rows()[24]!;
    fx.db.prepare('UPDATE audit_events SET data = ? WHERE seq = ?').run(canonicalJson({ ...JSON.parse(victim.dataJson), tokens: 0 }), victim.seq);
    const result = await fx.audit.verify();
    expect(result).toMatchObject({ ok: false, events: 24, first_broken: { seq: 25, id: victim.id, reason: 'hash_mismatch' } });
  });

  it('names an event whose other fields were edited, the JSON text only reformatted, or its hash rewritten', async () => {
    await sealedLog();
    const rows = fx.rows();
    fx.db.prepare('UPDATE audit_events SET actor = ? WHERE seq = 50').run('admin');
    expect((await fx.audit.verify()).first_broken).toMatchObject({ seq: 50, id: rows[49]!.id, reason: 'hash_mismatch' });
    fx.db.prepare('UPDATE audit_events SET data = ? WHERE seq = 30').run(JSON.stringify(JSON.parse(rows[29]!.dataJson), null, 1));
    expect((await fx.audit.verify()).first_broken).toMatchObject({ seq: 30, reason: 'hash_mismatch' });
    // Editing event 10 and storing its new hash breaks the link of event 11 instead.
    fx.db.prepare('UPDATE audit_events SET time = time + 1, hash = ? WHERE seq = 10').run('f'.repeat(64));
    expect((await fx.audit.verify()).first_broken).toMatchObject({ seq: 10, reason: 'hash_mismatch' });
  });

  it('names a deleted event (missing), and a deletion closed up by renumbering', async () => {
    await sealedLog();
    const rows = fx.rows();
    fx.db.prepare('DELETE FROM audit_events WHERE seq = 33').run();
    expect((await fx.audit.verify()).first_broken).toMatchObject({ seq: 33, id: rows[33]!.id, reason: 'missing' });
    // Closing the gap: events 34.. move down one. Each now sits where its hash says it does not.
    fx.db.prepare('UPDATE audit_events SET seq = -seq WHERE seq > 33').run();
    fx.db.prepare('UPDATE audit_events SET seq = -seq - 1 WHERE seq < 0').run();
    fx.db.prepare('UPDATE audit_chain_head SET last_seq = 59').run();
    expect((await fx.audit.verify()).first_broken).toMatchObject({ seq: 33, id: rows[33]!.id, reason: 'hash_mismatch' });
  });

  it('names the first of two swapped events', async () => {
    await sealedLog();
    const rows = fx.rows();
    fx.db.transaction(() => {
      fx.db.prepare('UPDATE audit_events SET seq = -1 WHERE seq = 12').run();
      fx.db.prepare('UPDATE audit_events SET seq = 12 WHERE seq = 18').run();
      fx.db.prepare('UPDATE audit_events SET seq = 18 WHERE seq = -1').run();
    })();
    const result = await fx.audit.verify();
    expect(result).toMatchObject({ ok: false, events: 11, first_broken: { seq: 12, id: rows[17]!.id, reason: 'hash_mismatch' } });
  });

  it('names an event re-linked after a deletion: each moved event re-hashed for its new seq, links left alone (prev_mismatch)', async () => {
    await sealedLog();
    const rows = fx.rows();
    const rehash = fx.db.prepare('UPDATE audit_events SET seq = ?, hash = ? WHERE seq = ?');
    fx.db.transaction(() => {
      fx.db.prepare('DELETE FROM audit_events WHERE seq = 33').run();
      for (const r of rows.slice(33)) rehash.run(r.seq - 1, recordHash({ ...r, seq: r.seq - 1 }), r.seq);
      fx.db.prepare('UPDATE audit_chain_head SET last_seq = 59, last_hash = ?').run(recordHash({ ...rows[59]!, seq: 59 }));
    })();
    // Event 34, now at 33, hashes fine for 33 but links to the deleted event.
    expect((await fx.audit.verify()).first_broken).toMatchObject({ seq: 33, id: rows[33]!.id, reason: 'prev_mismatch' });
  });

  it('catches a consistent rewrite of the chain from the middle at the next signed checkpoint', async () => {
    await sealedLog();
    const rows = fx.rows();
    rewriteFrom(fx.db, 20, (data) => (data.tokens = 0));
    // Hashes and links agree everywhere; the checkpoint at 40 signed the old hash.
    const result = await fx.audit.verify();
    expect(result).toMatchObject({ ok: false, events: 40, checkpoints: 0, first_broken: { seq: 40, id: rows[39]!.id, reason: 'checkpoint_mismatch' } });
  });

  it('cannot tell a consistent rewrite after the last checkpoint — but the writing gateway notices and refuses to seal it', async () => {
    await sealedLog();
    rewriteFrom(fx.db, 50, (data) => (data.tokens = 0));
    // Hashes are public: a rewrite past the last checkpoint verifies (docs/audit.md says so).
    expect(await fx.audit.verify()).toMatchObject({ ok: true, events: 60 });
    // The gateway that wrote event 60 knows its hash: it neither signs the forgery…
    await expect(fx.audit.checkpoint()).rejects.toThrow(/head moved outside this gateway/);
    // …nor links onto it without saying so on the chain.
    await fx.record(1, 61);
    await fx.audit.flush();
    expect((await fx.store.listEvents({ type: 'audit.head_moved' }))[0]?.data).toMatchObject({ expected_seq: 61, found_seq: 61 });
    // Once it has linked on, its memory agrees with the head again: the record on the chain is what
    // keeps the forgery from being sealed — by this process, or by a restarted one.
    const moved = (await fx.store.searchEvents({ type: 'audit.head_moved', limit: 1 }))[0]!;
    // What verified is what came before the record, as for any break.
    expect(await fx.audit.verify()).toMatchObject({ ok: false, events: moved.seq - 1, first_broken: { seq: moved.seq, id: moved.id, reason: 'head_moved' } });
    await fx.record(1, 70);
    await expect(fx.audit.checkpoint()).rejects.toThrow(new RegExp(`broken at seq ${moved.seq} \\(head_moved`));
    const { AuditLog } = await import('../../src/audit/index.js');
    const restarted = new AuditLog(fx.store, Date.now, { signer: fx.keys, keys: fx.audit.keys });
    await expect(restarted.checkpoint()).rejects.toThrow(/head_moved/);
    expect(await fx.store.listCheckpoints(45, 10)).toEqual([]);
    // A slice that ends before the record verifies; one that reaches it does not.
    const before = await fx.audit.verify({ maxEvents: moved.seq - 1 });
    expect(before.ok).toBe(true);
    expect((await fx.audit.verify({ from: before.next }))).toMatchObject({ ok: false, first_broken: { seq: moved.seq, reason: 'head_moved' } });
    // Once looked into and acknowledged, checkpoints go on from the record; verification says so.
    await fx.audit.acknowledgeBreak(moved.seq, 'a test rewrite', { actor: 'admin' });
    expect(await fx.audit.checkpoint()).not.toBeNull();
    expect(await fx.audit.verify()).toMatchObject({ ok: true, acknowledged: [{ seq: moved.seq, reason: 'head_moved', note: 'a test rewrite', by: 'admin' }] });
  });

  it('an acknowledged break lets checkpoints go on from it; verification reports it, and still catches what comes after', async () => {
    await sealedLog();
    const victim = fx.rows()[49]!;
    fx.db.prepare('UPDATE audit_events SET data = ? WHERE seq = ?').run(canonicalJson({ ...JSON.parse(victim.dataJson), tokens: 0 }), victim.seq);
    await expect(fx.audit.checkpoint()).rejects.toThrow(/broken at seq 50 \(hash_mismatch/);
    const by = { actor: 'operator:alice' };
    // Only a broken event: its neighbour hashes and links.
    await expect(fx.audit.acknowledgeBreak(51, 'x', by)).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/Event 51 hashes and links to the one before it/) });
    const { checkpoint } = await fx.audit.acknowledgeBreak(50, 'a test edit; the export copy holds the original', by);
    expect(checkpoint).toMatchObject({ lastSeq: 50, lastHash: victim.hash });
    // Sealing goes on: the next checkpoint covers what came after the break.
    await fx.record(5, 61);
    expect(await fx.audit.checkpoint()).toMatchObject({ lastSeq: 66 });
    const [event] = await fx.store.listEvents({ type: 'audit.break_acknowledged' });
    expect(event).toMatchObject({ actor: 'operator:alice', data: { seq: 50, reason: 'hash_mismatch', note: 'a test edit; the export copy holds the original', checkpoint: checkpoint.id } });
    const result = await fx.audit.verify();
    expect(result).toMatchObject({ ok: true, events: 66, acknowledged: [{ seq: 50, reason: 'hash_mismatch', by: 'operator:alice', checkpoint: checkpoint.id }] });
    // Once is enough.
    await expect(fx.audit.acknowledgeBreak(50, 'again', by)).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/already acknowledged/) });
    // An edit after the acknowledgement is caught as before…
    fx.db.prepare('UPDATE audit_events SET actor = ? WHERE seq = 55').run('admin');
    expect(await fx.audit.verify()).toMatchObject({ ok: false, first_broken: { seq: 55, reason: 'hash_mismatch' } });
    fx.db.prepare('UPDATE audit_events SET actor = ? WHERE seq = 55').run(fx.rows()[54]!.actor === 'admin' ? victim.actor : fx.rows()[54]!.actor);
    // …and so is a rewrite of the acknowledged event itself: the acknowledgement anchors its stored hash.
    fx.db.prepare('UPDATE audit_events SET hash = ? WHERE seq = 50').run('0'.repeat(64));
    expect((await fx.audit.verify()).ok).toBe(false);
  });

  it('an acknowledgement cannot go past a break the chain cannot continue from, nor be forged without the key', async () => {
    await sealedLog();
    fx.db.prepare('DELETE FROM audit_events WHERE seq = 50').run();
    await expect(fx.audit.acknowledgeBreak(50, 'gone', { actor: 'admin' })).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/Event 50 is not stored/) });
    // A forged acknowledgement (a checkpoint signed with another key) anchors nothing.
    const victim = fx.rows()[20]!;
    fx.db.prepare('UPDATE audit_events SET actor = ? WHERE seq = 21').run('admin');
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const claims = { last_seq: 21, last_hash: victim.hash, time: Date.now(), acknowledges: { reason: 'hash_mismatch', note: 'nothing to see', by: 'admin' } };
    const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims))).setProtectedHeader({ alg: 'EdDSA', kid: 'forged', typ: CHECKPOINT_TYPE }).sign(privateKey);
    await fx.store.putCheckpoint({ id: 'ckp_forged', lastSeq: 21, lastHash: victim.hash!, time: claims.time, kid: 'forged', jws });
    expect(await fx.audit.verify()).toMatchObject({ ok: false, first_broken: { seq: 21, reason: 'hash_mismatch' } });
  });

  it('acknowledges a break before the latest checkpoint too: verification goes on past it', async () => {
    await sealedLog();
    expect(await fx.audit.checkpoint()).toMatchObject({ lastSeq: 60 });
    fx.db.prepare('UPDATE audit_events SET actor = ? WHERE seq = 10').run('admin');
    expect(await fx.audit.verify()).toMatchObject({ ok: false, first_broken: { seq: 10, reason: 'hash_mismatch' } });
    await fx.audit.acknowledgeBreak(10, 'edited by hand in a drill', { actor: 'admin' });
    // The checkpoints at 40 and 60, signed before the edit, still hold past it.
    expect(await fx.audit.verify()).toMatchObject({ ok: true, events: 61, checkpoints: 3, acknowledged: [{ seq: 10, reason: 'hash_mismatch' }] });
  });

  it('refuses to sign a checkpoint over a broken chain', async () => {
    await sealedLog();
    fx.db.prepare("UPDATE audit_events SET type = 'x' WHERE seq = 45").run();
    // A fresh process (no memory of what it wrote) still verifies before it signs.
    const { AuditLog } = await import('../../src/audit/index.js');
    const restarted = new AuditLog(fx.store, Date.now, { signer: fx.keys, keys: fx.audit.keys });
    await expect(restarted.checkpoint()).rejects.toThrow(/broken at seq 45 \(hash_mismatch/);
    expect(await fx.store.listCheckpoints(40, 10)).toEqual([]);
  });

  it('rejects a forged checkpoint: an unknown key, a key slipped into the store, a wrong signature', async () => {
    await sealedLog();
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const head = await fx.store.chainHead();
    const forge = (kid: string) =>
      new CompactSign(new TextEncoder().encode(JSON.stringify({ last_seq: head.lastSeq, last_hash: head.lastHash, time: Date.now() })))
        .setProtectedHeader({ alg: 'EdDSA', kid, typ: CHECKPOINT_TYPE }).sign(privateKey);
    const insert = (id: string, kid: string, jws: string) =>
      fx.db.prepare('INSERT INTO audit_checkpoints (id, last_seq, last_hash, time, kid, jws) VALUES (?, ?, ?, ?, ?, ?)').run(id, head.lastSeq, head.lastHash, Date.now(), kid, jws);

    insert('ckp_forged', 'attacker', await forge('attacker'));
    expect((await fx.audit.verify()).first_broken).toMatchObject({ seq: 60, reason: 'bad_signature', checkpoint: 'ckp_forged' });

    // The attacker's public key in signing_keys, with a private half not sealed by the master key.
    fx.db.prepare('INSERT INTO signing_keys (kid, alg, private_jwk, public_jwk, created_at, retired_at) VALUES (?, ?, ?, ?, ?, NULL)')
      .run('attacker', 'EdDSA', 'enc:v1:AAAA', JSON.stringify(await exportJWK(publicKey)), Date.now() - 1000);
    expect((await fx.audit.verify()).first_broken).toMatchObject({ reason: 'bad_signature', checkpoint: 'ckp_forged' });

    // The gateway's kid on a signature by another key.
    fx.db.prepare("DELETE FROM audit_checkpoints WHERE id = 'ckp_forged'").run();
    const kid = fx.keys.signingKey().kid;
    insert('ckp_wrong_key', kid, await forge(kid));
    expect((await fx.audit.verify()).first_broken).toMatchObject({ seq: 60, reason: 'bad_signature', checkpoint: 'ckp_wrong_key', detail: expect.stringMatching(/does not verify/) });
  });

  it('rejects a checkpoint row moved to another position, and one before the chain', async () => {
    await sealedLog();
    fx.db.prepare('UPDATE audit_checkpoints SET last_seq = 30').run();
    expect((await fx.audit.verify()).first_broken).toMatchObject({ seq: 30, reason: 'checkpoint_mismatch' });
    // Signed for seq 40, but the chain now "starts" at 45: moving first_seq to hide events is caught.
    fx.db.prepare('UPDATE audit_checkpoints SET last_seq = 40').run();
    fx.db.prepare('UPDATE audit_chain_head SET first_seq = 45').run();
    expect((await fx.audit.verify()).first_broken).toMatchObject({ seq: 40, reason: 'checkpoint_mismatch', detail: expect.stringMatching(/before the chain's first event/) });
  });

  it('names a cut tail: below the head, and below a signed checkpoint even with the head moved back', async () => {
    await sealedLog();
    await fx.audit.checkpoint();
    const restarted = async () => {
      const { AuditLog } = await import('../../src/audit/index.js');
      return new AuditLog(fx.store, Date.now, { keys: fx.audit.keys });
    };
    fx.db.prepare('DELETE FROM audit_events WHERE seq > 55').run();
    expect((await (await restarted()).verify()).first_broken).toMatchObject({ seq: 56, id: null, reason: 'missing' });
    const last = fx.rows().at(-1)!;
    fx.db.prepare('UPDATE audit_chain_head SET last_seq = ?, last_hash = ?').run(last.seq, last.hash);
    expect((await (await restarted()).verify()).first_broken).toMatchObject({ seq: 56, reason: 'missing', detail: expect.stringMatching(/vouches for event 60.*the log was cut/) });
  });

  it('verifies checkpoints signed by a retired key, and by a saved JWK Set', async () => {
    await sealedLog();
    const oldKid = fx.keys.signingKey().kid;
    const newKid = await fx.keys.rotate();
    await fx.record(5, 61);
    const after = await fx.audit.checkpoint();
    expect(after).toMatchObject({ lastSeq: 65, kid: newKid });
    expect(await fx.audit.verify()).toMatchObject({ ok: true, events: 65, checkpoints: 2 });
    // Offline: the public keys alone (both, the retired one included) verify the same chain.
    const jwks = { keys: await Promise.all((await fx.store.listSigningKeys()).map(async (k) => ({ ...JSON.parse(k.publicJwk), kid: k.kid }))) };
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([oldKid, newKid].sort());
    expect(await verifyAudit(fx.store, jwksCheckpointKeys(jwks), {})).toMatchObject({ ok: true, checkpoints: 2 });
    expect((await verifyAudit(fx.store, jwksCheckpointKeys({ keys: jwks.keys.filter((k) => k.kid === newKid) }), {})).first_broken)
      .toMatchObject({ seq: 40, reason: 'bad_signature' });
  });

  it('verifies in slices and pages with progress, to the same answer', async () => {
    await sealedLog();
    const progress: VerifyProgress[] = [];
    const whole = await verifyAudit(fx.store, fx.audit.keys, { pageSize: 7, onProgress: (p) => progress.push(p) });
    expect(whole).toMatchObject({ ok: true, events: 60, checkpoints: 1 });
    // Slices of 7, and one ends at the checkpoint (seq 40) to hold it to the event it signed.
    expect(progress.map((p) => p.events)).toEqual([7, 14, 21, 28, 35, 40, 47, 54, 60]);
    // Where the chain was walked: on the checkpointer thread, or (without one) on the event loop.
    if (thread) expect(fx.offLoopWalks()).toBeGreaterThanOrEqual(9);
    else expect(fx.offLoopWalks()).toBe(0);
    expect(progress.every((p) => p.total === 60)).toBe(true);

    let from: { seq: number; hash: string } | undefined;
    let events = 0;
    let checkpoints = 0;
    for (let slice = 0; ; slice++) {
      const r = await fx.audit.verify({ from, maxEvents: 25, pageSize: 10 });
      expect(r.ok).toBe(true);
      events += r.events;
      checkpoints += r.checkpoints;
      if (!r.next) break;
      expect(r.next.seq).toBe(25 * (slice + 1));
      from = r.next;
    }
    expect([events, checkpoints]).toEqual([60, 1]);
    // A slice that starts from a wrong hash fails at once.
    expect((await fx.audit.verify({ from: { seq: 25, hash: GENESIS_HASH }, maxEvents: 10 })).first_broken).toMatchObject({ seq: 26, reason: 'prev_mismatch' });
  });

  it('starts the chain after the events stored before it existed', async () => {
    // A database at schema version 5 with three events, then upgraded.
    fx = await auditFixture();
    await fx.close();
    const db = new Database(fx.path.replace(/audit\.db$/, 'old.db'));
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const m of SQLITE_MIGRATIONS.filter((m) => m.version <= 5)) {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, 0);
    }
    for (const id of ['evt_old1', 'evt_old2', 'evt_old3']) db.prepare("INSERT INTO audit_events (id, time, type, actor, data) VALUES (?, 1, 'old', 'system', '{}')").run(id);
    db.close();
    const store = new SqliteStore({ path: fx.path.replace(/audit\.db$/, 'old.db') });
    await store.migrate();
    expect(await store.chainHead()).toEqual({ firstSeq: 4, lastSeq: 3, lastHash: GENESIS_HASH });
    const [first] = await store.appendEvents([{ id: 'evt_new', time: 2, type: 'new', actor: 'system', requestId: null, agentId: null, sessionId: null, teamId: null, chain: null, data: {} }]);
    expect(first).toMatchObject({ seq: 4, prevHash: GENESIS_HASH });
    expect(await verifyAudit(store, { key: async () => undefined })).toMatchObject({ ok: true, events: 1 });
    await store.close();
    fx = await auditFixture(); // for afterEach
  });
});
