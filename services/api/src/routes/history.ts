import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Backend } from '../backend.js';
import { diffQuery, eventsPage, eventsQuery, historyQuery, hostParams, seqParams, stateDiff, tree } from '../schemas.js';
import { treeOf } from '../views.js';
import { listParam, pageLink, problems, viewer } from './common.js';

export const historyRoutes: FastifyPluginAsyncZod<{ backend: Backend }> = async (app, { backend }) => {
  app.get(
    '/hosts/:hostId/at/:seq',
    {
      config: viewer,
      schema: {
        tags: ['history'],
        summary: "A host's process tree as it was after the last event with seq ≤ `seq`",
        description: 'Folded from the event store (the projector starts from the nearest state it holds). Any boot: `bootId`, default the current one.',
        params: seqParams,
        querystring: historyQuery,
        response: { 200: tree, ...problems },
      },
    },
    async (request) => {
      const { hostId, seq } = request.params;
      const { bootId, only } = request.query;
      return treeOf(await backend.stateAt(hostId, { seq, ...(bootId === undefined ? {} : { bootId }), ...(only === undefined ? {} : { only }) }));
    },
  );

  app.get(
    '/hosts/:hostId/diff',
    {
      config: viewer,
      schema: {
        tags: ['history'],
        summary: 'What changed on a host between two seqs: every process added, removed or changed, field by field',
        params: hostParams,
        querystring: diffQuery,
        response: { 200: stateDiff, ...problems },
      },
    },
    async (request) => {
      const { bootId, from, to } = request.query;
      return backend.diff(request.params.hostId, { from, to, ...(bootId === undefined ? {} : { bootId }) });
    },
  );

  app.get(
    '/hosts/:hostId/events',
    {
      config: viewer,
      schema: {
        tags: ['history'],
        summary: "A host boot's events as stored, in pages, optionally only some types or one process",
        description:
          '`cursor` is a position in the boot\'s stream (the previous page\'s `next` carries it); a page reads at most 5,000 events, so a narrow filter may return a short page with a `next`. The projector reads them from the event store (offline, or when no projector answers, the API reads its LOCKLINE_STORE).',
        params: hostParams,
        querystring: eventsQuery,
        response: { 200: eventsPage, ...problems },
      },
    },
    async (request) => {
      const { bootId, cursor, limit, type, pid } = request.query;
      const types = listParam(type);
      const page = await backend.events(request.params.hostId, {
        cursor: cursor ?? 0,
        limit,
        ...(bootId === undefined ? {} : { bootId }),
        ...(types === undefined ? {} : { types }),
        ...(pid === undefined ? {} : { pid }),
      });
      return {
        hostId: page.hostId,
        bootId: page.bootId,
        items: page.items,
        next: page.nextCursor === null ? null : pageLink(request, { cursor: page.nextCursor, bootId: page.bootId }),
      };
    },
  );
};
