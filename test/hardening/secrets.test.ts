// Secrets hygiene: a real gateway process runs a full session of work — client credentials,
// delegation, plain and streamed calls on both APIs, upstream errors, every kind of refused
// credential, revocation, metrics — at debug log level. Then everything it produced for people
// and machines to read (its log, the audit log and its export file, every error body, /metrics)
// is searched for every secret used: the provider key, the client secret, the admin token, the
// metrics token, the master key and each session token — whole, or any 16-character piece.
import Anthropic from '@anthropic-ai/sdk';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createSimulatedProvider } from '../../src/providers/simulated/index.js';
import { delegate, tokenRequest } from '../helpers/oauth.js';
import { startServe } from '../helpers/process.js';

const secret = (prefix: string) => `${prefix}${randomBytes(24).toString('base64url')}`;

/**
 * The secret whole, and every 16-character piece of its secret part: a JWT's header is public (the
 * kid is in the JWKS), as is a client secret's `tgs_<credential id>.` half (the id names a record).
 */
function pieces(value: string): string[] {
  const dot = value.indexOf('.');
  const parts = value.split('.').length === 3 ? value.split('.').slice(1).join('.') : value.startsWith('tgs_') ? value.slice(dot + 1) : value;
  const out = new Set<string>([value]);
  for (let i = 0; i + 16 <= parts.length; i += 4) out.add(parts.slice(i, i + 16));
  return [...out];
}

describe('secrets hygiene', () => {
  it('no secret used in a full run appears in logs, audit records, error bodies or metrics', async () => {
    const providerKey = secret('sk-provider-');
    const adminToken = secret('tga_');
    const metricsToken = secret('mt_');
    const sim = await createSimulatedProvider({ apiKey: providerKey });
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-secrets-'));
    writeFileSync(join(dir, 'tollgate.yaml'), `
server: { log_requests: true }
logging: { level: debug }
providers:
  - { name: oai, type: openai, base_url: "${sim.url}/v1", api_key_env: TG_PROVIDER_KEY }
  - { name: ant, type: anthropic, base_url: "${sim.url}", api_key_env: TG_PROVIDER_KEY }
models:
  - { name: gpt-4o-mini, provider: oai, price: { input: 0.15, output: 0.60 } }
  - { name: claude-3-5-haiku-latest, provider: ant, price: { input: 0.8, output: 4 } }
teams: [{ name: t }]
profiles: [{ name: p, models: [gpt-4o-mini, claude-3-5-haiku-latest], tools: ["*"], session_budget: { max: { usd: 5 } } }]
agents: [{ name: a, team: t, profile: p }, { name: b, team: t, profile: p }]
audit: { export: { jsonl_path: audit.jsonl } }
telemetry: { metrics: { enabled: true, token_env: TG_METRICS_TOKEN } }
`);
    const gw = await startServe(dir, ['--config', 'tollgate.yaml'], { TOLLGATE_ADMIN_TOKEN: adminToken, TG_PROVIDER_KEY: providerKey, TG_METRICS_TOKEN: metricsToken });
    const errorBodies: string[] = [];
    const call = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(gw.url + path, init);
      const text = await res.text();
      if (res.status >= 400) errorBodies.push(`${res.status} ${path} ${text}`);
      return { status: res.status, text };
    };
    const admin = async (method: string, path: string, body?: unknown) =>
      JSON.parse((await call(path, { method, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })).text);
    const json = (token: string, body: unknown, extra: Record<string, string> = {}) => ({
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...extra }, body: JSON.stringify(body),
    });
    try {
      // Credentials: a client secret, a token from it, an operator-opened session, a child.
      const issued = await admin('POST', '/admin/v1/agents/a/secrets', {});
      const clientSecret = issued.client_secret as string;
      const viaSecret = await tokenRequest(gw.url, { grant_type: 'client_credentials', client_id: issued.client_id, client_secret: clientSecret, task: 'hygiene' });
      expect(viaSecret.status).toBe(200);
      const t1 = viaSecret.body.access_token as string;
      const opened = await admin('POST', '/admin/v1/sessions', { agent: 'a', task: 'hygiene 2', budget: { usd: 1 } });
      const t2 = opened.token as string;
      const child = await delegate(gw.url, t2, { agent: 'b', task: 'child', budget_usd: '0.2' });
      const t3 = child.body.access_token as string;

      // Work through the official clients, plain and streamed, both APIs.
      const openai = new OpenAI({ apiKey: t1, baseURL: `${gw.url}/v1`, maxRetries: 0 });
      await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
      for await (const _ of await openai.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'stream' }] })) void _;
      const anthropic = new Anthropic({ apiKey: t3, baseURL: gw.url, maxRetries: 0 });
      await anthropic.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });

      // Failures, each of which handles a secret: upstream errors (the provider refusing the key),
      // wrong and misplaced credentials, revoked tokens, bad input.
      await call('/v1/chat/completions', json(t2, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: '[[sim:error=401]]' }] }));
      await call('/v1/chat/completions', json(t2, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: '[[sim:error=500]]' }] }));
      await call('/v1/chat/completions', json(t2, { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: '[[sim:cut_after=3]]' }] }));
      await call('/v1/chat/completions', json(adminToken, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }));
      await call('/v1/chat/completions', json(`${t1}x`, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }));
      await call('/v1/chat/completions', { method: 'POST', headers: { 'x-api-key': clientSecret, 'content-type': 'application/json' }, body: '{}' });
      await call('/v1/chat/completions', json(t1, { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }));
      await call('/admin/v1/teams', { headers: { authorization: `Bearer ${t1}` } });
      await call('/admin/v1/teams', { headers: { authorization: `Bearer ${providerKey}` } });
      await call('/metrics', { headers: { authorization: `Bearer ${t1}` } });
      await tokenRequest(gw.url, { grant_type: 'client_credentials', client_id: issued.client_id, client_secret: `${clientSecret}x`, task: 't' }).then((r) => errorBodies.push(JSON.stringify(r.body)));
      await tokenRequest(gw.url, { grant_type: 'client_credentials', client_id: 'cli_nobody', client_secret: clientSecret, task: 't' }).then((r) => errorBodies.push(JSON.stringify(r.body)));
      await tokenRequest(gw.url, { grant_type: 'client_credentials', client_id: issued.client_id, client_secret: clientSecret, scope: 'gpt-4o', task: 't' }).then((r) => errorBodies.push(JSON.stringify(r.body)));
      await call('/oauth/revoke', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: t3 }).toString() });
      await call('/v1/messages', { method: 'POST', headers: { 'x-api-key': t3, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 5, messages: [{ role: 'user', content: 'revoked' }] }) });
      await call('/v1/chat/completions', json(t2, { model: 'gpt-4o-mini', messages: 'not a list' }));
      await admin('POST', `/admin/v1/agents/a/secrets/${issued.id}/revoke`, { reason: 'rotate' });
      await tokenRequest(gw.url, { grant_type: 'client_credentials', client_id: issued.client_id, client_secret: clientSecret, task: 't' }).then((r) => errorBodies.push(JSON.stringify(r.body)));
      await admin('GET', '/admin/v1/agents/a/secrets');

      const metrics = await call('/metrics', { headers: { authorization: `Bearer ${metricsToken}` } });
      expect(metrics.status).toBe(200);
      const events = await admin('GET', '/admin/v1/audit/events?limit=1000');
      expect(events.data.length).toBeGreaterThan(20);
      await gw.stop();
      const logs = gw.logs();
      expect(logs).toContain('model call'); // the log really has request lines
      const exported = readFileSync(join(dir, '.tollgate', 'audit.jsonl'), 'utf8');
      expect(exported.split('\n').length).toBeGreaterThan(20);
      const masterKey = readFileSync(join(dir, '.tollgate', 'master-key'), 'utf8').trim();

      const outputs: Record<string, string> = {
        logs, audit_events: JSON.stringify(events), audit_export: exported, error_bodies: errorBodies.join('\n'), metrics: metrics.text,
      };
      const secrets: Record<string, string> = {
        provider_key: providerKey, admin_token: adminToken, metrics_token: metricsToken, client_secret: clientSecret, master_key: masterKey,
        session_token_secret: t1, session_token_operator: t2, session_token_child: t3,
      };
      const found: string[] = [];
      for (const [secretName, value] of Object.entries(secrets)) {
        for (const piece of pieces(value)) {
          for (const [where, text] of Object.entries(outputs)) if (text.includes(piece)) found.push(`${secretName} (${piece}) in ${where}`);
        }
      }
      expect(found).toEqual([]);
      // The search looked at the right text: the records name the credential (its public half).
      expect(outputs.audit_export).toContain(clientSecret.slice(4, clientSecret.indexOf('.')));
      expect(errorBodies.length).toBeGreaterThan(10);
    } finally {
      await gw.stop();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
