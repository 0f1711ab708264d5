// Reading policy files: each file is parsed and validated against the schema on its own, so an
// error names the file, the line and the column, with Cedar's own message. Each policy gets a
// stable id — its `@id("…")` annotation, else `<file>:<line>` — which decisions report.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type * as CedarWasm from '@cedar-policy/cedar-wasm/nodejs';

// cedar-wasm's Node build is CommonJS (it loads its .wasm synchronously at require time).
export const cedar = createRequire(import.meta.url)('@cedar-policy/cedar-wasm/nodejs') as typeof CedarWasm;

export class PolicyLoadError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid policies:\n  ${problems.join('\n  ')}`);
    this.name = 'PolicyLoadError';
  }
}

export interface PolicySource {
  /** Shown in messages and used in default policy ids (a path, or a name like `<defaults>`). */
  name: string;
  text: string;
}

export interface LoadedPolicy {
  id: string;
  text: string;
  source: string;
  line: number;
  /** `@key("value")` annotations (e.g. approval, reason). */
  annotations: Record<string, string>;
}

type DetailedError = CedarWasm.DetailedError;

/** 1-based line and column of a character offset. */
function lineCol(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, offset));
  const line = before.split('\n').length;
  return { line, col: offset - before.lastIndexOf('\n') };
}

function describe(source: PolicySource, err: DetailedError, prefix = ''): string {
  const at = err.sourceLocations?.[0];
  const where = at ? (({ line, col }) => `${source.name}:${line}:${col}`)(lineCol(source.text, at.start)) : source.name;
  const label = at?.label ? ` (${at.label})` : '';
  const help = err.help ? ` — ${err.help}` : '';
  return `${where}: ${prefix}${err.message}${label}${help}`;
}

/** Reads, parses and validates policy sources; throws PolicyLoadError listing every problem. */
export function loadPolicies(sources: PolicySource[], schemaText: string): LoadedPolicy[] {
  const problems: string[] = [];
  const policies: LoadedPolicy[] = [];
  const seen = new Map<string, string>();
  for (const source of sources) {
    const parsed = cedar.checkParsePolicySet({ staticPolicies: source.text });
    if (parsed.type === 'failure') {
      problems.push(...parsed.errors.map((e) => describe(source, e)));
      continue;
    }
    const validated = cedar.validate({ schema: schemaText, policies: { staticPolicies: source.text }, validationSettings: { mode: 'strict' } });
    if (validated.type === 'failure') {
      problems.push(...validated.errors.map((e) => describe(source, e)));
      continue;
    }
    const parts = cedar.policySetTextToParts(source.text);
    if (parts.type === 'failure') {
      problems.push(...parts.errors.map((e) => describe(source, e)));
      continue;
    }
    if (validated.validationErrors.length > 0) {
      problems.push(...validationProblems(source, parts.policies, validated.validationErrors.map((v) => v.error)));
      continue;
    }
    if (parts.policy_templates.length > 0) problems.push(`${source.name}: templates are not supported; write static policies`);
    let from = 0;
    for (const text of parts.policies) {
      const offset = source.text.indexOf(text, from);
      from = offset >= 0 ? offset + text.length : from;
      const line = offset >= 0 ? lineCol(source.text, offset).line : 0;
      const json = cedar.policyToJson(text);
      const annotations = json.type === 'success' ? (json.json.annotations ?? {}) : {};
      const id = annotations.id ?? `${basename(source.name)}:${line}`;
      const clash = seen.get(id);
      if (clash) problems.push(`${source.name}:${line}: policy id "${id}" is already used at ${clash}`);
      seen.set(id, `${source.name}:${line}`);
      policies.push({ id, text, source: source.name, line, annotations });
    }
  }
  if (problems.length > 0) throw new PolicyLoadError(problems);
  return policies;
}

/**
 * Cedar's validation errors as an operator reads them: a policy named by its `@id` (Cedar calls
 * static policies `policy0`, `policy1`… in the order of the file), and one line for a problem
 * Cedar reports once per action it checked the policy for.
 */
function validationProblems(source: PolicySource, texts: string[], errors: DetailedError[]): string[] {
  const names = texts.map((text) => {
    const json = cedar.policyToJson(text);
    return json.type === 'success' ? json.json.annotations?.id : undefined;
  });
  const byProblem = new Map<string, string[]>();
  for (const err of errors) {
    const line = describe(source, err).replace(/for policy `policy(\d+)`/, (whole, n: string) => {
      const name = names[Number(n)];
      return name === undefined ? whole : `for policy \`${name}\``;
    });
    const action = /for Tollgate::Action::"([^"]+)"/.exec(line);
    const key = action ? line.replace(action[0], 'for Tollgate::Action::*') : line;
    const actions = byProblem.get(key) ?? [];
    if (action) actions.push(action[1]!);
    byProblem.set(key, actions);
  }
  return [...byProblem].map(([line, actions]) => (actions.length === 0 ? line : line.replace('for Tollgate::Action::*', actions.length === 1 ? `for Tollgate::Action::"${actions[0]}"` : `for the actions ${[...actions].sort().join(', ')}`)));
}

export function readPolicyFile(path: string): PolicySource {
  try {
    return { name: path, text: readFileSync(path, 'utf8') };
  } catch (err) {
    throw new PolicyLoadError([`${path}: cannot read the policy file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
}

/** Checks a schema text; throws PolicyLoadError with Cedar's message. */
export function checkSchema(schemaText: string, name: string): void {
  const parsed = cedar.checkParseSchema(schemaText);
  if (parsed.type === 'failure') throw new PolicyLoadError(parsed.errors.map((e) => describe({ name, text: schemaText }, e)));
}
