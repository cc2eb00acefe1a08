import { DEFAULT_METRICS_HOST, LISTEN_HOST_ERROR, LISTEN_HOST_PATTERN, parseConfig } from '@lockline/runtime';
import * as z from 'zod';

/**
 * Ingest's configuration: the environment, parsed once here (STYLE.md 9). Nothing else reads
 * process.env. The partition count is not configuration: it is the stream's (readPartitions), so no
 * copy can disagree with the server's routing; a copy only says which partitions it takes.
 */

export const SERVICE = 'lockline-ingest';

/** Which partitions a copy consumes: every one the stream has, or these. */
export type PartitionsMine = 'all' | readonly number[];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface IngestConfig {
  /** LOCKLINE_NATS_URL: `nats://host:port`. */
  readonly natsUrl: string;
  /** LOCKLINE_NATS_USER: the ingest user of the server config (default `ingest`). */
  readonly natsUser: string;
  /** LOCKLINE_NATS_PASSWORD: absent only for a server without authorization (development). */
  readonly natsPassword: string | undefined;
  /** LOCKLINE_STORE: `sqlite:PATH`, or an EventStoreDB connection string (see openEventStore). */
  readonly store: string;
  /**
   * LOCKLINE_STORE_SYNC (`normal` | `full`, SQLite only): `full` fsyncs every append before ingest
   * acks it, so an ack survives a power cut, not only a crash; `normal` (default) survives a process
   * crash, as JetStream's own default sync does.
   */
  readonly storeSync: 'normal' | 'full';
  /** LOCKLINE_PARTITIONS_MINE: `all` (default), or a comma-separated list like `0,2`. */
  readonly partitionsMine: PartitionsMine;
  /** LOCKLINE_GAP_HOLD_MS: how long events behind a missing seq wait for it (default 2000). */
  readonly gapHoldMs: number;
  /** LOCKLINE_METRICS_PORT: /metrics and /healthz on 127.0.0.1; 0 any free port (default), -1 off. */
  readonly metricsPort: number;
  /** LOCKLINE_METRICS_HOST: where /metrics and /healthz listen (default 127.0.0.1; 0.0.0.0 in a container). */
  readonly metricsHost: string;
  /** LOCKLINE_LOG_LEVEL (default info). */
  readonly logLevel: (typeof LOG_LEVELS)[number];
  /** LOCKLINE_FETCH_MAX_MESSAGES: batches buffered ahead per partition, and the most one round takes (default 256). */
  readonly fetchMaxMessages: number;
  /** LOCKLINE_STORE_RETRY_MS: nak delay after a failed append, doubled per failure in a row up to 30 s (default 1000). */
  readonly storeRetryMs: number;
}

/** An unset or empty variable takes its default (compose files often pass `VAR=`). */
const unsetIfEmpty = (value: unknown): unknown => (value === '' ? undefined : value);

function integer(min: number, max: number, fallback: number): z.ZodType<number, unknown> {
  return z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .optional()
      .transform((text, ctx) => {
        if (text === undefined) return fallback;
        const value = /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
        if (!Number.isSafeInteger(value) || value < min || value > max) {
          ctx.addIssue({ code: 'custom', message: `expected an integer from ${min} to ${max}, got ${JSON.stringify(text)}` });
          return z.NEVER;
        }
        return value;
      }),
  ) as z.ZodType<number, unknown>;
}

const partitionsMine = z.preprocess(
  unsetIfEmpty,
  z
    .string()
    .optional()
    .transform((text, ctx): PartitionsMine => {
      const trimmed = (text ?? 'all').trim();
      if (trimmed === 'all') return 'all';
      const parts = trimmed.split(',').map((p) => p.trim());
      const out: number[] = [];
      for (const part of parts) {
        if (!/^\d{1,4}$/.test(part)) {
          ctx.addIssue({ code: 'custom', message: `expected "all" or partition numbers separated by commas (e.g. "0" or "0,2"), got ${JSON.stringify(text)}` });
          return z.NEVER;
        }
        const partition = Number(part);
        if (out.includes(partition)) {
          ctx.addIssue({ code: 'custom', message: `partition ${partition} is listed twice in ${JSON.stringify(text)}` });
          return z.NEVER;
        }
        out.push(partition);
      }
      return Object.freeze(out.sort((a, b) => a - b));
    }),
);

const schema = z
  .object({
    LOCKLINE_NATS_URL: z.string({ error: 'required: the NATS server, e.g. nats://127.0.0.1:4222' }).regex(/^(nats|tls|ws|wss):\/\/\S+$/, {
      error: (issue) => `expected a NATS URL like nats://127.0.0.1:4222, got ${JSON.stringify(issue.input)}`,
    }),
    LOCKLINE_NATS_USER: z.preprocess(unsetIfEmpty, z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, { error: 'expected a NATS user name (letters, digits, "_" or "-")' }).default('ingest')),
    LOCKLINE_NATS_PASSWORD: z.preprocess(unsetIfEmpty, z.string().optional()),
    LOCKLINE_STORE: z.string({ error: 'required: the event store, e.g. sqlite:/var/lib/lockline/events.db' }).regex(/^(sqlite:.+|memory:|(esdb|kurrentdb)(\+discover)?:\/\/.+)$/, {
      error: (issue) => `expected sqlite:PATH or an EventStoreDB connection string (esdb://host:2113?tls=false), got ${JSON.stringify(issue.input)}`,
    }),
    LOCKLINE_STORE_SYNC: z.preprocess(unsetIfEmpty, z.enum(['normal', 'full'], { error: 'expected "normal" or "full"' }).default('normal')),
    LOCKLINE_PARTITIONS_MINE: partitionsMine,
    LOCKLINE_GAP_HOLD_MS: integer(0, 600_000, 2000),
    LOCKLINE_METRICS_PORT: integer(-1, 65_535, 0),
    LOCKLINE_METRICS_HOST: z.preprocess(unsetIfEmpty, z.string().trim().regex(LISTEN_HOST_PATTERN, { error: LISTEN_HOST_ERROR }).default(DEFAULT_METRICS_HOST)),
    LOCKLINE_LOG_LEVEL: z.preprocess(unsetIfEmpty, z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }).default('info')),
    LOCKLINE_FETCH_MAX_MESSAGES: integer(1, 1024, 256),
    LOCKLINE_STORE_RETRY_MS: integer(10, 60_000, 1000),
  })
  .superRefine((env, ctx) => {
    if (env.LOCKLINE_STORE_SYNC === 'full' && !env.LOCKLINE_STORE.startsWith('sqlite:')) {
      ctx.addIssue({ code: 'custom', path: ['LOCKLINE_STORE_SYNC'], message: '"full" applies to an SQLite store (sqlite:PATH) only' });
    }
  })
  .transform(
    (env): IngestConfig => ({
      natsUrl: env.LOCKLINE_NATS_URL,
      natsUser: env.LOCKLINE_NATS_USER,
      natsPassword: env.LOCKLINE_NATS_PASSWORD,
      store: env.LOCKLINE_STORE,
      storeSync: env.LOCKLINE_STORE_SYNC,
      partitionsMine: env.LOCKLINE_PARTITIONS_MINE,
      gapHoldMs: env.LOCKLINE_GAP_HOLD_MS,
      metricsPort: env.LOCKLINE_METRICS_PORT,
      metricsHost: env.LOCKLINE_METRICS_HOST,
      logLevel: env.LOCKLINE_LOG_LEVEL,
      fetchMaxMessages: env.LOCKLINE_FETCH_MAX_MESSAGES,
      storeRetryMs: env.LOCKLINE_STORE_RETRY_MS,
    }),
  );

/** Parses the environment; throws ConfigError naming every variable that is wrong. */
export function loadConfig(env: Record<string, string | undefined>): Readonly<IngestConfig> {
  return parseConfig(SERVICE, schema, env);
}
