// What every Lockline service shares: a logger, Prometheus metrics with /healthz, config parsing,
// a NATS connection opened once in main.ts, and a clean stop on SIGTERM.
export { createLogger, type Logger } from './logger.js';
export { createRegistry, serveMetrics, Counter, Gauge, Histogram, Registry, type MetricsServer } from './metrics.js';
export { ConfigError, DEFAULT_METRICS_HOST, LISTEN_HOST_ERROR, LISTEN_HOST_PATTERN, parseConfig } from './config.js';
export { runUntilSignalled, failStart, type Stoppable } from './lifecycle.js';
export { connectNats, natsServers, type NatsConnectOptions, type NatsConnection } from './nats.js';
export { serveNatsHealth, type NatsHealth, type NatsHealthOptions } from './natsHealth.js';
