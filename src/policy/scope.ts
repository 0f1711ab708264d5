// Scopes: which models and tools a profile or session may use, as explicit names and globs.
//   gpt-4o-mini        exactly that name
//   gpt-4o*            `*` matches any run of characters (`/` included), `?` exactly one
//   notes/read_*       MCP tools are named `server/tool`
//   !notes/delete_*    a leading `!` denies; a deny wins over any allow in the same scope
// A scope of denies only allows everything else; an empty scope allows nothing.
// A scope allows a name when some allow pattern matches it and no deny pattern does. Matching is
// exact and case-sensitive: names are never normalised, so `GPT-4o` is not `gpt-4o`.
// A session's effective scope is a stack of layers (its profile's, its parents', its own
// narrowing): a name is in scope only when every layer allows it.

export type Scope = readonly string[];

interface Compiled {
  allow: string[];
  deny: string[];
}

/**
 * Wildcard match in linear time (no regular expressions: an agent chooses its own narrowing
 * globs, and a backtracking pattern like `*a*a*a*c` must not freeze the gateway). Greedy with a
 * single backtrack point, O(pattern × name) at worst.
 */
export function globMatch(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let star = -1;
  let mark = 0;
  while (n < name.length) {
    const c = pattern[p];
    if (c === '?' || (c !== undefined && c !== '*' && c === name[n])) {
      p++;
      n++;
    } else if (c === '*') {
      star = p++;
      mark = n;
    } else if (star >= 0) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

function compile(scope: Scope): Compiled {
  const allow: string[] = [];
  const deny: string[] = [];
  for (const p of scope) {
    if (p.startsWith('!')) deny.push(p.slice(1));
    else allow.push(p);
  }
  return { allow, deny };
}

const compiledScopes = new WeakMap<Scope, Compiled>();

function compiledScope(scope: Scope): Compiled {
  let c = compiledScopes.get(scope);
  if (!c) {
    c = compile(scope);
    compiledScopes.set(scope, c);
  }
  return c;
}

/** True when `scope` allows `name` (an allow pattern matches and no deny pattern does). */
export function inScope(scope: Scope, name: string): boolean {
  const c = compiledScope(scope);
  if (c.deny.some((p) => globMatch(p, name))) return false;
  // Only denies (`["!x"]`): everything else — so a narrowing layer can just take things away.
  if (c.allow.length === 0) return c.deny.length > 0;
  return c.allow.some((p) => globMatch(p, name));
}

/** True when every layer allows `name`. No layers: nothing is allowed. */
export function inLayers(layers: readonly Scope[], name: string): boolean {
  if (layers.length === 0) return false;
  return layers.every((layer) => inScope(layer, name));
}

export function isPattern(entry: string): boolean {
  return entry.startsWith('!') || /[*?]/.test(entry);
}

/** Most entries one scope may have, and the longest entry (bounds the work of every match). */
export const MAX_SCOPE_ENTRIES = 64;
export const MAX_SCOPE_ENTRY_LENGTH = 256;

/** Checks the syntax of scope entries; returns a message per bad entry. */
export function scopeProblems(scope: Scope): string[] {
  const problems: string[] = [];
  if (scope.length > MAX_SCOPE_ENTRIES) problems.push(`more than ${MAX_SCOPE_ENTRIES} entries`);
  for (const entry of scope) {
    const p = entry.startsWith('!') ? entry.slice(1) : entry;
    if (p.length === 0) problems.push(`"${entry}" is empty`);
    else if (entry.length > MAX_SCOPE_ENTRY_LENGTH) problems.push(`"${entry.slice(0, 40)}…" is longer than ${MAX_SCOPE_ENTRY_LENGTH} characters`);
    else if (/\s/.test(p) || [...p].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) problems.push(`"${entry}" contains whitespace or control characters`);
    else if (p.startsWith('!')) problems.push(`"${entry}" has more than one leading "!"`);
  }
  return problems;
}

/** The names of `candidates` that every layer allows (resolving globs against a known list). */
export function resolveNames(layers: readonly Scope[], candidates: Iterable<string>): string[] {
  const out: string[] = [];
  for (const name of candidates) if (inLayers(layers, name)) out.push(name);
  return out;
}

/**
 * A tool's own name as MCP recommends it (letters, digits, `_`, `-`, `.`; 1-128 characters).
 * Anything else (a `/`, `..`, whitespace, a look-alike letter from another script) is refused
 * before any scope is consulted, so no trick in a name can reach a server.
 */
export const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/** The scoped id of an MCP tool (or resource, or prompt): `server/name`. */
export const toolId = (server: string, name: string): string => `${server}/${name}`;
