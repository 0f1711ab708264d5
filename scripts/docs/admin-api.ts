// docs/reference/admin-api.md, from the OpenAPI document the gateway serves at
// GET /admin/v1/openapi.json (built from the admin route table in src/server/admin.ts).
import { openApiDocument } from '../../src/server/index.js';
import { cell, schemaRows, table, typeName, type JsonSchema } from './schema-table.js';

export const ADMIN_API_REFERENCE = 'docs/reference/admin-api.md';

interface Parameter {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  description?: string;
  schema: JsonSchema;
}

interface Operation {
  summary: string;
  tags: string[];
  parameters?: Parameter[];
  requestBody?: { content: { 'application/json': { schema: JsonSchema } } };
  responses: Record<string, unknown>;
  'x-tollgate-role': string;
}

interface OpenApi {
  paths: Record<string, Record<string, Operation>>;
}

function operation(method: string, path: string, op: Operation): string {
  const status = Object.keys(op.responses).find((s) => s !== 'default') ?? '200';
  const out = [`### \`${method.toUpperCase()} ${path}\``, '', `${op.summary}. Answers ${status}. Role: \`${op['x-tollgate-role']}\`.`];
  if (op.parameters?.length) {
    out.push('', '| parameter | in | type | meaning |', '| --- | --- | --- | --- |');
    for (const p of op.parameters) {
      out.push(`| \`${p.name}\`${p.required ? ' (required)' : ''} | ${p.in} | ${cell(typeName(p.schema))} | ${cell(p.description ?? '')} |`);
    }
  }
  const body = op.requestBody?.content['application/json'].schema;
  if (body) {
    const rows = schemaRows(body);
    out.push('', rows.length ? `Body (JSON):\n\n${table(rows, 'field')}` : 'Body: `{}` (JSON).');
  }
  return out.join('\n');
}

export function adminApiReference(): string {
  // The version is left out so that the reference changes only when the API does.
  const doc = openApiDocument('') as OpenApi;
  const byTag = new Map<string, string[]>();
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = op.tags[0] ?? 'other';
      byTag.set(tag, [...(byTag.get(tag) ?? []), operation(method, path, op)]);
    }
  }
  return [
    '# Admin API reference',
    '',
    '<!-- Generated from the OpenAPI document (src/server/admin.ts) by `npm run docs`; do not edit by hand. -->',
    '',
    'Every operation of the admin API, generated from the OpenAPI 3.1 document the gateway serves at',
    '`GET /admin/v1/openapi.json` (no token needed) — the guide, with examples and the answers\' shapes,',
    'is [docs/api.md](../api.md#admin-api). Every operation takes `Authorization: Bearer <token>` — the',
    'bootstrap admin token or an operator\'s token — and needs the role it names ([operators](../operators.md));',
    'it answers JSON (a spend report and the access review may answer CSV); errors are',
    '`{ "error": { "code", "message", "param"? } }` ([errors](../errors.md)). `{id}` takes an id or,',
    'for teams, profiles and agents, a name. Bodies reject unknown fields.',
    '',
    ...[...byTag].flatMap(([tag, ops]) => [`## ${tag}`, '', ...ops.flatMap((o) => [o, ''])]),
  ].join('\n');
}
