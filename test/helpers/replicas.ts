// Gateways as replicas on one PostgreSQL schema, for the scale-out suites: a data directory with
// their config, started as real `tollgate serve` processes, reached through the admin API and the
// official OpenAI client.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startServe, type ServeProcess } from './process.js';

export interface ReplicaSetUp {
  /** The database's URL (or a proxy's in front of it). */
  url: string;
  schema: string;
  replicaTimeoutSeconds: number;
  resyncSeconds: number;
  poolSize: number;
  /** More `storage.postgres` keys, as YAML flow entries (`, key: value`). */
  postgres?: string;
  /** The profiles and agents beside the default `p` / `a` (YAML flow mappings). */
  profiles?: string[];
  agents?: string[];
}

/** Writes the replicas' config into `dir` (rewriting it, e.g. for one replica's own URL). */
export function writeReplicaConfig(dir: string, o: ReplicaSetUp): void {
  const profiles = ['{ name: p, models: [gpt-4o-mini], session_budget: { max: { usd: 10 } } }', ...(o.profiles ?? [])];
  const agents = ['{ name: a, team: t, profile: p }', ...(o.agents ?? [])];
  writeFileSync(join(dir, 'tollgate.yaml'), `
server: { log_requests: false }
storage: { postgres: { url: "${o.url}", schema: ${o.schema}, replica_timeout_seconds: ${o.replicaTimeoutSeconds}, resync_seconds: ${o.resyncSeconds}, pool_size: ${o.poolSize}${o.postgres ?? ''} } }
providers: [{ name: sim, type: simulated }]
models: [{ name: gpt-4o-mini, provider: sim, price: { input: 0.15, output: 0.60 } }]
teams: [{ name: t }]
profiles: [${profiles.join(', ')}]
agents: [${agents.join(', ')}]
`);
}

/** A new data directory with the replicas' config; replicas started on it share it (master key, admin token). */
export function replicaDir(o: ReplicaSetUp): string {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-replicas-'));
  writeReplicaConfig(dir, o);
  return dir;
}

/** Starting replicas and talking to them with `adminToken` as the operator's token. */
export function replicaHarness(adminToken: string) {
  const admin = async (url: string, method: string, path: string, body?: unknown): Promise<any> => {
    const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return res.json();
  };
  return {
    serve: (dir: string): Promise<ServeProcess> => startServe(dir, ['--config', 'tollgate.yaml'], { TOLLGATE_ADMIN_TOKEN: adminToken }),
    admin,
    /** The official client on a replica, with no retries of its own. */
    client: (url: string, token: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: token, maxRetries: 0, timeout: 60_000 }),
  };
}
