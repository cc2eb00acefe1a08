import type { NatsCredential } from '@lockline/bus/config';

/** A nats-server as a backend started it: where it is, who may connect, how to stop it. */
export interface RunningNats {
  readonly url: string;
  readonly credentials: Readonly<Record<string, NatsCredential>>;
  stop(): Promise<void>;
}

/** A service as a backend started it. */
export interface RunningService {
  readonly name: string;
  /** The service's recent log output (pino JSON lines). */
  logs(): string;
  /** True while it runs. */
  readonly running: boolean;
  /** A clean stop (SIGTERM), then a kill after a while. */
  stop(): Promise<void>;
}

export interface ServiceLaunch {
  readonly name: string;
  /** `services/<name>/dist/main.js` in the Lockline checkout. */
  readonly main: string;
  readonly env: Record<string, string>;
}

/** What differs between backends: how nats-server and the services are run. Everything else is shared. */
export interface Launcher {
  readonly kind: 'local' | 'containers';
  startNats(options: { hosts: readonly string[]; dir: string }): Promise<RunningNats>;
  startService(launch: ServiceLaunch): Promise<RunningService>;
  /** Whatever the launcher itself holds (nothing for local processes). */
  close(): Promise<void>;
}
