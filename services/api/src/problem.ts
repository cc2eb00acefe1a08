import type { FastifyReply } from 'fastify';
import type { ApiErrorCode, FieldProblem } from './errors.js';

/**
 * RFC 9457 problem details: every error the API sends is `application/problem+json` with a stable
 * `code` (the same words the projector and the libraries use) and a `detail` a person can act on. No
 * stack trace, no internal error text: an unexpected failure says only that it is in the log, under
 * the request id.
 */

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ApiErrorCode;
  instance?: string;
  requestId?: string;
  errors?: readonly FieldProblem[];
}

const STATUS: Record<ApiErrorCode, { status: number; title: string }> = {
  BAD_REQUEST: { status: 400, title: 'Bad request' },
  UNAUTHORIZED: { status: 401, title: 'Unauthorized' },
  FORBIDDEN: { status: 403, title: 'Forbidden' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  CONFLICT: { status: 409, title: 'Conflict' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  INTERNAL: { status: 500, title: 'Internal error' },
  NOT_IMPLEMENTED: { status: 501, title: 'Not implemented' },
  UPSTREAM_FAILED: { status: 502, title: 'Bad gateway' },
  UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  TIMEOUT: { status: 504, title: 'Gateway timeout' },
};

export function statusOf(code: ApiErrorCode): number {
  return STATUS[code].status;
}

/** The problem for `code`; `type` is a URN naming the code (`urn:lockline:problem:not-found`). */
export function problem(code: ApiErrorCode, detail: string, extra: { instance?: string; requestId?: string; errors?: readonly FieldProblem[] } = {}): Problem {
  const { status, title } = STATUS[code];
  return {
    type: `urn:lockline:problem:${code.toLowerCase().replace(/_/g, '-')}`,
    title,
    status,
    detail,
    code,
    ...(extra.instance === undefined ? {} : { instance: extra.instance }),
    ...(extra.requestId === undefined ? {} : { requestId: extra.requestId }),
    ...(extra.errors === undefined ? {} : { errors: extra.errors }),
  };
}

export function sendProblem(reply: FastifyReply, p: Problem): FastifyReply {
  return reply.code(p.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(p));
}
