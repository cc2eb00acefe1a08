import { healthSubject, inboxPrefixOf, microServiceName } from '@lockline/bus';
import type { EventStore } from '@lockline/eventstore';
import { openEventStore } from '@lockline/eventstore';
import { connectNats, createLogger, createRegistry, failStart, runUntilSignalled, serveMetrics, serveNatsHealth } from '@lockline/runtime';
import { SERVICE, loadConfig, type IngestConfig } from './config.js';
import { build } from './ingest.js';

/**
 * The ingest process: parse the environment, open the store and the NATS connection, serve
 * /metrics and /healthz, consume until SIGTERM, then stop cleanly (ingest.stop(): in-flight appends
 * finished and acked), close the connection and the store.
 */

async function openStore(config: IngestConfig): Promise<EventStore> {
  if (config.storeSync === 'full') {
    // The adapter itself, for its fsync-every-commit option (the config allows it only for sqlite:).
    const { openSqliteEventStore } = await import('@lockline/eventstore/sqlite');
    return openSqliteEventStore(config.store.slice('sqlite:'.length), { synchronous: 'FULL' });
  }
  return openEventStore(config.store);
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const log = createLogger(SERVICE, config.logLevel);
  const store = await openStore(config);
  const withUser = config.natsPassword !== undefined;
  const nc = await connectNats(
    {
      url: config.natsUrl,
      user: withUser ? config.natsUser : undefined,
      password: config.natsPassword,
      inboxPrefix: withUser ? inboxPrefixOf(config.natsUser) : undefined,
      name: `${SERVICE}-${process.pid}`,
    },
    log,
  ).catch((error: unknown) => {
    const code = (error as { code?: unknown }).code;
    const why = code === 'AUTHORIZATION_VIOLATION' ? `the server refused the credentials of user "${config.natsUser}"` : code === 'CONNECTION_REFUSED' ? 'connection refused' : (error as Error).message;
    throw new Error(`cannot connect to NATS at ${config.natsUrl}: ${why}`, { cause: error });
  });
  const registry = createRegistry('ingest');
  const ingest = build(config, { nc, store, log, registry });
  const metrics = config.metricsPort >= 0 ? await serveMetrics(registry, config.metricsPort, () => ingest.ready(), config.metricsHost) : undefined;
  if (metrics !== undefined) log.info({ port: metrics.port }, 'serving /metrics and /healthz on 127.0.0.1');
  await ingest.start();
  const health = await serveNatsHealth(nc, {
    name: microServiceName('ingest'),
    version: '0.1.0',
    description: 'Lockline ingest: validates host events and appends them to the event store',
    subject: healthSubject('ingest'),
    metadata: { partitions: config.partitionsMine === 'all' ? 'all' : config.partitionsMine.join(',') },
    ready: () => ingest.ready(),
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await health.stop();
      await ingest.stop();
      await metrics?.close();
      await nc.drain().catch(() => undefined);
      await store.close();
    })());
  ingest.done.catch((error: unknown) => {
    log.fatal({ err: error }, 'ingest stopped consuming');
    void close().finally(() => process.exit(1));
  });
  runUntilSignalled({ stop: close }, log);
}

main().catch((error: unknown) => failStart(SERVICE, error));
