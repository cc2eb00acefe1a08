import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HostEvent } from './events.js';
import { parseEvent } from './parseEvent.js';
import { sampleEvent, sampleEvents } from './testing/sampleEvents.js';

/** Every leaf path of a JSON value, as key lists. */
function leafPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.length === 0 ? [prefix] : value.flatMap((v, i) => leafPaths(v, [...prefix, i]));
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    return entries.length === 0 ? [prefix] : entries.flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
  }
  return [prefix];
}

/** A JSON copy of `event` with the value at `path` replaced. */
function replaced(event: HostEvent, path: (string | number)[], value: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(event)) as Record<string | number, unknown>;
  let node: Record<string | number, unknown> = copy;
  path.slice(0, -1).forEach((key) => (node = node[key] as Record<string | number, unknown>));
  const last = path.at(-1);
  if (last === undefined) return value;
  node[last] = value;
  return copy;
}

describe('parseEvent', () => {
  it('reports a JSON syntax error at the root, with the parser message', () => {
    const r = parseEvent('{"id": ');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]?.path).toBe('');
    expect(r.problems[0]?.message).toMatch(/^not valid JSON: ./);
  });

  it('reports values that are not events at the root', () => {
    for (const input of [null, [], 42, true, undefined, '"a string"', 'null']) {
      const r = parseEvent(input);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.problems.map((p) => p.path)).toEqual(['']);
    }
  });

  it('returns every problem, each with its path', () => {
    const event = sampleEvent('syscall.mmap');
    const r = parseEvent({ ...event, seq: -1, data: { ...event.data, prot: 'rwxp', flags: ['MAP_PRIVATE', 4], result: { errno: 'nope' } } });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => p.path)).toEqual(['seq', 'data.prot', 'data.flags[1]', 'data.result.errno']);
    for (const p of r.problems) expect(p.message.length).toBeGreaterThan(10);
  });

  it('reports a number too large for JSON (1e400 is Infinity) instead of accepting it', () => {
    const text = JSON.stringify(sampleEvent('syscall.munmap')).replace('"length":4096', '"length":1e400');
    const r = parseEvent(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems).toEqual([{ path: 'data.length', message: 'expected a number, got number Infinity' }]);
  });

  it('rejects a "__proto__" key as an unknown field, and the result has no polluted prototype', () => {
    const event = sampleEvent('syscall.fork');
    const text = JSON.stringify(event).replace('"data":{', '"data":{"__proto__":{"polluted":true},').replace('"id":', '"__proto__":{"x":1},"id":');
    const r = parseEvent(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map((p) => p.path).sort()).toEqual(['__proto__', 'data.__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(parseEvent(event).ok && event.data)).toBe(Object.prototype);
  });

  it('does not let a "__proto__" or "constructor" type look up anything', () => {
    for (const type of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      const r = parseEvent({ ...sampleEvent('syscall.fork'), type });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.problems.map((p) => p.path)).toEqual(['type']);
    }
  });

  it('reports a value whose getter throws, instead of throwing', () => {
    const hostile = { ...sampleEvent('syscall.fork') };
    Object.defineProperty(hostile, 'data', { enumerable: true, get: () => { throw new Error('boom'); } });
    const r = parseEvent(hostile);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems[0]?.message).toContain('boom');
  });

  it('returns a copy: the input is neither changed nor shared', () => {
    const event = sampleEvent('syscall.mmap');
    const r = parseEvent(event);
    expect(r.ok && r.event).toEqual(event);
    expect(r.ok && r.event.data).not.toBe(event.data);
  });

  it('never throws on any value', () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withBigInt: true, withMap: true, withSet: true, withDate: true, withTypedArray: true, withSparseArray: true, withBoxedValues: true }), (value) => {
        const r = parseEvent(value);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.problems.length).toBeGreaterThan(0);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on any string, JSON or not', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.string()), (text) => {
        const r = parseEvent(text);
        if (!r.ok) for (const p of r.problems) expect(typeof p.path).toBe('string');
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on a valid event with one value replaced by anything, and blames that value or its container', () => {
    const events = sampleEvents();
    const cases = events.flatMap((event) => leafPaths(event).map((path) => ({ event, path })));
    fc.assert(
      fc.property(fc.constantFrom(...cases), fc.oneof(fc.jsonValue(), fc.anything()), ({ event, path }, value) => {
        const r = parseEvent(replaced(event, path, value));
        if (r.ok) return;
        // The problem is at the replaced value, above it (a check over a whole object), at a sibling
        // in the same list (overlapping vmas, a pid used twice), or anywhere when the type or the
        // version that selects the schema was replaced.
        const replacedPath = path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('').replace(/^\./, '');
        const list = replacedPath.replace(/\[\d+\][^[]*$/, '');
        for (const p of r.problems) {
          const related =
            replacedPath.startsWith(p.path) || p.path.startsWith(replacedPath) || (list !== replacedPath && p.path.startsWith(list)) || ['type', 'schemaVersion'].includes(replacedPath);
          expect(related, `${p.path}: ${p.message} (replaced ${replacedPath})`).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
