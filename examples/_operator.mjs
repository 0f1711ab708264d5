// What an operator does once before an agent runs: create the agent (if missing) and hand it a
// client secret. The examples do it themselves with the admin token of the local gateway
// (`.tollgate/admin-token`, or TOLLGATE_ADMIN_TOKEN) so that each runs on its own; in production
// the agent receives TOLLGATE_CLIENT_ID / TOLLGATE_CLIENT_SECRET from its deployment instead.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const url = process.env.TOLLGATE_URL ?? 'http://127.0.0.1:8080';
const adminToken = process.env.TOLLGATE_ADMIN_TOKEN ?? readFileSync(join(process.env.TOLLGATE_DATA_DIR ?? '.tollgate', 'admin-token'), 'utf8').trim();

async function admin(method, path, body) {
  const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  const json = await res.json();
  if (!res.ok && res.status !== 409) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Creates the agent (team `demo`, profile `assistant` of the default config) unless it exists. */
export async function ensureAgent(name, profile = 'assistant') {
  await admin('POST', '/admin/v1/agents', { name, team: 'demo', profile, owner: 'examples@example.com' });
}

/** Secrets this run issued: revoked when the example is done, so none is left active behind it. */
const issued = [];
let retiring = false;
process.on('beforeExit', () => {
  if (retiring || issued.length === 0) return;
  retiring = true;
  void Promise.all(issued.map(({ agent, id }) => admin('POST', `/admin/v1/agents/${agent}/secrets/${id}/revoke`, { reason: 'example finished' }))).catch(() => {});
});

/** A fresh client secret for the agent: `{ clientId, clientSecret }` (revoked when the example ends). */
export async function credentialsFor(name) {
  if (process.env.TOLLGATE_CLIENT_ID && process.env.TOLLGATE_CLIENT_SECRET) return { clientId: process.env.TOLLGATE_CLIENT_ID, clientSecret: process.env.TOLLGATE_CLIENT_SECRET };
  const secret = await admin('POST', `/admin/v1/agents/${name}/secrets`, { expires_in_seconds: 3600 });
  issued.push({ agent: name, id: secret.id });
  return { clientId: secret.client_id, clientSecret: secret.client_secret };
}

export { admin };
