// Agent identity through the CLI alone, against a real `tollgate serve` process: a client secret,
// a session the agent opens with it, a delegated child session, the tree, revocation of a
// session, a secret, a token and the signing key's rotation, and suspension of the agent.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliRunner, startServe, type ServeProcess } from '../helpers/process.js';

let dir: string;
let server: ServeProcess;
let url: string;
let cli: ReturnType<typeof cliRunner>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-e2e-identity-'));
  server = await startServe(dir);
  url = server.url;
  cli = cliRunner(url, dir);
});

afterAll(async () => {
  await server.stop('SIGKILL');
});

/** Runs a command that must fail; returns its exit code and stderr. */
async function cliFails(...args: string[]): Promise<{ code: number; stderr: string }> {
  const outcome = await cli(...args).then(
    (ok) => ({ failed: false as const, ok }),
    (err: unknown) => ({ failed: true as const, err: err as { code: number; stderr: string } }),
  );
  if (!outcome.failed) throw new Error(`expected \`${args.join(' ')}\` to fail, it printed:\n${outcome.ok.stdout}`);
  return { code: outcome.err.code, stderr: outcome.err.stderr };
}

const json = async (...args: string[]) => JSON.parse((await cli(...args, '--json')).stdout);

/** GET /v1/models with a session token: the status. */
async function models(token: string): Promise<number> {
  const res = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

const decode = (token: string, part: 0 | 1) => JSON.parse(Buffer.from(token.split('.')[part]!, 'base64url').toString('utf8'));

// State carried from one step to the next, in order.
let secret: { id: string; client_id: string; client_secret: string };
let root: { access_token: string; session_id: string };
let child: { access_token: string; session_id: string };

describe('agent identity through the CLI', () => {
  it('issues a client secret that is shown once, with its expiry', async () => {
    secret = await json('agent', 'secret', 'create', 'demo-agent', '--expires-in', '3600');
    expect(secret.id).toMatch(/^cred_[a-z0-9]+$/);
    expect(secret.client_id).toMatch(/^agt_[a-z0-9]+$/);
    expect(secret.client_secret).toMatch(new RegExp(`^tgs_${secret.id}\\.[\\w-]{43}$`));
    const lifetime = Date.parse((secret as unknown as { expires_at: string }).expires_at) - Date.now();
    expect(lifetime).toBeGreaterThan(3500_000);
    expect(lifetime).toBeLessThanOrEqual(3600_000);

    const human = (await cli('agent', 'secret', 'create', 'demo-agent')).stdout;
    expect(human).toMatch(/shown only once/);
    expect(human).toMatch(/^client_id:\s+agt_[a-z0-9]+$/m);
    expect(human).toMatch(/^tgs_cred_[a-z0-9]+\.[\w-]{43}$/m);
  });

  it('opens a session with the secret (client_credentials) whose token reaches the data plane', async () => {
    root = await json('token', 'get', '--client-id', secret.client_id, '--client-secret', secret.client_secret, '--task', 'root task', '--budget-usd', '0.5');
    expect(root.session_id).toMatch(/^ses_[a-z0-9]+$/);
    expect((root as unknown as { token_type: string }).token_type).toBe('Bearer');
    expect((root as unknown as { expires_in: number }).expires_in).toBeGreaterThan(0);
    expect(root.access_token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(decode(root.access_token, 1).sid).toBe(root.session_id);
    expect(await models(root.access_token)).toBe(200);

    const exported = (await cli('token', 'get', '--client-id', secret.client_id, '--client-secret', secret.client_secret, '--task', 'env', '--env')).stdout;
    expect(exported).toMatch(/^export TOLLGATE_SESSION=ses_[a-z0-9]+\nexport TOLLGATE_TOKEN=[\w-]+\.[\w-]+\.[\w-]+\n$/);
  });

  it('delegates a child session with token exchange, and shows both in the tree', async () => {
    child = await json('token', 'exchange', '--subject-token', root.access_token, '--agent', 'demo-agent', '--task', 'child task', '--budget-usd', '0.1');
    expect(child.session_id).toMatch(/^ses_[a-z0-9]+$/);
    expect(child.session_id).not.toBe(root.session_id);
    expect(decode(child.access_token, 1).sid).toBe(child.session_id);
    expect(await models(child.access_token)).toBe(200);

    const tree = await json('session', 'tree', root.session_id);
    expect(tree.id).toBe(root.session_id);
    expect(tree.children.map((c: { id: string }) => c.id)).toEqual([child.session_id]);
    expect(tree.children[0].budget.usd).toBe(0.1);

    const lines = (await cli('session', 'tree', root.session_id)).stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^${root.session_id} demo-agent \\[active\\] root task — spent \\$\\d+\\.\\d{6} \\(with children \\$\\d+\\.\\d{6}\\)$`));
    expect(lines[1]).toMatch(new RegExp(`^  ${child.session_id} demo-agent \\[active\\] child task — spent \\$\\d+\\.\\d{6} \\(with children \\$\\d+\\.\\d{6}\\)$`));
    // `session show` gives the session's own spend and, with children, their total.
    const shown = (await cli('session', 'show', root.session_id)).stdout;
    expect(shown).toMatch(/^spent: +\$\d+\.\d{6} over \d+ request\(s\)$/m);
    expect(shown).toMatch(/^with children: +\$\d+\.\d{6} over \d+ request\(s\)$/m);
    expect((await cli('session', 'show', child.session_id)).stdout).not.toContain('with children');
    // MCP scopes as read: what the levels allow together.
    expect(shown).toMatch(/^tools: +all$/m);
    const narrowed = await json('token', 'exchange', '--subject-token', root.access_token, '--agent', 'demo-agent', '--task', 'read only', '--scope', 'gpt-4o-mini tool:notes/read_*');
    expect((await cli('session', 'show', narrowed.session_id)).stdout).toMatch(/^tools: +notes\/read_\*$/m);
  });

  it('revokes the child session: its token is refused, the parent\'s still works', async () => {
    const out = (await cli('session', 'revoke', child.session_id, '--reason', 'e2e')).stdout;
    expect(out.trim()).toBe(`revoked: ${child.session_id}`);
    expect(await models(child.access_token)).toBe(401);
    expect(await models(root.access_token)).toBe(200);
    expect((await json('session', 'tree', root.session_id)).children[0].status).toBe('revoked');
  });

  it('creates a profile and shows its budgets as read, not as JSON', async () => {
    const out = (await cli('profile', 'create', 'cli-profile', '--models', 'gpt-4o-mini', '--budget-usd', '0.1', '--max-budget-usd', '1', '--max-budget-tokens', '5000')).stdout;
    expect(out).toMatch(/^session budget:\s+\$0\.1$/m);
    expect(out).toMatch(/^max session budget:\s+\$1 and 5000 tokens$/m);
    expect(out).not.toContain('{');
  });

  it('lists sessions with their agents by name', async () => {
    const out = (await cli('session', 'list', '--agent', 'demo-agent')).stdout;
    const row = out.split('\n').find((l) => l.startsWith(root.session_id))!;
    expect(row).toMatch(/\sdemo-agent\s/);
    expect(row).not.toMatch(/agt_/);
  });

  it('lists agents with their teams and profiles by name', async () => {
    const row = (await cli('agent', 'list')).stdout.split('\n').find((l) => /\sdemo-agent\s/.test(l))!;
    expect(row).not.toMatch(/\b(team|prof)_/);
    const agent = await json('agent', 'show', 'demo-agent');
    expect(row).toContain(agent.team.name);
    expect(row).toContain(agent.profile.name);
  });

  it('closes a session and prints the ids that ended', async () => {
    const other = await json('token', 'exchange', '--subject-token', root.access_token, '--task', 'to close', '--budget-usd', '0.05');
    const out = (await cli('session', 'close', other.session_id)).stdout;
    expect(out.trim()).toBe(`closed: ${other.session_id}`);
    expect(await models(other.access_token)).toBe(401);
    expect(await models(root.access_token)).toBe(200);
  });

  it('lists the secret as used, never with the secret itself', async () => {
    const listed = await cli('agent', 'secret', 'list', 'demo-agent');
    const listedJson = await cli('agent', 'secret', 'list', 'demo-agent', '--json');
    for (const out of [listed.stdout, listedJson.stdout]) {
      expect(out).toContain(secret.id);
      expect(out).not.toContain(secret.client_secret);
      expect(out).not.toContain(secret.client_secret.split('.')[1]);
    }
    const entry = (JSON.parse(listedJson.stdout) as { id: string; status: string; last_used_at: string | null; last_used_from: string | null }[]).find((s) => s.id === secret.id)!;
    expect(entry.status).toBe('active');
    expect(entry.last_used_at).not.toBeNull();
    expect(entry.last_used_from).not.toBeNull();
    const row = listed.stdout.split('\n').find((l) => l.startsWith(secret.id))!;
    expect(row).toMatch(/\bactive\b/);
    expect(row).toContain(entry.last_used_at!);
    expect(row).toContain(entry.last_used_from!);
  });

  it('revokes the secret: a token request with it fails with invalid_client', async () => {
    const revoked = await json('agent', 'secret', 'revoke', 'demo-agent', secret.id, '--reason', 'rotated');
    expect(revoked.status).toBe('revoked');
    const failed = await cliFails('token', 'get', '--client-id', secret.client_id, '--client-secret', secret.client_secret, '--task', 'after revoke');
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain('invalid_client');
    expect(failed.stderr).toContain('HTTP 401');
  });

  it('rotates the signing key: a new kid, and tokens signed with the old one still verify', async () => {
    const oldKid = decode(root.access_token, 0).kid as string;
    const out = (await cli('keys', 'rotate')).stdout;
    const kid = /^kid:\s+(\S+)$/m.exec(out)?.[1];
    expect(kid).toBeDefined();
    expect(kid).not.toBe(oldKid);
    expect(out).toContain(oldKid);
    expect(await models(root.access_token)).toBe(200);
  });

  it('revokes one token by its jti, or given the token itself', async () => {
    const { jti } = decode(root.access_token, 1) as { jti: string };
    expect(jti).toMatch(/^tok_/);
    const out = (await cli('token', 'revoke', jti, '--reason', 'leaked')).stdout;
    expect(out.trim()).toBe(`revoked: ${jti}`);
    expect(await models(root.access_token)).toBe(401);
    // Or given the token itself (what an agent's environment holds): its jti is read from it.
    const fresh = await json('agent', 'secret', 'create', 'demo-agent');
    const issued = await json('token', 'get', '--client-id', fresh.client_id, '--client-secret', fresh.client_secret, '--task', 'revoke by token');
    const freshJti = (decode(issued.access_token, 1) as { jti: string }).jti;
    expect((await cli('token', 'revoke', issued.access_token)).stdout.trim()).toBe(`revoked: ${freshJti}`);
    expect(await models(issued.access_token)).toBe(401);
  });

  it('suspends the agent (its token requests are refused) and resumes it', async () => {
    const fresh = await json('agent', 'secret', 'create', 'demo-agent');
    const get = ['token', 'get', '--client-id', fresh.client_id, '--client-secret', fresh.client_secret, '--task', 'suspension'];

    const suspended = (await cli('agent', 'suspend', 'demo-agent', '--reason', 'incident')).stdout;
    expect(suspended).toMatch(/^status:\s+suspended$/m);
    expect(suspended).toMatch(/^sessions ended:\s+none$/m);
    const refused = await cliFails(...get);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('suspended');

    const resumed = (await cli('agent', 'resume', 'demo-agent')).stdout;
    expect(resumed).toMatch(/^status:\s+active$/m);
    const issued = JSON.parse((await cli(...get, '--json')).stdout);
    expect(await models(issued.access_token)).toBe(200);
  });

  it('revokes an agent for good and prints the sessions that ended', async () => {
    await cli('agent', 'create', 'temp-agent', '--team', 'demo', '--profile', 'assistant');
    const started = await json('session', 'start', '--agent', 'temp-agent', '--task', 'short-lived');
    const revoked = await json('agent', 'revoke', 'temp-agent');
    expect(revoked.status).toBe('revoked');
    expect(revoked.sessions_ended).toEqual([started.session.id]);
    expect(await models(started.token)).toBe(401);
  });

  it('never logs a secret or a token', async () => {
    const logs = await server.settledLogs();
    expect(logs).not.toContain(secret.client_secret);
    expect(logs).not.toContain(root.access_token);
  });
});
