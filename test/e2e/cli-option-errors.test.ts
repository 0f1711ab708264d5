// An error about a value the user gave names the option they gave it with (docs/cli.md), for
// query parameters (GET), body fields and the token endpoint alike; values a command cannot run
// with are refused before anything starts (serve and simulate's ports and rates), and
// contradictory options are refused rather than one silently winning.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, cleanEnv, serveWithConfig, type cliRunner, type ServeProcess } from '../helpers/process.js';

const ADMIN = { TOLLGATE_ADMIN_TOKEN: 'tga_cli-option-errors' };
let dir: string;
let server: ServeProcess;
let run: ReturnType<typeof cliRunner>;

beforeAll(async () => {
  ({ dir, server, run } = await serveWithConfig('tollgate-e2e-options-', `
server: { log_requests: false }
providers: [{ name: sim, type: simulated }]
models:
  - { name: gpt-4o-mini, provider: sim, price: { input: 0.15, output: 0.60 } }
  - { name: gpt-4o, provider: sim }
teams: [{ name: support }]
profiles: [{ name: careful, models: [gpt-4o-mini] }]
agents: [{ name: triage-1, team: support, profile: careful }]
`, ADMIN));
});
afterAll(async () => {
  await server?.stop('SIGKILL');
});

/** The command's stderr; it must fail. */
const refused = (...args: string[]) => run(...args).then(
  () => { throw new Error(`${args.join(' ')} succeeded`); },
  (err: Error & { stderr: string }) => err.stderr,
);

/** Where admin.ts puts a schema error's field, and the API's names for what the options set. */
const API_NAMES = /\b(query|body)\.|\b(group_by|min_severity|window_days|session_ttl_seconds|failureRate|latencyMs|options\.port)\b|^error: models\b/m;

describe('errors name the option given, not the API\'s field', () => {
  it('query parameters of lists', async () => {
    const cases: [string[], RegExp][] = [
      [['session', 'list', '--status', 'bogus'], /^error: --status: Invalid option: expected one of "active"\|"suspended"\|"closed"\|"revoked" \(HTTP 400, invalid_request\)$/m],
      [['session', 'list', '--limit', '-1'], /^error: --limit: Too small/m],
      [['audit', 'search', '--order', 'sideways'], /^error: --order: Invalid option: expected one of "asc"\|"desc"/m],
      [['alerts', 'list', '--severity', 'bogus'], /^error: --severity: Invalid option: expected one of "info"\|"warning"\|"critical"/m],
      [['approval', 'list', '--status', 'bogus'], /^error: --status: Invalid option: expected one of "pending"\|"approved"\|"denied"/m],
      [['report', 'spend', '--group-by', 'bogus'], /^error: --group-by must be one of team, agent, profile, session, model, day or tag:KEY/m],
      [['report', 'spend', '--since', 'yesterday'], /^error: --since must be an ISO 8601 time or milliseconds since the epoch/m],
      [['review', '--window-days', '0'], /^error: --window-days: Too small: expected number to be >=1/m],
    ];
    for (const [args, expected] of cases) {
      const text = await refused(...args);
      expect(text, args.join(' ')).toMatch(expected);
      expect(text, args.join(' ')).not.toMatch(API_NAMES);
    }
  });

  it('body fields', async () => {
    const role = await refused('operator', 'create', 'bob', '--role', 'superuser');
    expect(role).toMatch(/^error: --role: Invalid option: expected one of "viewer"\|"approver"\|"operator"\|"admin"/m);
    const severity = await refused('review', '--apply', '--min-severity', 'bogus');
    expect(severity).toMatch(/^error: --min-severity: Invalid option: expected one of "info"\|"warning"\|"critical"/m);
    for (const text of [role, severity]) expect(text).not.toMatch(API_NAMES);
  });

  it('a profile\'s TTLs: the pair, or the one given against the other\'s default', async () => {
    const models = ['--models', 'gpt-4o-mini'];
    expect(await refused('profile', 'create', 'p1', ...models, '--ttl', '500', '--max-ttl', '100')).toMatch(/^error: --ttl 500 is above --max-ttl 100$/m);
    expect(await refused('profile', 'create', 'p2', ...models, '--ttl', '100000')).toMatch(/^error: --ttl 100000 is above the longest session TTL, 86400 s unless --max-ttl says more$/m);
    expect(await refused('profile', 'create', 'p3', ...models, '--max-ttl', '100')).toMatch(/^error: --max-ttl 100 is below the default session TTL, 3600 s/m);
    // 0 is no TTL: refused by the API (no longer dropped as if not given), naming the option.
    expect(await refused('profile', 'create', 'p4', ...models, '--ttl', '0')).toMatch(/^error: --ttl: Too small/m);
    // Within the defaults, each alone is taken.
    expect(JSON.parse((await run('profile', 'create', 'p5', ...models, '--max-ttl', '7200', '--json')).stdout).session_ttl_seconds).toEqual({ default: 3600, max: 7200 });
  });

  it('token get --scope, as session start --models', async () => {
    const secret = JSON.parse((await run('agent', 'secret', 'create', 'triage-1', '--json')).stdout) as { client_id: string; client_secret: string };
    const text = await refused('token', 'get', '--client-id', secret.client_id, '--client-secret', secret.client_secret, '--task', 't', '--scope', 'gpt-4o');
    expect(text).toMatch(/^error: --scope not held by the profile: gpt-4o \(HTTP 400, invalid_scope\)$/m);
    expect(await refused('session', 'start', '--agent', 'triage-1', '--task', 't', '--models', 'gpt-4o')).toMatch(/^error: --models not held by the profile: gpt-4o/m);
  });
});

describe('values refused before the request', () => {
  it('review --rows takes agents or findings, and only with --csv', async () => {
    const csv = join(dir, 'review.csv');
    expect(await refused('review', '--rows', 'bogus', '--csv', csv)).toMatch(/^error: --rows must be agents or findings, not bogus$/m);
    expect(existsSync(csv)).toBe(false);
    expect(await refused('review', '--rows', 'findings')).toMatch(/^error: --rows chooses the lines of the CSV file: add --csv FILE$/m);
    await run('review', '--rows', 'findings', '--csv', csv);
    expect(existsSync(csv)).toBe(true);
  });

  it('alerts --status with --all is a contradiction', async () => {
    expect(await refused('alerts', 'list', '--status', 'open', '--all')).toMatch(/^error: --all lists every status and --status open one of them: give one or the other$/m);
    expect(await run('alerts', 'list', '--all')).toBeDefined();
  });
});

describe('ports and rates are checked as the options are read', () => {
  const exec = promisify(execFile);
  const fails = (cwd: string, ...args: string[]) => exec(process.execPath, [CLI, ...args], { cwd, env: cleanEnv(), timeout: 10_000 }).then(
    () => { throw new Error(`${args.join(' ')} succeeded`); },
    (err: Error & { stderr: string; code: number }) => ({ stderr: err.stderr, code: err.code }),
  );

  it('serve --port out of range starts nothing: no store, no audit event, no checkpoint', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'tollgate-e2e-port-'));
    for (const port of ['99999', '-1', '1.5', 'http']) {
      const { stderr, code } = await fails(cwd, 'serve', '--port', port, '--data-dir', 'data');
      expect(code).toBe(1);
      expect(stderr).toMatch(/--port must be an integer from 0 to 65535/);
      expect(stderr).not.toMatch(API_NAMES);
    }
    expect(existsSync(join(cwd, 'data'))).toBe(false);
  });

  it('simulate refuses a failure rate above 1, a negative latency, a port out of range', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'tollgate-e2e-simulate-'));
    const cases: [string[], RegExp][] = [
      [['--failure-rate', '2'], /--failure-rate must be a number from 0 to 1/],
      [['--latency-ms', '-5'], /--latency-ms must be a number, 0 or more/],
      [['--tokens-per-second', 'fast'], /--tokens-per-second must be a number, 0 or more/],
      [['--port', '99999'], /--port must be an integer from 0 to 65535/],
    ];
    for (const [args, expected] of cases) {
      const { stderr, code } = await fails(cwd, 'simulate', ...args);
      expect(code, args.join(' ')).toBe(1);
      expect(stderr, args.join(' ')).toMatch(expected);
      expect(stderr, args.join(' ')).not.toMatch(API_NAMES);
    }
  });

  it('demo refuses a negative duration or auto-approval delay before it starts anything', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'tollgate-e2e-demo-'));
    for (const [flag, value] of [['--duration', '-1'], ['--auto-approve-after', 'soon']]) {
      const { stderr, code } = await fails(cwd, 'demo', flag!, value!, '--data-dir', 'demo-data', '--port', '0');
      expect(code).toBe(1);
      expect(stderr).toMatch(new RegExp(`${flag} must be a number, 0 or more`));
    }
    expect(existsSync(join(cwd, 'demo-data'))).toBe(false);
  });
});
