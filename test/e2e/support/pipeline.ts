/**
 * The whole pipeline as `lockline up` runs it, for the cross-service tests: a real nats-server with
 * Lockline's least-privilege users, the admin setup (streams, ingest consumers, hosts bucket), and
 * host-sim, ingest and projector as REAL child processes (`node services/<name>/dist/main.js`, each
 * with its own user's credentials and LOCKLINE_* environment) — so that SIGKILL, SIGSTOP and a
 * server restart are the real thing. Plus the oracles the tests compare against: the events a
 * simulated host published (regenerated from its seed, as host-sim's resume does), the event store
 * read back, a from-scratch fold of it, and the projector's answers over NATS as the api user; and
 * the comparisons every test ends with (finishAndCompare).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DLQ_STREAM,
  EVENTS_STREAM,
  FINDINGS_STREAM,
  decodeLines,
  ensureHostsBucket,
  ensureIngestConsumers,
  ensureStreams,
  ingestConsumerName,
  natsAuthOptions,
  parseDeadLetter,
  parsePartitionedSubject,
  partitionOf,
  querySubject,
  type DeadLetter,
} from '@lockline/bus';
import { freePort, readStoredMessages, startNatsServer, type NatsCluster, type NatsServer, type StoredMessage } from '@lockline/bus/testing';
import type { HostEvent } from '@lockline/events';
import { hostStreamName, parseEvent } from '@lockline/events';
import type { EventStore, RecordedEvent } from '@lockline/eventstore';
import { openEventStore, readAllPages, readStreamPages } from '@lockline/eventstore';
import { FleetProjection, type HostProjection } from '@lockline/projection';
import { createSimHost, fleetHostId, parseFaults, type SimRecord } from '@lockline/sim';
import { connect, type NatsConnection } from 'nats';
import { expect } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** One service as a child process: the testkit's (the same class runs a consumer project's Lockline). */
import { ServiceProcess as Service, killAllServices, sleep, waitFor } from '@lockline/testkit';
export { Service, killAllServices, sleep, waitFor };

export type ServiceName = 'host-sim' | 'ingest' | 'projector';

export interface PipelineOptions {
  hosts: number;
  /** Ingest partitions (LOCKLINE_EVENTS's subject transform); default 1. */
  partitions?: number;
  /** The ingest consumers' ack-wait (default 30 s, as `lockline up` makes them). */
  ackWaitMs?: number;
  seed?: string;
  faults?: string;
  /** JetStream's Msg-Id dedupe window on the three streams (default 2 minutes, as `lockline up`). */
  duplicateWindowMs?: number;
  /**
   * A nats-server or a three-node cluster the test started itself, with auth for the pipeline's hosts
   * (`fleetHostId('host-', i)`, i < hosts): the pipeline sets it up and points every service at it —
   * a cluster by every node's URL, comma-separated, with streams and the hosts bucket replicated on
   * every node — and leaves stopping it to the test. Default: a server of the pipeline's own.
   */
  nats?: NatsServer | NatsCluster;
}

export interface Published {
  /** By hostId: the records host-sim got acked, in the order it published them (duplicates, reorders and corrupt ones included). */
  readonly records: ReadonlyMap<string, readonly SimRecord[]>;
  /** Every valid event once, by `hostId/bootId/seq`. */
  readonly events: ReadonlyMap<string, HostEvent>;
  /** The records whose payload is corrupt (fails validation). */
  readonly corrupt: readonly SimRecord[];
}

export interface StoreReadBack {
  /** Every event by `hostId/bootId/seq`; a second copy of a key is in `repeated`. */
  readonly events: Map<string, HostEvent>;
  readonly repeated: string[];
  /** Streams whose events are not in strictly increasing seq order, or whose revisions are not 0, 1, 2 …, or hold another host boot's events. */
  readonly disordered: string[];
  /** Seqs missing inside each stream (between its first and last seq; a stream starts at seq 1). */
  readonly holes: Map<string, number[]>;
  readonly streams: number;
  readonly total: number;
}

export interface DiffSummary {
  missing: number;
  extra: number;
  firstMissing: string[];
  firstExtra: string[];
}

/** What is in `expected` and not in `actual`, and the other way round (counts and the first few keys). */
export function diffKeys(expected: Iterable<string>, actual: Iterable<string>): DiffSummary {
  const a = new Set(actual);
  const e = new Set(expected);
  const missing = [...e].filter((k) => !a.has(k));
  const extra = [...a].filter((k) => !e.has(k));
  return { missing: missing.length, extra: extra.length, firstMissing: missing.slice(0, 10), firstExtra: extra.slice(0, 10) };
}

export const NO_DIFF: DiffSummary = { missing: 0, extra: 0, firstMissing: [], firstExtra: [] };

export const keyOf = (e: { hostId: string; bootId: string; seq: number }): string => `${e.hostId}/${e.bootId}/${e.seq}`;

export interface HostStateReply {
  hostId: string;
  bootId: string;
  seq: number;
  stateHash: string;
  gaps: Array<[number, number]>;
  duplicates: number;
  position: number;
}

export interface Pipeline {
  /** The single nats-server (throws when the pipeline runs on a cluster: see `cluster`). */
  readonly server: NatsServer;
  /** The cluster given as `options.nats`, if any. */
  readonly cluster: NatsCluster | undefined;
  /** Every server the services are given (LOCKLINE_NATS_URL, comma-separated). */
  readonly natsUrls: readonly string[];
  readonly dir: string;
  readonly storeUrl: string;
  readonly stateDir: string;
  readonly hostIds: readonly string[];
  readonly partitions: number;
  readonly seed: string;
  readonly faults: string;
  /** Connected as admin (setup, read-back of the streams). */
  readonly admin: NatsConnection;
  /** Connected as api (questions to the projector). */
  readonly api: NatsConnection;
  /** The store, opened by the test (a second SQLite connection, read-only use). */
  readonly store: EventStore;
  /** Every service process this pipeline started, in order. */
  readonly services: readonly Service[];
  ingest(env?: Record<string, string>): Promise<Service>;
  projector(env?: Record<string, string>): Promise<Service>;
  hostSim(env?: Record<string, string>): Promise<Service>;
  /** Σ (lastRevision + 1) over the store's streams. */
  storedCount(): Promise<number>;
  /** host-sim's resume state: what it got acked, per host. */
  resumeState(): Promise<Map<string, { bootId: string; lastAckedSeq: number; recordsAcked: number }>>;
  /** Regenerates, from the seed, exactly the records host-sim got acked (its resume state's counts). */
  published(): Promise<Published>;
  /** The valid events LOCKLINE_EVENTS holds (read as admin), once each by key, and the corrupt lines. */
  eventsStream(): Promise<{ events: Map<string, HostEvent>; invalidLines: string[]; batches: number; lines: number }>;
  readStore(): Promise<StoreReadBack>;
  /** A from-scratch fold of the store, in store order, as a rebuild does. */
  foldStore(): Promise<FleetProjection>;
  deadLetters(): Promise<DeadLetter[]>;
  /** Every message of LOCKLINE_FINDINGS: its Msg-Id and the finding. */
  findings(): Promise<Array<{ msgId: string | undefined; finding: { hostId: string; bootId: string; seq: number; code: string; pid: number | null } }>>;
  /** The projector's `state` answer for a host (as api), or its error. */
  askState(hostId: string, bootId?: string): Promise<{ ok: true; data: HostStateReply } | { ok: false; error: { code: string; message: string } }>;
  /**
   * Waits until the projector answers, for every host, the from-scratch fold's latest boot and seq,
   * then returns both sides (the test compares the hashes).
   */
  projectionConverged(fleet: FleetProjection, timeoutMs: number): Promise<Array<{ hostId: string; expected: { bootId: string; seq: number; stateHash: string }; actual: { bootId: string; seq: number; stateHash: string } | string }>>;
  close(): Promise<void>;
}

/** The Msg-Ids the projector gives a fold's findings (HostEntry.findingMsgId), in fold order. */
export function expectedFindingIds(fleet: FleetProjection): string[] {
  const out: string[] = [];
  for (const p of fleet.boots.values()) {
    const seen = new Map<string, number>();
    for (const f of p.findings) {
      const id = `${p.hostId}.${p.bootId}.${f.seq}.${f.code}.${f.pid ?? '-'}`;
      const n = seen.get(id) ?? 0;
      seen.set(id, n + 1);
      out.push(n === 0 ? id : `${id}.${n}`);
    }
  }
  return out;
}

function summaryOf(p: HostProjection): { bootId: string; seq: number; stateHash: string } {
  return { bootId: p.bootId, seq: p.seq, stateHash: p.stateHash() };
}

export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  for (const svc of ['ingest', 'projector', 'host-sim']) {
    const main = join(repo, 'services', svc, 'dist/main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: run \`npx tsc -b\` first`);
  }
  const partitions = options.partitions ?? 1;
  const seed = options.seed ?? '1';
  const faults = options.faults ?? '';
  const hostIds = Array.from({ length: options.hosts }, (_, i) => fleetHostId('host-', i));
  const given = options.nats;
  const cluster = given !== undefined && 'nodes' in given ? given : undefined;
  const single = cluster === undefined ? (given as NatsServer | undefined) ?? (await startNatsServer({ auth: { hosts: hostIds } })) : undefined;
  const nats: NatsServer | NatsCluster = cluster ?? single!;
  const natsUrls = cluster === undefined ? [single!.url] : [...cluster.urls];
  const replicas = cluster === undefined ? 1 : cluster.nodes.length;
  const dir = await mkdtemp(join(tmpdir(), 'lockline-e2e-pipeline-'));
  const storeUrl = `sqlite:${join(dir, 'events.db')}`;
  const stateDir = join(dir, 'host-sim');
  const connections: NatsConnection[] = [];
  const as = async (user: string): Promise<NatsConnection> => {
    const credential = nats.credentials[user];
    if (credential === undefined) throw new Error(`no NATS user ${user}`);
    const nc = await connect({ servers: [...natsUrls], ...natsAuthOptions(credential), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    connections.push(nc);
    return nc;
  };
  // The setup `lockline up` does, as the admin user.
  const admin = await as('admin');
  const jsm = await admin.jetstreamManager();
  // keepAckedEvents: the tests compare what the bus carried with what the store holds.
  await ensureStreams(jsm, { partitions, replicas, keepAckedEvents: true, ...(options.duplicateWindowMs === undefined ? {} : { duplicateWindowMs: options.duplicateWindowMs }) });
  await ensureIngestConsumers(jsm, partitions, options.ackWaitMs === undefined ? {} : { ackWaitMs: options.ackWaitMs });
  await ensureHostsBucket(jsm, { replicas });
  const api = await as('api');
  // The services create the store; the test opens it once it exists (the first ingest creates it).
  let store: EventStore | undefined;
  const openStore = async (): Promise<EventStore> => (store ??= await openEventStore(storeUrl));

  const credEnv = (user: string): Record<string, string> => {
    const c = nats.credentials[user];
    if (c === undefined) throw new Error(`no NATS user ${user}`);
    return { LOCKLINE_NATS_USER: c.user, LOCKLINE_NATS_PASSWORD: c.password };
  };
  const common = (): Record<string, string> => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', LOCKLINE_NATS_URL: natsUrls.join(','), LOCKLINE_LOG_LEVEL: 'info' });
  const services: Service[] = [];
  const start = async (name: ServiceName, env: Record<string, string>): Promise<Service> => {
    const metricsPort = await freePort();
    const copy = services.filter((s) => s.name.startsWith(`${name}#`)).length + 1;
    const service = new Service(`${name}#${copy}`, metricsPort, join(repo, 'services', name, 'dist/main.js'), { ...common(), LOCKLINE_METRICS_PORT: String(metricsPort), ...env });
    services.push(service);
    return service;
  };

  /**
   * Every message of `stream` (as admin). readStoredMessages returns what it has when its timeout
   * fires, without saying so: a short read is an error here, or a check for duplicates could pass on
   * half the stream.
   */
  const readAll = async (stream: string): Promise<StoredMessage[]> => {
    const { state } = await (await admin.jetstreamManager()).streams.info(stream);
    const messages = await readStoredMessages(admin.jetstream(), stream, { timeoutMs: 30_000 });
    if (messages.length < state.messages) throw new Error(`read ${messages.length} of the ${state.messages} messages of ${stream} before the timeout`);
    return messages;
  };

  const pipeline: Pipeline = {
    get server(): NatsServer {
      if (single === undefined) throw new Error('this pipeline runs on a NATS cluster: use pipeline.cluster');
      return single;
    },
    cluster,
    natsUrls,
    dir,
    storeUrl,
    stateDir,
    hostIds,
    partitions,
    seed,
    faults,
    admin,
    api,
    services,
    get store(): EventStore {
      if (store === undefined) throw new Error('the store is not open yet (storedCount() opens it)');
      return store;
    },

    ingest: (env = {}) => start('ingest', { ...credEnv('ingest'), LOCKLINE_STORE: storeUrl, ...env }),
    projector: (env = {}) => start('projector', { ...credEnv('projector'), LOCKLINE_STORE: storeUrl, LOCKLINE_PARTITIONS: String(partitions), ...env }),
    hostSim: (env = {}) =>
      start('host-sim', {
        ...credEnv('hostsim'),
        LOCKLINE_HOSTS: String(hostIds.length),
        LOCKLINE_SEED: seed,
        LOCKLINE_FAULTS: faults,
        LOCKLINE_STATE_DIR: stateDir,
        ...env,
      }),

    async storedCount() {
      if (!existsSync(storeUrl.slice('sqlite:'.length))) return 0;
      const s = await openStore();
      let n = 0;
      for (const info of await s.listStreams()) n += info.lastRevision + 1;
      return n;
    },

    async resumeState() {
      const text = await readFile(join(stateDir, 'host-sim-state.json'), 'utf8');
      const parsed = JSON.parse(text) as { hosts: Record<string, { bootId: string; lastAckedSeq: number; recordsAcked: number }> };
      return new Map(Object.entries(parsed.hosts));
    },

    async published() {
      const state = await pipeline.resumeState();
      const records = new Map<string, SimRecord[]>();
      const events = new Map<string, HostEvent>();
      const corrupt: SimRecord[] = [];
      for (const hostId of hostIds) {
        const position = state.get(hostId);
        const n = position?.recordsAcked ?? 0;
        // host-sim's own rule: the hosts follow from (seed, hostId, profile, faults) alone.
        const sim = createSimHost({ hostId, seed, profile: 'linux-2008-patch', faults: parseFaults(faults) });
        const taken = n === 0 ? [] : sim.take(n);
        if (taken.length !== n) throw new Error(`${hostId}: the simulator gives ${taken.length} records, the resume state says ${n} were acked`);
        const last = taken[taken.length - 1];
        if (last !== undefined && (last.bootId !== position?.bootId || last.seq !== position.lastAckedSeq)) {
          throw new Error(`${hostId}: record ${n} regenerates as ${last.bootId}/${last.seq}, the resume state says ${position?.bootId}/${position?.lastAckedSeq}`);
        }
        records.set(hostId, taken);
        for (const r of taken) {
          if (r.event === undefined) corrupt.push(r);
          else events.set(keyOf(r.event), r.event);
        }
      }
      return { records, events, corrupt };
    },

    async eventsStream() {
      const events = new Map<string, HostEvent>();
      const invalidLines: string[] = [];
      let lines = 0;
      const messages = await readAll(EVENTS_STREAM);
      for (const m of messages) {
        const hostId = parsePartitionedSubject(m.subject)?.hostId;
        for (const line of decodeLines(m.data)) {
          lines++;
          const parsed = parseEvent(line);
          if (!parsed.ok || parsed.event.hostId !== hostId) invalidLines.push(line);
          // host-sim may legitimately publish an event twice (a duplicate fault, a resend): once by key
          else events.set(keyOf(parsed.event), parsed.event);
        }
      }
      return { events, invalidLines, batches: messages.length, lines };
    },

    async readStore() {
      const s = await openStore();
      const events = new Map<string, HostEvent>();
      const repeated: string[] = [];
      const disordered: string[] = [];
      const holes = new Map<string, number[]>();
      let total = 0;
      const infos = await s.listStreams();
      for (const { stream } of infos) {
        let revision = 0;
        let lastSeq = 0;
        let ok = true;
        const missing: number[] = [];
        for await (const page of readStreamPages(s, stream)) {
          for (const r of page) {
            total++;
            const e = r.data as HostEvent;
            if (r.revision !== revision++ || e.seq <= lastSeq || hostStreamName(e.hostId, e.bootId) !== stream || r.id !== e.id) ok = false;
            for (let seq = lastSeq + 1; seq < e.seq; seq++) missing.push(seq);
            lastSeq = Math.max(lastSeq, e.seq);
            const key = keyOf(e);
            if (events.has(key)) repeated.push(key);
            else events.set(key, e);
          }
        }
        if (!ok) disordered.push(stream);
        if (missing.length > 0) holes.set(stream, missing);
      }
      return { events, repeated, disordered, holes, streams: infos.length, total };
    },

    async foldStore() {
      const s = await openStore();
      const fleet = new FleetProjection();
      for await (const page of readAllPages(s)) for (const r of page as RecordedEvent[]) fleet.apply(r.data as HostEvent);
      return fleet;
    },

    async deadLetters() {
      return (await readAll(DLQ_STREAM)).map((m) => parseDeadLetter(m.data));
    },

    async findings() {
      const messages = await readAll(FINDINGS_STREAM);
      const decoder = new TextDecoder();
      return messages.map((m) => ({ msgId: m.msgId, finding: JSON.parse(decoder.decode(m.data)) as { hostId: string; bootId: string; seq: number; code: string; pid: number | null } }));
    },

    async askState(hostId, bootId) {
      const subject = querySubject(partitionOf(hostId, partitions), 'state');
      const reply = await api.request(subject, JSON.stringify(bootId === undefined ? { hostId } : { hostId, bootId }), { timeout: 3000 });
      return JSON.parse(new TextDecoder().decode(reply.data)) as Awaited<ReturnType<Pipeline['askState']>>;
    },

    async projectionConverged(fleet, timeoutMs) {
      const expected = new Map<string, { bootId: string; seq: number; stateHash: string }>();
      for (const hostId of hostIds) {
        const p = fleet.latest.get(hostId);
        if (p !== undefined) expected.set(hostId, summaryOf(p));
      }
      const actual = new Map<string, { bootId: string; seq: number; stateHash: string } | string>();
      const caughtUp = async (): Promise<boolean> => {
        let all = true;
        for (const [hostId, want] of expected) {
          let answer: { bootId: string; seq: number; stateHash: string } | string;
          try {
            const reply = await pipeline.askState(hostId);
            answer = reply.ok ? { bootId: reply.data.bootId, seq: reply.data.seq, stateHash: reply.data.stateHash } : `${reply.error.code}: ${reply.error.message}`;
          } catch (error) {
            answer = `no answer: ${(error as Error).message}`;
          }
          actual.set(hostId, answer);
          if (typeof answer === 'string' || answer.bootId !== want.bootId || answer.seq !== want.seq) all = false;
        }
        return all;
      };
      await waitFor('the projector to fold every stored event', caughtUp, timeoutMs, () => JSON.stringify({ expected: [...expected], actual: [...actual] }), 250);
      return [...expected].map(([hostId, want]) => ({ hostId, expected: want, actual: actual.get(hostId)! }));
    },

    async close() {
      await killAllServices();
      await store?.close().catch(() => undefined);
      for (const nc of connections) await nc.close().catch(() => undefined);
      if (given === undefined) await single?.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return pipeline;
}

/** Polls until host-sim's metrics say at least `events` events were acked as new. */
export async function waitPublished(hostSim: Service, events: number, timeoutMs: number): Promise<void> {
  await waitFor(
    `host-sim to publish ${events} events`,
    async () => {
      if (!hostSim.running) throw new Error(`host-sim exited (${hostSim.child.exitCode ?? hostSim.child.signalCode}):\n${hostSim.logs().slice(-4000)}`);
      try {
        return (await hostSim.metric('lockline_host_sim_events_published_total')) >= events;
      } catch {
        return false; // metrics not served yet
      }
    },
    timeoutMs,
    () => hostSim.logs().slice(-2000),
    50,
  );
}

/** Waits until the store holds `count` events (and reports what it holds otherwise). */
export async function waitStored(pipeline: Pipeline, count: number, timeoutMs: number, services: readonly Service[] = []): Promise<void> {
  let last = 0;
  await waitFor(
    `the store to hold ${count} events`,
    async () => {
      last = await pipeline.storedCount();
      return last >= count;
    },
    timeoutMs,
    () => `it holds ${last}\n${services.map((s) => `--- ${s.name} (${s.running ? 'running' : 'exited'}):\n${s.logs().slice(-3000)}`).join('\n')}`,
    100,
  );
}

/**
 * Waits until ingest has handled everything LOCKLINE_EVENTS holds: every ingest consumer has nothing
 * pending and nothing unacked (read as admin), twice in a row 200 ms apart.
 */
export async function waitDrained(pipeline: Pipeline, timeoutMs: number): Promise<void> {
  const jsm = await pipeline.admin.jetstreamManager();
  let state = '';
  let quietSince: number | undefined;
  await waitFor(
    'ingest to ack every batch of LOCKLINE_EVENTS',
    async () => {
      let infos;
      try {
        infos = await Promise.all(Array.from({ length: pipeline.partitions }, (_, p) => jsm.consumers.info(EVENTS_STREAM, ingestConsumerName(p))));
      } catch (error) {
        // A cluster that is still electing a consumer's leader answers 503 or not at all: not yet.
        const code = (error as { code?: unknown }).code;
        if (code !== '503' && code !== 'TIMEOUT') throw error;
        state = `consumer info: ${String(code)} (JetStream still recovering)`;
        quietSince = undefined;
        return false;
      }
      state = infos.map((i) => `${i.name}: pending ${i.num_pending}, ack pending ${i.num_ack_pending}, redelivered ${i.num_redelivered}`).join('; ');
      const quiet = infos.every((i) => i.num_pending === 0 && i.num_ack_pending === 0);
      if (!quiet) quietSince = undefined;
      else quietSince ??= Date.now();
      return quietSince !== undefined && Date.now() - quietSince >= 200;
    },
    timeoutMs,
    () => `${state}\n${pipeline.services.filter((s) => s.name.startsWith('ingest')).map((s) => `--- ${s.name} (${s.running ? 'running' : 'exited'}):\n${s.logs().slice(-3000)}`).join('\n')}`,
    100,
  );
}

/** The warnings and errors (pino level ≥ 40) each service logged: printed when a test fails. */
export function serviceProblems(pipeline: Pipeline, maxLines = 30): string {
  return pipeline.services
    .map((s) => {
      const lines = s.logs().split('\n').filter((l) => /"level":(4|5|6)0/.test(l));
      return `--- ${s.name} (pid ${s.child.pid ?? '?'}, ${s.running ? 'running' : `exited ${s.child.exitCode ?? s.child.signalCode}`}): ${lines.length} warnings/errors\n${lines.slice(-maxLines).map((l) => l.slice(0, 600)).join('\n')}`;
    })
    .join('\n');
}

/** An ingest and a projector (each with its `env`), ready (/healthz), then host-sim: how most tests start. */
export async function startServices(
  pipeline: Pipeline,
  env: { ingest?: Record<string, string>; projector?: Record<string, string>; hostSim?: Record<string, string> } = {},
): Promise<{ ingest: Service; projector: Service; hostSim: Service }> {
  const ingest = await pipeline.ingest(env.ingest);
  const projector = await pipeline.projector(env.projector);
  await ingest.waitHealthy();
  await projector.waitHealthy();
  const hostSim = await pipeline.hostSim(env.hostSim);
  return { ingest, projector, hostSim };
}

export interface Compared {
  readonly published: Published;
  readonly stored: StoreReadBack;
  /** The findings on LOCKLINE_FINDINGS. */
  readonly findings: number;
}

/**
 * How every test ends: host-sim publishes at least `publish.atLeast` events (when given) and is
 * stopped cleanly, ingest drains LOCKLINE_EVENTS, and then the oracles: every event host-sim got
 * acked is stored exactly once and in order, the projector answers what a from-scratch fold of the
 * store gives, and LOCKLINE_FINDINGS holds each finding of that fold exactly once.
 */
export async function finishAndCompare(pipeline: Pipeline, hostSim: Service, publish?: { atLeast: number; timeoutMs: number }): Promise<Compared> {
  if (publish !== undefined) await waitPublished(hostSim, publish.atLeast, publish.timeoutMs);
  await stopHostSim(hostSim);
  await waitDrained(pipeline, 30_000);
  const { published, stored } = await expectExactlyOnce(pipeline);
  const fleet = await pipeline.foldStore();
  await expectProjectionMatches(pipeline, fleet);
  const findings = await expectFindingsOnce(pipeline, fleet);
  return { published, stored, findings };
}

/** Stops host-sim cleanly (it then awaits every ack and saves its resume state) and checks it exited 0. */
async function stopHostSim(hostSim: Service): Promise<void> {
  const exit = await hostSim.stop();
  expect(exit, `host-sim's exit (log tail:\n${hostSim.logs().slice(-2000)})`).toEqual({ code: 0, signal: null });
}

/**
 * Exactly once, in order: what host-sim got acked is what LOCKLINE_EVENTS holds (once per host,
 * boot and seq), and the store holds each of those events once, every stream in revision and seq
 * order, with the same event ids.
 */
async function expectExactlyOnce(p: Pipeline): Promise<{ published: Published; stored: StoreReadBack }> {
  const published = await p.published();
  const onStream = await p.eventsStream();
  expect(diffKeys(published.events.keys(), onStream.events.keys()), 'acked by JetStream (host-sim resume state) vs held by LOCKLINE_EVENTS').toEqual(NO_DIFF);
  const stored = await p.readStore();
  expect({ repeated: stored.repeated.slice(0, 10), disordered: stored.disordered }, 'events stored twice / streams out of order').toEqual({ repeated: [], disordered: [] });
  expect(diffKeys(published.events.keys(), stored.events.keys()), 'published vs stored').toEqual(NO_DIFF);
  const otherIds = [...published.events].filter(([key, e]) => stored.events.get(key)?.id !== e.id).map(([key]) => key);
  expect(otherIds.slice(0, 10), 'stored under another event id').toEqual([]);
  expect(stored.total).toBe(published.events.size);
  return { published, stored };
}

/** The projector answers, for every host, the from-scratch fold's boot, seq and state hash. */
async function expectProjectionMatches(p: Pipeline, fleet: FleetProjection, timeoutMs = 30_000): Promise<void> {
  const compared = await p.projectionConverged(fleet, timeoutMs);
  expect(compared.length).toBe(p.hostIds.length);
  expect(Object.fromEntries(compared.map((c) => [c.hostId, c.actual]))).toEqual(Object.fromEntries(compared.map((c) => [c.hostId, c.expected])));
}

/**
 * LOCKLINE_FINDINGS holds each finding of the from-scratch fold exactly once, under the Msg-Id the
 * projector derives for it (`<host>.<boot>.<seq>.<code>.<pid>[.n]`), and nothing else.
 */
async function expectFindingsOnce(p: Pipeline, fleet: FleetProjection): Promise<number> {
  const expected = expectedFindingIds(fleet);
  const jsm = await p.admin.jetstreamManager();
  // The projector answers from memory before a page's findings are acked: give them a moment.
  await waitFor(`${expected.length} findings on ${FINDINGS_STREAM}`, async () => (await jsm.streams.info(FINDINGS_STREAM)).state.messages >= expected.length, 10_000);
  await sleep(300); // anything more (a duplicate) would come now
  const findings = await p.findings();
  const ids = findings.map((f) => f.msgId ?? '(no Msg-Id)');
  const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
  expect(twice, 'findings published twice').toEqual([]);
  expect(diffKeys(expected, ids), 'findings of a from-scratch fold vs the findings stream').toEqual(NO_DIFF);
  const mislabelled = findings.filter((f) => !(f.msgId ?? '').startsWith(`${f.finding.hostId}.${f.finding.bootId}.${f.finding.seq}.${f.finding.code}.`));
  expect(mislabelled).toEqual([]);
  return findings.length;
}
