/**
 * The API's errors: classes with a stable `code` (STYLE.md 6). Backends throw them; only problem.ts
 * turns a code into an HTTP status.
 */

export const API_ERROR_CODES = [
  /** the request is malformed, or asks for something that cannot be (the reason says which) */
  'BAD_REQUEST',
  /** no valid bearer token */
  'UNAUTHORIZED',
  /** a valid token whose role may not do this */
  'FORBIDDEN',
  'NOT_FOUND',
  /** the request is valid but the resource cannot do it in its state (a dead letter without a host) */
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'RATE_LIMITED',
  /** the projector (or the store) is not answering: try again */
  'UNAVAILABLE',
  /** the projector did not answer in time */
  'TIMEOUT',
  /** the projector answered with an internal error */
  'UPSTREAM_FAILED',
  /** a route this deployment cannot serve yet (the message says what is missing) */
  'NOT_IMPLEMENTED',
  'INTERNAL',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

export interface FieldProblem {
  /** where: `params`, `querystring`, `body` or `headers` */
  readonly in: string;
  /** the field's path, e.g. `seq` or `from` */
  readonly path: string;
  readonly message: string;
}

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    options: { cause?: unknown; errors?: readonly FieldProblem[]; retryAfterSeconds?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ApiError';
    if (options.errors !== undefined) this.errors = options.errors;
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
  readonly errors?: readonly FieldProblem[];
  readonly retryAfterSeconds?: number;
}

export const notFound = (message: string): ApiError => new ApiError('NOT_FOUND', message);
export const badRequest = (message: string): ApiError => new ApiError('BAD_REQUEST', message);
