// The access review against a real gateway: agents that used their secret, a model and an MCP
// tool through the official clients; a secret never used; a secret reused from a second address;
// an agent without an owner. JSON, CSV, `tollgate review --apply` (a real CLI process), sign-off
// and what the next review shows.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { request } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNotesServer, type NotesFixture } from '../fixtures/mcp/http-server.js';
import { ADMIN_TOKEN, startGateway, type TestGateway } from '../helpers/gateway.js';
import { cliRunner } from '../helpers/process.js';
import { tokenRequest } from '../helpers/oauth.js';

let gw: TestGateway;
let notes: NotesFixture;
let used: { id: string; client_id: string; client_secret: string };
let idle: { id: string };
let profileId: string;

const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });

/** A client_credentials token request sent from another loopback address (another workload). */
function tokenFrom(localAddress: string, clientId: string, secret: string): Promise<number> {
  const body = new URLSearchParams({ grant_type: 'client_credentials', task: 'from elsewhere' }).toString();
  const { port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/oauth/token', method: 'POST', localAddress, headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(clientId, secret) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  notes = await startNotesServer();
  gw = await startGateway({
    mcp_servers: [{ name: 'notes', url: notes.url }],
    teams: [{ name: 'demo', owner: 'platform@example.com' }],
    profiles: [{ name: 'triage', models: ['gpt-4o-mini', 'gpt-4o'], tools: ['notes/read_note', 'notes/write_note', 'notes/list_notes'] }],
    agents: [
      { name: 'triage-bot', team: 'demo', profile: 'triage', owner: 'ana@example.com', environment: 'prod' },
      { name: 'orphan', team: 'demo', profile: 'triage' },
    ],
  });
  used = (await gw.admin('POST', '/admin/v1/agents/triage-bot/secrets', {})).body;
  idle = (await gw.admin('POST', '/admin/v1/agents/triage-bot/secrets', { expires_in_seconds: 3600 })).body;
  profileId = (await gw.admin('GET', '/admin/v1/profiles/triage')).body.id;
  // The agent's workload: a token from its secret, one model call, one tool call (of three granted).
  const token = await tokenRequest(gw.url, { grant_type: 'client_credentials', task: 'triage the inbox' }, basic(used.client_id, used.client_secret));
  expect(token.status).toBe(200);
  const openai = new OpenAI({ apiKey: token.body.access_token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  const mcp = new Client({ name: 'review-test', version: '1.0.0' });
  await mcp.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/notes`), { requestInit: { headers: { authorization: `Bearer ${token.body.access_token}` } } }));
  await mcp.callTool({ name: 'read_note', arguments: { name: 'welcome' } });
  // A call that fails at the tool still uses the grant.
  await mcp.callTool({ name: 'write_note', arguments: {} }).catch(() => undefined);
  await mcp.close();
});
afterAll(async () => {
  await gw?.close();
  await notes?.close();
});

const review = async (query = '') => {
  const res = await gw.admin('GET', `/admin/v1/access-review${query}`);
  expect(res.status).toBe(200);
  return res.body;
};
const byId = (r: { findings: { id: string }[] }, id: string) => r.findings.find((f) => f.id === id) as any;

describe('access review', () => {
  it('shows each agent with its credentials, sessions, and models and tools granted vs used', async () => {
    const r = await review();
    expect(r.window.days).toBe(30);
    const bot = r.agents.find((a: { name: string }) => a.name === 'triage-bot');
    expect(bot).toMatchObject({ owner: 'ana@example.com', team: { name: 'demo' }, profile: { name: 'triage' }, status: 'active', sessions_in_window: 1 });
    const usedCred = bot.credentials.find((c: { id: string }) => c.id === used.id);
    expect(usedCred).toMatchObject({ kind: 'client_secret', status: 'active', last_used_from: '127.0.0.1', sources: [{ source: '127.0.0.1' }] });
    expect(usedCred.last_used_at).not.toBeNull();
    expect(bot.credentials.find((c: { id: string }) => c.id === idle.id)).toMatchObject({ last_used_at: null, expires_at: expect.any(String) });
    expect(bot.models).toEqual({ granted: ['gpt-4o-mini', 'gpt-4o'], used: [{ name: 'gpt-4o-mini', calls: 1, last_at: expect.any(String) }] });
    expect(bot.tools.used).toEqual([{ name: 'notes/read_note', calls: 1, last_at: expect.any(String) }, { name: 'notes/write_note', calls: 1, last_at: expect.any(String) }]);
  });

  it('finds the secret never used, the agent without an owner, and a narrower profile shown as a diff', async () => {
    const r = await review();
    expect(byId(r, `credential_never_used:${idle.id}`)).toMatchObject({ kind: 'credential_never_used', owasp: 'NHI1', agent: { name: 'triage-bot' }, remedy: { action: 'revoke_credential', automatic: true } });
    expect(byId(r, `credential_never_used:${used.id}`)).toBeUndefined();
    // The secret without expiry is long-lived (NHI7); the one that expires in an hour is not.
    expect(byId(r, `credential_long_lived:${used.id}`)).toMatchObject({ owasp: 'NHI7', remedy: { action: 'rotate_credential', automatic: false } });
    expect(byId(r, `credential_long_lived:${idle.id}`)).toBeUndefined();
    expect(byId(r, 'agent_no_owner:' + r.agents.find((a: { name: string }) => a.name === 'orphan').id)).toMatchObject({ severity: 'warning', remedy: { action: 'suspend_agent', automatic: true } });
    const grant = byId(r, `grant_unused:${profileId}`);
    expect(grant).toMatchObject({ kind: 'grant_unused', severity: 'warning', evidence: { unused_models: ['gpt-4o'], unused_tools: ['notes/list_notes'] } });
    expect(grant.remedy.suggestion).toEqual({ models: ['gpt-4o-mini'], tools: ['notes/read_note', 'notes/write_note'] });
    expect(grant.remedy.diff.split('\n')).toEqual(expect.arrayContaining(['    - notes/read_note', '    - notes/write_note', '-   - notes/list_notes', '-   - gpt-4o', '    - gpt-4o-mini']));
    // Nobody was idle for 30 days; with unused_days=0 every agent is.
    expect(r.findings.filter((f: { kind: string }) => f.kind === 'agent_inactive')).toEqual([]);
    expect((await review('?unused_days=0')).findings.filter((f: { kind: string }) => f.kind === 'agent_inactive')).toHaveLength(2);
  });

  it('finds one secret used from two workloads (NHI9) and suggests splitting it', async () => {
    expect(await tokenFrom('127.0.0.2', used.client_id, used.client_secret)).toBe(200);
    const f = byId(await review(), `credential_reuse:${used.id}`);
    expect(f).toMatchObject({ owasp: 'NHI9', remedy: { action: 'split_credential', automatic: false } });
    expect(f.evidence.sources.map((s: { source: string }) => s.source).sort()).toEqual(['127.0.0.1', '127.0.0.2']);
  });

  it('answers CSV: one line per agent, or per finding', async () => {
    const agents = await fetch(`${gw.url}/admin/v1/access-review?format=csv`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(agents.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await agents.text()).trim().split('\r\n');
    expect(lines[0]).toBe('agent,agent_id,owner,team,profile,status,environment,credentials,credentials_active,credential_last_used_at,credential_sources,federated,sessions_in_window,last_session_at,models_granted,models_used,tools_granted,tools_used,findings');
    const bot = lines.find((l) => l.startsWith('triage-bot,'))!;
    expect(bot).toContain(',ana@example.com,demo,triage,active,prod,2,2,');
    expect(bot).toContain(',127.0.0.1 127.0.0.2,');
    expect(bot).toContain(',gpt-4o-mini gpt-4o,gpt-4o-mini,notes/read_note notes/write_note notes/list_notes,notes/read_note notes/write_note,');
    const findings = await (await fetch(`${gw.url}/admin/v1/access-review?format=csv&rows=findings`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    expect(findings.split('\r\n')[0]).toBe('id,kind,severity,owasp,agent,profile,credential,summary,remedy,automatic,commands,accepted_by');
    expect(findings).toContain(`credential_never_used:${idle.id},credential_never_used,info,NHI1,triage-bot,triage,${idle.id},`);
  });

  it('refuses a window of 0 days (no calls to judge grants by), in the query and the bodies alike', async () => {
    expect((await review('?window_days=1')).window.days).toBe(1);
    const query = await gw.admin('GET', '/admin/v1/access-review?window_days=0');
    expect(query.status).toBe(400);
    expect(query.body.error).toMatchObject({ code: 'invalid_request', param: 'window_days' });
    for (const path of ['/admin/v1/access-review/apply', '/admin/v1/access-review/sign-off']) {
      const body = await gw.admin('POST', path, { window_days: 0 });
      expect(body.status, path).toBe(400);
      expect(body.body.error, path).toMatchObject({ code: 'invalid_request', param: 'window_days' });
    }
    // unused_days 0 stays allowed: any grant not used today is a finding.
    expect((await review('?unused_days=0')).unused_days).toBe(0);
    const cli = cliRunner(gw.url, gw.dataDir);
    const refused = await cli('--admin-token', ADMIN_TOKEN, 'review', '--window-days', '0').then(() => '', (err: Error & { stderr: string }) => err.stderr);
    expect(refused).toMatch(/^error: --window-days: Too small: expected number to be >=1 \(HTTP 400, invalid_request\)$/m);
  });

  it('`tollgate review --apply --finding` revokes the unused secret, attributed in the audit log', async () => {
    const cli = cliRunner(gw.url, gw.dataDir);
    const listed = await cli('--admin-token', ADMIN_TOKEN, 'review');
    expect(listed.stdout).toContain(`credential_never_used:${idle.id}`);
    expect(listed.stdout).toContain('-   - notes/list_notes');
    const applied = await cli('--admin-token', ADMIN_TOKEN, 'review', '--apply', '--finding', `credential_never_used:${idle.id}`, '--json');
    const out = JSON.parse(applied.stdout);
    expect(out.applied).toMatchObject({ object: 'access_review.applied', applied: [{ finding: `credential_never_used:${idle.id}`, action: 'revoke_credential', ok: true }], skipped: [] });
    const secrets = (await gw.admin('GET', '/admin/v1/agents/triage-bot/secrets')).body.data;
    expect(secrets.find((s: { id: string }) => s.id === idle.id).status).toBe('revoked');
    expect(secrets.find((s: { id: string }) => s.id === used.id).status).toBe('active');
    const [event] = (await gw.admin('GET', '/admin/v1/audit/events?type=credential.revoked')).body.data;
    expect(event).toMatchObject({ actor: 'admin', data: { credential: idle.id, finding: `credential_never_used:${idle.id}`, operator: { name: 'admin', role: 'admin' } } });
    expect(byId(await review(), `credential_never_used:${idle.id}`)).toBeUndefined();
    // A finding that is not open is refused rather than silently ignored.
    const again = await gw.admin('POST', '/admin/v1/access-review/apply', { findings: [`credential_never_used:${idle.id}`] });
    expect(again.status).toBe(400);
  });

  it('records a sign-off (who, what accepted, what remediated) and the next review shows what changed', async () => {
    const before = await review();
    const orphanFinding = before.findings.find((f: { kind: string }) => f.kind === 'agent_no_owner').id;
    const reviewer = (await gw.admin('POST', '/admin/v1/operators', { name: 'rita', role: 'operator' })).body.token;
    const signed = await gw.admin('POST', '/admin/v1/access-review/sign-off', { accepted: [orphanFinding], remediated: [`credential_never_used:${idle.id}`], note: 'Q4 review' }, reviewer);
    expect(signed.status).toBe(201);
    expect(signed.body).toMatchObject({ signed_by: 'operator:rita', operator: { name: 'rita', role: 'operator' }, accepted: [orphanFinding], note: 'Q4 review' });
    const [event] = (await gw.admin('GET', '/admin/v1/audit/events?type=access_review.signed_off')).body.data;
    expect(event).toMatchObject({ actor: 'operator:rita', data: { review: signed.body.id, accepted: [orphanFinding], remediated: [`credential_never_used:${idle.id}`], operator: { name: 'rita' } } });

    // Something changes: a new secret, never used.
    const fresh = (await gw.admin('POST', '/admin/v1/agents/triage-bot/secrets', { expires_in_seconds: 600 })).body;
    const next = await review();
    expect(next.last_sign_off).toMatchObject({ id: signed.body.id, operator: { name: 'rita' } });
    expect(next.changes_since_last.new).toEqual([`credential_never_used:${fresh.id}`]);
    expect(next.changes_since_last.still_open).toContain(orphanFinding);
    expect(byId(next, orphanFinding).accepted).toMatchObject({ by: 'rita' });
    // Applying by severity skips the accepted finding: the orphan stays active.
    const applied = await gw.admin('POST', '/admin/v1/access-review/apply', { min_severity: 'warning' });
    expect(applied.body.applied.map((a: { finding: string }) => a.finding)).not.toContain(orphanFinding);
    expect((await gw.admin('GET', '/admin/v1/agents/orphan')).body.status).toBe('active');
    // A viewer reads the review but may not sign it off or apply it.
    const viewer = (await gw.admin('POST', '/admin/v1/operators', { name: 'vic', role: 'viewer' })).body.token;
    expect((await gw.admin('GET', '/admin/v1/access-review', undefined, viewer)).status).toBe(200);
    expect((await gw.admin('POST', '/admin/v1/access-review/apply', {}, viewer)).status).toBe(403);
    expect((await gw.admin('POST', '/admin/v1/access-review/sign-off', {}, viewer)).status).toBe(403);
  });
});
