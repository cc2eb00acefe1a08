import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureHostsBucket, ensureStreams, natsAuthOptions } from '@lockline/bus';
import { startNatsServer, type NatsServer } from '@lockline/bus/testing';
import type { HostEvent } from '@lockline/events';
import type { EventStore, ExpectedRevision } from '@lockline/eventstore';
import { appendHostEvents, openEventStore } from '@lockline/eventstore';
import { FleetProjection, HostProjection } from '@lockline/projection';
import { build as buildProjector, type Projector, type ProjectorConfig } from '@lockline/projector';
import { createLogger, createRegistry } from '@lockline/runtime';
import { simulateFleet } from '@lockline/sim';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { connect, type NatsConnection } from 'nats';
import { build, type ApiApp, type ApiDeps } from '../app.js';
import { apiConfig, type ApiConfig } from '../config.js';

/**
 * The API against the real thing: a nats-server with the least-privilege users of `lockline up`, a
 * SQLite store file holding a simulated fleet (appended the way ingest appends), a real projector
 * (build() of @lockline/projector, connected as `projector`) and the API connected as `api`.
 */

export const VIEWER_TOKEN = 'viewer-token-0123456789abcdef';
export const OPERATOR_TOKEN = 'operator-token-0123456789abcdef';
export const TOKENS = [
  { role: 'viewer', token: VIEWER_TOKEN },
  { role: 'operator', token: OPERATOR_TOKEN },
] as const;

/** A simulated fleet with kernel bugs, lying counters, reboots and inherited locks: findings of every kind. */
export function fleetEvents(options: { hosts: number; seed: number; events: number }): HostEvent[] {
  const out: HostEvent[] = [];
  for (const r of simulateFleet({ ...options, faults: { kernelBugResult: 0.002, kernelBugCounter: 0.02, reboot: 0.0002 } })) if (r.event) out.push(r.event);
  return out;
}

export function referenceFold(events: Iterable<HostEvent>): FleetProjection {
  const fleet = new FleetProjection();
  for (const e of events) fleet.apply(e);
  return fleet;
}

/** A fresh fold of one boot's events up to seq. */
export function foldUpTo(events: readonly HostEvent[], hostId: string, bootId: string, seq: number): HostProjection {
  const p = new HostProjection(hostId, bootId);
  for (const e of events) if (e.hostId === hostId && e.bootId === bootId && e.seq <= seq) p.apply(e);
  return p;
}

/** Appends as ingest does: one stream per host boot, batches of 200 with the expected revision. */
export async function appendEvents(store: EventStore, events: Iterable<HostEvent>, expected = new Map<string, ExpectedRevision>()): Promise<void> {
  await appendHostEvents(store, events, { batchEvents: 200, expected });
}

export interface Harness {
  readonly server: NatsServer;
  readonly storeUrl: string;
  readonly store: EventStore;
  readonly admin: NatsConnection;
  readonly api: NatsConnection;
  readonly projector: Projector;
  readonly partitions: number;
  /** the app under test (connected as `api`, with the store for raw events) */
  readonly app: ApiApp;
  /** another app on the same connections, other settings */
  app2(overrides?: Partial<ApiConfig>, deps?: Partial<ApiDeps>): Promise<ApiApp>;
  /** `app.inject` with the token of `as` (default viewer; null: none) */
  request(options: InjectOptions & { as?: 'viewer' | 'operator' | null }, app?: ApiApp): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function startHarness(options: { partitions: number; events: readonly HostEvent[]; projector?: Partial<ProjectorConfig> }): Promise<Harness> {
  const server = await startNatsServer({ auth: { hosts: [] } });
  const dir = await mkdtemp(join(tmpdir(), 'lockline-api-'));
  const storeUrl = `sqlite:${join(dir, 'events.db')}`;
  const store = await openEventStore(storeUrl);
  const open: NatsConnection[] = [];
  const apps: ApiApp[] = [];
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
  await appendEvents(store, options.events);

  const projectorConfig: ProjectorConfig = {
    natsUrl: server.url,
    store: storeUrl,
    partitions: options.partitions,
    partitionsMine: Array.from({ length: options.partitions }, (_, i) => i),
    summaryIntervalMs: 100,
    metricsPort: 0,
    metricsHost: '127.0.0.1',
    logLevel: 'silent',
    ...options.projector,
  };
  const projector = buildProjector(projectorConfig, { nc: await as('projector'), store, log: createLogger('projector', 'silent'), registry: createRegistry('projector') });
  await projector.start();
  await projector.whenReady();

  const api = await as('api');
  const makeApp = async (overrides: Partial<ApiConfig> = {}, deps: Partial<ApiDeps> = {}): Promise<ApiApp> => {
    const config = apiConfig({ tokens: TOKENS, partitions: options.partitions, ...overrides });
    const app = build(config, { nc: api, store, log: createLogger('api', 'silent'), registry: createRegistry('api'), ...deps });
    apps.push(app);
    await app.ready();
    return app;
  };
  const app = await makeApp();

  return {
    server,
    storeUrl,
    store,
    admin,
    api,
    projector,
    partitions: options.partitions,
    app,
    app2: makeApp,
    request({ as: role = 'viewer', ...inject }, target = app) {
      const token = role === 'viewer' ? VIEWER_TOKEN : role === 'operator' ? OPERATOR_TOKEN : undefined;
      return target.inject({ ...inject, headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...inject.headers } });
    },
    async close() {
      for (const a of apps) await a.close();
      await projector.stop();
      for (const nc of open) if (!nc.isClosed()) await nc.close();
      await store.close();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
