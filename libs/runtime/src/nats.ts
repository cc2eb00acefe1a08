import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';

export type { NatsConnection };

export interface NatsConnectOptions {
  url: string;
  user?: string | undefined;
  password?: string | undefined;
  /** required with a Lockline server config: each user may only subscribe to its own `_INBOX_<user>.>` */
  inboxPrefix?: string | undefined;
  name: string;
}

/**
 * Open the service's NATS connection (only main.ts calls this; libs take a connection). Reconnects
 * forever, and says so in the log.
 */
export async function connectNats(o: NatsConnectOptions, log: Logger): Promise<NatsConnection> {
  const nc = await connect({
    servers: o.url,
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
