// host-sim as a process: config from the environment, one NATS connection, /metrics and /healthz,
// a clean stop on SIGTERM (STYLE.md 8). Everything else is build() in hostSim.ts.
import { healthSubject, microServiceName } from '@lockline/bus';
import { connectNats, createLogger, createRegistry, failStart, runUntilSignalled, serveMetrics, serveNatsHealth } from '@lockline/runtime';
import { loadConfig } from './config.js';
import { build } from './hostSim.js';

const SERVICE = 'host-sim';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(SERVICE, config.logLevel);
  const registry = createRegistry(SERVICE);
  const nc = await connectNats(
    { url: config.natsUrl, user: config.natsUser, password: config.natsPassword, inboxPrefix: config.natsInboxPrefix, name: `lockline-${SERVICE}` },
    log,
  );
  const sim = build(config, { nc, log, registry });
  const metrics = await serveMetrics(registry, config.metricsPort, () => sim.ready, config.metricsHost);
  log.info({ port: metrics.port }, 'metrics on /metrics, readiness on /healthz');
  const health = await serveNatsHealth(nc, {
    name: microServiceName('hostsim'),
    version: '0.1.0',
    description: 'Lockline simulated hosts: publish host events to JetStream',
    subject: healthSubject('hostsim'),
    metadata: { hosts: String(config.hostIds.length) },
    ready: () => sim.ready,
  });

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      try {
        await health.stop();
        await sim.stop();
      } finally {
        await metrics.close();
        await nc.drain().catch(() => undefined);
      }
    })());
  runUntilSignalled({ stop }, log);
  void sim.failed.then(async () => {
    // The error is logged where it happened; save what was acked, then exit non-zero.
    await stop().catch((err: unknown) => log.error({ err }, 'stop failed'));
    process.exit(1);
  });
  await sim.start();
}

main().catch((err: unknown) => failStart(SERVICE, err));
