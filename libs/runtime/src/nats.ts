import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';

export type { NatsConnection };

export interface NatsConnectOptions {
  /** One server, or several separated by commas (`nats://a:4222,nats://b:4222`): every node of a cluster, so that a start works while one is down. */
  url: string;
  user?: string | undefined;
  password?: string | undefined;
  /** required with a Lockline server config: each user may only subscribe to its own `_INBOX_<user>.>` */
  inboxPrefix?: string | undefined;
  name: string;
}

/** The servers of a `url` that may list several, comma-separated: `nats://a:4222, nats://b:4222`. */
export function natsServers(url: string): string[] {
  return url
    .split(',')
    .map((server) => server.trim())
    .filter((server) => server !== '');
}

/**
 * Open the service's NATS connection (only main.ts calls this; libs take a connection). Reconnects
 * forever, and says so in the log.
 */
export async function connectNats(o: NatsConnectOptions, log: Logger): Promise<NatsConnection> {
  const nc = await connect({
    servers: natsServers(o.url),
    name: o.name,
    ...(o.user ? { user: o.user, pass: o.password ?? '' } : {}),
    ...(o.inboxPrefix ? { inboxPrefix: o.inboxPrefix } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') log.warn({ nats: s.type, data: String(s.data) }, `nats ${s.type}`);
    }
  })();
  log.info({ url: o.url, user: o.user }, 'connected to NATS');
  return nc;
}
