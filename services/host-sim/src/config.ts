import { inboxPrefixOf } from '@lockline/bus';
import { DEFAULT_METRICS_HOST, LISTEN_HOST_ERROR, LISTEN_HOST_PATTERN, natsServers, parseConfig } from '@lockline/runtime';
import { createSimHost, fleetHostId, parseFaults, type Faults, type SimHostOptions } from '@lockline/sim';
import * as z from 'zod';

/** The kernel profile the simulated hosts run (the simulator's own list is the authority). */
export type ProfileName = NonNullable<SimHostOptions['profile']>;

export interface HostSimConfig {
  readonly natsUrl: string;
  /** Omitted: connect without credentials (a server without auth). */
  readonly natsUser?: string;
  readonly natsPassword?: string;
  /** `_INBOX_<user>` for a Lockline server config (each user hears only its own inbox). */
  readonly natsInboxPrefix?: string;
  /** The hosts this process simulates, each publishing on its own subject. */
  readonly hostIds: readonly string[];
  /** Everything a host does follows from (seed, hostId): a restart regenerates the same events. */
  readonly seed: string;
  readonly profile: ProfileName;
  readonly faults: Faults;
  /** Target events/s over the whole process; 0 = as fast as the acks allow. */
  readonly rate: number;
  readonly batchMaxEvents: number;
  readonly batchMaxMs: number;
  /** Publishes awaiting their JetStream ack at once, over all hosts (and never more than one per host). */
  readonly maxInFlight: number;
  /** How long one publish attempt waits for its ack before it is sent again (same Msg-Id). */
  readonly publishTimeoutMs: number;
  /** Where the resume state is kept. */
  readonly stateDir: string;
  /** How often acknowledged positions are written to the resume state (and at stop). */
  readonly stateSaveMs: number;
  /** 0: any free port (logged). */
  readonly metricsPort: number;
  /** LOCKLINE_METRICS_HOST: where /metrics and /healthz listen (default 127.0.0.1; 0.0.0.0 in a container). */
  readonly metricsHost: string;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

const SERVICE = 'host-sim';
const HOST_USER_PREFIX = 'host_';
// The envelope's hostId rule (@lockline/events isValidId); checked here so a bad list fails at start.
const HOST_ID = /^[A-Za-z0-9_-]{1,64}$/;

// An empty variable counts as unset: `LOCKLINE_FAULTS=` from a launcher means "no faults", not "".
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());
const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const envSchema = z.object({
  // One URL, or every node of a cluster separated by commas (connectNats splits them).
  LOCKLINE_NATS_URL: z
    .string({ error: 'required (e.g. nats://127.0.0.1:4222)' })
    .refine((text) => natsServers(text).length > 0 && natsServers(text).every((url) => URL.canParse(url)), 'expected a NATS URL, or several separated by commas (e.g. nats://127.0.0.1:4222)'),
  LOCKLINE_NATS_USER: optional(z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, 'a NATS user name: letters, digits, "_" or "-"')),
  LOCKLINE_NATS_PASSWORD: optional(z.string()),
  LOCKLINE_NATS_INBOX_PREFIX: optional(z.string().regex(/^[A-Za-z0-9_-]+$/)),
  LOCKLINE_HOSTS: optional(integer(1, 10_000)),
  LOCKLINE_HOST_IDS: optional(z.string()),
  LOCKLINE_HOST_ID_PREFIX: optional(z.string().regex(/^[A-Za-z0-9_-]{0,60}$/, 'letters, digits, "_" or "-" (host ids become subject tokens)')),
  LOCKLINE_SEED: optional(z.string()),
  LOCKLINE_PROFILE: optional(z.string()),
  LOCKLINE_FAULTS: optional(z.string()),
  LOCKLINE_RATE: optional(z.coerce.number().min(0).max(10_000_000)),
  LOCKLINE_BATCH_MAX_EVENTS: optional(integer(1, 2000)),
  LOCKLINE_BATCH_MAX_MS: optional(z.coerce.number().min(0.1).max(10_000)),
  LOCKLINE_MAX_IN_FLIGHT: optional(integer(1, 100_000)),
  LOCKLINE_PUBLISH_TIMEOUT_MS: optional(integer(100, 60_000)),
  LOCKLINE_STATE_DIR: optional(z.string()),
  LOCKLINE_STATE_SAVE_MS: optional(integer(10, 60_000)),
  LOCKLINE_METRICS_PORT: optional(integer(0, 65_535)),
  LOCKLINE_METRICS_HOST: optional(z.string().trim().regex(LISTEN_HOST_PATTERN, { error: LISTEN_HOST_ERROR })),
  LOCKLINE_LOG_LEVEL: optional(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])),
});

type Env = z.infer<typeof envSchema>;

const schema = envSchema.transform((env: Env, ctx): HostSimConfig => {
  const issue = (variable: keyof Env, message: string): typeof z.NEVER => {
    ctx.addIssue({ code: 'custom', path: [variable], message });
    return z.NEVER;
  };

  let hostIds: string[];
  if (env.LOCKLINE_HOST_IDS !== undefined) {
    hostIds = env.LOCKLINE_HOST_IDS.split(',').map((id) => id.trim());
    const bad = hostIds.filter((id) => !HOST_ID.test(id));
    if (bad.length > 0) return issue('LOCKLINE_HOST_IDS', `not host ids (1 to 64 letters, digits, "_" or "-"): ${bad.map((id) => JSON.stringify(id)).join(', ')}`);
    const seen = new Set<string>();
    const repeated = hostIds.filter((id) => seen.size === seen.add(id).size);
    if (repeated.length > 0) return issue('LOCKLINE_HOST_IDS', `named twice: ${repeated.join(', ')}`);
    if (env.LOCKLINE_HOSTS !== undefined && env.LOCKLINE_HOSTS !== hostIds.length) {
      return issue('LOCKLINE_HOSTS', `is ${env.LOCKLINE_HOSTS} but LOCKLINE_HOST_IDS names ${hostIds.length} host(s)`);
    }
  } else {
    const prefix = env.LOCKLINE_HOST_ID_PREFIX ?? 'host-';
    // the same ids createFleet gives: host-001, host-002 …
    hostIds = Array.from({ length: env.LOCKLINE_HOSTS ?? 8 }, (_, i) => fleetHostId(prefix, i));
    const bad = hostIds.find((id) => !HOST_ID.test(id));
    if (bad !== undefined) return issue('LOCKLINE_HOST_ID_PREFIX', `makes host ids like ${JSON.stringify(bad)}, longer than 64 characters`);
  }

  const user = env.LOCKLINE_NATS_USER;
  if (user?.startsWith(HOST_USER_PREFIX)) {
    // A host's own user may publish on its own subject only (the server enforces it; say so up front).
    const own = user.slice(HOST_USER_PREFIX.length);
    if (hostIds.length !== 1 || hostIds[0] !== own) {
      return issue('LOCKLINE_NATS_USER', `${user} may publish only for host ${own}: set LOCKLINE_HOSTS=1 and LOCKLINE_HOST_IDS=${own} (or use the hostsim user)`);
    }
  }
  if (user !== undefined && env.LOCKLINE_NATS_PASSWORD === undefined) return issue('LOCKLINE_NATS_PASSWORD', `required with LOCKLINE_NATS_USER`);

  const profile = (env.LOCKLINE_PROFILE ?? 'linux-2008-patch') as ProfileName;
  try {
    // The simulator knows its profiles: ask it rather than keep a second list here.
    createSimHost({ hostId: 'profile-check', seed: 0, profile });
  } catch (error) {
    return issue('LOCKLINE_PROFILE', (error as Error).message);
  }

  let faults: Faults;
  try {
    faults = parseFaults(env.LOCKLINE_FAULTS ?? '');
  } catch (error) {
    return issue('LOCKLINE_FAULTS', (error as Error).message);
  }

  const inboxPrefix = env.LOCKLINE_NATS_INBOX_PREFIX ?? (user === undefined ? undefined : inboxPrefixOf(user));
  return {
    natsUrl: env.LOCKLINE_NATS_URL,
    ...(user === undefined ? {} : { natsUser: user }),
    ...(env.LOCKLINE_NATS_PASSWORD === undefined ? {} : { natsPassword: env.LOCKLINE_NATS_PASSWORD }),
    ...(inboxPrefix === undefined ? {} : { natsInboxPrefix: inboxPrefix }),
    hostIds: Object.freeze(hostIds),
    seed: env.LOCKLINE_SEED ?? '1',
    profile,
    faults: Object.freeze(faults),
    rate: env.LOCKLINE_RATE ?? 0,
    batchMaxEvents: env.LOCKLINE_BATCH_MAX_EVENTS ?? 200,
    batchMaxMs: env.LOCKLINE_BATCH_MAX_MS ?? 5,
    maxInFlight: env.LOCKLINE_MAX_IN_FLIGHT ?? 64,
    publishTimeoutMs: env.LOCKLINE_PUBLISH_TIMEOUT_MS ?? 5000,
    stateDir: env.LOCKLINE_STATE_DIR ?? '.lockline/host-sim',
    stateSaveMs: env.LOCKLINE_STATE_SAVE_MS ?? 100,
    metricsPort: env.LOCKLINE_METRICS_PORT ?? 0,
    metricsHost: env.LOCKLINE_METRICS_HOST ?? DEFAULT_METRICS_HOST,
    logLevel: env.LOCKLINE_LOG_LEVEL ?? 'info',
  };
});

/**
 * The service's configuration from the environment (STYLE.md 9): parsed once, frozen, and a
 * ConfigError naming every wrong LOCKLINE_* variable otherwise. The only place that reads process.env.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): HostSimConfig {
  return parseConfig(SERVICE, schema, env);
}
