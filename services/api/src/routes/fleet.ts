import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Backend } from '../backend.js';
import { fleet } from '../schemas.js';
import { problems, viewer } from './common.js';

export const fleetRoutes: FastifyPluginAsyncZod<{ backend: Backend }> = async (app, { backend }) => {
  app.get(
    '/fleet',
    {
      config: viewer,
      schema: {
        tags: ['fleet'],
        summary: 'Every host: its boot, process count, locked pages, findings by code, event rate and lag',
        description: "From the hosts bucket the projector writes (one summary per host, at most every summary interval), held in memory and kept current by a watch: this answers without asking the projector.",
        response: { 200: fleet, ...problems },
      },
    },
    async () => backend.fleet(),
  );
};
