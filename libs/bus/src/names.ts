import { InvalidIdError, SUBJECT_ROOT, isValidId } from '@lockline/events';

/**
 * Every JetStream name and NATS subject the pipeline uses, in one place (the per-host subjects
 * themselves — `eventsSubject`, `dlqSubject`, `findingsSubject` — live in @lockline/events).
 *
 * Partitioning, in one rule: a host publishes on `lockline.v1.events.<hostId>`; the LOCKLINE_EVENTS
 * stream captures `lockline.v1.events.*` and its own subject transform (JetStream ≥ 2.10) stores every
 * message as `lockline.v1.pevents.<p>.<hostId>` with `p = partitionOf(hostId, partitions)`. Ingest copy
 * k reads the durable consumer `ingest-p<k>` filtered on `lockline.v1.pevents.<k>.*`. No server config
 * is involved, so the same works on any NATS ≥ 2.10 (one given with --nats included), and the
 * partition count lives in the stream: `readPartitions()` tells every service what it is.
 */

/** The stream of host event batches (see the module comment for its subjects). */
export const EVENTS_STREAM = 'LOCKLINE_EVENTS';
/** Dead letters: invalid input with the reason, on `lockline.v1.dlq.<hostId>`. */
export const DLQ_STREAM = 'LOCKLINE_DLQ';
/** The audit's findings, on `lockline.v1.findings.<hostId>`. */
export const FINDINGS_STREAM = 'LOCKLINE_FINDINGS';
/** The KV bucket of per-host summaries, keyed by hostId (its stream is `KV_lockline_hosts`). */
export const HOSTS_BUCKET = 'lockline_hosts';
/** The stream behind HOSTS_BUCKET, for permissions and stream-level settings. */
export const HOSTS_BUCKET_STREAM = `KV_${HOSTS_BUCKET}`;

/** How LOCKLINE_EVENTS stores them: `lockline.v1.pevents.<partition>.<hostId>`. */
export const PARTITIONED_EVENTS_WILDCARD = `${SUBJECT_ROOT}.pevents.*.*`;

/** The most partitions a deployment may have; one ingest consumer each. */
export const MAX_PARTITIONS = 1024;

/** A partition count or index out of range. */
export class InvalidPartitionError extends Error {
  readonly code = 'INVALID_PARTITION';
  constructor(
    readonly field: 'partitions' | 'partition',
    readonly value: unknown,
  ) {
    super(
      field === 'partitions'
        ? `invalid partition count: expected an integer from 1 to ${MAX_PARTITIONS}, got ${String(value)}`
        : `invalid partition: expected a non-negative integer below the partition count, got ${String(value)}`,
    );
    this.name = 'InvalidPartitionError';
  }
}

/** Throws unless `partitions` is an integer in 1..MAX_PARTITIONS. */
export function checkPartitions(partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) throw new InvalidPartitionError('partitions', partitions);
  return partitions;
}

function checkPartition(partition: number): number {
  if (!Number.isInteger(partition) || partition < 0 || partition >= MAX_PARTITIONS) throw new InvalidPartitionError('partition', partition);
  return partition;
}

function checkHostId(hostId: string): string {
  if (!isValidId(hostId)) throw new InvalidIdError('hostId', hostId);
  return hostId;
}

/** `lockline.v1.pevents.<partition>.<hostId>`: the subject a host's batch is stored under. */
export function partitionedEventsSubject(partition: number, hostId: string): string {
  return `${SUBJECT_ROOT}.pevents.${checkPartition(partition)}.${checkHostId(hostId)}`;
}

/** `lockline.v1.pevents.<partition>.*`: every host of one partition (an ingest consumer's filter). */
export function partitionFilter(partition: number): string {
  return `${SUBJECT_ROOT}.pevents.${checkPartition(partition)}.*`;
}

const PEVENTS_PREFIX = `${SUBJECT_ROOT}.pevents.`;

/** The partition and hostId of a stored events subject, or undefined for any other subject. */
export function parsePartitionedSubject(subject: string): { partition: number; hostId: string } | undefined {
  if (!subject.startsWith(PEVENTS_PREFIX)) return undefined;
  const rest = subject.slice(PEVENTS_PREFIX.length);
  const dot = rest.indexOf('.');
  if (dot <= 0) return undefined;
  const partitionText = rest.slice(0, dot);
  const hostId = rest.slice(dot + 1);
  if (!/^\d{1,4}$/.test(partitionText) || !isValidId(hostId)) return undefined;
  return { partition: Number(partitionText), hostId };
}

/** `ingest-p<partition>`: the durable consumer ingest copy `partition` reads. */
export function ingestConsumerName(partition: number): string {
  return `ingest-p${checkPartition(partition)}`;
}

/**
 * The DLQ token for input no host can be told for (unparseable subject or envelope). Host ids match
 * /^[A-Za-z0-9_-]{1,64}$/, so `_unknown` would be a valid — and collidable — host id; `~` is outside
 * that alphabet yet a plain character in a NATS subject token, so `~unknown` can never be a host.
 */
export const UNKNOWN_HOST_TOKEN = '~unknown';

/** `lockline.v1.dlq.<hostId>`, or `lockline.v1.dlq.~unknown` for null or an id unfit for a subject. */
export function deadLetterSubject(hostId: string | null): string {
  return `${SUBJECT_ROOT}.dlq.${hostId !== null && isValidId(hostId) ? hostId : UNKNOWN_HOST_TOKEN}`;
}

/**
 * Request-reply verbs the projector answers: questions about a host (`state`, `tree`, `explain`,
 * `stateAt`, `vmas`, `events`), about a partition (`fleet`), and one action (`rebuild`, which the
 * API lets only operators ask for).
 */
export const QUERY_VERBS = ['state', 'tree', 'explain', 'stateAt', 'fleet', 'vmas', 'events', 'rebuild'] as const;
export type QueryVerb = (typeof QUERY_VERBS)[number];

export function isQueryVerb(value: unknown): value is QueryVerb {
  return typeof value === 'string' && (QUERY_VERBS as readonly string[]).includes(value);
}

/**
 * `lockline.v1.query.<partition>.<verb>`: a request to the projector copy owning `partition`
 * (`partitionOf(hostId, partitions)` for a host query; every partition in turn for `fleet`).
 */
export function querySubject(partition: number, verb: QueryVerb): string {
  if (!isQueryVerb(verb)) throw new TypeError(`unknown query verb ${String(verb)}; expected one of ${QUERY_VERBS.join(', ')}`);
  return `${SUBJECT_ROOT}.query.${checkPartition(partition)}.${verb}`;
}

/** `lockline.v1.query.<partition>.*`: what the projector copy owning `partition` subscribes to. */
export function queryWildcard(partition: number): string {
  return `${SUBJECT_ROOT}.query.${checkPartition(partition)}.*`;
}

/** Every query subject (`lockline.v1.query.>`), for permissions. */
export const QUERY_ALL = `${SUBJECT_ROOT}.query.>`;

/** The NATS users writeNatsConfig creates besides one per host. */
export const SERVICE_ROLES = ['ingest', 'projector', 'api', 'hostsim', 'admin'] as const;
export type ServiceRole = (typeof SERVICE_ROLES)[number];

/**
 * `host_<hostId>`: a host's NATS user. No service role starts with `host_`, so the two never collide.
 */
export function hostUser(hostId: string): string {
  return `host_${checkHostId(hostId)}`;
}

/**
 * `_INBOX_<user>`: the reply-inbox prefix a user's client must set (`inboxPrefix`) to get replies —
 * JetStream publish acks included. Each user may subscribe only to its own prefix, so no client can
 * read another's acks or replies.
 */
export function inboxPrefixOf(user: string): string {
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(user)) throw new TypeError(`invalid NATS user name ${JSON.stringify(user)}`);
  return `_INBOX_${user}`;
}

/**
 * `lockline-<role>`: the name a service registers with NATS's services framework (`$SRV.PING`,
 * `$SRV.INFO`, `$SRV.STATS`), so `nats micro ls` or `lockline status` lists every running copy.
 */
export function microServiceName(role: Exclude<ServiceRole, 'admin'>): string {
  return `lockline-${role}`;
}

/** `lockline.v1.health.<role>`: one copy of that service answers with its readiness. */
export function healthSubject(role: Exclude<ServiceRole, 'admin'>): string {
  return `${SUBJECT_ROOT}.health.${role}`;
}
