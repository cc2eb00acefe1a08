import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Backend } from '../backend.js';
import { problemSchema, rebuildBody } from '../schemas.js';
import { operator, problems } from './common.js';

export const operationRoutes: FastifyPluginAsyncZod<{ backend: Backend }> = async (app, { backend }) => {
  app.post(
    '/rebuild',
    {
      config: operator,
      schema: {
        tags: ['operations'],
        summary: "Rebuild a host's projection (or every host's) from the event store (operators)",
        description: 'Not yet: the projector has no rebuild verb, so this answers 501 naming what is missing. Restarting the projector rebuilds every host from the store.',
        body: rebuildBody,
        response: { 501: problemSchema, ...problems },
      },
    },
    async (request) => backend.rebuild(request.body?.hostId),
  );
};
