import { ExpectedRevisionConflict } from './errors.js';
import type { ActualRevision, ExpectedRevision, NewEvent, ReadAllOptions, ReadStreamOptions } from './port.js';

/**
 * The checks every adapter that keeps revisions itself (memory, SQLite) makes before an append; the
 * EventStoreDB server makes the same ones on its side.
 */

/** Throws a TypeError for a call no store could accept (a programming error, not a conflict). */
export function checkAppendArguments(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): void {
  if (typeof stream !== 'string' || stream.length === 0) throw new TypeError(`append: expected a stream name, got ${JSON.stringify(stream)}`);
  if (!Array.isArray(events) || events.length === 0) throw new TypeError(`append to "${stream}": expected at least one event`);
  if (!(expected === 'any' || expected === 'no_stream' || (Number.isSafeInteger(expected) && expected >= 0))) {
    throw new TypeError(`append to "${stream}": expected revision must be a revision (an integer ≥ 0), 'no_stream' or 'any', got ${JSON.stringify(expected)}`);
  }
  for (const [i, e] of events.entries()) {
    if (typeof e?.id !== 'string' || e.id.length === 0 || typeof e.type !== 'string' || e.type.length === 0) {
      throw new TypeError(`append to "${stream}": event ${i} needs a non-empty string id and type`);
    }
  }
}

export function checkReadStreamOptions(options: ReadStreamOptions): { fromRevision: number; maxCount: number } {
  const { fromRevision = 0, maxCount = Number.MAX_SAFE_INTEGER } = options;
  if (!Number.isSafeInteger(fromRevision) || fromRevision < 0) throw new TypeError(`readStream: fromRevision must be an integer ≥ 0, got ${fromRevision}`);
  checkMaxCount('readStream', maxCount);
  return { fromRevision, maxCount };
}

/** `after` and `fromPosition` as one inclusive start (integer positions: after p is from p + 1). */
export function checkReadAllOptions(options: ReadAllOptions): { from: number; maxCount: number } {
  const { fromPosition, after, maxCount = Number.MAX_SAFE_INTEGER } = options;
  if (fromPosition !== undefined && after !== undefined) throw new TypeError('readAll: give fromPosition or after, not both');
  for (const [name, v] of [['fromPosition', fromPosition], ['after', after]] as const) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw new TypeError(`readAll: ${name} must be an integer ≥ 0, got ${v}`);
  }
  checkMaxCount('readAll', maxCount);
  return { from: fromPosition ?? (after === undefined ? 0 : after + 1), maxCount };
}

export function checkMaxCount(what: string, maxCount: number): void {
  if (!Number.isSafeInteger(maxCount) || maxCount < 1) throw new TypeError(`${what}: maxCount must be an integer ≥ 1, got ${maxCount}`);
}

/** What to do with an append, given the stream's last revision (-1: no stream). */
export type AppendDecision =
  | { readonly kind: 'write'; readonly firstRevision: number }
  /** A retry of an append that was stored: answer with the stored events' result. */
  | { readonly kind: 'retry'; readonly lastRevision: number };

/**
 * `storedIds(fromRevision, count)` gives the ids stored at those revisions (it is called only for
 * revisions that exist).
 */
export function decideAppend(
  stream: string,
  current: number,
  events: readonly NewEvent[],
  expected: ExpectedRevision,
  storedIds: (fromRevision: number, count: number) => readonly string[],
): AppendDecision {
  if (expected === 'any') return { kind: 'write', firstRevision: current + 1 };
  const expectedLast = expected === 'no_stream' ? -1 : expected;
  if (expectedLast === current) return { kind: 'write', firstRevision: current + 1 };
  const actual: ActualRevision = current < 0 ? 'no_stream' : current;
  if (expectedLast < current && expectedLast + events.length <= current) {
    const ids = storedIds(expectedLast + 1, events.length);
    if (ids.length === events.length && ids.every((id, i) => id === events[i]?.id)) {
      return { kind: 'retry', lastRevision: expectedLast + events.length };
    }
  }
  throw new ExpectedRevisionConflict(stream, expected, actual);
}
