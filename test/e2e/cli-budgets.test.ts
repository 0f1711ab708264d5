// Soft budgets through the CLI against a real gateway process: a session crosses its threshold,
// `approval list/approve` unblocks it with extra budget, `session renew` adds more.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveWithConfig, type cliRunner, type ServeProcess } from '../helpers/process.js';

const ADMIN = { TOLLGATE_ADMIN_TOKEN: 'tga_cli-budgets' };
let server: ServeProcess;
let url: string;
let run: ReturnType<typeof cliRunner>;

beforeAll(async () => {
  ({ server, run } = await serveWithConfig('tollgate-e2e-budgets-', `
server: { log_requests: false }
providers: [{ name: sim, type: simulated }]
models:
  - { name: gpt-4o-mini, provider: sim, price: { input: 0.15, output: 0.60 } }
  - { name: gpt-4o, provider: sim }
  - { name: house-model, provider: sim }
teams: [{ name: support }]
profiles:
  - name: careful
    models: [gpt-4o-mini]
    session_budget: { default: { usd: 0.0001 }, max: { usd: 1 } }
    enforcement: { mode: soft, soft_threshold: 0.5 }
agents: [{ name: triage-1, team: support, profile: careful }]
`, ADMIN));
  url = server.url;
});
afterAll(async () => {
  await server.stop('SIGKILL');
});

const cli = async (...args: string[]) => (await run(...args)).stdout;
const chat = (token: string) => fetch(`${url}/v1/chat/completions`, {
  method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user', content: 'x [[sim:tokens=20]]' }] }),
});

describe('soft budgets from the CLI', () => {
  it('approve with extra budget, then renew', async () => {
    const started = JSON.parse(await cli('session', 'start', '--agent', 'triage-1', '--task', 'ticket', '--json'));
    let refusal: { error: { code: string; approval_id: string } } | undefined;
    for (let i = 0; i < 100 && !refusal; i++) {
      const res = await chat(started.token);
      if (res.status === 402) refusal = (await res.json()) as typeof refusal;
      else expect(res.status).toBe(200);
    }
    expect(refusal!.error.code).toBe('approval_required');
    const pending = JSON.parse(await cli('approval', 'list', '--json'));
    expect(pending.map((a: { id: string }) => a.id)).toEqual([refusal!.error.approval_id]);
    expect(await cli('approval', 'show', refusal!.error.approval_id)).toMatch(/status:\s+pending/);
    // An approval adds budget only up to the profile's largest session budget ($1), as a renewal does.
    const tooMuch = await run('approval', 'approve', refusal!.error.approval_id, '--add-usd', '5').then(() => null, (err: Error & { stderr: string }) => err.stderr);
    expect(tooMuch).toMatch(/^error: --add-usd: the session's budget would be above the profile's maximum \(HTTP 400/m);
    expect(JSON.parse(await cli('session', 'show', started.session.id, '--json')).budget.usd).toBe(0.0001);
    const approved = JSON.parse(await cli('approval', 'approve', refusal!.error.approval_id, '--add-usd', '0.0001', '--reason', 'escalated', '--json'));
    expect(approved).toMatchObject({ status: 'approved', reason: 'escalated', extra_budget: { usd: 0.0001 } });
    expect((await chat(started.token)).status).toBe(200);
    const renewed = JSON.parse(await cli('session', 'renew', started.session.id, '--ttl', '7200', '--add-usd', '0.001', '--json'));
    expect(renewed.budget.usd).toBeCloseTo(0.0012, 12);
    expect(Date.parse(renewed.expires_at)).toBeGreaterThan(Date.parse(started.expires_at));
    // A renewal only extends: a shorter time is refused, saying so, and changes nothing.
    const shorter = await run('session', 'renew', started.session.id, '--ttl', '60').then(() => null, (err: Error) => err);
    expect(shorter?.message).toMatch(/^error: --ttl 60 would end the session .*a renewal only extends/m);
    expect(JSON.parse(await cli('approval', 'list', '--status', 'approved', '--json'))).toHaveLength(1);
    // Lists name the agent, not only its id.
    const table = await cli('approval', 'list', '--status', 'approved');
    expect(table).toMatch(/\btriage-1\b/);
    expect(table).not.toMatch(/\bagt_/);
  });

  it('errors about a field name the option the user typed, not the API\'s field', async () => {
    const refused = (...args: string[]) => run(...args).then(() => { throw new Error(`${args.join(' ')} succeeded`); }, (err: Error & { stderr: string }) => err.stderr);
    // Schema errors (body.ttl_seconds: …), the service's own (ttl_seconds is above …), nested fields.
    expect(await refused('session', 'start', '--agent', 'triage-1', '--task', 't', '--ttl', '-5')).toMatch(/^error: --ttl: /m);
    expect(await refused('session', 'start', '--agent', 'triage-1', '--task', 't', '--ttl', '99999999')).toMatch(/^error: --ttl is above the profile's maximum/m);
    expect(await refused('session', 'start', '--agent', 'triage-1', '--task', 't', '--budget-usd', '5')).toMatch(/^error: --budget-usd is above the profile's maximum \(1\)/m);
    expect(await refused('agent', 'secret', 'create', 'triage-1', '--expires-in', '-1')).toMatch(/^error: --expires-in: /m);
    // A key inside an option's JSON value stays named.
    expect(await refused('session', 'start', '--agent', 'triage-1', '--task', 't', '--context', '{"data_sensitivity":"high"}')).toMatch(/^error: --context data_sensitivity must be one of /m);
    const text = await refused('session', 'start', '--agent', 'triage-1', '--task', 't', '--ttl', '-5');
    expect(text).not.toMatch(/ttl_seconds/);
  });
});

describe('tollgate models', () => {
  it('lists each model with its prices (USD per 1M tokens) and where each price comes from', async () => {
    const table = await cli('models');
    // Config input and output over the catalog's cached rate; the catalog alone; nobody.
    expect(table).toMatch(/^gpt-4o-mini +sim +gpt-4o-mini +0\.15 +0\.075 +0\.15 +0\.6 +catalog v0\.1\.8 \+ config +-$/m);
    expect(table).toMatch(/^gpt-4o +sim +gpt-4o +2\.5 +1\.25 +2\.5 +10 +catalog v0\.1\.8 +-$/m);
    expect(table).toMatch(/^house-model +sim +house-model +- +- +- +- +none \(refused for USD budgets\) +-$/m);
    const listed = JSON.parse(await cli('models', '--json')) as { name: string; price_source: string; price_per_million: unknown }[];
    expect(listed.find((m) => m.name === 'house-model')).toMatchObject({ price_source: 'none', price_per_million: null });
  });
});
