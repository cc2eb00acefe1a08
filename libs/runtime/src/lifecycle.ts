import type { Logger } from 'pino';

export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * Run a service until SIGTERM or SIGINT, then stop it cleanly (finishing what is in flight) and
 * exit 0; a second signal exits at once. A stop that takes longer than `graceMs` exits 1.
 */
export function runUntilSignalled(service: Stoppable, log: Logger, graceMs = 15_000): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    log.info({ signal }, 'stopping');
    const timer = setTimeout(() => {
      log.error({ graceMs }, 'did not stop in time');
      process.exit(1);
    }, graceMs);
    timer.unref();
    service.stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** Turn a fatal start-up error into one line on stderr and exit 1 (never a stack for a config error). */
export function failStart(service: string, err: unknown): never {
  const e = err as { code?: string; message?: string };
  // A ConfigError's message already names the service.
  process.stderr.write(`${e.code === 'CONFIG' ? e.message : `${service}: cannot start: ${e.message ?? String(err)}`}\n`);
  process.exit(1);
}
