import { dirname, isAbsolute, resolve } from 'node:path';
import { DEFAULT_CONFIG_PATH, loadConfigFile } from '../../config/index.js';
import { readPolicySources } from '../../policy/index.js';
import { output, printFields } from '../output.js';

export async function check(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const file = args[0] ?? DEFAULT_CONFIG_PATH.pathname;
  const config = loadConfigFile(file);
  // Policies are checked as the gateway would load them: parsed and validated against the schema.
  const policies = readPolicySources({ defaults: config.policy.defaults, files: config.policy.files.map((f) => (isAbsolute(f) ? f : resolve(dirname(file), f))) });
  const summary = {
    file,
    providers: config.providers.map((p) => p.name),
    models: config.models.map((m) => m.name),
    teams: config.teams.map((t) => t.name),
    profiles: config.profiles.map((p) => p.name),
    agents: config.agents.map((a) => a.name),
    mcp_servers: config.mcp_servers.map((m) => m.name),
    policies: policies.map((p) => p.id),
  };
  output(opts, { valid: true, ...summary }, () => {
    process.stdout.write(`${file}: valid\n`);
    printFields(Object.entries(summary).slice(1).map(([k, v]) => [k, (v as string[]).join(', ') || '-']));
  });
}
