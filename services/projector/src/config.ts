import { MAX_PARTITIONS } from '@lockline/bus';
import { PROFILES, type ProfileName } from '@lockline/kernel';
import { DEFAULT_METRICS_HOST, LISTEN_HOST_ERROR, LISTEN_HOST_PATTERN, parseConfig } from '@lockline/runtime';
import * as z from 'zod';

/**
 * The projector's configuration, parsed once from the environment (STYLE.md 9).
 *
 * The partition count comes from here, not from the LOCKLINE_EVENTS stream (`readPartitions`): the
 * `projector` NATS user may not call the JetStream API on that stream (see servicePermissions in
 * libs/bus), and it does not need to. The projector reads the event store, not the events stream, so
 * its N is a contract with the API (which routes a query to `partitionOf(hostId, N)`), not with
 * ingest. Give the API and every projector copy the same LOCKLINE_PARTITIONS; a query routed with
 * another N reaches a copy that answers BAD_REQUEST naming the host's partition, never a wrong state.
 */
export interface ProjectorConfig {
  readonly natsUrl: string;
  readonly natsUser?: string;
  readonly natsPassword?: string;
  /** An event store URL (`sqlite:PATH`, `esdb://…`, `memory:`). */
  readonly store: string;
  /** N: hosts are partitioned by `partitionOf(hostId, N)`. */
  readonly partitions: number;
  /** The partitions this copy folds and answers for, ascending. */
  readonly partitionsMine: readonly number[];
  /** The auditor's profile; by default each host is audited with the profile it booted with. */
  readonly profile?: ProfileName;
  /** How often changed hosts' summaries are written to the hosts bucket (ms). */
  readonly summaryIntervalMs: number;
  /** /metrics and /healthz, on 127.0.0.1 (default 0: any free port, logged at start, as the other services). */
  readonly metricsPort: number;
  /** LOCKLINE_METRICS_HOST: where /metrics and /healthz listen (default 127.0.0.1; 0.0.0.0 in a container). */
  readonly metricsHost: string;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

const integer = (name: string, min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, { error: `${name}: expected a whole number` })
    .transform(Number)
    .pipe(z.number().int().min(min, { error: `${name}: must be at least ${min}` }).max(max, { error: `${name}: must be at most ${max}` }));

const envSchema = z
  .object({
    LOCKLINE_NATS_URL: z.string({ error: 'required: a NATS URL like nats://127.0.0.1:4222' }).regex(/^(nats|tls|ws|wss):\/\/[^\s]+$/, { error: 'expected a NATS URL like nats://127.0.0.1:4222' }),
    LOCKLINE_NATS_USER: z.string().min(1).optional(),
    LOCKLINE_NATS_PASSWORD: z.string().min(1).optional(),
    LOCKLINE_STORE: z.string({ error: 'required: an event store URL (sqlite:PATH, esdb://HOST:PORT?tls=false)' }).regex(/^(sqlite:|memory:$|esdb(\+discover)?:\/\/|kurrentdb(\+discover)?:\/\/)/, {
      error: 'expected an event store URL: sqlite:PATH, esdb://HOST:PORT?tls=false or memory:',
    }),
    LOCKLINE_PARTITIONS: integer('LOCKLINE_PARTITIONS', 1, MAX_PARTITIONS).default(1),
    LOCKLINE_PARTITIONS_MINE: z.string().trim().min(1).default('all'),
    LOCKLINE_PROFILE: z.enum(PROFILES, { error: `expected one of ${PROFILES.join(', ')}` }).optional(),
    LOCKLINE_SUMMARY_INTERVAL_MS: integer('LOCKLINE_SUMMARY_INTERVAL_MS', 50, 3_600_000).default(1000),
    LOCKLINE_METRICS_PORT: integer('LOCKLINE_METRICS_PORT', 0, 65535).default(0),
    LOCKLINE_METRICS_HOST: z.string().trim().regex(LISTEN_HOST_PATTERN, { error: LISTEN_HOST_ERROR }).default(DEFAULT_METRICS_HOST),
    LOCKLINE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((env, ctx) => {
    if ((env.LOCKLINE_NATS_USER === undefined) !== (env.LOCKLINE_NATS_PASSWORD === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['LOCKLINE_NATS_PASSWORD'], message: 'give LOCKLINE_NATS_USER and LOCKLINE_NATS_PASSWORD together, or neither' });
    }
    const mine = parsePartitionsMine(env.LOCKLINE_PARTITIONS_MINE, env.LOCKLINE_PARTITIONS);
    if (typeof mine === 'string') ctx.addIssue({ code: 'custom', path: ['LOCKLINE_PARTITIONS_MINE'], message: mine });
  })
  .transform((env): ProjectorConfig => ({
    natsUrl: env.LOCKLINE_NATS_URL,
    ...(env.LOCKLINE_NATS_USER === undefined ? {} : { natsUser: env.LOCKLINE_NATS_USER }),
    ...(env.LOCKLINE_NATS_PASSWORD === undefined ? {} : { natsPassword: env.LOCKLINE_NATS_PASSWORD }),
    store: env.LOCKLINE_STORE,
    partitions: env.LOCKLINE_PARTITIONS,
    partitionsMine: Object.freeze(parsePartitionsMine(env.LOCKLINE_PARTITIONS_MINE, env.LOCKLINE_PARTITIONS) as number[]),
    ...(env.LOCKLINE_PROFILE === undefined ? {} : { profile: env.LOCKLINE_PROFILE }),
    summaryIntervalMs: env.LOCKLINE_SUMMARY_INTERVAL_MS,
    metricsPort: env.LOCKLINE_METRICS_PORT,
    metricsHost: env.LOCKLINE_METRICS_HOST,
    logLevel: env.LOCKLINE_LOG_LEVEL,
  }));

/**
 * `"all"`, or a comma-separated list of partitions below `partitions` (`"0"`, `"0,2"`): the sorted,
 * distinct list, or a message saying what is wrong.
 */
export function parsePartitionsMine(text: string, partitions: number): number[] | string {
  if (text.trim().toLowerCase() === 'all') return Array.from({ length: partitions }, (_, i) => i);
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const t = part.trim();
    if (!/^\d+$/.test(t)) return `expected "all" or partitions like "0" or "0,2", got ${JSON.stringify(text)}`;
    const p = Number(t);
    if (p >= partitions) return `partition ${p} does not exist: LOCKLINE_PARTITIONS is ${partitions} (partitions 0 to ${partitions - 1})`;
    out.add(p);
  }
  return [...out].sort((a, b) => a - b);
}

/** Parses `env` (default: the process environment) and freezes the result; throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): ProjectorConfig {
  return parseConfig('projector', envSchema, env);
}
