import { DLQ_WILDCARD, EVENTS_WILDCARD, FINDINGS_WILDCARD } from '@lockline/events';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  nanos,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from 'nats';
import { NotFound, StreamMismatch, jetStreamErrorCode, translateError } from './errors.js';
import { DLQ_STREAM, EVENTS_STREAM, FINDINGS_STREAM, HOSTS_BUCKET, HOSTS_BUCKET_STREAM, checkPartitions, ingestConsumerName, partitionFilter } from './names.js';
import { eventsSubjectTransform, partitionsOfTransform } from './partition.js';

/**
 * Idempotent setup of the JetStream side: streams, the ingest consumers and the hosts KV bucket.
 * Each `ensure*` creates what is missing, updates what differs in a setting JetStream lets us change,
 * and throws StreamMismatch for what it must not change by itself. Nothing is ever deleted — not a
 * stream, not a consumer (fewer partitions leave the extra `ingest-p<k>` in place), not a message.
 */

const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;
const STREAM_NAME_IN_USE = 10058;

export interface StreamsOptions {
  /** How many ingest partitions LOCKLINE_EVENTS routes hosts into (1 … 1024). */
  partitions: number;
  /** Stream replicas (1 on a single server; 3 in a cluster). Default 1. */
  replicas?: number;
  /** Default 'file'. 'memory' loses everything on a server restart: tests only. */
  storage?: 'file' | 'memory';
  /**
   * Cap per stream in bytes, for all three streams. Default: LOCKLINE_EVENTS 1 GiB (a full stream
   * refuses new batches: publishers get StreamFull), LOCKLINE_DLQ and LOCKLINE_FINDINGS 256 MiB each
   * (the oldest go first). The server's max_file_store must hold them all.
   */
  maxBytes?: number;
  /**
   * Keep every event batch in LOCKLINE_EVENTS after ingest has stored it (until maxBytes/maxAgeMs),
   * for tests and inspection that compare the bus with the store. Default false: the stream is a work
   * queue, and a batch is removed as soon as ingest acks it (it is durable in the event store by
   * then), so the stream holds only what ingest has yet to store.
   */
  keepAckedEvents?: boolean;
  /** How long messages stay; default 0 (until the byte cap). */
  maxAgeMs?: number;
  /** JetStream's dedupe window for Nats-Msg-Id; a publish retry must land within it. Default 2 minutes. */
  duplicateWindowMs?: number;
  /**
   * Let ensureStreams change an existing stream's partition count (or give it one). Default false:
   * re-partitioning moves hosts between ingest copies while messages may still be pending in their
   * old partition, so it is a deliberate step (drain ingest first), never a side effect of a config
   * typo.
   */
  allowRepartition?: boolean;
}

export type EnsureAction = 'created' | 'updated' | 'unchanged';

export interface EnsureResult {
  /** "stream LOCKLINE_EVENTS", "consumer ingest-p0 on LOCKLINE_EVENTS", "bucket lockline_hosts". */
  readonly resource: string;
  readonly action: EnsureAction;
  /** What differed, for an update ("max_bytes: -1 → 1048576"). */
  readonly changes: readonly string[];
}

const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
/**
 * Default caps (JetStream reserves each stream's max_bytes against the server's max_file_store or
 * max_memory_store, so they must fit it): LOCKLINE_EVENTS holds minutes of backlog at full speed, far
 * from a disk's size; LOCKLINE_DLQ and LOCKLINE_FINDINGS each a quarter of that. Memory streams
 * (tests) get a sixteenth.
 */
export function defaultMaxBytes(stream: 'events' | 'side', storage: StreamsOptions['storage']): number {
  const events = storage === 'memory' ? 64 * 2 ** 20 : 2 ** 30;
  return stream === 'events' ? events : events / 4;
}

function storageType(storage: StreamsOptions['storage']): StorageType {
  return storage === 'memory' ? StorageType.Memory : StorageType.File;
}

/** The three streams' configurations, as ensureStreams wants them. */
export function streamConfigs(options: StreamsOptions): Array<Partial<StreamConfig> & { name: string }> {
  const common = {
    retention: RetentionPolicy.Limits,
    storage: storageType(options.storage),
    num_replicas: options.replicas ?? 1,
    max_bytes: options.maxBytes ?? defaultMaxBytes('side', options.storage),
    max_age: nanos(options.maxAgeMs ?? 0),
    duplicate_window: nanos(options.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS),
  };
  return [
    {
      ...common,
      name: EVENTS_STREAM,
      description: 'Lockline host event batches (JSONL), stored as lockline.v1.pevents.<partition>.<hostId>',
      // A work queue: each ingest-p<k> consumer filters its own partition (never overlapping), and
      // its ack — given once the batch is durable in the event store — removes the batch.
      retention: options.keepAckedEvents === true ? RetentionPolicy.Limits : RetentionPolicy.Workqueue,
      max_bytes: options.maxBytes ?? defaultMaxBytes('events', options.storage),
      subjects: [EVENTS_WILDCARD],
      subject_transform: { ...eventsSubjectTransform(checkPartitions(options.partitions)) },
      // When full, refuse new batches (the publisher sees it and retries) rather than drop old unread ones.
      discard: DiscardPolicy.New,
    },
    {
      ...common,
      name: DLQ_STREAM,
      description: 'Lockline dead letters: invalid input with the reason',
      subjects: [DLQ_WILDCARD],
      // A full DLQ must never stop the pipeline: the oldest dead letters go first.
      discard: DiscardPolicy.Old,
    },
    {
      ...common,
      name: FINDINGS_STREAM,
      description: 'Lockline audit findings, per host',
      subjects: [FINDINGS_WILDCARD],
      discard: DiscardPolicy.Old,
    },
  ];
}

/** JSON with object keys sorted, so that two configs compare equal whatever order the server sends. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}

function same(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function describe(value: unknown): string {
  return value === undefined ? '(unset)' : JSON.stringify(value);
}

/** `key: old → new` for each key of `desired` whose value differs in `actual`. */
function differences(desired: object, actual: object): string[] {
  const out: string[] = [];
  for (const [key, want] of Object.entries(desired)) {
    const have = (actual as Record<string, unknown>)[key];
    if (!same(want, have)) out.push(`${key}: ${describe(have)} → ${describe(want)}`);
  }
  return out;
}

async function streamInfoOrUndefined(jsm: JetStreamManager, name: string): Promise<StreamConfig | undefined> {
  try {
    return (await jsm.streams.info(name)).config;
  } catch (error) {
    if (jetStreamErrorCode(error) === STREAM_NOT_FOUND) return undefined;
    throw translateError(error, `stream ${name} info`);
  }
}

/**
 * Creates or updates one stream to `desired`. `guard` may veto an update (it returns the reasons).
 * JetStream itself refuses some changes (storage, retention, a lower replica count in some versions):
 * those come back as StreamMismatch with the server's reason as cause.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  desired: Partial<StreamConfig> & { name: string },
  guard?: (actual: StreamConfig) => string[],
): Promise<EnsureResult> {
  const resource = `stream ${desired.name}`;
  for (let attempt = 0; ; attempt++) {
    const actual = await streamInfoOrUndefined(jsm, desired.name);
    if (actual === undefined) {
      try {
        await jsm.streams.add(desired);
        return { resource, action: 'created', changes: [] };
      } catch (error) {
        // Another copy created it between our info and add: look again (once).
        if (jetStreamErrorCode(error) === STREAM_NAME_IN_USE && attempt === 0) continue;
        throw translateError(error, `create ${resource}`);
      }
    }
    const changes = differences(desired, actual);
    if (changes.length === 0) return { resource, action: 'unchanged', changes };
    const vetoes = guard?.(actual) ?? [];
    if (vetoes.length > 0) throw new StreamMismatch(resource, vetoes);
    try {
      await jsm.streams.update(desired.name, { ...actual, ...desired });
    } catch (error) {
      const translated = translateError(error, `update ${resource}`);
      if (translated.code === 'BUS_ERROR' && jetStreamErrorCode(error) !== undefined) throw new StreamMismatch(resource, [...changes, `server: ${translated.message}`], { cause: error });
      throw translated;
    }
    return { resource, action: 'updated', changes };
  }
}

/**
 * Ensures LOCKLINE_EVENTS (with its partitioning transform), LOCKLINE_DLQ and LOCKLINE_FINDINGS.
 * Needs a user allowed to manage streams (the `admin` user of writeNatsConfig).
 */
export async function ensureStreams(jsm: JetStreamManager, options: StreamsOptions): Promise<EnsureResult[]> {
  const partitions = checkPartitions(options.partitions);
  const results: EnsureResult[] = [];
  for (const desired of streamConfigs(options)) {
    const guard =
      desired.name === EVENTS_STREAM
        ? (actual: StreamConfig): string[] => {
            const vetoes: string[] = [];
            // JetStream refuses to change a retention to or from work queue (10052): say what to do.
            if ((actual.retention === RetentionPolicy.Workqueue) !== (desired.retention === RetentionPolicy.Workqueue)) {
              vetoes.push(
                `its retention is ${actual.retention}, not ${String(desired.retention)}, and JetStream cannot change that in place: let ingest drain it, then delete the stream (nats stream rm ${EVENTS_STREAM}, or remove \`lockline up\`'s data folder) and start again`,
              );
            }
            const have = partitionsOfTransform(actual.subject_transform);
            if (have !== partitions && options.allowRepartition !== true) {
              vetoes.push(
                have === undefined
                  ? `its subject transform is ${describe(actual.subject_transform)}, not Lockline's partitioning; pass allowRepartition to replace it`
                  : `it has ${have} partition(s), not ${partitions}; drain ingest and pass allowRepartition to change it`,
              );
            }
            return vetoes;
          }
        : undefined;
    results.push(await ensureStream(jsm, desired, guard));
  }
  return results;
}

/**
 * The partition count LOCKLINE_EVENTS routes by: what every ingest and projector copy should use, so
 * that no service's configuration can disagree with the server's routing.
 */
export async function readPartitions(jsm: JetStreamManager): Promise<number> {
  const config = await streamInfoOrUndefined(jsm, EVENTS_STREAM);
  if (config === undefined) throw new NotFound(`stream ${EVENTS_STREAM}`);
  const partitions = partitionsOfTransform(config.subject_transform);
  if (partitions === undefined) throw new StreamMismatch(`stream ${EVENTS_STREAM}`, [`no Lockline partitioning transform (found ${describe(config.subject_transform)}); run ensureStreams`]);
  return partitions;
}

export interface ConsumerOptions {
  /** How long the server waits for an ack before redelivering. Default 30 s. */
  ackWaitMs?: number;
  /** Most batches delivered and not yet acked; the server stops delivering beyond it. Default 256. */
  maxAckPending?: number;
  /** Deliveries before the server gives up on a message; default -1 (never: ingest dead-letters instead). */
  maxDeliver?: number;
}

export interface ConsumerSpec extends ConsumerOptions {
  readonly stream: string;
  readonly durable: string;
  readonly filterSubject: string;
  readonly description?: string;
}

/** What ensureConsumer may change on an existing consumer; anything else differing is a mismatch. */
const UPDATABLE_CONSUMER_KEYS = new Set(['filter_subject', 'ack_wait', 'max_ack_pending', 'max_deliver', 'description']);

function consumerConfig(spec: ConsumerSpec): Partial<ConsumerConfig> {
  return {
    durable_name: spec.durable,
    description: spec.description ?? `Lockline durable consumer ${spec.durable}`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    filter_subject: spec.filterSubject,
    ack_wait: nanos(spec.ackWaitMs ?? 30_000),
    max_ack_pending: spec.maxAckPending ?? 256,
    max_deliver: spec.maxDeliver ?? -1,
  };
}

/**
 * Creates or updates a durable pull consumer with explicit acks. A consumer of that name that is a
 * push consumer or has another ack or deliver policy is a StreamMismatch (those cannot be updated).
 */
export async function ensureConsumer(jsm: JetStreamManager, spec: ConsumerSpec): Promise<EnsureResult> {
  const resource = `consumer ${spec.durable} on ${spec.stream}`;
  const desired = consumerConfig(spec);
  let actual: ConsumerConfig | undefined;
  try {
    actual = (await jsm.consumers.info(spec.stream, spec.durable)).config;
  } catch (error) {
    if (jetStreamErrorCode(error) !== CONSUMER_NOT_FOUND) throw translateError(error, `${resource} info`);
  }
  if (actual === undefined) {
    try {
      await jsm.consumers.add(spec.stream, desired);
      return { resource, action: 'created', changes: [] };
    } catch (error) {
      throw translateError(error, `create ${resource}`);
    }
  }
  const changes = differences(desired, actual);
  if (changes.length === 0) return { resource, action: 'unchanged', changes };
  const fixed = changes.filter((change) => !UPDATABLE_CONSUMER_KEYS.has(change.slice(0, change.indexOf(':'))));
  if (actual.deliver_subject !== undefined) fixed.push(`deliver_subject: ${describe(actual.deliver_subject)} (a push consumer)`);
  if (fixed.length > 0) throw new StreamMismatch(resource, fixed);
  const update = Object.fromEntries(Object.entries(desired).filter(([key]) => UPDATABLE_CONSUMER_KEYS.has(key)));
  try {
    await jsm.consumers.update(spec.stream, spec.durable, update);
  } catch (error) {
    throw translateError(error, `update ${resource}`);
  }
  return { resource, action: 'updated', changes };
}

/** The durable consumer ingest copy `partition` reads: `ingest-p<k>` on `lockline.v1.pevents.<k>.*`. */
export function ingestConsumerSpec(partition: number, options: ConsumerOptions = {}): ConsumerSpec {
  return {
    ...options,
    stream: EVENTS_STREAM,
    durable: ingestConsumerName(partition),
    filterSubject: partitionFilter(partition),
    description: `Lockline ingest, partition ${partition}`,
  };
}

/** Ensures `ingest-p0` … `ingest-p<partitions-1>`. */
export async function ensureIngestConsumers(jsm: JetStreamManager, partitions: number, options: ConsumerOptions = {}): Promise<EnsureResult[]> {
  const results: EnsureResult[] = [];
  for (let p = 0; p < checkPartitions(partitions); p++) results.push(await ensureConsumer(jsm, ingestConsumerSpec(p, options)));
  return results;
}

export interface HostsBucketOptions {
  /** Values kept per host (1 = only the latest summary). Default 1. */
  history?: number;
  replicas?: number;
  storage?: 'file' | 'memory';
  /** Cap in bytes; default -1. */
  maxBytes?: number;
}

/** Creates or updates the `lockline_hosts` KV bucket (history, replicas, byte cap). */
export async function ensureHostsBucket(jsm: JetStreamManager, options: HostsBucketOptions = {}): Promise<EnsureResult> {
  const resource = `bucket ${HOSTS_BUCKET}`;
  const history = options.history ?? 1;
  const replicas = options.replicas ?? 1;
  const maxBytes = options.maxBytes ?? -1;
  const existed = (await streamInfoOrUndefined(jsm, HOSTS_BUCKET_STREAM)) !== undefined;
  if (!existed) {
    try {
      // nats.js builds the KV stream's configuration (subjects, rollups, direct get) itself.
      await jsm.jetstream().views.kv(HOSTS_BUCKET, { history, replicas, max_bytes: maxBytes, storage: storageType(options.storage) });
      return { resource, action: 'created', changes: [] };
    } catch (error) {
      // "name in use": another copy created it meanwhile; check its settings below.
      if (jetStreamErrorCode(error) !== STREAM_NAME_IN_USE) throw translateError(error, `create ${resource}`);
    }
  }
  const result = await ensureStream(jsm, { name: HOSTS_BUCKET_STREAM, max_msgs_per_subject: history, num_replicas: replicas, max_bytes: maxBytes });
  return { ...result, resource };
}
