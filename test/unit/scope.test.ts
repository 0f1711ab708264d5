// Scope syntax: names and globs, deny precedence, layers that must all allow, and tool names
// that cannot smuggle a path or a look-alike letter past the check.
import { describe, expect, it } from 'vitest';
import { argumentsHash, checkToolName } from '../../src/policy/tool-gate.js';
import { inLayers, inScope, resolveNames, scopeProblems, TOOL_NAME } from '../../src/policy/scope.js';

describe('scopes', () => {
  it('matches exact names and globs, case-sensitively and without trimming', () => {
    const scope = ['gpt-4o-mini', 'claude-*', 'o?-mini'];
    expect(inScope(scope, 'gpt-4o-mini')).toBe(true);
    expect(inScope(scope, 'GPT-4o-mini')).toBe(false);
    expect(inScope(scope, ' gpt-4o-mini')).toBe(false);
    expect(inScope(scope, 'gpt-4o-mini ')).toBe(false);
    expect(inScope(scope, 'claude-sonnet-4-6')).toBe(true);
    expect(inScope(scope, 'o3-mini')).toBe(true);
    expect(inScope(scope, 'o33-mini')).toBe(false);
    expect(inScope(scope, 'gpt-4o')).toBe(false);
  });

  it('lets a deny win over any allow, and treats regex characters literally', () => {
    const scope = ['notes/*', '!notes/delete_*', 'a.b'];
    expect(inScope(scope, 'notes/read_note')).toBe(true);
    expect(inScope(scope, 'notes/delete_note')).toBe(false);
    expect(inScope(['!notes/delete_*', 'notes/*'], 'notes/delete_all')).toBe(false); // order does not matter
    expect(inScope(scope, 'a.b')).toBe(true);
    expect(inScope(scope, 'axb')).toBe(false);
    expect(inScope([], 'anything')).toBe(false);
    expect(inScope(['!secret_*'], 'anything')).toBe(true); // denies only: everything else
    expect(inScope(['!secret_*'], 'secret_key')).toBe(false);
  });

  it('requires every layer to allow a name (narrowing composes)', () => {
    const layers = [['notes/*'], ['notes/read_*', 'notes/list_*'], ['!notes/list_*']];
    expect(inLayers(layers, 'notes/read_note')).toBe(true);
    expect(inLayers(layers, 'notes/list_notes')).toBe(false);
    expect(inLayers(layers, 'notes/write_note')).toBe(false);
    expect(inLayers([], 'notes/read_note')).toBe(false);
    expect(resolveNames([['gpt-4o*', '!gpt-4o']], ['gpt-4o', 'gpt-4o-mini', 'o3-mini'])).toEqual(['gpt-4o-mini']);
  });

  it('reports malformed entries', () => {
    expect(scopeProblems(['ok/*', '!', 'has space', '!!double', 'tab\there'])).toEqual([
      '"!" is empty', '"has space" contains whitespace or control characters', '"!!double" has more than one leading "!"', '"tab\there" contains whitespace or control characters',
    ]);
  });

  it('refuses tool names with paths, look-alike letters or control characters', () => {
    for (const good of ['read_note', 'deploy', 'v1.list-items']) expect(TOOL_NAME.test(good)).toBe(true);
    for (const bad of ['../deploy', 'notes/../deploy', 'deploy/', 'dеploy' /* Cyrillic е */, 'deploy\u0000', ' deploy', '', 'x'.repeat(129)]) {
      expect(() => checkToolName(bad), JSON.stringify(bad)).toThrow(/not a valid tool name/);
    }
  });

  it('hashes arguments canonically: key order does not matter, values do', () => {
    expect(argumentsHash({ a: 1, b: { c: [1, 2], d: 'x' } })).toBe(argumentsHash({ b: { d: 'x', c: [1, 2] }, a: 1 }));
    expect(argumentsHash({ a: 1 })).not.toBe(argumentsHash({ a: 2 }));
    expect(argumentsHash({ a: [1, 2] })).not.toBe(argumentsHash({ a: [2, 1] }));
    expect(argumentsHash(undefined)).toBe(argumentsHash({}));
  });
});

describe('scope matching cost', () => {
  it('matches in linear time: a backtracking-hostile glob against a long name is instant', () => {
    const hostile = ['*a*a*a*a*a*a*a*a*a*a*a*a*c'];
    const name = 'a'.repeat(4096);
    const start = performance.now();
    expect(inScope(hostile, name)).toBe(false);
    expect(inScope(['notes/file:///srv/*/*.txt'], `notes/file:///srv/${'/'.repeat(20_000)}x`)).toBe(false);
    expect(performance.now() - start).toBeLessThan(200);
    expect(inScope(hostile, `${'a'.repeat(50)}c`)).toBe(true);
  });

  it('bounds what one scope may hold', () => {
    expect(scopeProblems(Array.from({ length: 65 }, (_, i) => `t${i}`))).toContain('more than 64 entries');
    expect(scopeProblems(['x'.repeat(257)])[0]).toMatch(/longer than 256 characters/);
  });
});
