import { Counter, Gauge, Histogram, type Registry } from '@lockline/runtime';

export interface ApiMetrics {
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly queryDuration: Histogram<'verb' | 'outcome'>;
  readonly queriesShared: Counter<'verb'>;
  readonly streamClients: Gauge;
}

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function apiMetrics(registry: Registry): ApiMetrics {
  return {
    httpDuration: new Histogram({
      name: 'lockline_api_http_request_duration_seconds',
      help: 'HTTP requests by route and status, from arrival to the last byte of the answer',
      labelNames: ['method', 'route', 'status'],
      buckets: BUCKETS,
      registers: [registry],
    }),
    queryDuration: new Histogram({
      name: 'lockline_api_query_duration_seconds',
      help: 'Questions to the projector over NATS, by verb and outcome (ok, or the error code)',
      labelNames: ['verb', 'outcome'],
      buckets: BUCKETS,
      registers: [registry],
    }),
    queriesShared: new Counter({ name: 'lockline_api_queries_shared_total', help: 'Requests answered by a question to the projector already in flight (the same verb, host and options)', labelNames: ['verb'], registers: [registry] }),
    streamClients: new Gauge({ name: 'lockline_api_stream_clients', help: 'Clients connected to the live stream (/v1/stream)', registers: [registry] }),
  };
}
