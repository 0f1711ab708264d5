// Reads and validates the configuration file. Every problem is reported with the key path and
// the line it sits on, all at once, so an operator fixes a file in one pass.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import type { z } from 'zod';
import { isPattern, scopeProblems } from '../policy/scope.js';
import { providerApis } from '../providers/registry.js';
import { configSchema, type Config } from './schema.js';

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`invalid configuration in ${source}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type PathKey = string | number;

function formatPath(path: readonly PathKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out === '' ? key : `.${key}`;
  return out === '' ? '(top level)' : out;
}

/** The 1-based line of the node at `path`, or of its nearest ancestor present in the file. */
function lineOf(doc: Document, counter: LineCounter, path: readonly PathKey[]): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node: unknown = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    if (isNode(node) && node.range) return counter.linePos(node.range[0]).line;
  }
  return undefined;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return issue.message;
}

/** Cross-references the schema cannot express: names that must exist, names that must be unique. */
function crossCheck(config: Config): { path: PathKey[]; message: string }[] {
  const problems: { path: PathKey[]; message: string }[] = [];
  const unique = (kind: 'providers' | 'models' | 'teams' | 'profiles' | 'agents' | 'mcp_servers') => {
    const seen = new Set<string>();
    config[kind].forEach((item, i) => {
      if (seen.has(item.name)) problems.push({ path: [kind, i, 'name'], message: `duplicate name "${item.name}"` });
      seen.add(item.name);
    });
    return seen;
  };
  const providers = unique('providers');
  const models = unique('models');
  const teams = unique('teams');
  const profiles = unique('profiles');
  unique('agents');
  unique('mcp_servers');
  config.providers.forEach((p, i) => {
    if (p.type !== 'simulated' && !p.base_url) problems.push({ path: ['providers', i], message: `provider "${p.name}" of type ${p.type} needs base_url` });
    if (p.type === 'simulated' && p.base_url) problems.push({ path: ['providers', i, 'base_url'], message: 'a simulated provider runs inside the gateway and takes no base_url' });
    if (p.type !== 'simulated' && p.simulated) problems.push({ path: ['providers', i, 'simulated'], message: 'simulated options only apply to type: simulated' });
    if (p.type === 'azure_openai' && !p.api_version) problems.push({ path: ['providers', i], message: `provider "${p.name}" of type azure_openai needs api_version (e.g. 2024-10-21)` });
    if (p.type !== 'azure_openai' && p.api_version) problems.push({ path: ['providers', i, 'api_version'], message: 'api_version only applies to type: azure_openai' });
  });
  const providerType = new Map(config.providers.map((p) => [p.name, p.type]));
  const modelProvider = new Map(config.models.map((m) => [m.name, m.provider]));
  config.models.forEach((m, i) => {
    if (!providers.has(m.provider)) problems.push({ path: ['models', i, 'provider'], message: `unknown provider "${m.provider}"` });
    m.fallbacks.forEach((f, j) => {
      if (!models.has(f)) problems.push({ path: ['models', i, 'fallbacks', j], message: `unknown model "${f}"` });
      else if (f === m.name) problems.push({ path: ['models', i, 'fallbacks', j], message: 'a model cannot be its own fallback' });
      else {
        // A fallback is only tried for a call on an API its provider serves too.
        const own = providerType.get(m.provider);
        const theirs = providerType.get(modelProvider.get(f)!);
        if (own && theirs && !providerApis(own).some((api) => providerApis(theirs).includes(api))) {
          problems.push({ path: ['models', i, 'fallbacks', j], message: `"${f}" (provider ${modelProvider.get(f)}, ${theirs}) serves none of the APIs of "${m.name}" (${providerApis(own).join(', ')}): it would never be tried` });
        }
      }
    });
  });
  config.profiles.forEach((p, i) => {
    p.models.forEach((m, j) => {
      if (!isPattern(m) && !models.has(m)) problems.push({ path: ['profiles', i, 'models', j], message: `unknown model "${m}"` });
    });
    for (const key of ['models', 'tools', 'resources', 'prompts', 'tool_approvals'] as const) {
      p[key].forEach((entry, j) => {
        for (const message of scopeProblems([entry])) problems.push({ path: ['profiles', i, key, j], message });
      });
    }
    const { default: def, max } = p.session_ttl_seconds;
    if (def > max) problems.push({ path: ['profiles', i, 'session_ttl_seconds', 'default'], message: `default (${def}) is above max (${max})` });
    // As the admin API refuses it: a default no session could be given.
    for (const unit of ['usd', 'tokens'] as const) {
      const [budgetDefault, budgetMax] = [p.session_budget.default?.[unit], p.session_budget.max?.[unit]];
      if (budgetDefault !== undefined && budgetMax !== undefined && budgetDefault > budgetMax) {
        problems.push({ path: ['profiles', i, 'session_budget', 'default', unit], message: `default (${budgetDefault}) is above max (${budgetMax})` });
      }
    }
  });
  const agents = new Set(config.agents.map((a) => a.name));
  config.federation.issuers.forEach((f, i) => {
    f.subjects.forEach((rule, j) => {
      if (!agents.has(rule.agent)) problems.push({ path: ['federation', 'issuers', i, 'subjects', j, 'agent'], message: `unknown agent "${rule.agent}" (declare it under agents)` });
    });
  });
  config.agents.forEach((a, i) => {
    if (!teams.has(a.team)) problems.push({ path: ['agents', i, 'team'], message: `unknown team "${a.team}"` });
    if (!profiles.has(a.profile)) problems.push({ path: ['agents', i, 'profile'], message: `unknown profile "${a.profile}"` });
  });
  return problems;
}

/** Parses and validates configuration text; `source` names it in error messages. */
export function parseConfig(text: string, source = 'config'): Config {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(source, doc.errors.map((e) => `line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`));
  }
  let raw: unknown;
  try {
    // Aliases resolve here: an undefined one, or an alias bomb (past the library's alias count
    // limit), throws — reported like any other problem in the file.
    raw = doc.toJS() ?? {};
  } catch (err) {
    throw new ConfigError(source, [(err as Error).message]);
  }
  const result = configSchema.safeParse(raw);
  const at = (path: readonly PathKey[], message: string) => {
    const line = lineOf(doc, counter, path);
    return `${formatPath(path)}${line ? ` (line ${line})` : ''}: ${message}`;
  };
  if (!result.success) {
    throw new ConfigError(source, result.error.issues.map((issue) => at(issue.path as PathKey[], describeIssue(issue))));
  }
  const problems = crossCheck(result.data);
  if (problems.length > 0) throw new ConfigError(source, problems.map((p) => at(p.path, p.message)));
  return result.data;
}

/** Loads the configuration file at `path`, resolving `data_dir` against the file's directory. */
export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [`cannot read the file: ${(err as Error).message}`]);
  }
  return parseConfig(text, path);
}

/** `data_dir` made absolute (relative to the current directory). */
export function resolveDataDir(config: Config, cwd = process.cwd()): string {
  return isAbsolute(config.data_dir) ? config.data_dir : resolve(cwd, config.data_dir);
}
