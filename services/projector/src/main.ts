import { healthSubject, inboxPrefixOf, microServiceName } from '@lockline/bus';
import { openEventStore } from '@lockline/eventstore';
import { connectNats, createLogger, createRegistry, failStart, runUntilSignalled, serveMetrics, serveNatsHealth } from '@lockline/runtime';
import { loadConfig } from './config.js';
import { build } from './projector.js';

// The projector process: parse the config, open the store and NATS, serve /metrics and /healthz,
// fold until SIGTERM (STYLE.md 7, 8). Everything else is build() in projector.ts.
let config;
try {
  config = loadConfig();
} catch (err) {
  failStart('projector', err);
}
const log = createLogger('projector', config.logLevel);
try {
  const { natsPassword: _secret, ...shown } = config;
  log.info({ config: shown }, 'starting');
  const store = await openEventStore(config.store);
  const nc = await connectNats(
    {
      url: config.natsUrl,
      user: config.natsUser,
      password: config.natsPassword,
      inboxPrefix: config.natsUser === undefined ? undefined : inboxPrefixOf(config.natsUser),
      name: `lockline-projector[${config.partitionsMine.join(',')}]`,
    },
    log,
  );
  const registry = createRegistry('projector');
  const projector = build(config, { nc, store, log, registry });
  const metrics = await serveMetrics(registry, config.metricsPort, () => projector.ready, config.metricsHost);
  log.info({ port: metrics.port }, 'serving /metrics and /healthz');
  await projector.start();
  const health = await serveNatsHealth(nc, {
    name: microServiceName('projector'),
    version: '0.1.0',
    description: 'Lockline projector: folds the event store, audits, publishes findings, answers queries',
    subject: healthSubject('projector'),
    metadata: { partitions: config.partitionsMine.join(',') },
    ready: () => projector.ready,
    status: () => ({ lag: projector.status().lag, hosts: projector.status().hosts }),
  });
  let closing: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (closing ??= (async () => {
      await health.stop();
      await projector.stop();
      await metrics.close();
      await nc.drain().catch(() => undefined);
      await store.close();
    })());
  // A fold that cannot go on (the store went away, NATS refused this user) ends the process: whoever
  // runs it restarts it, and the restart rebuilds from the store.
  projector.done.catch((err: unknown) => {
    log.fatal({ err }, 'exiting');
    void stop().finally(() => process.exit(1));
  });
  runUntilSignalled({ stop }, log);
} catch (err) {
  log.error({ err }, 'cannot start');
  failStart('projector', err);
}
