// canonicalJson (store/chain.ts) against the rule it implements, written out plainly here as the
// oracle: RFC 8785 key order (UTF-16 code units) at every level, JSON.stringify's treatment of
// everything else. The audit chain's hashes depend on it reading the same before and after a
// round trip through a JSON column.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { canonicalJson, recordHash } from '../../src/store/index.js';

function reference(input: unknown): string | undefined {
  let v = input;
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') v = (v as { toJSON: () => unknown }).toJSON();
  if (v instanceof Number || v instanceof String || v instanceof Boolean) v = v.valueOf();
  if (v === null) return 'null';
  if (Array.isArray(v)) return `[${Array.from(v, (item) => reference(item) ?? 'null').join(',')}]`;
  if (typeof v === 'object') {
    const obj = v as Record<string, unknown>;
    const members = Object.keys(obj).sort().flatMap((key) => {
      const text = reference(obj[key]);
      return text === undefined ? [] : [`${JSON.stringify(key)}:${text}`];
    });
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(v);
}

/** JSON-like values with the awkward cases: index-like, `__proto__` and non-ASCII keys, holes, undefined, toJSON, boxed values. */
const awkwardKey = fc.oneof(fc.string(), fc.constantFrom('0', '9', '10', '01', '-1', '4294967295', '__proto__', 'é', '\u{1F600}', 'Z', 'a', '_'));
const leaf = fc.oneof(
  fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined),
  fc.date({ noInvalidDate: true }), fc.integer().map((n) => new Number(n)), fc.string().map((s) => new String(s)),
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc.array(fc.tuple(awkwardKey, tie('value')), { maxLength: 6 }).map((entries) => {
    const obj: Record<string, unknown> = {};
    // defineProperty, so that `__proto__` becomes an own key as JSON.parse makes it.
    for (const [k, v] of entries) Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
    return obj;
  }),
}));

describe('canonicalJson', () => {
  it('writes every value as the rule says', () => {
    fc.assert(fc.property(value, (v) => {
      expect(canonicalJson(v)).toBe(reference(v) ?? 'null');
    }), { numRuns: 2000 });
  });

  it('reads the same after a round trip through JSON', () => {
    fc.assert(fc.property(value, (v) => {
      const text = canonicalJson(v);
      expect(canonicalJson(JSON.parse(text))).toBe(text);
    }), { numRuns: 1000 });
  });

  it('sorts keys by UTF-16 code units at every level, array-index keys included', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: 2 }, 10: 'x', 9: 'y' })).toBe('{"10":"x","9":"y","a":{"c":2,"d":[{"y":2,"z":1}]},"b":1}');
    // U+1F600 (a surrogate pair, 0xD83D…) sorts before U+FB01 in UTF-16, after it in code points.
    expect(canonicalJson({ '\uFB01': 1, '\u{1F600}': 2 })).toBe('{"\u{1F600}":2,"\uFB01":1}');
  });

  it('keeps a __proto__ key parsed from JSON', () => {
    const parsed = JSON.parse('{"b":1,"__proto__":{"x":1}}') as unknown;
    expect(canonicalJson(parsed)).toBe('{"__proto__":{"x":1},"b":1}');
  });

  it('serializes deep values too', () => {
    let deep: unknown = { z: 1, a: 2 };
    for (let i = 0; i < 100; i++) deep = { next: deep, i };
    expect(canonicalJson(deep)).toBe(reference(deep));
  });

  it('hashes a stored event over the canonical JSON of its fields, whatever its strings hold', () => {
    // recordHash quotes plain strings itself rather than through JSON.stringify: quotes,
    // backslashes, control characters, lone and paired surrogates must still read as JSON writes them.
    const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('"', '\\', '\u0000', '\u001f', '\ud800', 'a\udc00b', '\u{1F600}', 'é', '\u007f'));
    const nullable = fc.option(text, { nil: null });
    fc.assert(fc.property(
      fc.record({ id: text, time: fc.integer(), type: text, actor: text, requestId: nullable, agentId: nullable, sessionId: nullable, teamId: nullable, prevHash: nullable, seq: fc.nat() }),
      (r) => {
        const record = { ...r, chainJson: '["s"]', dataJson: '{"a":1}', hash: null };
        const oracle = `{"actor":${JSON.stringify(r.actor)},"agent_id":${JSON.stringify(r.agentId)},"chain":["s"],"data":{"a":1},"id":${JSON.stringify(r.id)},` +
          `"prev_hash":${JSON.stringify(r.prevHash)},"request_id":${JSON.stringify(r.requestId)},"seq":${r.seq},"session_id":${JSON.stringify(r.sessionId)},` +
          `"team_id":${JSON.stringify(r.teamId)},"time":${r.time},"type":${JSON.stringify(r.type)}}`;
        expect(recordHash(record)).toBe(createHash('sha256').update(oracle, 'utf8').digest('hex'));
      },
    ), { numRuns: 1000 });
  });
});
