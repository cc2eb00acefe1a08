import type { ActualRevision, ExpectedRevision } from './port.js';

/**
 * The store's errors: classes with a stable `code`; a driver's error travels as `cause` (STYLE.md 6).
 */

function describeExpected(expected: ExpectedRevision | ActualRevision): string {
  return typeof expected === 'number' ? `revision ${expected}` : expected === 'no_stream' ? 'no stream' : 'any';
}

/** The stream is not where the appender expected it: someone else appended first. */
export class ExpectedRevisionConflict extends Error {
  readonly code = 'EXPECTED_REVISION_CONFLICT';
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    readonly actual: ActualRevision,
    options?: { cause?: unknown },
  ) {
    super(`append to "${stream}" expected ${describeExpected(expected)}, but the stream is at ${describeExpected(actual)}`, options);
    this.name = 'ExpectedRevisionConflict';
  }
}

/** The store cannot be reached or used right now (server down, no answer in time, database locked, disk full). */
export class StoreUnavailable extends Error {
  readonly code = 'STORE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailable';
  }
}

/** A store URL no adapter accepts. */
export class InvalidStoreUrl extends Error {
  readonly code = 'INVALID_STORE_URL';
  constructor(
    readonly url: string,
    reason: string,
  ) {
    super(`invalid event store URL "${url}": ${reason}; expected sqlite:PATH, memory:, esdb://HOST:PORT?tls=false, esdb+discover://…, kurrentdb://… or kurrentdb+discover://…`);
    this.name = 'InvalidStoreUrl';
  }
}

/** A file that is not a Lockline event store (not SQLite, corrupt, or another application's database). */
export class InvalidStoreFile extends Error {
  readonly code = 'INVALID_STORE_FILE';
  constructor(
    readonly path: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`"${path}" is not a usable Lockline event store: ${reason}`, options);
    this.name = 'InvalidStoreFile';
  }
}
