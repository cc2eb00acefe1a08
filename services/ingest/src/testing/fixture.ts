import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  DLQ_STREAM,
  EVENTS_STREAM,
  Publisher,
  batchIdOf,
  ensureIngestConsumers,
  ensureStreams,
  ingestConsumerName,
  natsAuthOptions,
  parseDeadLetter,
  partitionOf,
  type ConsumerOptions,
  type DeadLetter,
} from '@lockline/bus';
import { readStoredMessages, startNatsServer, type NatsServer } from '@lockline/bus/testing';
import { sampleEvents } from '@lockline/events/testing';
import type { EventStore, ExpectedRevision, NewEvent, RecordedEvent } from '@lockline/eventstore';
import { StoreUnavailable, openEventStore, readStreamPages } from '@lockline/eventstore';
import { createRegistry, type Logger, type Registry } from '@lockline/runtime';
import { connect, type NatsConnection } from 'nats';
import { pino } from 'pino';
import { build, type Ingest, type IngestOptions } from '../ingest.js';

/**
 * Test helpers: a real nats-server with Lockline's least-privilege users, a real SQLite file in a
 * temporary folder, hosts publishing valid JSONL batches as the hostsim user, and ingest copies
 * built on their own connection as the ingest user.
 */

/** Event bodies that pass the schemas (the data does not depend on seq). */
const BODIES = sampleEvents().map(({ type, schemaVersion, data }) => ({ type, schemaVersion, data }));

/** A lowercase UUID derived from host, boot and seq: a re-sent event keeps its id, as a host's would. */
export function eventId(hostId: string, bootId: string, seq: number): string {
  const h = createHash('sha1').update(`${hostId}/${bootId}/${seq}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** One valid event as its JSONL line. */
export function eventLine(hostId: string, bootId: string, seq: number, overrides: Record<string, unknown> = {}): string {
  const body = BODIES[seq % BODIES.length]!;
  const time = new Date(Date.UTC(2025, 0, 31, 12) + seq * 1000).toISOString();
  return JSON.stringify({ id: eventId(hostId, bootId, seq), hostId, bootId, seq, time, ...body, ...overrides });
}

export function lines(hostId: string, bootId: string, seqs: Iterable<number>): string[] {
  return [...seqs].map((seq) => eventLine(hostId, bootId, seq));
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** A host id that the stream routes to `partition` of `partitions`. */
export function hostIn(partition: number, partitions: number, prefix: string, skip = 0): string {
  let found = 0;
  for (let i = 0; ; i++) {
    const hostId = `${prefix}${i}`;
    if (partitionOf(hostId, partitions) === partition && found++ === skip) return hostId;
  }
}

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface LogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger whose records are kept (level debug) for assertions. */
export function captureLogger(): { log: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') records.push(JSON.parse(line) as LogRecord);
      callback();
    },
  });
  return { log: pino({ level: 'debug' }, sink), records };
}

/** A store whose appends can be held at a gate or made to fail, around a real one. */
export class ControlledStore implements EventStore {
  down = false;
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  /** Resolves when an append reaches the closed gate. */
  #arrived: Array<() => void> = [];
  appendsAtGate = 0;

  constructor(readonly inner: EventStore) {}

  closeGate(): void {
    this.#gate = new Promise((resolve) => (this.#open = resolve));
  }

  openGate(): void {
    this.#open?.();
    this.#gate = undefined;
  }

  /** Resolves once an append waits at the gate. */
  waitAtGate(): Promise<void> {
    if (this.appendsAtGate > 0) return Promise.resolve();
    return new Promise((resolve) => this.#arrived.push(resolve));
  }

  async append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): ReturnType<EventStore['append']> {
    if (this.#gate !== undefined) {
      this.appendsAtGate++;
      for (const resolve of this.#arrived.splice(0)) resolve();
      await this.#gate;
    }
    if (this.down) throw new StoreUnavailable('test: the store is down');
    return this.inner.append(stream, events, expected);
  }

  readStream: EventStore['readStream'] = (stream, options) => this.inner.readStream(stream, options);
  readAll: EventStore['readAll'] = (options) => this.inner.readAll(options);
  subscribeToAll: EventStore['subscribeToAll'] = (options, handler) => this.inner.subscribeToAll(options, handler);
  listStreams: EventStore['listStreams'] = () => this.inner.listStreams();
  close: EventStore['close'] = () => this.inner.close();
}

export interface RunningIngest {
  readonly ingest: Ingest;
  readonly nc: NatsConnection;
  readonly store: EventStore;
  readonly registry: Registry;
  readonly records: LogRecord[];
  metricsText(): Promise<string>;
}

export interface Fixture {
  readonly server: NatsServer;
  /** The admin user: setup and inspection only. */
  readonly admin: NatsConnection;
  readonly publisher: Publisher;
  readonly storeUrl: string;
  readonly partitions: number;
  /** Publishes one batch of a host as the hostsim user (batch id from its first seq unless given). */
  publish(hostId: string, bootId: string, seqs: Iterable<number>, batchId?: string): Promise<{ duplicate: boolean }>;
  /** Builds and starts an ingest copy on its own connection (as the ingest user) and store object. */
  startIngest(options?: Partial<IngestOptions> & { wrapStore?: (store: EventStore) => EventStore }): Promise<RunningIngest>;
  /** Opens another store object on the same file (what another process would see). */
  openStore(): Promise<EventStore>;
  /** The events of a host boot's stream, in revision order. */
  readHost(hostId: string, bootId: string): Promise<RecordedEvent[]>;
  deadLetters(): Promise<DeadLetter[]>;
  consumerInfo(partition: number): Promise<{ numPending: number; numAckPending: number }>;
  close(): Promise<void>;
}

export const DEFAULT_OPTIONS: IngestOptions = { partitionsMine: 'all', gapHoldMs: 2000, fetchMaxMessages: 256, storeRetryMs: 200 };

export async function startFixture(options: { partitions?: number; consumer?: ConsumerOptions; setup?: 'full' | 'streams' | 'none' } = {}): Promise<Fixture> {
  const partitions = options.partitions ?? 1;
  const server = await startNatsServer({ auth: { hosts: [] } });
  const dir = await mkdtemp(join(tmpdir(), 'lockline-ingest-test-'));
  const storeUrl = `sqlite:${join(dir, 'events.db')}`;
  const connections: NatsConnection[] = [];
  const copies: RunningIngest[] = [];
  const stores: EventStore[] = [];
  const as = async (user: string): Promise<NatsConnection> => {
    const credential = server.credentials[user];
    if (credential === undefined) throw new Error(`no credentials for ${user}`);
    const nc = await connect({ servers: server.url, ...natsAuthOptions(credential) });
    connections.push(nc);
    return nc;
  };
  const admin = await as('admin');
  const jsm = await admin.jetstreamManager();
  if (options.setup !== 'none') await ensureStreams(jsm, { partitions });
  if (options.setup === undefined || options.setup === 'full') await ensureIngestConsumers(jsm, partitions, options.consumer ?? {});
  const publisher = new Publisher((await as('hostsim')).jetstream());
  const reader = await openEventStore(storeUrl);
  stores.push(reader);

  return {
    server,
    admin,
    publisher,
    storeUrl,
    partitions,
    async publish(hostId, bootId, seqs, batchId) {
      const list = [...seqs];
      return await publisher.publish(hostId, lines(hostId, bootId, list), { batchId: batchId ?? batchIdOf(hostId, bootId, list[0] ?? 1) });
    },
    async startIngest(overrides = {}) {
      const { wrapStore, ...rest } = overrides;
      const nc = await as('ingest');
      const opened = await openEventStore(storeUrl);
      stores.push(opened);
      const store = wrapStore === undefined ? opened : wrapStore(opened);
      const registry = createRegistry('ingest');
      const { log, records } = captureLogger();
      const ingest = build({ ...DEFAULT_OPTIONS, ...rest }, { nc, store, log, registry });
      await ingest.start();
      const running = { ingest, nc, store, registry, records, metricsText: () => registry.metrics() };
      copies.push(running);
      return running;
    },
    async openStore() {
      const store = await openEventStore(storeUrl);
      stores.push(store);
      return store;
    },
    async readHost(hostId, bootId) {
      const out: RecordedEvent[] = [];
      for await (const page of readStreamPages(reader, `host-${hostId}-${bootId}`)) out.push(...page);
      return out;
    },
    async deadLetters() {
      return (await readStoredMessages(admin.jetstream(), DLQ_STREAM)).map((m) => parseDeadLetter(m.data));
    },
    async consumerInfo(partition) {
      const info = await jsm.consumers.info(EVENTS_STREAM, ingestConsumerName(partition));
      return { numPending: info.num_pending, numAckPending: info.num_ack_pending };
    },
    async close() {
      for (const copy of copies) await copy.ingest.abort().catch(() => undefined);
      for (const nc of connections) await nc.close().catch(() => undefined);
      for (const store of stores) await store.close().catch(() => undefined);
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The seqs of stored events (their envelopes), in revision order. */
export function seqsOf(events: readonly RecordedEvent[]): number[] {
  return events.map((e) => (e.data as { seq: number }).seq);
}
