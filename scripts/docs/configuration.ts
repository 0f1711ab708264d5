// docs/reference/configuration.md, from the zod schema that validates the file (src/config/schema.ts):
// every key's type and default come from the schema itself, its meaning from its `.describe()`.
import { z } from 'zod';
import { configSchema } from '../../src/config/index.js';
import { schemaRows, table, type JsonSchema, type Row } from './schema-table.js';

export const CONFIG_REFERENCE = 'docs/reference/configuration.md';

/** The configuration file as JSON Schema: what the file may hold, defaults as the parser applies them. */
export function configJsonSchema(): JsonSchema {
  return z.toJSONSchema(configSchema, { io: 'input' }) as JsonSchema;
}

/** Every key of the file, depth first. */
export function configRows(): Row[] {
  return schemaRows(configJsonSchema());
}

export function configurationReference(): string {
  const schema = configJsonSchema();
  const sections = Object.entries(schema.properties ?? {}).map(([name, prop]) => {
    const rows = schemaRows({ properties: { [name]: prop }, required: schema.required?.includes(name) ? [name] : [] });
    // A section's own row would repeat its heading and introduction.
    const [own, ...keys] = rows;
    return [`## \`${name}\``, '', ...(own!.container ? [prop.description ?? '', '', table(keys, 'key')] : [table(rows, 'key')])].join('\n');
  });
  return [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Every key of the YAML file, generated from the schema that validates it — the guide, with',
    'examples, is [docs/configuration.md](../configuration.md). Unknown keys are errors.',
    '`a[].b` is key `b` of each item of list `a`; `a.<name>.b` is key `b` of each entry of map `a`.',
    'A default of `{}` means the object is filled from its own keys\' defaults; an empty default, that',
    'the key is unset unless given. Durations are in the unit their name says.',
    '',
    ...sections.flatMap((s) => [s, '']),
  ].join('\n');
}
