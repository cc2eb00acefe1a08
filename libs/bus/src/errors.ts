/**
 * The bus's errors: classes with a stable `code`; the nats.js error travels as `cause` (STYLE.md 6).
 * Nothing outside this lib needs to know a nats.js error code.
 */

export type BusErrorCode =
  | 'PUBLISH_TIMEOUT'
  | 'PUBLISH_REJECTED'
  | 'STREAM_FULL'
  | 'STREAM_MISMATCH'
  | 'PERMISSION_DENIED'
  | 'NOT_FOUND'
  | 'BUS_UNAVAILABLE'
  | 'INVALID_BATCH'
  | 'INVALID_PAYLOAD'
  | 'BUS_ERROR';

/** Any failure of the bus; `code` says which. */
export class BusError extends Error {
  constructor(
    readonly code: BusErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BusError';
  }
}

/** No publish ack within the retry budget: the batch may or may not be stored; retrying with the same batchId is safe. */
export class PublishTimeout extends BusError {
  declare readonly code: 'PUBLISH_TIMEOUT';
  constructor(
    readonly subject: string,
    readonly batchId: string,
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super('PUBLISH_TIMEOUT', `no JetStream ack for batch "${batchId}" on ${subject} after ${attempts} attempt(s)`, options);
    this.name = 'PublishTimeout';
  }
}

/** JetStream refused to store a message (no stream for the subject, stream full, message too large …). */
export class PublishRejected extends BusError {
  declare readonly code: 'PUBLISH_REJECTED';
  constructor(
    readonly subject: string,
    reason: string,
    /** JetStream's own error code (e.g. 10077 "maximum messages exceeded"), when it gave one. */
    readonly jetStreamCode: number | undefined,
    options?: { cause?: unknown },
  ) {
    super('PUBLISH_REJECTED', `JetStream refused the publish to ${subject}: ${reason}`, options);
    this.name = 'PublishRejected';
  }
}

/**
 * JetStream refused a publish because the stream (or the server's JetStream storage) is full. With
 * LOCKLINE_EVENTS keeping batches only until ingest acks them, that means ingest is behind or not
 * running: the batch was not stored, and sending it again (same batch id) once there is room is safe.
 */
export class StreamFull extends BusError {
  declare readonly code: 'STREAM_FULL';
  constructor(
    readonly subject: string,
    /** JetStream's reason: "maximum bytes exceeded", "insufficient resources" … */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      'STREAM_FULL',
      `JetStream has no room for the publish to ${subject} (${reason}): the events stream holds batches until ingest stores them, so ingest is behind or not running (or the stream's max_bytes / the server's max_file_store is too small)`,
      options,
    );
    this.name = 'StreamFull';
  }
}

/** A stream, consumer or bucket exists with settings this lib may not change by itself. */
export class StreamMismatch extends BusError {
  declare readonly code: 'STREAM_MISMATCH';
  constructor(
    readonly resource: string,
    readonly differences: readonly string[],
    options?: { cause?: unknown },
  ) {
    super('STREAM_MISMATCH', `${resource} exists with a different configuration that cannot be updated here: ${differences.join('; ')}`, options);
    this.name = 'StreamMismatch';
  }
}

/** The server refused an operation for this user (NATS permissions). */
export class PermissionDenied extends BusError {
  declare readonly code: 'PERMISSION_DENIED';
  constructor(
    readonly operation: 'publish' | 'subscribe' | 'connect' | 'unknown',
    readonly subject: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      'PERMISSION_DENIED',
      operation === 'connect'
        ? 'the NATS server refused the credentials'
        : `the NATS server refused to let this user ${operation}${subject === undefined ? '' : ` on ${subject}`}`,
      options,
    );
    this.name = 'PermissionDenied';
  }
}

/** A stream, consumer or bucket that does not exist (run ensureStreams / ensureIngestConsumers first). */
export class NotFound extends BusError {
  declare readonly code: 'NOT_FOUND';
  constructor(
    readonly resource: string,
    options?: { cause?: unknown },
  ) {
    super('NOT_FOUND', `${resource} does not exist`, options);
    this.name = 'NotFound';
  }
}

/** The connection is closed or JetStream does not answer (server down, JetStream disabled). */
export class BusUnavailable extends BusError {
  declare readonly code: 'BUS_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super('BUS_UNAVAILABLE', message, options);
    this.name = 'BusUnavailable';
  }
}

/** A batch this lib refuses to send (empty, or a line holding a newline). */
export class InvalidBatch extends BusError {
  declare readonly code: 'INVALID_BATCH';
  constructor(message: string) {
    super('INVALID_BATCH', message);
    this.name = 'InvalidBatch';
  }
}

/** A payload that is not what its subject promises (not JSON, not UTF-8 …). */
export class InvalidPayload extends BusError {
  declare readonly code: 'INVALID_PAYLOAD';
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_PAYLOAD', message, options);
    this.name = 'InvalidPayload';
  }
}

/** What nats.js throws: a NatsError (code, permissionContext, api_error) — read structurally. */
interface NatsErrorLike {
  message: string;
  code?: unknown;
  permissionContext?: { operation?: unknown; subject?: unknown };
  api_error?: { code?: unknown; err_code?: unknown; description?: unknown };
}

function asNatsError(error: unknown): NatsErrorLike | undefined {
  return error instanceof Error ? (error as NatsErrorLike) : undefined;
}

/** The nats.js error code ("TIMEOUT", "503", "PERMISSIONS_VIOLATION" …), if any. */
export function natsCode(error: unknown): string | undefined {
  const code = asNatsError(error)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** JetStream's numeric API error code (10059 stream not found, 10014 consumer not found …), if any. */
export function jetStreamErrorCode(error: unknown): number | undefined {
  const errCode = asNatsError(error)?.api_error?.err_code;
  return typeof errCode === 'number' ? errCode : undefined;
}

const STREAM_STORE_FAILED = 10077;
const INSUFFICIENT_RESOURCES = 10047;

/**
 * JetStream's reason when a publish found no room: the stream's limits (10077 "maximum bytes/messages
 * exceeded", which nats.js reports with code "503" like a missing stream) or the server's storage
 * (10047). Undefined for anything else.
 */
export function streamFullReason(error: unknown): string | undefined {
  const api = asNatsError(error)?.api_error;
  const description = typeof api?.description === 'string' ? api.description : undefined;
  if (api?.err_code === INSUFFICIENT_RESOURCES) return description ?? 'insufficient resources';
  if (api?.err_code === STREAM_STORE_FAILED && description !== undefined && /maximum .*exceeded/i.test(description)) return description;
  return undefined;
}

/** True for failures a retry may cure: no ack in time, JetStream not answering yet, disconnected. */
export function isTransient(error: unknown): boolean {
  if (streamFullReason(error) !== undefined) return false;
  const code = natsCode(error);
  return code === 'TIMEOUT' || code === '503' || code === 'DISCONNECT' || code === 'CONNECTION_REFUSED';
}

const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;

/**
 * Turns whatever nats.js threw into a BusError. `what` names the operation for the message
 * ("publish to lockline.v1.events.h1", "consumer ingest-p0 on LOCKLINE_EVENTS").
 */
export function translateError(error: unknown, what: string, subject?: string): BusError {
  if (error instanceof BusError) return error;
  const nats = asNatsError(error);
  const message = nats?.message ?? String(error);
  const code = natsCode(error);
  if (code === 'PERMISSIONS_VIOLATION') {
    const op = nats?.permissionContext?.operation;
    const subj = nats?.permissionContext?.subject;
    return new PermissionDenied(op === 'publish' || op === 'subscribe' ? op : op === 'subscription' ? 'subscribe' : 'unknown', typeof subj === 'string' ? subj : subject, { cause: error });
  }
  if (code === 'AUTHORIZATION_VIOLATION' || code === 'BAD_AUTHENTICATION' || code === 'AUTHENTICATION_EXPIRED') {
    return new PermissionDenied('connect', undefined, { cause: error });
  }
  const jsCode = jetStreamErrorCode(error);
  if (jsCode === STREAM_NOT_FOUND || jsCode === CONSUMER_NOT_FOUND) return new NotFound(what, { cause: error });
  if (code === 'CONNECTION_CLOSED' || code === 'CONNECTION_DRAINING' || code === '503') {
    return new BusUnavailable(`${what}: ${code === '503' ? 'JetStream did not answer (no responders)' : 'the NATS connection is closed'}`, { cause: error });
  }
  return new BusError('BUS_ERROR', `${what}: ${message}`, { cause: error });
}
