import type { NatsConnection, Service } from 'nats';
import { JSONCodec } from 'nats';

/**
 * Readiness over NATS, next to the HTTP /healthz: the service registers with NATS's services
 * framework (so `$SRV.PING.<name>` finds every running copy, `$SRV.INFO.<name>` says what each one
 * serves, and `$SRV.STATS.<name>` carries each copy's readiness), and answers `health` requests on
 * `subject` with `{ ready, ...status }`. The user needs the permissions writeNatsConfig gives every
 * service role (libs/bus natsConfigText.ts).
 */

export interface NatsHealthOptions {
  /** `lockline-<role>` (microServiceName). */
  readonly name: string;
  /** Semantic version of the service. */
  readonly version: string;
  readonly description: string;
  /** `lockline.v1.health.<role>` (healthSubject). */
  readonly subject: string;
  /** What this copy serves, e.g. { partitions: '0,1' }: shown by `$SRV.INFO`. */
  readonly metadata?: Record<string, string>;
  readonly ready: () => boolean;
  /** Extra fields for the health reply and the stats (counts, lag …). */
  readonly status?: () => Record<string, unknown>;
}

export interface NatsHealth {
  /** This copy's id in the services framework (`$SRV.PING.<name>.<id>`). */
  readonly id: string;
  stop(): Promise<void>;
}

const json = JSONCodec();

export async function serveNatsHealth(nc: NatsConnection, options: NatsHealthOptions): Promise<NatsHealth> {
  const report = (): Record<string, unknown> => ({ ready: options.ready(), ...(options.status?.() ?? {}) });
  const service: Service = await nc.services.add({
    name: options.name,
    version: options.version,
    description: options.description,
    ...(options.metadata === undefined ? {} : { metadata: options.metadata }),
    statsHandler: () => Promise.resolve(report()),
  });
  service.addEndpoint('health', {
    subject: options.subject,
    handler: (err, msg) => {
      if (err !== null) return;
      msg.respond(json.encode(report()));
    },
  });
  return {
    id: service.info().id,
    async stop() {
      await service.stop().catch(() => undefined);
    },
  };
}
