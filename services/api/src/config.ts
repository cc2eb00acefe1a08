import { MAX_PARTITIONS } from '@lockline/bus';
import { parseConfig } from '@lockline/runtime';
import * as z from 'zod';
import { parseTokens, type ApiToken } from './tokens.js';

/**
 * The API's configuration, parsed once from the environment (STYLE.md 9) and frozen.
 *
 * Two ways to run: with LOCKLINE_NATS_URL the API asks the projector over NATS (the normal case);
 * without it, LOCKLINE_STORE names an event store the API folds itself, for offline debugging. With
 * both, NATS answers every query and the store serves a host's events only when no projector answers.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface ApiConfig {
  /** LOCKLINE_NATS_URL; absent: offline, from LOCKLINE_STORE alone. */
  readonly natsUrl?: string;
  readonly natsUser?: string;
  readonly natsPassword?: string;
  /** LOCKLINE_STORE: an event store URL (`sqlite:PATH`, `esdb://…`, `memory:`). */
  readonly store?: string;
  /** LOCKLINE_PARTITIONS: N, as the projector copies have it: a host's queries go to `partitionOf(hostId, N)`. */
  readonly partitions: number;
  /** LOCKLINE_API_HOST (default 127.0.0.1) and LOCKLINE_API_PORT (default 8080; 0 any free port). */
  readonly host: string;
  readonly port: number;
  /** LOCKLINE_API_TOKENS: `role:token` pairs, comma separated; roles `viewer` and `operator`. */
  readonly tokens: readonly ApiToken[];
  /** LOCKLINE_API_RATE_LIMIT: requests per minute per token (per address before authentication); default 6000. */
  readonly rateLimitPerMinute: number;
  /** LOCKLINE_API_BODY_LIMIT: the largest request body in bytes (default 16384). */
  readonly bodyLimit: number;
  /** LOCKLINE_QUERY_TIMEOUT_MS: how long a projector query may take (default 5000). */
  readonly queryTimeoutMs: number;
  /** LOCKLINE_API_REBUILD_TIMEOUT_MS: how long the API waits for a rebuild (default 120000; the projector finishes it anyway). */
  readonly rebuildTimeoutMs: number;
  /** LOCKLINE_API_FINDINGS_KEPT: findings held in memory for paging and stream resumption (default 100000). */
  readonly findingsKept: number;
  /** LOCKLINE_API_PUBLIC_DIR: static files served at `/` (default: the package's public/). */
  readonly publicDir?: string;
  readonly logLevel: (typeof LOG_LEVELS)[number];
}

const unsetIfEmpty = (value: unknown): unknown => (value === '' ? undefined : value);

function integer(min: number, max: number, fallback: number): z.ZodType<number, unknown> {
  return z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .optional()
      .transform((text, ctx) => {
        if (text === undefined) return fallback;
        const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
        if (!Number.isSafeInteger(value) || value < min || value > max) {
          ctx.addIssue({ code: 'custom', message: `expected a whole number from ${min} to ${max}, got ${JSON.stringify(text)}` });
          return z.NEVER;
        }
        return value;
      }),
  ) as z.ZodType<number, unknown>;
}

const optionalText = z.preprocess(unsetIfEmpty, z.string().min(1).optional());

const envSchema = z
  .object({
    LOCKLINE_NATS_URL: z.preprocess(unsetIfEmpty, z.string().regex(/^(nats|tls|ws|wss):\/\/\S+$/, { error: 'expected a NATS URL like nats://127.0.0.1:4222' }).optional()),
    LOCKLINE_NATS_USER: optionalText,
    LOCKLINE_NATS_PASSWORD: optionalText,
    LOCKLINE_STORE: z.preprocess(
      unsetIfEmpty,
      z
        .string()
        .regex(/^(sqlite:.+|memory:|(esdb|kurrentdb)(\+discover)?:\/\/.+)$/, { error: 'expected an event store URL: sqlite:PATH, esdb://HOST:PORT?tls=false or memory:' })
        .optional(),
    ),
    LOCKLINE_PARTITIONS: integer(1, MAX_PARTITIONS, 1),
    LOCKLINE_API_HOST: z.preprocess(unsetIfEmpty, z.string().regex(/^[A-Za-z0-9.:[\]-]+$/, { error: 'expected an address to listen on, like 127.0.0.1 or ::' }).default('127.0.0.1')),
    LOCKLINE_API_PORT: integer(0, 65_535, 8080),
    LOCKLINE_API_TOKENS: z.string({ error: 'required: bearer tokens as role:token pairs, e.g. "viewer:<32 random characters>,operator:<another>"' }),
    LOCKLINE_API_RATE_LIMIT: integer(1, 10_000_000, 6000),
    LOCKLINE_API_BODY_LIMIT: integer(256, 16 * 1024 * 1024, 16 * 1024),
    LOCKLINE_QUERY_TIMEOUT_MS: integer(50, 120_000, 5000),
    LOCKLINE_API_REBUILD_TIMEOUT_MS: integer(1000, 3_600_000, 120_000),
    LOCKLINE_API_FINDINGS_KEPT: integer(100, 10_000_000, 100_000),
    LOCKLINE_API_PUBLIC_DIR: optionalText,
    LOCKLINE_LOG_LEVEL: z.preprocess(unsetIfEmpty, z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }).default('info')),
  })
  .superRefine((env, ctx) => {
    if (env.LOCKLINE_NATS_URL === undefined && env.LOCKLINE_STORE === undefined) {
      ctx.addIssue({ code: 'custom', path: ['LOCKLINE_NATS_URL'], message: 'give LOCKLINE_NATS_URL (ask the projector), LOCKLINE_STORE (fold a store offline), or both' });
    }
    if ((env.LOCKLINE_NATS_USER === undefined) !== (env.LOCKLINE_NATS_PASSWORD === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['LOCKLINE_NATS_PASSWORD'], message: 'give LOCKLINE_NATS_USER and LOCKLINE_NATS_PASSWORD together, or neither' });
    }
    const tokens = parseTokens(env.LOCKLINE_API_TOKENS);
    if (typeof tokens === 'string') ctx.addIssue({ code: 'custom', path: ['LOCKLINE_API_TOKENS'], message: tokens });
  })
  .transform(
    (env): ApiConfig => ({
      ...(env.LOCKLINE_NATS_URL === undefined ? {} : { natsUrl: env.LOCKLINE_NATS_URL }),
      ...(env.LOCKLINE_NATS_USER === undefined ? {} : { natsUser: env.LOCKLINE_NATS_USER }),
      ...(env.LOCKLINE_NATS_PASSWORD === undefined ? {} : { natsPassword: env.LOCKLINE_NATS_PASSWORD }),
      ...(env.LOCKLINE_STORE === undefined ? {} : { store: env.LOCKLINE_STORE }),
      partitions: env.LOCKLINE_PARTITIONS,
      host: env.LOCKLINE_API_HOST,
      port: env.LOCKLINE_API_PORT,
      tokens: Object.freeze(parseTokens(env.LOCKLINE_API_TOKENS) as ApiToken[]),
      rateLimitPerMinute: env.LOCKLINE_API_RATE_LIMIT,
      bodyLimit: env.LOCKLINE_API_BODY_LIMIT,
      queryTimeoutMs: env.LOCKLINE_QUERY_TIMEOUT_MS,
      rebuildTimeoutMs: env.LOCKLINE_API_REBUILD_TIMEOUT_MS,
      findingsKept: env.LOCKLINE_API_FINDINGS_KEPT,
      ...(env.LOCKLINE_API_PUBLIC_DIR === undefined ? {} : { publicDir: env.LOCKLINE_API_PUBLIC_DIR }),
      logLevel: env.LOCKLINE_LOG_LEVEL,
    }),
  );

/** Parses `env` (default: the process environment) and freezes the result; throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): ApiConfig {
  return parseConfig('api', envSchema, env);
}

/** A config for tests and tools: defaults for everything not given. */
export function apiConfig(overrides: Partial<ApiConfig> & Pick<ApiConfig, 'tokens'>): ApiConfig {
  return Object.freeze({
    partitions: 1,
    host: '127.0.0.1',
    port: 0,
    rateLimitPerMinute: 6000,
    bodyLimit: 16 * 1024,
    queryTimeoutMs: 5000,
    rebuildTimeoutMs: 120_000,
    findingsKept: 100_000,
    logLevel: 'silent' as const,
    ...overrides,
  });
}
