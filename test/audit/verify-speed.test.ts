// How fast the chain verifies: events shaped like real policy decisions, appended through the
// store as the gateway appends them (batches of 512), with a checkpoint every 10 000 events.
// TOLLGATE_AUDIT_BENCH=200000 measures at the size docs/audit.md quotes; TOLLGATE_AUDIT_BENCH_PG=1
// measures on PostgreSQL as well. The default run is small, with a floor far below the
// measured speed, so a slow path (a full table read, a per-event query) still fails it.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog, storedCheckpointKeys } from '../../src/audit/index.js';
import { KeyRing, MasterKey } from '../../src/identity/index.js';
import { SqliteStore, type AuditEvent, type Store } from '../../src/store/index.js';
import { PostgresStore } from '../../src/store/postgres/index.js';

const N = Number(process.env.TOLLGATE_AUDIT_BENCH ?? 20_000);
const PG_URL = process.env.TOLLGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function decision(i: number): AuditEvent {
  const session = `ses_${(i % 500).toString(16).padStart(32, '0')}`;
  return {
    id: `evt_${i.toString(16).padStart(32, '0')}`, time: 1_750_000_000_000 + i, type: 'policy.decision', actor: `agent:agt_${i % 50}`,
    requestId: `req_${i.toString(16).padStart(32, '0')}`, agentId: `agt_${i % 50}`, sessionId: session, teamId: 'team_demo', chain: [session],
    data: {
      action: 'call_model', resource: 'Model::gpt-4o-mini', effect: 'allow', policies: ['tollgate-default-allow'], reasons: [], errors: [], cached: i % 3 !== 0,
      policy_version: 7, context: { environment: 'prod', data_sensitivity: 'internal', intended_action: 'answer', delegation_depth: 0, phase: 'request' },
    },
  };
}

async function measure(store: Store, label: string): Promise<number> {
  await store.migrate();
  const master = MasterKey.fromBytes(randomBytes(32));
  const keys = new KeyRing(store, master, { overlapMs: 60_000, rotationMs: 0 });
  await keys.load();
  const audit = new AuditLog(store, Date.now, { signer: keys, keys: storedCheckpointKeys(store, master) });
  const appendStarted = performance.now();
  for (let i = 0; i < N; i += 512) {
    await store.appendEvents(Array.from({ length: Math.min(512, N - i) }, (_, k) => decision(i + k)));
    if (Math.floor((i + 512) / 10_000) > Math.floor(i / 10_000)) await audit.checkpoint();
  }
  const appendMs = performance.now() - appendStarted;
  const result = await audit.verify();
  expect(result).toMatchObject({ ok: true, events: N });
  expect(result.checkpoints).toBe(Math.floor(N / 10_000));
  console.log(`${label}: verified ${N} events and ${result.checkpoints} checkpoints in ${result.ms} ms = ${result.events_per_second} events/s (appending took ${Math.round(appendMs)} ms = ${Math.round(N / (appendMs / 1000))} events/s, checkpoints included)`);
  return result.events_per_second;
}

describe('audit verification speed', () => {
  it(`verifies ${N} events on SQLite, paged, well above the floor`, { timeout: 600_000 }, async () => {
    const store = new SqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'tollgate-audit-speed-')), 'speed.db') });
    try {
      expect(await measure(store, 'sqlite')).toBeGreaterThan(20_000);
    } finally {
      await store.close();
    }
  });

  it.runIf(process.env.TOLLGATE_AUDIT_BENCH_PG)(`verifies ${N} events on PostgreSQL (a measurement, skipped unless TOLLGATE_AUDIT_BENCH_PG=1)`, { timeout: 600_000 }, async () => {
    const schema = `tollgate_speed_${randomBytes(6).toString('hex')}`;
    const store = new PostgresStore({ connectionString: PG_URL, schema });
    try {
      expect(await measure(store, 'postgres')).toBeGreaterThan(20_000);
    } finally {
      await store.close();
      const cleanup = new PostgresStore({ connectionString: PG_URL });
      await (cleanup as unknown as { rows(sql: string): Promise<unknown> }).rows(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await cleanup.close();
    }
  });
});
