// @lockline/bus: NATS JetStream for Lockline. Every function takes a connection (or a JetStream
// client / manager made from one) and never connects by itself (STYLE.md 7). Writing a server
// configuration is in `@lockline/bus/config`; a real test server in `@lockline/bus/testing`.
//
// How the services use it (nc = await connect({ servers, ...natsAuthOptions(credential) })):
//   setup (admin):  const jsm = await nc.jetstreamManager();
//                   await ensureStreams(jsm, { partitions }); await ensureIngestConsumers(jsm, partitions);
//                   await ensureHostsBucket(jsm);
//   host-sim:       const publisher = new Publisher(nc.jetstream());
//                   await publisher.publish(hostId, jsonLines, { batchId: batchIdOf(hostId, bootId, firstSeq) });
//   ingest copy k:  const partitions = await readPartitions(jsm);   // the stream's, not a config's
//                   const sub = await consume(nc.jetstream(), { stream: EVENTS_STREAM, durable: ingestConsumerName(k) });
//                   for await (const m of sub) { m.lines() → parseEvent each → append; bad line →
//                     publishDeadLetter(js, m.hostId ?? null, { reason, line, subject: m.subject, seq: m.streamSeq, lineIndex });
//                     m.ack() only after the append is durable; on SIGTERM: await sub.stop() }
//   projector:      openHostSummaries(js).put(hostId, summary); answer querySubject(p, verb) on queryWildcard(p)
//   api:            nc.request(querySubject(partitionOf(hostId, partitions), 'state'), …); openHostSummaries(js).get
//
// Partitioning: hosts publish on lockline.v1.events.<hostId>; LOCKLINE_EVENTS's own subject transform
// stores them as lockline.v1.pevents.<partitionOf(hostId, N)>.<hostId> (see names.ts, partition.ts).

// Names: streams, bucket, subjects, partitions, users.
export {
  DLQ_STREAM,
  EVENTS_STREAM,
  FINDINGS_STREAM,
  HOSTS_BUCKET,
  HOSTS_BUCKET_STREAM,
  InvalidPartitionError,
  MAX_PARTITIONS,
  PARTITIONED_EVENTS_WILDCARD,
  QUERY_ALL,
  QUERY_VERBS,
  SERVICE_ROLES,
  UNKNOWN_HOST_TOKEN,
  checkPartitions,
  deadLetterSubject,
  hostUser,
  inboxPrefixOf,
  ingestConsumerName,
  isQueryVerb,
  parsePartitionedSubject,
  partitionFilter,
  partitionedEventsSubject,
  querySubject,
  healthSubject,
  microServiceName,
  queryWildcard,
  type QueryVerb,
  type ServiceRole,
} from './names.js';
export { eventsSubjectTransform, fnv1a32, partitionOf, partitionsOfTransform, type SubjectTransform } from './partition.js';
export { natsAuthOptions } from './authOptions.js';
export { checkNatsCluster, natsRouteUrl, renderNatsClusterConfig, renderNatsClusterConfigs, type NatsClusterNode, type NatsClusterOptions } from './natsClusterConfig.js';

// Errors, each with a stable `code`.
export {
  BusError,
  BusUnavailable,
  InvalidBatch,
  InvalidPayload,
  NotFound,
  PermissionDenied,
  PublishRejected,
  PublishTimeout,
  StreamFull,
  StreamMismatch,
  type BusErrorCode,
} from './errors.js';

// Payloads.
export { decodeJson, decodeLines, decodeText, encodeJson, encodeLines, encodeText, truncateUtf8 } from './codec.js';

// Setup: streams, consumers, bucket (idempotent).
export {
  ensureConsumer,
  ensureHostsBucket,
  ensureIngestConsumers,
  ensureStream,
  ensureStreams,
  ingestConsumerSpec,
  readPartitions,
  streamConfigs,
  type ConsumerOptions,
  type ConsumerSpec,
  type EnsureAction,
  type EnsureResult,
  type HostsBucketOptions,
  type StreamsOptions,
} from './streams.js';

// Publishing, consuming, dead letters, host summaries.
export {
  Publisher,
  batchIdOf,
  publishBatch,
  type JetStreamPublisher,
  type PublishBatchOptions,
  type PublishResult,
  type PublisherOptions,
  type PublisherResult,
} from './publish.js';
export { consume, fetchMessages, toBusMessage, type BusMessage, type BusSubscription, type ConsumeOptions, type FetchOptions } from './consume.js';
export { DEAD_LETTER_PAYLOAD_MAX_BYTES, deadLetterOf, parseDeadLetter, publishDeadLetter, type DeadLetter, type DeadLetterInput } from './dlq.js';
export { openHostSummaries, type HostSummaries } from './hostSummaries.js';
export { lastMessageOn, type LastMessage } from './lastMessage.js';
