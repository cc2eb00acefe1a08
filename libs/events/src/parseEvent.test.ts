import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { EVENT_TYPES, hostEventSchema, type HostEvent } from './events.js';
import { compiledHostEventSchema, parseEvent, parseEventLine } from './parseEvent.js';
import { PARSE_OPTIONS } from './problems.js';
import { sampleEvent, sampleEventId, sampleEvents } from './testing/sampleEvents.js';

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

/** Equal as values, key order, -0, prototypes and arrays versus objects included (toStrictEqual ignores key order). */
function expectIdentical(actual: unknown, expected: unknown, at = 'value'): void {
  if (typeof expected !== 'object' || expected === null) {
    expect(Object.is(actual, expected), `${at}: ${String(actual)} vs ${String(expected)}`).toBe(true);
    return;
  }
  expect(typeof actual === 'object' && actual !== null, at).toBe(true);
  const a = actual as Record<string, unknown>;
  const e = expected as Record<string, unknown>;
  expect(Array.isArray(a), at).toBe(Array.isArray(e));
  expect(Object.getPrototypeOf(a), at).toBe(Object.getPrototypeOf(e));
  expect(Object.keys(a), at).toEqual(Object.keys(e));
  for (const key of Object.keys(e)) expectIdentical(a[key], e[key], `${at}.${key}`);
}

/** Values a leaf may become: plenty of them valid in some field of some event, the rest near misses or anything. */
const leafValue = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<unknown>(
    0, -0, 1, 2, 7, 301, 4096, 8192, 0x10000000, 2 ** 53, 2 ** 53 + 2, 2 ** 64 - 4096, 2 ** 64, -1, -20480, 1.5, 4_194_304, 4_194_305, 255, 256,
    null, true, false, '', 'rw-', 'r-x', 'rwxp', 'unlimited', '18446744073709551615', '18446744073709551616', '27', '027', '9007199254740993', '-1',
    'MAP_PRIVATE', 'MCL_CURRENT', 'MCL_INHERIT', 'MLOCK_ONFAULT', 'ENOMEM', 'SIGSEGV', 'SIGKILL', 'MADV_DONTFORK', 'elf', 'linux-2008-patch', 'make',
    '0x1000', '2025-01-31T12:00:00Z', '2025-01-31T12:00:00.000+01:00', '2025-02-30T12:00:00Z', 'web-01', 'web.01', sampleEventId(7), 'a'.repeat(65),
    [], ['MAP_SHARED'], {},
  ) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.jsonValue(), fc.anything()) },
);

const OPTIONAL_KEYS = ['comm', 'path', 'addr', 'increment', 'signal', 'brk', 'code', 'hostname', 'kernelThread', 'interpPages', 'format', 'special', 'growsDown', 'capIpcLock'];

/** Every object in a JSON value, with its path. */
function objectPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => objectPaths(v, [...prefix, i]));
  if (typeof value === 'object' && value !== null) return [prefix, ...Object.entries(value).flatMap(([k, v]) => objectPaths(v, [...prefix, k]))];
  return [];
}

function at(root: unknown, path: readonly (string | number)[]): unknown {
  return path.reduce<unknown>((node, key) => (node as Record<string | number, unknown>)[key], root);
}

type Mutation =
  | { kind: 'leaf'; pick: number; value: unknown }
  | { kind: 'drop' | 'reverse'; pick: number; key: number }
  | { kind: 'add'; pick: number; name: string; value: unknown }
  | { kind: 'type'; type: string }
  | { kind: 'none' };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('leaf' as const), pick: fc.nat(), value: leafValue }),
  fc.record({ kind: fc.constantFrom('drop' as const, 'reverse' as const), pick: fc.nat(), key: fc.nat() }),
  fc.record({ kind: fc.constant('add' as const), pick: fc.nat(), name: fc.constantFrom(...OPTIONAL_KEYS, 'extra', '__proto__', 'constructor'), value: leafValue }),
  fc.record({ kind: fc.constant('type' as const), type: fc.constantFrom(...EVENT_TYPES, 'syscall.exit', 'toString') }),
  fc.constant({ kind: 'none' as const }),
);

/** A JSON copy of a sample event with a few changes: some leave it valid (a reordered or dropped optional key), most do not. */
function mutated(event: HostEvent, changes: readonly Mutation[]): unknown {
  const root = JSON.parse(JSON.stringify(event)) as unknown;
  for (const change of changes) {
    if (change.kind === 'none') continue;
    if (change.kind === 'type') {
      if (typeof root === 'object' && root !== null) (root as Record<string, unknown>).type = change.type;
      continue;
    }
    if (change.kind === 'leaf') {
      const paths = leafPaths(root).filter((p) => p.length > 0);
      const path = paths[change.pick % Math.max(1, paths.length)];
      if (path === undefined) continue;
      const parent = at(root, path.slice(0, -1)) as Record<string | number, unknown>;
      parent[path.at(-1)!] = change.value;
      continue;
    }
    const objects = objectPaths(root).filter((p) => !Array.isArray(at(root, p)));
    const path = objects[change.pick % Math.max(1, objects.length)];
    if (path === undefined) continue;
    const target = at(root, path) as Record<string, unknown>;
    const entries = Object.entries(target);
    for (const key of Object.keys(target)) delete target[key];
    if (change.kind === 'drop') entries.splice(change.key % Math.max(1, entries.length), 1);
    if (change.kind === 'reverse') entries.reverse();
    if (change.kind === 'add') entries.splice(entries.length === 0 ? 0 : Math.floor(entries.length / 2), 0, [change.name, change.value]);
    for (const [key, value] of entries) Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return root;
}

const mutatedEvent = fc.tuple(fc.constantFrom(...sampleEvents()), fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([event, changes]) => mutated(event, changes));

describe('the compiled schema (z.compile) and the interpreter', () => {
  it('compiles: zod refuses nothing in the event schema (a refusal would quietly lose the fast path)', () => {
    expect(() => z.compile(hostEventSchema, { strict: true })).not.toThrow();
  });

  it('agree on valid and invalid events: the same answer, the same value (key order, -0 and all), the same issues', () => {
    let valid = 0;
    let runs = 0;
    fc.assert(
      fc.property(fc.oneof({ weight: 6, arbitrary: mutatedEvent }, { weight: 1, arbitrary: fc.oneof(fc.jsonValue(), fc.anything()) }), (input) => {
        runs++;
        const fast = compiledHostEventSchema().safeParse(input, PARSE_OPTIONS);
        const plain = hostEventSchema.safeParse(input, PARSE_OPTIONS);
        expect(fast.success).toBe(plain.success);
        if (fast.success && plain.success) {
          valid++;
          expectIdentical(fast.data, plain.data);
        } else {
          expect(fast.error?.issues).toEqual(plain.error?.issues);
        }
      }),
      { numRuns: 4000 },
    );
    // Not vacuous: a good share of the inputs were valid events, reordered or not.
    expect(valid).toBeGreaterThan(runs / 10);
  });

  it('agree on every sample event, given as it is and with its keys in reverse order', () => {
    const reversed = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(reversed) : typeof v === 'object' && v !== null ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reversed(x)])) : v;
    for (const event of sampleEvents()) {
      for (const input of [event, reversed(event)]) {
        const fast = compiledHostEventSchema().safeParse(input, PARSE_OPTIONS);
        const plain = hostEventSchema.safeParse(input, PARSE_OPTIONS);
        expect(fast.success && plain.success, event.type).toBe(true);
        expectIdentical(fast.data, plain.data, event.type);
      }
    }
  });
});

describe('parseEventLine', () => {
  it('gives the line itself as the JSON of an event written the way buildEvent builds it', () => {
    for (const event of sampleEvents()) {
      const line = JSON.stringify(event);
      const r = parseEventLine(line);
      expect(r.ok && r.json, event.type).toBe(line);
    }
  });

  it('accepts and refuses what parseEvent does, with the same problems, and its JSON reads back as exactly the parsed event', () => {
    fc.assert(
      fc.property(fc.oneof({ weight: 6, arbitrary: mutatedEvent }, { weight: 1, arbitrary: fc.jsonValue() }), fc.boolean(), (value, spaced) => {
        const line = JSON.stringify(value, null, spaced ? 1 : undefined);
        if (line === undefined) return;
        const r = parseEventLine(line);
        const reference = parseEvent(line);
        if (!reference.ok) {
          expect(r).toEqual(reference);
          return;
        }
        if (!r.ok) throw new Error(`parseEventLine refused what parseEvent accepts: ${JSON.stringify(r.problems)}`);
        expectIdentical(r.event, reference.event);
        expectIdentical(JSON.parse(r.json), JSON.parse(JSON.stringify(r.event)));
        if (JSON.stringify(r.event) === line) expect(r.json).toBe(line);
      }),
      { numRuns: 3000 },
    );
  });

  it('serialises the event instead when the line would not read back as it: keys in another order, a value the schema changed, -0', () => {
    const event = sampleEvent('syscall.munmap');
    const { data, ...envelope } = event;
    const reordered = JSON.stringify({ data, ...envelope });
    const r1 = parseEventLine(reordered);
    expect(r1.ok && r1.json).toBe(JSON.stringify(event));

    const counters = sampleEvent('counters.sampled');
    const asText = JSON.stringify(counters).replace('"lockedVmPages":27', '"lockedVmPages":"27"');
    const r2 = parseEventLine(asText);
    expect(r2.ok && r2.event.type === 'counters.sampled' && r2.event.data.samples[0]?.lockedVmPages).toBe(27);
    expect(r2.ok && r2.json).toBe(JSON.stringify(counters));

    const negativeZero = JSON.stringify(event).replace('"length":4096', '"length":-0');
    const r3 = parseEventLine(negativeZero);
    expect(r3.ok && r3.json).toBe(JSON.stringify(event).replace('"length":4096', '"length":0'));

    // Spaces change nothing the line reads back as: it is kept.
    const spaced = JSON.stringify(event, null, 2);
    expect(parseEventLine(spaced)).toEqual({ ok: true, event, json: spaced });
  });

  it('reports what parseEvent reports for a line that is not JSON', () => {
    expect(parseEventLine('{"id": ')).toEqual(parseEvent('{"id": '));
  });
});
