import type { Registry } from '@lockline/runtime';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import * as z from 'zod';
import type { Backend } from '../backend.js';
import { health } from '../schemas.js';

/** Probes and metrics: public (no token), never rate limited. Keep the API's port off the open internet. */
export const healthRoutes: FastifyPluginAsyncZod<{ backend: Backend; registry: Registry }> = async (app, { backend, registry }) => {
  const open = { rateLimit: false } as const;

  app.get(
    '/healthz',
    { config: open, schema: { tags: ['service'], summary: 'Liveness: the process answers', security: [], response: { 200: health } } },
    async () => ({ status: 'ok' as const, backend: backend.kind, checks: {} }),
  );

  app.get(
    '/readyz',
    {
      config: open,
      schema: {
        tags: ['service'],
        summary: 'Readiness: connected, and the host summaries and findings loaded (503 until then)',
        security: [],
        response: { 200: health, 503: health },
      },
    },
    async (_request, reply) => {
      const checks = backend.checks();
      const ok = Object.values(checks).every(Boolean);
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'not ready', backend: backend.kind, checks });
    },
  );

  app.get(
    '/metrics',
    { config: open, schema: { tags: ['service'], summary: 'Prometheus metrics (text format)', security: [], response: { 200: z.string() } } },
    async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  );
};
