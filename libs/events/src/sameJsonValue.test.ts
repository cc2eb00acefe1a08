import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sameJsonValue } from './sameJsonValue.js';

/** Equal as values, key order, -0 and arrays versus objects included (toStrictEqual ignores key order). */
function identical(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && identical((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** A copy of a JSON value with its objects' keys in another order, a leaf changed, or as it is. */
function perturbed(value: unknown, pick: number, leaf: unknown): unknown {
  let n = 0;
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v === 'object' && v !== null) {
      const entries = Object.entries(v).map(([k, x]) => [k, walk(x)] as const);
      if (n++ === pick) entries.reverse();
      return Object.fromEntries(entries);
    }
    return n++ === pick ? leaf : v;
  };
  return walk(value);
}

describe('sameJsonValue', () => {
  it('holds exactly when a JSON text reads back as what JSON.stringify(value) reads back as', () => {
    const leaf = fc.oneof(fc.constantFrom(0, -0, 1, '', 'a', null, true, false), fc.jsonValue({ maxDepth: 1 }));
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(30), leaf, fc.boolean(), (value, pick, replacement, spaced) => {
        const text = JSON.stringify(perturbed(value, pick, replacement), null, spaced ? 2 : undefined);
        const raw = JSON.parse(text) as unknown;
        expect(sameJsonValue(raw, value)).toBe(identical(raw, JSON.parse(JSON.stringify(value))));
      }),
      { numRuns: 3000 },
    );
  });

  it('answers true for a value without -0 and the JSON.parse of its JSON text', () => {
    const withoutNegativeZero = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown);
    fc.assert(
      fc.property(withoutNegativeZero, (value) => {
        expect(sameJsonValue(JSON.parse(JSON.stringify(value)), value)).toBe(true);
      }),
    );
  });

  it('tells apart key order, -0 in the text, missing and extra keys, arrays and objects, and undefined members', () => {
    expect(sameJsonValue(JSON.parse('{"a":1,"b":2}'), { a: 1, b: 2 })).toBe(true);
    expect(sameJsonValue(JSON.parse('{"b":2,"a":1}'), { a: 1, b: 2 })).toBe(false);
    expect(sameJsonValue(JSON.parse('{"n":-0}'), { n: -0 })).toBe(false); // the text reads back as -0, the serialised value as 0
    expect(sameJsonValue(JSON.parse('{"n":0}'), { n: -0 })).toBe(true);
    expect(sameJsonValue(JSON.parse('{"a":1}'), { a: 1, b: 2 })).toBe(false);
    expect(sameJsonValue(JSON.parse('{"a":1,"b":2}'), { a: 1 })).toBe(false);
    expect(sameJsonValue(JSON.parse('{"a":1,"b":null}'), { a: 1, b: undefined })).toBe(false);
    expect(sameJsonValue(JSON.parse('[1,2]'), { 0: 1, 1: 2 })).toBe(false);
    expect(sameJsonValue(JSON.parse('{"0":1,"1":2}'), [1, 2])).toBe(false);
    expect(sameJsonValue(JSON.parse('[[1],{"x":"y"}]'), [[1], { x: 'y' }])).toBe(true);
    expect(sameJsonValue(JSON.parse('"18446744073709551616"'), 2 ** 64)).toBe(false);
  });
});
