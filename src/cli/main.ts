#!/usr/bin/env node
// The `tollgate` command line. Every command is declared here; each runs from its own file,
// loaded only when used. One place (run) turns errors into messages and exit codes.
import { Command, Option } from 'commander';
import { VERSION } from '../version.js';
import { CliError } from './client.js';

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

const program = new Command('tollgate')
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
  .option('-p, --port <n>', 'port to listen on')
  .option('-H, --host <host>', 'address to listen on')
  .action(run(async () => (await import('./commands/serve.js')).serve));

program
  .command('simulate')
  .description('run the simulated model provider on its own (OpenAI and Anthropic wire formats)')
  .option('-p, --port <n>', 'port', '9090')
  .option('-H, --host <host>', 'address', '127.0.0.1')
  .option('--latency-ms <n>', 'delay before the first byte', '0')
  .option('--tokens-per-second <n>', 'stream pacing (0 = as fast as possible)', '0')
  .option('--failure-rate <x>', 'share of requests answered 500', '0')
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
team.command('create').argument('<name>').option('--owner <email>').action(run(async () => (await import('./commands/team.js')).create));
team.command('list').action(run(async () => (await import('./commands/team.js')).list));
team.command('show').argument('<id-or-name>').action(run(async () => (await import('./commands/team.js')).show));

const profile = program.command('profile').description('mission profiles (what a kind of agent may use)');
profile
  .command('create')
  .argument('<name>')
  .requiredOption('--models <list>', 'comma-separated model names')
  .option('--budget-usd <x>', 'default session budget in USD')
  .option('--budget-tokens <n>', 'default session budget in tokens')
  .option('--max-budget-usd <x>', 'largest session budget in USD')
  .option('--max-budget-tokens <n>', 'largest session budget in tokens')
  .option('--ttl <seconds>', 'default session TTL')
  .option('--max-ttl <seconds>', 'largest session TTL')
  .action(run(async () => (await import('./commands/profile.js')).create));
profile.command('list').action(run(async () => (await import('./commands/profile.js')).list));
profile.command('show').argument('<id-or-name>').action(run(async () => (await import('./commands/profile.js')).show));

const agent = program.command('agent').description('agents (one identity each)');
agent
  .command('create')
  .argument('<name>')
  .requiredOption('--team <team>')
  .requiredOption('--profile <profile>')
  .option('--owner <email>', 'accountable human')
  .option('--environment <env>', 'dev, staging, prod…', 'dev')
  .action(run(async () => (await import('./commands/agent.js')).create));
agent.command('list').option('--team <team>').action(run(async () => (await import('./commands/agent.js')).list));
agent.command('show').argument('<id-or-name>').action(run(async () => (await import('./commands/agent.js')).show));

const session = program.command('session').description('sessions (one task, one budget, one token)');
session
  .command('start')
  .requiredOption('--agent <agent>', 'agent id or name')
  .requiredOption('--task <task>', 'what the session is for')
  .option('--budget-usd <x>')
  .option('--budget-tokens <n>')
  .option('--ttl <seconds>')
  .option('--models <list>', 'comma-separated subset of the profile\'s models')
  .option('--context <json>', 'request context as a JSON object')
  .option('--env', 'print shell exports of TOLLGATE_SESSION and TOLLGATE_TOKEN (for eval)')
  .action(run(async () => (await import('./commands/session.js')).start));
session
  .command('show')
  .argument('[id]', 'session id (default: $TOLLGATE_SESSION)')
  .action(run(async () => (await import('./commands/session.js')).show));
session
  .command('list')
  .option('--agent <agent>')
  .option('--team <team>')
  .option('--status <status>')
  .option('--limit <n>')
  .action(run(async () => (await import('./commands/session.js')).list));

program
  .command('usage')
  .description('spend lines, newest first')
  .option('--session <id>')
  .option('--agent <agent>')
  .option('--team <team>')
  .option('--limit <n>', 'how many', '20')
  .action(run(async () => (await import('./commands/usage.js')).usage));

program
  .command('models')
  .description('models agents may be granted, with prices')
  .action(run(async () => (await import('./commands/usage.js')).models));

await program.parseAsync(process.argv);
