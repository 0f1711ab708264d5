#!/usr/bin/env node
// The `tollgate` command line. Every command is declared here; each runs from its own file,
// loaded only when used. One place (run) turns errors into messages and exit codes.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { VERSION } from '../version.js';
import { CliError } from './client.js';
import { tuneV8ForServing } from './v8-tuning.js';

type Loader = () => Promise<(opts: Record<string, unknown>, args: string[], cmd: Command) => Promise<void>>;

function run(load: Loader) {
  return async (...received: unknown[]) => {
    const cmd = received[received.length - 1] as Command;
    const args = cmd.args;
    try {
      const action = await load();
      await action(cmd.optsWithGlobals(), args, cmd);
    } catch (err) {
      if (err instanceof CliError) {
        process.stderr.write(`error: ${err.message}\n`);
        process.exitCode = err.exitCode;
      } else {
        process.stderr.write(`error: ${(err as Error).message ?? String(err)}\n`);
        process.exitCode = 1;
      }
    }
  };
}

/**
 * A parser of an option's value as a number from `min` to `max` (an integer when `integer`),
 * checked as the options are read, before the command starts anything; commander reports a
 * value out of range as `error: option '-p, --port <n>' argument '99999' is invalid. --port must …`.
 */
function numberIn(flag: string, min: number, max: number, integer = false) {
  const range = `${integer ? 'an integer' : 'a number'} from ${min} to ${max}`;
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be ${range}.`);
    return n;
  };
}

/** A non-negative number with no upper bound (a delay, a rate). */
function nonNegative(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${flag} must be a number, 0 or more.`);
    return n;
  };
}

/** A port to listen on (0: any free one). */
const port = numberIn('--port', 0, 65535, true);

export const program = new Command('tollgate')
  .description('Identity-bound gateway for AI agents')
  .version(VERSION)
  .addOption(new Option('--url <url>', 'gateway URL for admin commands').env('TOLLGATE_URL').default('http://127.0.0.1:8080'))
  .addOption(new Option('--admin-token <token>', 'admin token (default: TOLLGATE_ADMIN_TOKEN, then <data-dir>/admin-token)'))
  .addOption(new Option('--data-dir <dir>', 'data directory').env('TOLLGATE_DATA_DIR'))
  .option('--json', 'print JSON for scripts');

program
  .command('serve')
  .description('start the gateway (default: embedded SQLite and the simulated provider)')
  .option('-c, --config <file>', 'configuration file (YAML)')
  .option('-p, --port <n>', 'port to listen on (0–65535; 0: any free port)', port)
  .option('-H, --host <host>', 'address to listen on')
  .action(run(async () => {
    tuneV8ForServing();
    return (await import('./commands/serve.js')).serve;
  }));

program
  .command('migrate')
  .description('apply pending store migrations and exit (serve applies them too; safe while other replicas start)')
  .option('-c, --config <file>', 'configuration file (YAML)')
  .action(run(async () => (await import('./commands/migrate.js')).migrate));

program
  .command('simulate')
  .description('run the simulated model provider on its own (OpenAI and Anthropic wire formats)')
  .option('-p, --port <n>', 'port', port, 9090)
  .option('-H, --host <host>', 'address', '127.0.0.1')
  .option('--latency-ms <n>', 'delay before the first byte', nonNegative('--latency-ms'), 0)
  .option('--tokens-per-second <n>', 'stream pacing (0 = as fast as possible)', nonNegative('--tokens-per-second'), 0)
  .option('--failure-rate <x>', 'share of requests answered 500, from 0 to 1', numberIn('--failure-rate', 0, 1), 0)
  .option('--api-key <key>', 'require this key on every request')
  .action(run(async () => (await import('./commands/simulate.js')).simulate));

program
  .command('config')
  .description('configuration file tools')
  .command('check')
  .argument('[file]', 'configuration file (default: the shipped default)')
  .description('validate a configuration file and print what it declares')
  .action(run(async () => (await import('./commands/config.js')).check));

const team = program.command('team').description('teams (who pays)');
team.command('create').description('create a team').argument('<name>', 'the team\'s unique name').option('--owner <email>', 'accountable human').action(run(async () => (await import('./commands/team.js')).create));
team.command('list').description('list teams').action(run(async () => (await import('./commands/team.js')).list));
team.command('show').description('one team').argument('<id-or-name>', 'team id or name').action(run(async () => (await import('./commands/team.js')).show));
for (const [name, what] of [
  ['suspend', 'refuse the calls of the team\'s agents (and cut those in flight), and their session and token requests, until resumed'],
  ['resume', 'lift a suspension'],
] as const) {
  team
    .command(name)
    .description(what)
    .argument('<team>', 'team id or name')
    .option('--reason <text>', 'why (kept in the audit log)')
    .action(run(async () => (await import('./commands/team.js'))[name]));
}

const profile = program.command('profile').description('mission profiles (what a kind of agent may use)');
profile
  .command('create')
  .description('create a profile')
  .argument('<name>', 'the profile\'s unique name')
  .requiredOption('--models <list>', 'comma-separated model names')
  .option('--budget-usd <x>', 'default session budget in USD')
  .option('--budget-tokens <n>', 'default session budget in tokens')
  .option('--max-budget-usd <x>', 'largest session budget in USD')
  .option('--max-budget-tokens <n>', 'largest session budget in tokens')
  .option('--ttl <seconds>', 'default session TTL')
  .option('--max-ttl <seconds>', 'largest session TTL')
  .action(run(async () => (await import('./commands/profile.js')).create));
profile.command('list').description('list profiles').action(run(async () => (await import('./commands/profile.js')).list));
profile.command('show').description('one profile').argument('<id-or-name>', 'profile id or name').action(run(async () => (await import('./commands/profile.js')).show));

const agent = program.command('agent').description('agents (one identity each)');
agent
  .command('create')
  .description('create an agent')
  .argument('<name>', 'the agent\'s unique name')
  .requiredOption('--team <team>', 'the team that pays (id or name)')
  .requiredOption('--profile <profile>', 'its mission profile (id or name)')
  .option('--owner <email>', 'accountable human')
  .option('--environment <env>', 'dev, staging, prod…', 'dev')
  .action(run(async () => (await import('./commands/agent.js')).create));
agent.command('list').description('list agents').option('--team <team>', 'only this team\'s (id or name)').action(run(async () => (await import('./commands/agent.js')).list));
agent.command('show').description('one agent').argument('<id-or-name>', 'agent id or name').action(run(async () => (await import('./commands/agent.js')).show));
for (const [name, what] of [
  ['suspend', 'refuse the agent\'s calls and token requests until resumed'],
  ['resume', 'lift a suspension'],
  ['revoke', 'revoke the agent for good and end all its sessions'],
] as const) {
  agent
    .command(name)
    .description(what)
    .argument('<agent>', 'agent id or name')
    .option('--reason <text>', 'why (kept in the audit log)')
    .action(run(async () => (await import('./commands/agent.js'))[name]));
}
const secret = agent.command('secret').description('client secrets (an agent\'s own credentials for `token get`)');
secret
  .command('create')
  .description('issue a client secret (shown only once)')
  .argument('<agent>', 'agent id or name')
  .option('--expires-in <seconds>', 'expire the secret after this long (default: never)')
  .action(run(async () => (await import('./commands/agent.js')).secretCreate));
secret
  .command('list')
  .description('the agent\'s secrets: status, expiry, last use (never the secrets)')
  .argument('<agent>', 'agent id or name')
  .action(run(async () => (await import('./commands/agent.js')).secretList));
secret
  .command('revoke')
  .description('revoke one secret (the agent\'s others keep working; sessions it opened too, unless --end-sessions)')
  .argument('<agent>', 'agent id or name')
  .argument('<secret-id>', 'the secret\'s id (cred_…)')
  .option('--reason <text>', 'why (kept in the audit log)')
  .option('--end-sessions', 'after a leak: also end every live session of the agent, which the secret may have opened')
  .action(run(async () => (await import('./commands/agent.js')).secretRevoke));

const session = program.command('session').description('sessions (one task, one budget, one token)');
session
  .command('start')
  .description('open a session and print its token')
  .requiredOption('--agent <agent>', 'agent id or name')
  .requiredOption('--task <task>', 'what the session is for')
  .option('--budget-usd <x>', 'session budget in USD (default: the profile\'s)')
  .option('--budget-tokens <n>', 'session budget in tokens (default: the profile\'s)')
  .option('--ttl <seconds>', 'session lifetime (default: the profile\'s)')
  .option('--models <list>', 'comma-separated subset of the profile\'s models')
  .option('--context <json>', 'request context as a JSON object')
  .option('--tag <key=value>', 'a session tag (cost center, ticket, customer…); repeatable', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--env', 'print shell exports of TOLLGATE_SESSION and TOLLGATE_TOKEN (for eval)')
  .action(run(async () => (await import('./commands/session.js')).start));
session
  .command('show')
  .description('a session: status, budget, spend')
  .argument('[id]', 'session id (default: $TOLLGATE_SESSION)')
  .action(run(async () => (await import('./commands/session.js')).show));
session
  .command('list')
  .description('list sessions, newest first')
  .option('--agent <agent>', 'agent id or name')
  .option('--team <team>', 'team id or name')
  .option('--status <status>', 'active, suspended, closed or revoked')
  .option('--limit <n>', 'how many (default 100)')
  .action(run(async () => (await import('./commands/session.js')).list));
session
  .command('close')
  .description('close a session (task done): its subtree ends and unused budget returns to the parent')
  .argument('<id>', 'session id')
  .option('--reason <text>', 'why (kept in the audit log)')
  .action(run(async () => (await import('./commands/session.js')).close));
session
  .command('revoke')
  .description('revoke a session and every session delegated from it')
  .argument('<id>', 'session id')
  .option('--reason <text>', 'why (kept in the audit log)')
  .action(run(async () => (await import('./commands/session.js')).revoke));
session
  .command('tree')
  .description('the delegation tree under a session, with each node\'s spend')
  .argument('[id]', 'session id (default: $TOLLGATE_SESSION)')
  .action(run(async () => (await import('./commands/session.js')).tree));
session
  .command('renew')
  .description('renew a session: more time (from now; never sooner than it ends now) and/or more budget (added)')
  .argument('[id]', 'session id (default: $TOLLGATE_SESSION)')
  .option('--ttl <seconds>', 'new time to live, from now')
  .option('--add-usd <x>', 'budget to add, in USD')
  .option('--add-tokens <n>', 'budget to add, in tokens')
  .option('--reason <text>', 'why (kept in the audit log)')
  .action(run(async () => (await import('./commands/session.js')).renew));

session
  .command('suspend')
  .description('suspend a session and its subtree: calls get 403 until its resume approval is approved')
  .argument('<id>', 'session id')
  .option('--reason <text>', 'why (kept in the audit log)')
  .action(run(async () => (await import('./commands/session.js')).suspend));
session
  .command('resume')
  .description('resume a suspended session (approves its pending resume approval)')
  .argument('<id>', 'session id')
  .option('--reason <text>', 'why (kept in the audit log)')
  .action(run(async () => (await import('./commands/session.js')).resume));

program
  .command('demo')
  .description('start the gateway with a demo organisation and drive a minute of realistic traffic (docs/demo.md)')
  .option('--port <n>', 'port to serve on', port, 8080)
  .option('--duration <seconds>', 'how long to drive traffic', nonNegative('--duration'), 60)
  .option('--data-dir <dir>', 'where the demo keeps its data', '.tollgate-demo')
  .option('--auto-approve-after <seconds>', 'approve the support agent\'s step-up after this long if no human did', nonNegative('--auto-approve-after'), 10)
  .option('--no-auto-approve', 'never approve the support agent\'s step-up yourself: leave it to a human')
  .option('--exit', 'stop when the workload ends (default: keep serving until Ctrl-C)')
  .action(run(async () => {
    tuneV8ForServing();
    return (await import('./commands/demo.js')).demo;
  }));

const alerts = program.command('alerts').description('alerts raised by the detectors (docs/detection.md)');
alerts
  .command('list', { isDefault: true })
  .description('alerts, most recently updated first (default: open ones)')
  .option('--status <status>', 'open, acknowledged or resolved')
  .option('--all', 'every status')
  .option('--severity <severity>', 'info, warning or critical')
  .option('--detector <name>', 'spend_spike, retry_loop, tool_deviation, out_of_task, credential_misuse, delegation')
  .option('--agent <id-or-name>', 'only this agent\'s')
  .option('--session <id>', 'only this session\'s')
  .option('--since <time>', 'updated at or after (ISO 8601 or epoch ms)')
  .option('--limit <n>', 'how many (default 100)')
  .action(run(async () => (await import('./commands/alerts.js')).list));
alerts.command('show').argument('<id>', 'alert id (alr_…)').description('one alert: evidence, triage verdict, actions').action(run(async () => (await import('./commands/alerts.js')).show));
alerts.command('ack').alias('acknowledge').argument('<id>', 'alert id (alr_…)').option('--reason <text>', 'why (kept in the audit log)').description('take an alert (it stays unresolved)').action(run(async () => (await import('./commands/alerts.js')).acknowledge));
alerts.command('resolve').argument('<id>', 'alert id (alr_…)').option('--reason <text>', 'why (kept in the audit log)').description('close an alert (lifts a throttle it imposed)').action(run(async () => (await import('./commands/alerts.js')).resolve));

const approval = program.command('approval').description('step-up approvals for soft-mode sessions');
approval
  .command('list')
  .description('approvals, newest first (default: pending ones)')
  .option('--status <status>', 'pending, approved or denied', 'pending')
  .option('--session <id>', 'only this session\'s')
  .action(run(async () => (await import('./commands/approval.js')).list));
approval.command('show').description('one approval with its context').argument('<id>', 'approval id').action(run(async () => (await import('./commands/approval.js')).show));
approval
  .command('approve')
  .description('approve: lift the gate (budget), allow the call once (tool), or resume the session (resume)')
  .argument('<id>', 'approval id')
  .option('--add-usd <x>', 'extra budget for the session, in USD')
  .option('--add-tokens <n>', 'extra budget for the session, in tokens')
  .option('--reason <text>', 'why (kept in the audit log)')
  .action(run(async () => (await import('./commands/approval.js')).approve));
approval.command('deny').description('deny: the session\'s further calls (budget) or that exact call (tool) are refused; a suspended session (resume) is revoked').argument('<id>', 'approval id').option('--reason <text>', 'why (kept in the audit log)').action(run(async () => (await import('./commands/approval.js')).deny));

const token = program.command('token').description('session tokens from the token endpoint (no admin token needed), and revocation');
token
  .command('get')
  .description('open a session with an agent\'s client secret (OAuth client_credentials)')
  .addOption(new Option('--client-id <id>', 'the agent\'s id (agt_…)').env('TOLLGATE_CLIENT_ID').makeOptionMandatory())
  .addOption(new Option('--client-secret <secret>', 'a client secret from `agent secret create`').env('TOLLGATE_CLIENT_SECRET').makeOptionMandatory())
  .requiredOption('--task <task>', 'what the session is for')
  .option('--budget-usd <x>', 'session budget in USD (default: the profile\'s)')
  .option('--budget-tokens <n>', 'session budget in tokens (default: the profile\'s)')
  .option('--scope <models>', 'space-separated subset of the profile\'s models')
  .option('--ttl <seconds>', 'session lifetime (default: the profile\'s)')
  .option('--env', 'print shell exports of TOLLGATE_SESSION and TOLLGATE_TOKEN (for eval)')
  .action(run(async () => (await import('./commands/token.js')).get));
token
  .command('exchange')
  .description('exchange a token (RFC 8693): with --task, delegate a child session; without, refresh the same session')
  .addOption(new Option('--subject-token <token>', 'the token to exchange').env('TOLLGATE_TOKEN').makeOptionMandatory())
  .option('--subject-token-type <type>', 'access_token (a Tollgate session token) or jwt (a federated workload token)', 'access_token')
  .option('--task <task>', 'the child session\'s task (delegation)')
  .option('--agent <agent>', 'the child session\'s agent (default: the subject\'s)')
  .option('--budget-usd <x>', 'the child\'s budget in USD, carved from the parent\'s')
  .option('--budget-tokens <n>', 'the child\'s budget in tokens, carved from the parent\'s')
  .option('--scope <models>', 'space-separated subset of the parent\'s models')
  .option('--ttl <seconds>', 'the child\'s lifetime (never past the parent\'s end)')
  .option('--actor-token <token>', 'the delegated agent\'s own workload JWT, when its profile requires one')
  .option('--actor-token-type <type>', 'jwt or access_token (default: jwt)')
  .option('--env', 'print shell exports of TOLLGATE_SESSION and TOLLGATE_TOKEN (for eval)')
  .action(run(async () => (await import('./commands/token.js')).exchange));
token
  .command('revoke')
  .description('revoke one session token, by its id (the jti claim) or the token itself')
  .argument('<token>', 'the token\'s id (tok_…), or the token')
  .option('--reason <text>', 'why (kept in the audit log)')
  .action(run(async () => (await import('./commands/token.js')).revoke));

program
  .command('keys')
  .description('token signing keys')
  .command('rotate')
  .description('start signing with a new key; the old one verifies through the overlap window')
  .action(run(async () => (await import('./commands/keys.js')).rotate));

program
  .command('usage')
  .description('spend lines, newest first')
  .option('--session <id>', 'only this session\'s')
  .option('--agent <agent>', 'only this agent\'s (id or name)')
  .option('--team <team>', 'only this team\'s (id or name)')
  .option('--limit <n>', 'how many', '20')
  .action(run(async () => (await import('./commands/usage.js')).usage));

const audit = program.command('audit').description('the tamper-evident audit log');
audit
  .command('verify')
  .description('verify the audit chain and its signed checkpoints (exit 0: intact, 2: broken, naming the first broken event)')
  .option('--slice <n>', 'events verified per request (progress is shown between slices)', '50000')
  .action(run(async () => (await import('./commands/audit.js')).verify));
audit
  .command('acknowledge')
  .description('after looking into the break that stops checkpoints: anchor the chain again at it, so what follows is sealed (verify still reports it, as acknowledged)')
  .argument('<seq>', 'the broken event\'s seq, as `audit verify` names it')
  .requiredOption('--reason <text>', 'what was found, and why the chain may go on (kept in the checkpoint and the audit log)')
  .action(run(async () => (await import('./commands/audit.js')).acknowledge));
audit
  .command('search')
  .description('find audit events (newest first); --session ID --descendants: everything a task and its sub-agents did, in order')
  .option('--agent <agent>', 'agent id or name')
  .option('--session <id>', 'session id')
  .option('--descendants', 'with --session: also every session delegated from it')
  .option('--team <team>', 'team id or name')
  .option('--type <type>', 'event type, or a prefix ending in * (tool.*)')
  .option('--since <time>', 'from this time (ISO 8601 or epoch ms)')
  .option('--until <time>', 'before this time')
  .option('--order <order>', 'desc (newest first) or asc')
  .option('--limit <n>', 'how many', '50')
  .option('--cursor <cursor>', 'the next page (printed after a full page)')
  .action(run(async () => (await import('./commands/audit.js')).search));
audit
  .command('tail')
  .description('the latest audit events, oldest first; --follow prints new ones as they are written')
  .option('-f, --follow', 'keep printing new events (polls every second)')
  .option('-n, --lines <n>', 'how many recent events to start with', '20')
  .option('--agent <agent>', 'agent id or name')
  .option('--session <id>', 'session id')
  .option('--team <team>', 'team id or name')
  .option('--type <type>', 'event type, or a prefix ending in * (tool.*)')
  .option('--interval <seconds>', 'seconds between polls when following', '1')
  .action(run(async () => (await import('./commands/audit.js')).tail));

program
  .command('report')
  .description('chargeback reports')
  .command('spend')
  .description('spend summed per team (the root session\'s, with the executing team), agent, profile, session, model, day or tag:KEY')
  .option('--group-by <grouping>', 'team, agent, profile, session, model, day or tag:KEY', 'team')
  .option('--since <time>', 'from this time (ISO 8601 or epoch ms), inclusive')
  .option('--until <time>', 'to this time, exclusive')
  .option('--csv <file>', 'also write the report as CSV to this file')
  .action(run(async () => (await import('./commands/report.js')).spend));

const repeat = (v: string, all: string[]) => [...all, v];
program
  .command('review')
  .description('access review: findings (unused or reused secrets, idle or ownerless agents, unused grants) with remedies; --apply carries out revocations and suspensions')
  .option('--window-days <n>', 'judge grants by the calls of this many days (default: access_review.window_days)')
  .option('--unused-days <n>', 'unused this long is a finding (default: access_review.unused_days)')
  .option('--csv <file>', 'also write the review as CSV to this file')
  .option('--rows <rows>', 'CSV lines: agents (default) or findings')
  .option('--apply', 'apply the automatic remedies (revoke a secret, suspend an agent)')
  .option('--finding <id>', 'with --apply: only this finding; repeatable', repeat, [] as string[])
  .option('--min-severity <level>', 'with --apply and no --finding: apply findings at or above info, warning (default) or critical')
  .option('--sign-off', 'sign the review off (an audit event; the next review shows what changed since)')
  .option('--accept <id>', 'with --sign-off: accept this finding as it is; repeatable', repeat, [] as string[])
  .option('--note <text>', 'with --sign-off: a note kept with it')
  .option('--reason <text>', 'why (kept in the audit log with each revocation or suspension)')
  .action(run(async () => (await import('./commands/review.js')).review));

const operator = program.command('operator').description('named operators with roles (viewer, approver, operator, admin)');
operator
  .command('create')
  .description('create an operator; prints its token once')
  .argument('<name>', 'unique name (use the identifier agent owners are given, e.g. an e-mail)')
  .requiredOption('--role <role>', 'viewer, approver, operator or admin')
  .action(run(async () => (await import('./commands/operator.js')).create));
operator.command('list').description('list operators (never their tokens)').action(run(async () => (await import('./commands/operator.js')).list));
operator
  .command('disable')
  .description('disable an operator: its token stops working at once')
  .argument('<id-or-name>', 'operator id or name')
  .option('--reason <text>', 'why (kept in the audit log)')
  .action(run(async () => (await import('./commands/operator.js')).disable));
program.command('whoami').description('the operator the admin token belongs to, and its role').action(run(async () => (await import('./commands/operator.js')).whoami));

program
  .command('models')
  .description('models agents may be granted, with prices (USD per 1M tokens) and where each price comes from')
  .action(run(async () => (await import('./commands/usage.js')).models));

/** True when this file is the process's entry point (`npx tollgate` runs it through a symlink). */
function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === fileURLToPath(import.meta.url);
  } catch {
    return true; // an entry Node resolved by itself (`node dist/cli/main`): still the command
  }
}

// Imported (scripts/gen-docs.ts reads `program` for docs/reference/cli.md), it only declares.
if (isEntryPoint()) {
  // Output piped into a reader that stops early (`| head`): end quietly, as Unix tools do.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  });
  await program.parseAsync(process.argv);
}
