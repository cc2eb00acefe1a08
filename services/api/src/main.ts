import { inboxPrefixOf } from '@lockline/bus';
import type { EventStore } from '@lockline/eventstore';
import { openEventStore } from '@lockline/eventstore';
import { connectNats, createLogger, createRegistry, failStart, runUntilSignalled } from '@lockline/runtime';
import type { NatsConnection } from '@lockline/runtime';
import { build } from './app.js';
import { loadConfig } from './config.js';

// The API process: parse the config, open NATS and/or the store, listen, stop on SIGTERM (STYLE.md 7, 8).
// Everything else is build() in app.ts.
let config;
try {
  config = loadConfig();
} catch (err) {
  failStart('api', err);
}
const log = createLogger('api', config.logLevel);
try {
  const { natsPassword: _secret, tokens, ...shown } = config;
  log.info({ config: { ...shown, tokens: tokens.map((t) => t.role) } }, 'starting');
  const store: EventStore | undefined = config.store === undefined ? undefined : await openEventStore(config.store);
  const nc: NatsConnection | undefined =
    config.natsUrl === undefined
      ? undefined
      : await connectNats(
          {
            url: config.natsUrl,
            user: config.natsUser,
            password: config.natsPassword,
            inboxPrefix: config.natsUser === undefined ? undefined : inboxPrefixOf(config.natsUser),
            name: 'lockline-api',
          },
          log,
        );
  const registry = createRegistry('api');
  const app = build(config, { ...(nc === undefined ? {} : { nc }), ...(store === undefined ? {} : { store }), log, registry });
  const address = await app.listen({ host: config.host, port: config.port });
  log.info({ address, backend: app.backend.kind, docs: `${address}/docs` }, 'listening');
  let closing: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (closing ??= (async () => {
      await app.close();
      await nc?.drain().catch(() => undefined);
      await store?.close();
    })());
  runUntilSignalled({ stop }, log);
} catch (err) {
  log.error({ err }, 'cannot start');
  failStart('api', err);
}
