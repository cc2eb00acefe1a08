import { EVENT_SCHEMA_VERSION } from './events.js';
import { describeValue, isRecord, quote, type Problem } from './problems.js';

/**
 * Old events stay in the store forever; readers only understand the current schemas. An upcaster
 * raises one event type from one schema version to the next, before validation, so every reader sees
 * current events and the stored bytes are never rewritten.
 */

/** An event as it came off the wire or out of the store: not validated yet. */
export type RawEvent = Readonly<Record<string, unknown>>;

export interface Upcaster {
  /** The event type this upcaster reads. */
  readonly type: string;
  /** The schema version it reads; it produces `fromVersion + 1`. */
  readonly fromVersion: number;
  /**
   * The event in its next shape; must not modify its argument. Its `schemaVersion` is set to
   * `fromVersion + 1`, unless the upcaster renames the type, in which case it sets the version of
   * the new type itself.
   */
  up(event: RawEvent): Record<string, unknown>;
}

export interface UpcasterRegistry {
  get(type: string, fromVersion: number): Upcaster | undefined;
}

/** Registering two upcasters for one (type, fromVersion) is a programming error, found at startup. */
export class DuplicateUpcasterError extends Error {
  readonly code = 'DUPLICATE_UPCASTER';
  constructor(
    readonly type: string,
    readonly fromVersion: number,
  ) {
    super(`two upcasters for ${quote(type)} from schemaVersion ${fromVersion}`);
    this.name = 'DuplicateUpcasterError';
  }
}

export function createUpcasterRegistry(upcasters: readonly Upcaster[]): UpcasterRegistry {
  const byKey = new Map<string, Upcaster>();
  for (const upcaster of upcasters) {
    const key = `${upcaster.fromVersion}\u0000${upcaster.type}`;
    if (byKey.has(key)) throw new DuplicateUpcasterError(upcaster.type, upcaster.fromVersion);
    byKey.set(key, upcaster);
  }
  return { get: (type, fromVersion) => byKey.get(`${fromVersion}\u0000${type}`) };
}

/** The upcasters of this package's own schema history. Every type is at version 1: none yet. */
export const BUILT_IN_UPCASTERS: UpcasterRegistry = createUpcasterRegistry([]);

const CURRENT = new Map<string, number>(Object.entries(EVENT_SCHEMA_VERSION));

/** A chain longer than this is a loop (an upcaster renaming a type back and forth). */
const MAX_STEPS = 64;

export type UpcastResult = { ok: true; event: unknown } | { ok: false; problems: Problem[] };

/**
 * Raises an event of an older schema version to the current one. Anything it cannot judge (not an
 * object, an unknown type, a version that is not a non-negative integer) passes through unchanged for
 * the schema to report. A version newer than this reader knows, or an old one with no upcaster, is
 * a problem; so is an upcaster that throws. Never throws.
 */
export function upcast(raw: unknown, registry: UpcasterRegistry = BUILT_IN_UPCASTERS): UpcastResult {
  let event = raw;
  for (let step = 0; step < MAX_STEPS; step++) {
    if (!isRecord(event)) return { ok: true, event };
    const { type, schemaVersion: version } = event;
    // Version 0 is allowed here: a shape from before the first release can still be upcast.
    if (typeof type !== 'string' || typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) {
      return { ok: true, event };
    }
    const current = CURRENT.get(type);
    if (current === version) return { ok: true, event };
    if (current !== undefined && version > current) {
      return fail('schemaVersion', `schemaVersion ${version} of ${quote(type)} is newer than this reader knows (${current}); upgrade the reader`);
    }
    const upcaster = registry.get(type, version);
    if (upcaster === undefined) {
      // An unknown type with no upcaster: the schema says "unknown type".
      if (current === undefined) return { ok: true, event };
      return fail('schemaVersion', `no upcaster for ${quote(type)} from schemaVersion ${version} (current is ${current})`);
    }
    let next: unknown;
    try {
      next = upcaster.up(event);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      return fail('', `upcasting ${quote(type)} from schemaVersion ${version} failed: ${why}`);
    }
    if (!isRecord(next)) {
      return fail('', `the upcaster for ${quote(type)} from schemaVersion ${version} returned ${describeValue(next)}, not an event`);
    }
    event = next.type === type ? { ...next, schemaVersion: version + 1 } : next;
  }
  return fail('', `more than ${MAX_STEPS} upcasting steps: the upcasters loop`);
}

function fail(path: string, message: string): UpcastResult {
  return { ok: false, problems: [{ path, message }] };
}
