// JSON Schema (as zod's toJSONSchema writes it) → reference tables: one row per key, with its
// type, default and meaning. Shared by the configuration and admin API references.

/** The part of JSON Schema (draft 2020-12) that zod emits for our schemas. */
export interface JsonSchema {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  anyOf?: JsonSchema[];
}

export interface Row {
  /** Dotted path: `[]` for a list's items, `<name>` for a map's values. */
  key: string;
  type: string;
  /** The default as written in YAML/JSON, `required`, or empty. */
  default: string;
  description: string;
  /** A container (object, list of objects, map of objects) whose keys follow as their own rows. */
  container: boolean;
}

const isObject = (s: JsonSchema | undefined): s is JsonSchema & { properties: Record<string, JsonSchema> } => s?.properties !== undefined;
const mapValues = (s: JsonSchema): JsonSchema | undefined => (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined);

/** Flattens an object schema into rows, depth first, in declaration order. */
export function schemaRows(schema: JsonSchema, prefix = ''): Row[] {
  const rows: Row[] = [];
  const required = new Set(schema.required ?? []);
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const key = prefix ? `${prefix}.${name}` : name;
    const nested = isObject(prop) ? { schema: prop, prefix: key }
      : isObject(prop.items) ? { schema: prop.items, prefix: `${key}[]` }
      : isObject(mapValues(prop)) ? { schema: mapValues(prop)!, prefix: `${key}.<name>` }
      : undefined;
    rows.push({
      key,
      type: typeName(prop),
      default: required.has(name) ? 'required' : nested ? '' : value(prop.default),
      description: prop.description ?? '',
      container: nested !== undefined,
    });
    if (nested) rows.push(...schemaRows(nested.schema, nested.prefix));
  }
  return rows;
}

const PLURAL: Record<string, string> = { string: 'strings', object: 'objects', boolean: 'booleans', integer: 'integers', number: 'numbers', URL: 'URLs' };

/** A short, readable type: `integer ≥ 0`, `one of a, b`, `list of string`, `URL`. */
export function typeName(s: JsonSchema): string {
  if (s.anyOf) return s.anyOf.map(typeName).join(' or ');
  if (s.enum) return `one of ${s.enum.map((v) => `\`${String(v)}\``).join(', ')}`;
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  switch (s.type) {
    case 'string':
      return s.format === 'uri' ? 'URL' : 'string';
    case 'integer':
    case 'number':
      return [s.type, bounds(s)].filter(Boolean).join(' ');
    case 'boolean':
      return 'boolean';
    case 'array':
      if (s.items?.enum) return `list of: ${s.items.enum.map((v) => `\`${String(v)}\``).join(', ')}`;
      if (!s.items) return 'list';
      return `list of ${isObject(s.items) ? 'objects' : (PLURAL[typeName(s.items)] ?? typeName(s.items))}`;
    case 'object': {
      if (isObject(s)) return 'object';
      const values = mapValues(s);
      if (values === undefined || Object.keys(values).length === 0) return 'object';
      return `map of name → ${isObject(values) ? 'object' : typeName(values)}`;
    }
    default:
      return 'any';
  }
}

function bounds(s: JsonSchema): string {
  // zod's int() adds the safe-integer range, which says nothing to a reader.
  const max = s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER ? s.maximum : undefined;
  if (s.minimum !== undefined && max !== undefined) return `${s.minimum}–${max}`;
  const parts = [
    s.minimum !== undefined && s.minimum > Number.MIN_SAFE_INTEGER ? `≥ ${s.minimum}` : '',
    s.exclusiveMinimum !== undefined ? `> ${s.exclusiveMinimum}` : '',
    max !== undefined ? `≤ ${max}` : '',
    s.exclusiveMaximum !== undefined ? `< ${s.exclusiveMaximum}` : '',
  ];
  return parts.filter(Boolean).join(', ');
}

/** A default as one would write it in the YAML file: `8080`, `[notify]`, `{}`. */
function value(v: unknown): string {
  if (v === undefined) return '';
  return `\`${flow(v)}\``;
}

function flow(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(flow).join(', ')}]`;
  if (v !== null && typeof v === 'object') return Object.keys(v).length === 0 ? '{}' : JSON.stringify(v);
  return String(v);
}

/** A cell's text: no line breaks, and `|` escaped so it does not end the cell (GFM). */
export function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');
}

/** Rows as a Markdown table; `keyColumn` names the first column. */
export function table(rows: readonly Row[], keyColumn: string): string {
  const lines = [`| ${keyColumn} | type | default | meaning |`, '| --- | --- | --- | --- |'];
  for (const r of rows) lines.push(`| \`${r.key}\` | ${cell(r.type)} | ${r.default === 'required' ? '**required**' : cell(r.default)} | ${cell(r.description)} |`);
  return lines.join('\n');
}
