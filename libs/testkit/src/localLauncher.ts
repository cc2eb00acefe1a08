import { startNatsServer } from '@lockline/bus/testing';
import type { Launcher } from './launcher.js';
import { ServiceProcess } from './serviceProcess.js';

/**
 * The local backend: the project's own nats-server (`scripts/nats-server.sh` provides it, ≥ 2.10)
 * and each service as a child process of the test (`node services/<name>/dist/main.js`).
 */
export function localLauncher(): Launcher {
  return {
    kind: 'local',
    async startNats({ hosts }) {
      const server = await startNatsServer({ auth: { hosts } });
      return { url: server.url, credentials: server.credentials, stop: () => server.stop() };
    },
    async startService({ name, main, env }) {
      const metricsPort = Number(env.LOCKLINE_METRICS_PORT ?? 0);
      // Only what Lockline reads: a LOCKLINE_* variable of the test's own environment must not leak in.
      const service = new ServiceProcess(name, metricsPort, main, { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env });
      return {
        name,
        logs: () => service.logs(),
        get running() {
          return service.running;
        },
        stop: async () => {
          await service.stop();
        },
      };
    },
    close: () => Promise.resolve(),
  };
}
