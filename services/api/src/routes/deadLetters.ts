import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Backend } from '../backend.js';
import { deadLetter, deadLetterParams, deadLettersPage, deadLettersQuery, replayBody, replayResult } from '../schemas.js';
import { operator, pageLink, problems, viewer } from './common.js';

export const deadLetterRoutes: FastifyPluginAsyncZod<{ backend: Backend }> = async (app, { backend }) => {
  app.get(
    '/dead-letters',
    {
      config: viewer,
      schema: {
        tags: ['operations'],
        summary: 'Input ingest refused, with the reason, oldest first',
        description: '`hostId=~unknown` lists those no host could be told for. `next` is the URL of the following page.',
        querystring: deadLettersQuery,
        response: { 200: deadLettersPage, ...problems },
      },
    },
    async (request) => {
      const { hostId, after, limit } = request.query;
      const page = await backend.deadLetters({ after: after ?? 0, limit, ...(hostId === undefined ? {} : { hostId }) });
      return { items: page.items, next: page.nextAfter === null ? null : pageLink(request, { after: page.nextAfter }) };
    },
  );

  app.get(
    '/dead-letters/:seq',
    {
      config: viewer,
      schema: { tags: ['operations'], summary: 'One dead letter: the reason, the raw input, where it came from', params: deadLetterParams, response: { 200: deadLetter, ...problems } },
    },
    async (request) => backend.deadLetter(request.params.seq),
  );

  app.post(
    '/dead-letters/:seq/replay',
    {
      config: operator,
      schema: {
        tags: ['operations'],
        summary: "Publish a dead letter's input again on its host's events subject (operators), once the cause is fixed",
        description:
          'The stored line goes back through ingest as it was (nothing in it can be changed here: the API writes no events of its own). A dead letter without a host, or whose input was cut at 64 KiB, cannot be replayed (409). Asking twice within the duplicate window publishes once (`duplicate: true`).',
        params: deadLetterParams,
        body: replayBody,
        response: { 200: replayResult, ...problems },
      },
    },
    async (request) => backend.replayDeadLetter(request.params.seq),
  );
};
