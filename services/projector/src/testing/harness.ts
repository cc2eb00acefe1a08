import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FINDINGS_STREAM, HOSTS_BUCKET, decodeJson, encodeJson, ensureHostsBucket, ensureStreams, natsAuthOptions, querySubject, type QueryVerb } from '@lockline/bus';
import { readStoredMessages, startNatsServer, type NatsServer } from '@lockline/bus/testing';
import type { HostEvent } from '@lockline/events';
import type { EventStore, ExpectedRevision } from '@lockline/eventstore';
import { appendHostEvents, openEventStore } from '@lockline/eventstore';
import { createLogger, createRegistry, type Registry } from '@lockline/runtime';
import { connect, type NatsConnection } from 'nats';
import type { ProjectorConfig } from '../config.js';
import { build, type Projector } from '../projector.js';
import type { QueryReply } from '../queries.js';

/**
 * Tests of the projector against a real nats-server (least-privilege users) and a real SQLite store
 * file: events go into the store the way ingest puts them there (one stream per host boot, batches
 * with the expected revision), the projector connects as `projector`, questions come as `api`, the
 * findings stream is read as `admin`.
 */
export interface Harness {
  readonly server: NatsServer;
  readonly storeUrl: string;
  /** the store the projectors read (what main.ts would open) */
  readonly store: EventStore;
  readonly admin: NatsConnection;
  readonly api: NatsConnection;
  readonly partitions: number;
  /** appends as ingest would, keeping each stream's expected revision; through `via` (default `store`) */
  append(events: Iterable<HostEvent>, via?: EventStore): Promise<void>;
  /** a projector on its own `projector` connection and registry */
  projector(overrides?: Partial<ProjectorConfig>, store?: EventStore): Promise<{ projector: Projector; registry: Registry; nc: NatsConnection }>;
  ask<T = unknown>(partition: number, verb: QueryVerb, body: unknown, nc?: NatsConnection): Promise<QueryReply<T>>;
  askRaw(partition: number, verb: string, payload: Uint8Array | string): Promise<QueryReply>;
  findings(): Promise<Array<{ msgId: string | undefined; subject: string; finding: Record<string, unknown> }>>;
  close(): Promise<void>;
}

export async function startHarness(options: { partitions: number }): Promise<Harness> {
  const server = await startNatsServer({ auth: { hosts: [] } });
  const dir = await mkdtemp(join(tmpdir(), 'lockline-projector-'));
  const storeUrl = `sqlite:${join(dir, 'events.db')}`;
  const store = await openEventStore(storeUrl);
  const open: NatsConnection[] = [];
  const running: Projector[] = [];
  const as = async (user: string): Promise<NatsConnection> => {
    const credential = server.credentials[user];
    if (credential === undefined) throw new Error(`no credentials for ${user}`);
    const nc = await connect({ servers: server.url, ...natsAuthOptions(credential) });
    open.push(nc);
    return nc;
  };
  const admin = await as('admin');
  const jsm = await admin.jetstreamManager();
  await ensureStreams(jsm, { partitions: options.partitions, storage: 'memory' });
  await ensureHostsBucket(jsm, { storage: 'memory' });
  const api = await as('api');
  const expected = new Map<string, ExpectedRevision>();
  const decoder = new TextDecoder();

  return {
    server,
    storeUrl,
    store,
    admin,
    api,
    partitions: options.partitions,
    async append(events, via = store) {
      await appendHostEvents(via, events, { expected });
    },
    async projector(overrides = {}, own = store) {
      const config: ProjectorConfig = {
        natsUrl: server.url,
        store: storeUrl,
        partitions: options.partitions,
        partitionsMine: Array.from({ length: options.partitions }, (_, i) => i),
        summaryIntervalMs: 100,
        metricsPort: 0,
        metricsHost: '127.0.0.1',
        logLevel: 'silent',
        ...overrides,
      };
      const nc = await as('projector');
      const registry = createRegistry('projector');
      const projector = build(config, { nc, store: own, log: createLogger('projector', config.logLevel), registry });
      running.push(projector);
      return { projector, registry, nc };
    },
    async ask<T>(partition: number, verb: QueryVerb, body: unknown, nc = api) {
      const reply = await nc.request(querySubject(partition, verb), encodeJson(body), { timeout: 5000 });
      return decodeJson(reply.data) as QueryReply<T>;
    },
    async askRaw(partition, verb, payload) {
      const reply = await api.request(`lockline.v1.query.${partition}.${verb}`, payload, { timeout: 5000 });
      return decodeJson(reply.data) as QueryReply;
    },
    async findings() {
      const messages = await readStoredMessages(admin.jetstream(), FINDINGS_STREAM);
      return messages.map((m) => ({ msgId: m.msgId, subject: m.subject, finding: JSON.parse(decoder.decode(m.data)) as Record<string, unknown> }));
    },
    async close() {
      for (const p of running) await p.stop();
      for (const nc of open) if (!nc.isClosed()) await nc.close();
      await store.close();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Deletes every summary from the hosts bucket (as admin): a projector then remembers nothing of earlier runs. */
export async function forgetSummaries(admin: NatsConnection): Promise<void> {
  const kv = await admin.jetstream().views.kv(HOSTS_BUCKET, { bindOnly: true });
  const keys: string[] = [];
  for await (const key of await kv.keys()) keys.push(key);
  for (const key of keys) await kv.purge(key);
}

/** Polls `check` every few ms until it returns true or `timeoutMs` passes. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
