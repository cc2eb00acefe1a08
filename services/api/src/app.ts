import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import swagger, { type SwaggerTransformObject } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { EventStore } from '@lockline/eventstore';
import type { Logger, Registry } from '@lockline/runtime';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, jsonSchemaTransformObject, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { NatsConnection } from 'nats';
import type { Backend } from './backend.js';
import type { ApiConfig } from './config.js';
import { ApiError, type ApiErrorCode, type FieldProblem } from './errors.js';
import { apiMetrics } from './metrics.js';
import { natsBackend } from './natsBackend.js';
import { problem, sendProblem } from './problem.js';
import { deadLetterRoutes } from './routes/deadLetters.js';
import { fleetRoutes } from './routes/fleet.js';
import { healthRoutes } from './routes/health.js';
import { historyRoutes } from './routes/history.js';
import { hostRoutes } from './routes/hosts.js';
import { findingRoutes } from './routes/findings.js';
import { operationRoutes } from './routes/operations.js';
import { streamRoutes, type StreamRegistry } from './routes/stream.js';
import { storeBackend } from './storeBackend.js';
import { TokenTable, allows, type Principal, type Role } from './tokens.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The least role a route needs; routes without one are public (health, metrics, docs, static files). */
    role?: Role;
  }
  interface FastifyRequest {
    principal: Principal | undefined | null;
  }
}

/** What build() needs: connections opened by main.ts (STYLE.md 7), a logger, a metrics registry. */
export interface ApiDeps {
  /** NATS as the `api` user: queries go to the projector. Without it, `store` is folded offline. */
  readonly nc?: NatsConnection;
  /** The event store: a host's events when no projector answers (with NATS), or everything (without). */
  readonly store?: EventStore;
  readonly log: Logger;
  readonly registry: Registry;
  readonly now?: () => number;
}

export type ApiApp = FastifyInstance & { readonly backend: Backend };

const here = dirname(fileURLToPath(import.meta.url));
/** services/api/public, from src/ (tests) and dist/ (the service) alike. */
export const DEFAULT_PUBLIC_DIR = resolve(here, '..', 'public');

/** fastify's own 4xx error codes, as ours. */
function codeOfStatus(status: number): ApiErrorCode {
  switch (status) {
    case 401:
      return 'UNAUTHORIZED';
    case 403:
      return 'FORBIDDEN';
    case 404:
      return 'NOT_FOUND';
    case 409:
      return 'CONFLICT';
    case 413:
      return 'PAYLOAD_TOO_LARGE';
    case 415:
      return 'UNSUPPORTED_MEDIA_TYPE';
    case 429:
      return 'RATE_LIMITED';
    default:
      return 'BAD_REQUEST';
  }
}

type OpenApiDocument = ReturnType<SwaggerTransformObject>;

/**
 * The type provider documents every named schema twice, as read (`XInput`) and as written (`X`);
 * the named ones here are all answers, so the `…Input` twins nobody refers to are dropped.
 */
function withoutUnusedInputs(document: OpenApiDocument): OpenApiDocument {
  const { paths, components } = document as { paths?: unknown; components?: { schemas?: Record<string, unknown> } };
  const schemas = components?.schemas;
  if (schemas === undefined) return document;
  const used = JSON.stringify([paths, Object.entries(schemas).filter(([name]) => !name.endsWith('Input'))]);
  const kept = Object.fromEntries(Object.entries(schemas).filter(([name]) => !name.endsWith('Input') || used.includes(`"#/components/schemas/${name}"`)));
  return { ...document, components: { ...components, schemas: kept } } as OpenApiDocument;
}

/**
 * The API (STYLE.md 8): a fastify instance with every route registered; tests call `app.inject`,
 * main.ts calls `listen`. The backend's background work (watching host summaries, reading findings)
 * starts when the app is readied — `inject` and `listen` both do that — and stops when it closes.
 */
export function build(config: ApiConfig, deps: ApiDeps): ApiApp {
  const log = deps.log;
  const metrics = apiMetrics(deps.registry);
  let backend: Backend;
  if (deps.nc !== undefined) {
    backend = natsBackend(deps.nc, {
      partitions: config.partitions,
      queryTimeoutMs: config.queryTimeoutMs,
      rebuildTimeoutMs: config.rebuildTimeoutMs,
      findingsKept: config.findingsKept,
      log,
      metrics,
      ...(deps.store === undefined ? {} : { store: deps.store }),
      ...(deps.now === undefined ? {} : { now: deps.now }),
    });
  } else if (deps.store !== undefined) {
    backend = storeBackend(deps.store, { partitions: config.partitions, findingsKept: config.findingsKept, ...(deps.now === undefined ? {} : { now: deps.now }) });
  } else {
    throw new TypeError('build(config, deps): give deps.nc (ask the projector) or deps.store (fold a store offline)');
  }
  const tokens = new TokenTable(config.tokens);

  const app = Fastify({
    loggerInstance: log,
    // One log line per request at 1,000 requests/s is noise and CPU: failures are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimit,
    // `/v1/fleet/` is `/v1/fleet`: a trailing slash typed by a person does not make another route.
    routerOptions: { ignoreTrailingSlash: true },
    return503OnClosing: true,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  // Bodies are JSON or nothing: anything else is 415, not a string handed to a JSON schema.
  app.removeContentTypeParser('text/plain');
  // Answers were parsed where they entered the API (a projector reply, a stored message): sent as they are.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  app.decorateRequest('principal', null);
  const principalOf = (request: FastifyRequest): Principal | undefined => {
    if (request.principal === null) request.principal = tokens.authenticate(request.headers.authorization);
    return request.principal;
  };

  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err: FastifyError | ApiError, request, reply) => {
    const instance = request.url.split('?')[0];
    const extra = { ...(instance === undefined ? {} : { instance }), requestId: request.id };
    if (err instanceof ApiError) {
      if (err.code === 'INTERNAL' || err.code === 'UPSTREAM_FAILED') log.error({ err, reqId: request.id, url: request.url }, err.message);
      if (err.code === 'UNAUTHORIZED') reply.header('www-authenticate', 'Bearer realm="lockline"');
      if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(err.retryAfterSeconds));
      return sendProblem(reply, problem(err.code, err.message, { ...extra, ...(err.errors === undefined ? {} : { errors: err.errors }) }));
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = err.validationContext ?? 'request';
      const errors: FieldProblem[] = err.validation.map((v) => ({
        in: where,
        path: (v.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.') || String((v.params as { issue?: { path?: unknown[] } } | undefined)?.issue?.path?.join('.') ?? ''),
        message: v.message ?? 'invalid',
      }));
      const detail = `invalid ${where}: ${errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ')}`;
      return sendProblem(reply, problem('BAD_REQUEST', detail, { ...extra, errors }));
    }
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 400 && status < 500) {
      // fastify's own client errors (bad JSON, body too large, unsupported media type) say what is wrong, and nothing more.
      return sendProblem(reply, problem(codeOfStatus(status), err.message, extra));
    }
    log.error({ err, reqId: request.id, url: request.url }, 'request failed');
    return sendProblem(reply, problem('INTERNAL', `the request failed; the error is in the API's log under request id ${request.id}`, extra));
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? request.url;
    return sendProblem(reply, problem('NOT_FOUND', `no route ${request.method} ${path}: the API's routes are listed at /docs`, { instance: path, requestId: request.id }));
  });

  void app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        // swagger-ui sets styles inline
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        frameAncestors: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
      },
    },
  });

  void app.register(rateLimit, {
    max: config.rateLimitPerMinute,
    timeWindow: 60_000,
    // A valid token is its own bucket, wherever it comes from; anything else is limited by address.
    keyGenerator: (request) => {
      const principal = principalOf(request);
      return principal === undefined ? `ip:${request.ip}` : `token:${principal.tokenId}`;
    },
    errorResponseBuilder: (_request, context) =>
      new ApiError('RATE_LIMITED', `more than ${context.max} requests a minute from this client: try again in ${context.after}`),
  });

  void app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Lockline API',
        version: '1',
        description:
          'Fleet, hosts, processes, time travel, findings and a live stream of what Lockline knows about locked memory. Every /v1 route needs a bearer token (viewer or operator); errors are application/problem+json.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'fleet', description: 'every host at a glance' },
        { name: 'hosts', description: "one host's processes and mms" },
        { name: 'history', description: 'time travel: a past state, a diff, the events' },
        { name: 'findings', description: 'what the audit found, and the live stream' },
        { name: 'operations', description: 'dead letters, rebuilds (operators)' },
        { name: 'service', description: 'health, readiness, metrics' },
      ],
    },
    transform: jsonSchemaTransform,
    transformObject: (document) => withoutUnusedInputs(jsonSchemaTransformObject(document)),
  });
  // No validator badge: it would have browsers fetch from validator.swagger.io (and the CSP refuses it anyway).
  void app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true, validatorUrl: null } });

  // The dashboard's place: static files from public/ at `/` (index.html, assets).
  void app.register(fastifyStatic, { root: config.publicDir ?? DEFAULT_PUBLIC_DIR, prefix: '/', wildcard: false, index: ['index.html'] });

  const streams: StreamRegistry = new Set();
  void app.register(healthRoutes, { backend, registry: deps.registry });
  void app.register(
    async (v1) => {
      // Before the body is parsed and anything validated (a request without a token is 401, whatever
      // else is wrong with it), but after every onRequest hook: the rate limit counts refused requests
      // too (its hooks are the route's own, which run after these), and helmet's headers are on them.
      v1.addHook('preParsing', async (request, _reply, payload) => {
        const role = request.routeOptions.config.role;
        if (role === undefined) return payload;
        const principal = principalOf(request);
        if (principal === undefined) throw new ApiError('UNAUTHORIZED', 'this needs a bearer token: send "Authorization: Bearer <token>" with a token from LOCKLINE_API_TOKENS');
        if (!allows(principal.role, role)) throw new ApiError('FORBIDDEN', `this needs the ${role} role; the token given is a ${principal.role}'s`);
        return payload;
      });
      await v1.register(fleetRoutes, { backend });
      await v1.register(hostRoutes, { backend });
      await v1.register(historyRoutes, { backend });
      await v1.register(findingRoutes, { backend });
      await v1.register(streamRoutes, { backend, streams, metrics });
      await v1.register(deadLetterRoutes, { backend });
      await v1.register(operationRoutes, { backend });
    },
    { prefix: '/v1' },
  );

  app.addHook('onReady', async () => {
    await backend.start();
  });
  app.addHook('preClose', async () => {
    for (const end of streams) end();
  });
  app.addHook('onClose', async () => {
    await backend.stop();
  });

  return Object.assign(app as unknown as FastifyInstance, { backend });
}
