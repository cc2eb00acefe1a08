import { Counter, Gauge, Histogram, type Registry } from '@lockline/runtime';

/** The projector's Prometheus metrics, registered on the service's registry. */
export function projectorMetrics(registry: Registry) {
  const registers = [registry];
  return {
    eventsRead: new Counter({ name: 'lockline_projector_events_read_total', help: 'Events read from the store (every partition: each copy reads them all)', registers }),
    eventsFolded: new Counter({ name: 'lockline_projector_events_folded_total', help: "Events folded (hosts of this copy's partitions)", registers }),
    eventsIgnored: new Counter({
      name: 'lockline_projector_events_ignored_total',
      help: "Events of this copy's partitions not folded, by reason (old_boot: a boot dropped to bound memory; not_an_event: stored data without an envelope)",
      labelNames: ['reason'] as const,
      registers,
    }),
    findings: new Counter({ name: 'lockline_projector_findings_total', help: 'Findings the audit reported, by code', labelNames: ['code'] as const, registers }),
    findingsPublished: new Counter({
      name: 'lockline_projector_findings_published_total',
      help: 'Findings by outcome: stored (new on the findings stream), duplicate (JetStream already had its Nats-Msg-Id), suppressed (published by an earlier run, not sent)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    natsRetries: new Counter({ name: 'lockline_projector_nats_retries_total', help: 'NATS operations retried after a failure, by operation', labelNames: ['operation'] as const, registers }),
    summariesWritten: new Counter({ name: 'lockline_projector_summaries_written_total', help: 'Host summaries written to the hosts bucket', registers }),
    checkpoint: new Gauge({ name: 'lockline_projector_checkpoint_position', help: 'Store position of the last event handled', registers }),
    lag: new Gauge({ name: 'lockline_projector_lag_events', help: 'Events in the store not handled yet (store head position minus checkpoint)', registers }),
    foldRate: new Gauge({ name: 'lockline_projector_fold_rate_events_per_second', help: 'Events folded per second over the last summary interval', registers }),
    hosts: new Gauge({ name: 'lockline_projector_hosts', help: 'Hosts this copy holds', registers }),
    ready: new Gauge({ name: 'lockline_projector_ready', help: '1 once caught up with the store and answering queries', registers }),
    batchDuration: new Histogram({
      name: 'lockline_projector_batch_duration_seconds',
      help: 'Time to fold a batch read from the store and publish its findings',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    }),
    queryDuration: new Histogram({
      name: 'lockline_projector_query_duration_seconds',
      help: 'Time to answer a query, by verb and outcome (ok, or the error code)',
      labelNames: ['verb', 'outcome'] as const,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    }),
  };
}

export type ProjectorMetrics = ReturnType<typeof projectorMetrics>;
