import { DEFAULT_CONFIG_PATH, loadConfigFile } from '../../config/index.js';
import { output, printFields } from '../output.js';

export async function check(opts: Record<string, unknown>, args: string[]): Promise<void> {
  const file = args[0] ?? DEFAULT_CONFIG_PATH.pathname;
  const config = loadConfigFile(file);
  const summary = {
    file,
    providers: config.providers.map((p) => p.name),
    models: config.models.map((m) => m.name),
    teams: config.teams.map((t) => t.name),
    profiles: config.profiles.map((p) => p.name),
    agents: config.agents.map((a) => a.name),
  };
  output(opts, { valid: true, ...summary }, () => {
    process.stdout.write(`${file}: valid\n`);
    printFields(Object.entries(summary).slice(1).map(([k, v]) => [k, (v as string[]).join(', ') || '-']));
  });
}
