// docs/reference/cli.md, from the commander program that parses the command line (src/cli/main.ts).
import type { Command, Option } from 'commander';
import { program } from '../../src/cli/main.js';
import { cell } from './schema-table.js';

export const CLI_REFERENCE = 'docs/reference/cli.md';

const fullName = (cmd: Command): string => (cmd.parent ? `${fullName(cmd.parent)} ${cmd.name()}` : cmd.name());

function optionRow(o: Option): string {
  const notes = [
    o.mandatory ? 'required' : '',
    o.defaultValue !== undefined && o.defaultValue !== false && !(Array.isArray(o.defaultValue) && o.defaultValue.length === 0) ? `default \`${String(o.defaultValue)}\`` : '',
    o.envVar ? `env \`${o.envVar}\`` : '',
    o.variadic || Array.isArray(o.defaultValue) ? 'repeatable' : '',
  ].filter(Boolean);
  return `| \`${o.flags}\` | ${cell(o.description)} | ${notes.join('; ')} |`;
}

function commandSection(cmd: Command): string[] {
  const args = cmd.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`));
  const options = cmd.options.filter((o) => !o.hidden);
  const out = [`## \`${fullName(cmd)}\``, ''];
  if (cmd.aliases().length) out.push(`Alias: ${cmd.aliases().map((a) => `\`${a}\``).join(', ')}.`, '');
  out.push(`${cmd.description()}${cmd.description().endsWith('.') ? '' : '.'}`, '');
  out.push('```', [fullName(cmd), options.length ? '[options]' : '', ...args].filter(Boolean).join(' '), '```', '');
  const rows = [
    ...cmd.registeredArguments.map((a) => `| \`${a.required ? `<${a.name()}>` : `[${a.name()}]`}\` | ${cell(a.description)} | ${a.required ? 'required' : ''} |`),
    ...options.map(optionRow),
  ];
  if (rows.length) out.push('| argument or option | meaning | notes |', '| --- | --- | --- |', ...rows, '');
  return out;
}

/** Every runnable command, depth first in declaration order (groups only name their members). */
function sections(cmd: Command): string[] {
  const out: string[] = [];
  for (const sub of cmd.commands) {
    if (sub.commands.length === 0) {
      out.push(...commandSection(sub));
      continue;
    }
    const members = sub.commands.map((c) => `\`${c.name()}\`${(sub as Command & { _defaultCommandName?: string })._defaultCommandName === c.name() ? ' (the default)' : ''}`);
    out.push(`## \`${fullName(sub)}\``, '', `${sub.description()}: ${members.join(', ')}.`, '');
    out.push(...sections(sub));
  }
  return out;
}

export function cliReference(): string {
  const globals = program.options.filter((o) => !o.hidden);
  return [
    '# CLI reference',
    '',
    '<!-- Generated from src/cli/main.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Every `tollgate` command, generated from the program that parses the command line — the guide,',
    'with what each command prints and how they fit together, is [docs/cli.md](../cli.md).',
    '`tollgate help <command>` (or `--help`) prints the same from the installed version.',
    '',
    '## Global options',
    '',
    'Accepted by every command (before or after the command name).',
    '',
    '| option | meaning | notes |',
    '| --- | --- | --- |',
    ...globals.map(optionRow),
    '',
    ...sections(program),
  ].join('\n');
}
