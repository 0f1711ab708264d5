// A `tollgate serve` for the SDK suites: the shipped default config as changed by the suite, an
// admin client, and a client secret for each agent the suite's sessions open with.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { defaultConfigText } from '../../src/config/index.js';
import { startServe, type ServeProcess } from '../helpers/process.js';

export interface SdkGateway {
  server: ServeProcess;
  dir: string;
  admin: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;
  /** A client secret for each agent asked for. */
  credentials: Record<string, { clientId: string; clientSecret: string }>;
}

/** Starts the gateway in a new directory (`prefix`), on the default config as `edit` changes it. */
export async function startSdkGateway(prefix: string, edit: (config: Record<string, any>) => void, agents: string[]): Promise<SdkGateway> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const config = parseYaml(defaultConfigText()) as Record<string, any>;
  edit(config);
  writeFileSync(join(dir, 'tollgate.yaml'), stringify(config));
  const server = await startServe(dir, ['--config', join(dir, 'tollgate.yaml')]);
  const adminToken = readFileSync(join(dir, '.tollgate', 'admin-token'), 'utf8').trim();
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(server.url + path, { method, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };
  const credentials: SdkGateway['credentials'] = {};
  for (const agent of agents) {
    const issued = (await admin('POST', `/admin/v1/agents/${agent}/secrets`, {})).body;
    credentials[agent] = { clientId: issued.client_id, clientSecret: issued.client_secret };
  }
  return { server, dir, admin, credentials };
}
