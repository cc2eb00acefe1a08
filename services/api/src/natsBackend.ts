import { DLQ_STREAM, FINDINGS_STREAM, HOSTS_BUCKET, UNKNOWN_HOST_TOKEN, decodeJson, deadLetterSubject, encodeJson, parseDeadLetter, partitionOf, querySubject, type QueryVerb } from '@lockline/bus';
import { DLQ_WILDCARD, eventsSubject } from '@lockline/events';
import type { EventStore } from '@lockline/eventstore';
import type { Logger } from '@lockline/runtime';
import type { ConsumerMessages, JetStreamClient, JetStreamManager, KvEntry, NatsConnection, QueuedIterator } from 'nats';
import * as z from 'zod';
import type { Backend, DeadLettersRequest, EventsRequest } from './backend.js';
import { ApiError, notFound } from './errors.js';
import { readEvents } from './eventsReader.js';
import { Feed } from './feed.js';
import type { ApiMetrics } from './metrics.js';
import {
  deadLetter,
  eventsResult,
  explanation,
  finding,
  hostState,
  hostSummary,
  hostView,
  rebuiltHost,
  stateDiff,
  vma,
  type DeadLetter,
  type Fleet,
  type FleetHost,
  type RebuiltHost,
} from './schemas.js';

/**
 * The backend that asks the projector (DESIGN.md: the API reads, over NATS, what the projector
 * folds). Per-host questions — a host's events and a rebuild included — are request-reply on
 * `lockline.v1.query.<partitionOf(hostId, N)>.<verb>`; the fleet and the live stream come from the
 * hosts bucket, watched; findings from the findings stream, read from its start by an ordered consumer
 * into memory (the last `findingsKept`); dead letters are read one message at a time from LOCKLINE_DLQ
 * (an operator's page, not a hot path) and replayed by publishing the stored line again on the host's
 * events subject.
 */

export interface NatsBackendOptions {
  readonly partitions: number;
  readonly queryTimeoutMs: number;
  /** how long to wait for a rebuild (default queryTimeoutMs) */
  readonly rebuildTimeoutMs?: number;
  readonly findingsKept: number;
  readonly log: Logger;
  readonly metrics: ApiMetrics;
  /** Serves a host's events when no projector answers (the projector's `events` verb is asked first). */
  readonly store?: EventStore;
  readonly now?: () => number;
}

const replySchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), data: z.unknown() }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.string(), message: z.string() }) }),
]);

/** JetStream: "no message found" (a sequence past the end, or nothing more on that subject). */
const NO_MESSAGE_FOUND = 10037;

const natsCode = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};
const jetStreamCode = (err: unknown): number | undefined => {
  const code = (err as { api_error?: { err_code?: unknown } } | null)?.api_error?.err_code;
  return typeof code === 'number' ? code : undefined;
};

const storedDeadLetter = deadLetter.omit({ seq: true });
const vmaList = z.array(vma).nullable();
const rebuiltHosts = z.array(rebuiltHost);
const byHostId = (a: RebuiltHost, b: RebuiltHost): number => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0);

export function natsBackend(nc: NatsConnection, options: NatsBackendOptions): Backend {
  const { log, metrics, store } = options;
  const now = options.now ?? Date.now;
  const feed = new Feed(options.findingsKept);
  const js: JetStreamClient = nc.jetstream();
  let jsm: Promise<JetStreamManager> | undefined;
  const manager = (): Promise<JetStreamManager> => {
    jsm ??= nc.jetstreamManager().catch((err: unknown) => {
      jsm = undefined;
      throw err;
    });
    return jsm;
  };
  /** NATS connected (reconnects are nats.js's own; meanwhile /readyz says 503) */
  let connected = true;
  /** nats.js's status iterator (a QueuedIterator, typed as AsyncIterable): stopped at stop() */
  let statusIterator: { stop?: () => void } | undefined;
  let hostsLoaded = false;
  let findingsLoaded = false;
  let watch: QueuedIterator<KvEntry> | undefined;
  let findingsMessages: ConsumerMessages | undefined;
  const loops: Array<Promise<void>> = [];
  let stopping = false;

  function upstream(err: unknown, what: string, timeoutMs = options.queryTimeoutMs): ApiError {
    const code = natsCode(err);
    if (code === '503') return new ApiError('UNAVAILABLE', `no projector answers ${what}: is it running, and caught up with the store?`, { cause: err, retryAfterSeconds: 1 });
    if (code === 'TIMEOUT') return new ApiError('TIMEOUT', `the projector did not answer ${what} within ${timeoutMs} ms`, { cause: err });
    if (code === 'PERMISSIONS_VIOLATION' || code === 'AUTHORIZATION_VIOLATION') return new ApiError('INTERNAL', `NATS refused ${what} to the api user`, { cause: err });
    return new ApiError('UNAVAILABLE', `NATS is not reachable for ${what}`, { cause: err, retryAfterSeconds: 1 });
  }

  /**
   * Questions in flight, by subject and body: the same question asked again before the answer came
   * shares it (a dashboard of many viewers asks the same few things; the projector answers between
   * fold batches, so every question it is spared is latency for the others). Nothing is kept once
   * answered: no answer is ever older than the question.
   */
  const inFlight = new Map<string, Promise<unknown>>();

  /** One question to the projector copy owning `hostId`; its answer parsed with `schema`. */
  function ask<T>(verb: QueryVerb, hostId: string, body: Record<string, unknown>, schema: z.ZodType<T>, timeoutMs = options.queryTimeoutMs): Promise<T> {
    return askPartition(verb, partitionOf(hostId, options.partitions), `for ${hostId}`, { hostId, ...body }, schema, timeoutMs);
  }

  /** One question to the projector copy owning `partition`, shared with the same one in flight. */
  function askPartition<T>(verb: QueryVerb, partition: number, about: string, body: Record<string, unknown>, schema: z.ZodType<T>, timeoutMs: number): Promise<T> {
    const key = `${verb}\u0000${partition}\u0000${JSON.stringify(body)}`;
    const shared = inFlight.get(key);
    if (shared !== undefined) {
      metrics.queriesShared.inc({ verb });
      return shared as Promise<T>;
    }
    const asked = askProjector(verb, partition, about, body, schema, timeoutMs).finally(() => inFlight.delete(key));
    inFlight.set(key, asked);
    return asked;
  }

  async function askProjector<T>(verb: QueryVerb, partition: number, about: string, body: Record<string, unknown>, schema: z.ZodType<T>, timeoutMs: number): Promise<T> {
    const subject = querySubject(partition, verb);
    const t0 = performance.now();
    let outcome = 'ok';
    try {
      let msg;
      try {
        msg = await nc.request(subject, encodeJson(body), { timeout: timeoutMs });
      } catch (err) {
        const e = upstream(err, `${verb} ${about} (partition ${partition} of ${options.partitions})`, timeoutMs);
        outcome = e.code;
        throw e;
      }
      const reply = replySchema.safeParse(decodeJson(msg.data));
      if (!reply.success) {
        outcome = 'UPSTREAM_FAILED';
        throw new ApiError('UPSTREAM_FAILED', `the projector's answer to ${verb} is not a query reply`);
      }
      if (!reply.data.ok) {
        const { code, message } = reply.data.error;
        outcome = code;
        if (code === 'NOT_FOUND') throw new ApiError('NOT_FOUND', message);
        if (code === 'BAD_REQUEST') throw new ApiError('BAD_REQUEST', message);
        throw new ApiError('UPSTREAM_FAILED', `the projector failed to answer ${verb}: ${message}`);
      }
      const data = schema.safeParse(reply.data.data);
      if (!data.success) {
        outcome = 'UPSTREAM_FAILED';
        log.error({ verb, partition, about, issues: data.error.issues.slice(0, 5) }, "the projector's answer does not match the API's schema");
        throw new ApiError('UPSTREAM_FAILED', `the projector's answer to ${verb} does not match the API's schema (are both the same version?)`);
      }
      return data.data;
    } finally {
      metrics.queryDuration.observe({ verb, outcome }, (performance.now() - t0) / 1000);
    }
  }

  const opt = <K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> => (value === undefined ? {} : ({ [key]: value } as Record<K, V>));

  async function getDeadLetter(request: { seq: number; next_by_subj?: string }): Promise<DeadLetter | undefined> {
    let sm;
    try {
      // `next_by_subj` (server ≥ 2.9) is missing from nats.js's request type: the server reads it.
      sm = await (await manager()).streams.getMessage(DLQ_STREAM, request as { seq: number });
    } catch (err) {
      if (jetStreamCode(err) === NO_MESSAGE_FOUND) return undefined;
      throw upstream(err, `dead letter ${request.seq}`);
    }
    const parsed = storedDeadLetter.safeParse((() => {
      try {
        return parseDeadLetter(sm.data);
      } catch {
        return undefined;
      }
    })());
    if (!parsed.success) {
      // Not ours to hide: show what is there, with the reason it could not be read.
      return { seq: sm.seq, reason: 'unreadable dead letter (not the shape @lockline/bus writes)', hostId: null, payload: null, payloadTruncated: false, payloadBytes: sm.data.length, receivedAt: sm.time.toISOString(), sourceSubject: sm.subject, sourceSeq: null, lineIndex: null };
    }
    return { seq: sm.seq, ...parsed.data };
  }

  async function watchHosts(): Promise<void> {
    const kv = await js.views.kv(HOSTS_BUCKET, { bindOnly: true });
    const iter = await kv.watch({ initializedFn: () => (hostsLoaded = true) });
    watch = iter;
    loops.push(
      (async () => {
        for await (const e of iter) {
          if (e.operation !== 'PUT') {
            feed.removeHost(e.key, e.revision);
            continue;
          }
          const s = hostSummary.safeParse(e.json());
          if (s.success) feed.putHost(e.revision, s.data);
          else log.warn({ key: e.key, revision: e.revision }, 'a host summary the API cannot read: skipped');
        }
      })().catch((err: unknown) => {
        if (!stopping) log.error({ err }, 'the hosts bucket watch ended');
      }),
    );
  }

  async function readFindings(): Promise<void> {
    const info = await (await manager()).streams.info(FINDINGS_STREAM);
    const target = info.state.last_seq;
    if (info.state.messages === 0) findingsLoaded = true;
    const consumer = await js.consumers.get(FINDINGS_STREAM, {});
    const messages = await consumer.consume({ max_messages: 1000 });
    findingsMessages = messages;
    loops.push(
      (async () => {
        for await (const m of messages) {
          let value: unknown;
          try {
            value = m.json();
          } catch {
            value = undefined;
          }
          const f = finding.safeParse(value);
          if (f.success) feed.addFinding(m.seq, f.data);
          else log.warn({ seq: m.seq }, 'a finding the API cannot read: skipped');
          if (!findingsLoaded && (m.seq >= target || m.info.pending === 0)) findingsLoaded = true;
        }
      })().catch((err: unknown) => {
        if (!stopping) log.error({ err }, 'the findings consumer ended');
      }),
    );
  }

  return {
    kind: 'nats',
    feed,

    async start() {
      const status = nc.status();
      statusIterator = status as { stop?: () => void };
      loops.push(
        (async () => {
          for await (const s of status) {
            if (s.type === 'disconnect') connected = false;
            else if (s.type === 'reconnect') connected = true;
          }
        })(),
      );
      await Promise.all([watchHosts(), readFindings()]);
    },

    async stop() {
      stopping = true;
      watch?.stop();
      findingsMessages?.stop();
      statusIterator?.stop?.();
      await Promise.allSettled(loops);
    },

    checks: () => ({ nats: connected && !nc.isClosed(), hostSummaries: hostsLoaded, findings: findingsLoaded }),

    async fleet(): Promise<Fleet> {
      const t = now();
      const hosts: FleetHost[] = feed.hostSummaries().map((s) => ({ ...s, lagMs: Math.max(0, t - Date.parse(s.updatedAt)) }));
      const findingsByCode: Record<string, number> = {};
      let processes = 0;
      let lockedPages = 0;
      let eventRate = 0;
      for (const h of hosts) {
        processes += h.processes;
        lockedPages += h.lockedPages;
        eventRate += h.eventRate;
        for (const [code, n] of Object.entries(h.findingsByCode)) findingsByCode[code] = (findingsByCode[code] ?? 0) + n;
      }
      return { asOf: new Date(t).toISOString(), hosts, totals: { hosts: hosts.length, processes, lockedPages, findingsByCode, eventRate: Math.round(eventRate * 10) / 10 } };
    },

    hostState: (hostId, bootId) => ask('state', hostId, opt('bootId', bootId), hostState),
    tree: (hostId, o) => ask('tree', hostId, { ...opt('bootId', o.bootId), ...opt('only', o.only) }, hostView),
    stateAt: (hostId, o) => ask('stateAt', hostId, { ...opt('bootId', o.bootId), seq: o.seq, ...opt('only', o.only) }, hostView),
    diff: (hostId, o) => ask('stateAt', hostId, { ...opt('bootId', o.bootId), from: o.from, to: o.to }, stateDiff),
    explain: (hostId, pid, o) => ask('explain', hostId, { pid, ...opt('bootId', o.bootId), ...opt('seq', o.seq) }, explanation),
    async vmas(hostId, pid, o) {
      return (await ask('vmas', hostId, { pid, ...opt('bootId', o.bootId), ...opt('seq', o.seq) }, vmaList)) ?? undefined;
    },

    async events(hostId, request: EventsRequest) {
      const body = {
        ...opt('bootId', request.bootId),
        cursor: request.cursor,
        limit: request.limit,
        ...opt('types', request.types === undefined ? undefined : [...request.types].sort()),
        ...opt('pid', request.pid),
      };
      try {
        return await ask('events', hostId, body, eventsResult);
      } catch (err) {
        // The projector reads the store it folds; when none answers, a store given to the API serves.
        if (store === undefined || !(err instanceof ApiError) || (err.code !== 'UNAVAILABLE' && err.code !== 'TIMEOUT')) throw err;
        log.debug({ hostId, code: err.code }, "no projector answered for the host's events: read from the store");
        return readEvents(store, hostId, request.bootId ?? feed.host(hostId)?.bootId, request);
      }
    },

    findings: (request) => Promise.resolve(feed.findingsPage(request)),

    async deadLetters(request: DeadLettersRequest) {
      const subject = request.hostId === undefined ? DLQ_WILDCARD : request.hostId === UNKNOWN_HOST_TOKEN ? deadLetterSubject(null) : deadLetterSubject(request.hostId);
      const items: DeadLetter[] = [];
      let seq = request.after + 1;
      for (;;) {
        const letter = await getDeadLetter({ seq, next_by_subj: subject });
        if (letter === undefined) return { items, nextAfter: null };
        items.push(letter);
        seq = letter.seq + 1;
        if (items.length === request.limit) {
          const more = await getDeadLetter({ seq, next_by_subj: subject });
          return { items, nextAfter: more === undefined ? null : letter.seq };
        }
      }
    },

    async deadLetter(seq) {
      const letter = await getDeadLetter({ seq });
      if (letter === undefined) throw notFound(`there is no dead letter ${seq} (it never was, or the stream's limits discarded it)`);
      return letter;
    },

    async replayDeadLetter(seq) {
      const letter = await getDeadLetter({ seq });
      if (letter === undefined) throw notFound(`there is no dead letter ${seq} (it never was, or the stream's limits discarded it)`);
      if (letter.hostId === null) throw new ApiError('CONFLICT', `dead letter ${seq} names no host (${letter.reason}): there is no events subject to replay it on`);
      if (letter.payload === null) throw new ApiError('CONFLICT', `dead letter ${seq} kept no payload: there is nothing to replay`);
      if (letter.payloadTruncated) throw new ApiError('CONFLICT', `dead letter ${seq} kept only the first ${letter.payload.length} of ${letter.payloadBytes} bytes: replaying it would publish a cut line`);
      const subject = eventsSubject(letter.hostId);
      let ack;
      try {
        // One replay per dead letter within JetStream's duplicate window, however often it is asked for.
        ack = await js.publish(subject, new TextEncoder().encode(letter.payload), { msgID: `replay.${DLQ_STREAM}.${seq}`, timeout: options.queryTimeoutMs });
      } catch (err) {
        throw upstream(err, `the replay of dead letter ${seq} on ${subject}`);
      }
      log.info({ seq, hostId: letter.hostId, subject, duplicate: ack.duplicate }, 'dead letter replayed');
      return { seq, hostId: letter.hostId, subject, duplicate: ack.duplicate };
    },

    async rebuild(hostId) {
      const timeoutMs = options.rebuildTimeoutMs ?? options.queryTimeoutMs;
      let hosts: RebuiltHost[];
      if (hostId !== undefined) {
        hosts = [await ask('rebuild', hostId, {}, rebuiltHost, timeoutMs)];
      } else {
        // Every partition's copy rebuilds its own hosts, the partitions side by side.
        const partitions = Array.from({ length: options.partitions }, (_, p) => p);
        hosts = (await Promise.all(partitions.map((p) => askPartition('rebuild', p, 'for every host', {}, rebuiltHosts, timeoutMs)))).flat().sort(byHostId);
      }
      log.info({ hostId: hostId ?? null, hosts: hosts.length, events: hosts.reduce((n, x) => n + x.events, 0), findingsPublished: hosts.reduce((n, x) => n + x.findingsPublished, 0) }, 'rebuilt from the store');
      return { hosts };
    },
  };
}
