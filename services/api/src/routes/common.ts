import type { FastifyRequest } from 'fastify';
import { problemSchema } from '../schemas.js';

/** The error answers every /v1 route may give, for the OpenAPI document. */
export const problems = { '4XX': problemSchema, '5XX': problemSchema } as const;

export const viewer = { role: 'viewer' } as const;
export const operator = { role: 'operator' } as const;

/**
 * The URL of the next page: this request's path and query with `set` applied (a value of undefined
 * removes the parameter). Relative, so it is right behind any proxy that keeps paths.
 */
export function pageLink(request: FastifyRequest, set: Record<string, string | number | undefined>): string {
  const url = new URL(request.url, 'http://localhost');
  for (const [key, value] of Object.entries(set)) {
    if (value === undefined) url.searchParams.delete(key);
    else url.searchParams.set(key, String(value));
  }
  return `${url.pathname}${url.search}`;
}

/** `"a,b"` → Set {a, b}; undefined stays undefined. */
export const listParam = (text: string | undefined): ReadonlySet<string> | undefined => (text === undefined ? undefined : new Set(text.split(',')));
