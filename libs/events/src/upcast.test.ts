import { describe, expect, it } from 'vitest';
import { EVENT_SCHEMA_VERSION } from './events.js';
import { parseEvent } from './parseEvent.js';
import { sampleEvent } from './testing/sampleEvents.js';
import { BUILT_IN_UPCASTERS, DuplicateUpcasterError, createUpcasterRegistry, upcast, type RawEvent, type Upcaster, type UpcasterRegistry } from './upcast.js';

/**
 * A made-up version 0 of syscall.mmap, registered only here: it called the length `len`, joined the
 * flags into one "A|B" string and had no result object, only `errno`.
 */
const current = sampleEvent('syscall.mmap');
const { length, flags, result, ...restOfData } = current.data;
const v0 = {
  ...current,
  schemaVersion: 0,
  data: { ...restOfData, len: length, flags: flags.join('|'), errno: result.errno, retAddr: result.addr },
};

const mmapV0: Upcaster = {
  type: 'syscall.mmap',
  fromVersion: 0,
  up(event: RawEvent) {
    const { len, flags: joined, errno, retAddr, ...data } = event.data as Record<string, unknown>;
    return {
      ...event,
      data: { ...data, length: len, flags: String(joined).split('|'), result: { errno, ...(retAddr === undefined ? {} : { addr: retAddr }) } },
    };
  },
};

const withMmapV0 = createUpcasterRegistry([mmapV0]);

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}

describe('upcasting', () => {
  it('has no built-in upcasters while every type is at version 1', () => {
    expect(new Set(Object.values(EVENT_SCHEMA_VERSION))).toEqual(new Set([1]));
    expect(BUILT_IN_UPCASTERS.get('syscall.mmap', 0)).toBeUndefined();
  });

  it('raises an old version to the current one before validating it', () => {
    expect(parseEvent(v0, { upcasters: withMmapV0 })).toEqual({ ok: true, event: current });
    expect(parseEvent(JSON.stringify(v0), { upcasters: withMmapV0 })).toEqual({ ok: true, event: current });
  });

  it('neither changes nor needs to change the stored event', () => {
    const frozen = deepFreeze(JSON.parse(JSON.stringify(v0)) as typeof v0);
    expect(parseEvent(frozen, { upcasters: withMmapV0 })).toEqual({ ok: true, event: current });
    expect(frozen.schemaVersion).toBe(0);
  });

  it('reports an old version with no upcaster as a problem, not a schema mismatch', () => {
    expect(parseEvent(v0)).toEqual({
      ok: false,
      problems: [{ path: 'schemaVersion', message: 'no upcaster for "syscall.mmap" from schemaVersion 0 (current is 1)' }],
    });
  });

  it('reports a version newer than this reader knows, clearly, for any data', () => {
    for (const data of [current.data, { something: 'new' }, null]) {
      expect(parseEvent({ ...current, schemaVersion: 2, data })).toEqual({
        ok: false,
        problems: [{ path: 'schemaVersion', message: 'schemaVersion 2 of "syscall.mmap" is newer than this reader knows (1); upgrade the reader' }],
      });
    }
  });

  it('leaves a version that is not a non-negative integer to the schema', () => {
    for (const schemaVersion of [-1, 1.5, '1', null]) {
      const r = parseEvent({ ...current, schemaVersion });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.problems.map((p) => p.path)).toEqual(['schemaVersion']);
    }
  });

  it('validates the upcast event, saying the problem arose after upcasting', () => {
    const broken = { ...v0, data: { ...v0.data, flags: 'MAP_PRIVATE|MAP_BOGUS' } };
    const r = parseEvent(broken, { upcasters: withMmapV0 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]?.path).toBe('data.flags[1]');
    expect(r.problems[0]?.message).toMatch(/^unknown flag "MAP_BOGUS" .*\(after upcasting from schemaVersion 0\)$/);
  });

  it('follows a chain, including a renamed type', () => {
    // "syscall.mmap_legacy" v3 was renamed to syscall.mmap v0, which the test upcaster then raises.
    const rename: Upcaster = {
      type: 'syscall.mmap_legacy',
      fromVersion: 3,
      up: (event) => ({ ...event, type: 'syscall.mmap', schemaVersion: 0 }),
    };
    const registry = createUpcasterRegistry([rename, mmapV0]);
    expect(parseEvent({ ...v0, type: 'syscall.mmap_legacy', schemaVersion: 3 }, { upcasters: registry })).toEqual({ ok: true, event: current });
  });

  it('turns an upcaster that throws, returns garbage or loops into a problem', () => {
    const throwing = createUpcasterRegistry([{ type: 'syscall.mmap', fromVersion: 0, up: () => { throw new Error('bad v0 data'); } }]);
    expect(upcast(v0, throwing)).toEqual({ ok: false, problems: [{ path: '', message: 'upcasting "syscall.mmap" from schemaVersion 0 failed: bad v0 data' }] });

    const garbage = createUpcasterRegistry([{ type: 'syscall.mmap', fromVersion: 0, up: () => null as unknown as Record<string, unknown> }]);
    expect(upcast(v0, garbage)).toEqual({
      ok: false,
      problems: [{ path: '', message: 'the upcaster for "syscall.mmap" from schemaVersion 0 returned null, not an event' }],
    });

    const loop = createUpcasterRegistry([
      { type: 'a', fromVersion: 1, up: (e) => ({ ...e, type: 'b' }) },
      { type: 'b', fromVersion: 1, up: (e) => ({ ...e, type: 'a' }) },
    ]);
    const r = upcast({ type: 'a', schemaVersion: 1 }, loop);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems[0]?.message).toMatch(/the upcasters loop/);
  });

  it('refuses two upcasters for the same type and version, with a stable code', () => {
    let error: unknown;
    try {
      createUpcasterRegistry([mmapV0, { ...mmapV0 }]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DuplicateUpcasterError);
    expect(error).toMatchObject({ code: 'DUPLICATE_UPCASTER', type: 'syscall.mmap', fromVersion: 0 });
  });

  it('does not consult the registry for a valid current event (one safeParse, nothing more)', () => {
    const lookups: Array<[string, number]> = [];
    const spy: UpcasterRegistry = { get: (type, version) => (lookups.push([type, version]), undefined) };
    expect(parseEvent(current, { upcasters: spy }).ok).toBe(true);
    expect(lookups).toEqual([]);
    parseEvent(v0, { upcasters: spy });
    expect(lookups).toEqual([['syscall.mmap', 0]]);
  });

  it('passes through what it cannot judge, for the schema to report', () => {
    for (const raw of [null, 'text', [], { type: 'unknown.type', schemaVersion: 0 }, { schemaVersion: 0 }]) {
      expect(upcast(raw, withMmapV0)).toEqual({ ok: true, event: raw });
    }
  });
});
