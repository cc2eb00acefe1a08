import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Backend } from '../backend.js';
import { problemSchema, rebuildBody, rebuildResult } from '../schemas.js';
import { operator, problems } from './common.js';

export const operationRoutes: FastifyPluginAsyncZod<{ backend: Backend }> = async (app, { backend }) => {
  app.post(
    '/rebuild',
    {
      config: operator,
      schema: {
        tags: ['operations'],
        summary: "Rebuild a host's projection (or every host's) from the event store (operators)",
        description:
          "The projector copy owning the host drops its fold and folds the host's boots again from the store while the host's new events wait, publishes only the findings no earlier fold published, and writes the host's summary. Without `hostId`, every host, one at a time (each partition's copy its own). A rebuild of a correct state gives the same state hash. Offline (no NATS) this is 501.",
        body: rebuildBody,
        response: { 200: rebuildResult, 501: problemSchema, ...problems },
      },
    },
    async (request) => backend.rebuild(request.body?.hostId),
  );
};
