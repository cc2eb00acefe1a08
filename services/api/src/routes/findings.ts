import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Backend } from '../backend.js';
import { findingsPage, findingsQuery } from '../schemas.js';
import { listParam, pageLink, problems, viewer } from './common.js';

export const findingRoutes: FastifyPluginAsyncZod<{ backend: Backend }> = async (app, { backend }) => {
  app.get(
    '/findings',
    {
      config: viewer,
      schema: {
        tags: ['findings'],
        summary: 'Findings across the fleet, newest first (or oldest first with `after`), filtered by host, code and pid',
        description:
          'Read from the findings stream into memory (the most recent LOCKLINE_API_FINDINGS_KEPT): `oldestHeld` says how far back pages reach. `next` is the URL of the following page.',
        querystring: findingsQuery,
        response: { 200: findingsPage, ...problems },
      },
    },
    async (request) => {
      const { hostId, code, pid, before, after, limit } = request.query;
      const codes = listParam(code);
      const page = await backend.findings({
        limit,
        ...(hostId === undefined ? {} : { hostId }),
        ...(codes === undefined ? {} : { codes }),
        ...(pid === undefined ? {} : { pid }),
        ...(before === undefined ? {} : { before }),
        ...(after === undefined ? {} : { after }),
      });
      const next = page.nextCursor === null ? null : pageLink(request, page.direction === 'after' ? { after: page.nextCursor, before: undefined } : { before: page.nextCursor, after: undefined });
      return { items: page.items, next, oldestHeld: page.oldestHeld };
    },
  );
};
