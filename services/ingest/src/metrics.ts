import { Counter, Gauge, Histogram, type Registry } from '@lockline/runtime';

/** Why an input went to the dead-letter stream (the `reason` label). */
export type DeadLetterKind = 'invalid' | 'wrong_host' | 'late' | 'not_events';

/**
 * Ingest's Prometheus metrics (`lockline_ingest_*`), registered in the service's registry. Counts are
 * of events (JSONL lines) unless the name says messages (one message is one published batch).
 */
export interface IngestMetrics {
  readonly messagesReceived: Counter;
  readonly eventsReceived: Counter;
  readonly eventsAppended: Counter;
  readonly eventsDuplicate: Counter;
  readonly eventsDeadLettered: Counter<'reason'>;
  readonly gaps: Counter;
  readonly gapMissingEvents: Counter;
  readonly eventsHeld: Gauge;
  readonly messagesAcked: Counter;
  readonly messagesNaked: Counter<'cause'>;
  readonly appendConflicts: Counter;
  readonly storeFailures: Counter;
  readonly deadLetterFailures: Counter;
  readonly consumerPending: Gauge<'partition'>;
  readonly consumerAckPending: Gauge<'partition'>;
  readonly appendBatchEvents: Histogram;
  readonly roundMessages: Histogram;
  readonly appendSeconds: Histogram;
}

/** `heldNow` is read at each scrape (every event passes through the held map; a gauge update each would cost more). */
export function createIngestMetrics(registry: Registry, heldNow: () => number): IngestMetrics {
  const registers = [registry];
  return {
    messagesReceived: new Counter({ name: 'lockline_ingest_messages_received_total', help: 'Batches (JetStream messages) received, redeliveries included', registers }),
    eventsReceived: new Counter({ name: 'lockline_ingest_events_received_total', help: 'Event lines received, valid or not', registers }),
    eventsAppended: new Counter({ name: 'lockline_ingest_events_appended_total', help: 'Events appended durably to the event store', registers }),
    eventsDuplicate: new Counter({ name: 'lockline_ingest_events_duplicate_total', help: 'Events dropped because their seq was already stored or already waiting', registers }),
    eventsDeadLettered: new Counter({
      name: 'lockline_ingest_events_dead_lettered_total',
      help: 'Inputs rejected to the dead-letter stream, by reason: invalid (schema), wrong_host (envelope hostId is not the subject\'s), late (after its gap was recorded), not_events',
      labelNames: ['reason'],
      registers,
    }),
    gaps: new Counter({ name: 'lockline_ingest_gaps_total', help: 'Sequence gaps recorded (held events appended without the missing ones)', registers }),
    gapMissingEvents: new Counter({ name: 'lockline_ingest_gap_missing_events_total', help: 'Seqs given up in recorded gaps', registers }),
    eventsHeld: new Gauge({
      name: 'lockline_ingest_events_held',
      help: 'Events waiting in memory behind a missing seq',
      registers,
      collect() {
        this.set(heldNow());
      },
    }),
    messagesAcked: new Counter({ name: 'lockline_ingest_messages_acked_total', help: 'Batches acked (every event stored, dead-lettered or a duplicate)', registers }),
    messagesNaked: new Counter({ name: 'lockline_ingest_messages_naked_total', help: 'Batches handed back for redelivery, by cause', labelNames: ['cause'], registers }),
    appendConflicts: new Counter({ name: 'lockline_ingest_append_conflicts_total', help: 'Appends refused for an unexpected revision (another writer: overlapping partitions)', registers }),
    storeFailures: new Counter({ name: 'lockline_ingest_store_failures_total', help: 'Appends or reads that failed for the store being unavailable or broken', registers }),
    deadLetterFailures: new Counter({ name: 'lockline_ingest_dead_letter_failures_total', help: 'Dead letters JetStream did not take (their batch is redelivered)', registers }),
    consumerPending: new Gauge({ name: 'lockline_ingest_consumer_pending', help: 'Batches in the partition not yet delivered to ingest (the lag)', labelNames: ['partition'], registers }),
    consumerAckPending: new Gauge({ name: 'lockline_ingest_consumer_ack_pending', help: 'Batches delivered and not yet acked', labelNames: ['partition'], registers }),
    appendBatchEvents: new Histogram({
      name: 'lockline_ingest_append_batch_events',
      help: 'Events per store append (one host boot stream, one round)',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000],
      registers,
    }),
    roundMessages: new Histogram({ name: 'lockline_ingest_round_messages', help: 'Batches handled together in one round', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], registers }),
    appendSeconds: new Histogram({
      name: 'lockline_ingest_append_seconds',
      help: 'Store append latency',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
  };
}
