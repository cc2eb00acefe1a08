import type { Finding } from '@lockline/audit';
import type { HostSummaries } from '@lockline/bus';
import { FINDINGS_STREAM, encodeJson, lastMessageOn, openHostSummaries, partitionOf, queryWildcard } from '@lockline/bus';
import type { HostEvent } from '@lockline/events';
import { findingsSubject, isValidId } from '@lockline/events';
import type { EventStore, RecordedEvent, Subscription } from '@lockline/eventstore';
import { readHostInStoreOrder } from '@lockline/eventstore';
import type { ProjectionOptions } from '@lockline/projection';
import type { Logger, Registry } from '@lockline/runtime';
import { headers as natsHeaders, type JetStreamClient, type Msg, type NatsConnection, type NatsError, type Subscription as NatsSubscription } from 'nats';
import type { ProjectorConfig } from './config.js';
import { HostEntry } from './hostEntry.js';
import type { HostSummary } from './hostSummary.js';
import { storedProgressOf, summaryOf } from './hostSummary.js';
import { projectorMetrics } from './metrics.js';
import type { QueryContext, QueryReply, RebuiltHost } from './queries.js';
import { QueryError, answerQuery } from './queries.js';
import { StateAtReader } from './stateAt.js';

/** What build() needs: connections opened by main.ts (STYLE.md 7), a logger, a metrics registry. */
export interface ProjectorDeps {
  readonly nc: NatsConnection;
  readonly store: EventStore;
  readonly log: Logger;
  readonly registry: Registry;
  /** The clock for summaries (ms since the epoch); default Date.now. */
  readonly now?: () => number;
}

export interface ProjectorStatus {
  readonly ready: boolean;
  /** store position of the last event handled */
  readonly checkpoint: number | undefined;
  /** events read from the store by this run (every partition) */
  readonly eventsRead: number;
  /** events folded (this copy's partitions) */
  readonly eventsFolded: number;
  readonly hosts: number;
  /** events in the store at the last look not handled yet */
  readonly lag: number;
  readonly findings: { readonly stored: number; readonly duplicate: number; readonly suppressed: number };
  readonly summariesWritten: number;
}

export interface Projector {
  /** Opens the hosts bucket and starts folding from the start of the store. Resolves once folding has begun. */
  start(): Promise<void>;
  /** Stops answering, finishes the batch and the queries in flight, writes the last summaries. Idempotent. */
  stop(): Promise<void>;
  /** Caught up with the store (as it was at start) and answering queries: what /healthz reports. */
  readonly ready: boolean;
  /** Resolves when ready; rejects if the projector fails or stops before. */
  whenReady(): Promise<void>;
  /** Settles when the projector ends: resolves after stop(), rejects when the fold failed (the store went away, NATS refused). */
  readonly done: Promise<void>;
  status(): ProjectorStatus;
}

/** Events per handler call: pages this size stay young-generation garbage (libs/eventstore pages.ts). */
const MAX_BATCH = 1000;
/** Findings or summary writes awaiting their ack at once. */
const MAX_IN_FLIGHT = 256;
const PUBLISH_TIMEOUT_MS = 5000;
/** On every finding message: the store position of the event that raised it. */
export const FINDING_POSITION_HEADER = 'Lockline-Position';
/** Longest stretch of summary taking before the fold and the queries get a turn (flushSummaries). */
const SUMMARY_SLICE_MS = 10;
/** How long stop() waits for the last summaries. */
const FINAL_FLUSH_MS = 5000;
/** The queue group every copy answers queries in: copies of the same partition share the load. */
export const QUERY_QUEUE = 'lockline-projector';

/** Thrown inside the fold when stop() interrupts a retry. */
class Stopping extends Error {
  constructor() {
    super('the projector is stopping');
    this.name = 'Stopping';
  }
}

/** Errors retrying will not cure: fail, and let whoever runs the service see why. */
function isFatal(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'PERMISSION_DENIED' || code === 'PERMISSIONS_VIOLATION' || code === 'CONNECTION_CLOSED' || code === 'AUTHORIZATION_VIOLATION';
}

async function inChunks<T>(items: readonly T[], size: number, each: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(each));
}

/**
 * The projector (STYLE.md 8: build(config, deps), and a tiny main.ts).
 *
 * It reads the whole store through one catch-up subscription (from the start: a rebuild at replay
 * speed), folds the events of the hosts in its partitions, publishes each new finding on
 * `lockline.v1.findings.<hostId>` with a deterministic Nats-Msg-Id, writes changed hosts' summaries to
 * the hosts bucket every `summaryIntervalMs`, and, once caught up, answers queries on
 * `lockline.v1.query.<p>.*` for each of its partitions. The store is the buffer: the subscription
 * handler awaits the fold and the findings' acks before the next page is read, so a slow projector
 * falls behind (lag) but never holds more than a page.
 */
export function build(config: ProjectorConfig, deps: ProjectorDeps): Projector {
  const { nc, store, registry } = deps;
  const log = deps.log;
  const now = deps.now ?? Date.now;
  const metrics = projectorMetrics(registry);
  const mine = new Set(config.partitionsMine);
  const projection: ProjectionOptions = config.profile === undefined ? {} : { profile: config.profile };
  const stateAt = new StateAtReader(store, { projection });

  const hosts = new Map<string, HostEntry>();
  /** hostId → partition (−1: not a host id), for every host met: partitionOf once per host, not per event */
  const partitionOfHost = new Map<string, number>();

  let js: JetStreamClient | undefined;
  let summaries: HostSummaries | undefined;
  let subscription: Subscription | undefined;
  const querySubs: NatsSubscription[] = [];
  const queriesInFlight = new Set<Promise<void>>();
  let timer: ReturnType<typeof setInterval> | undefined;

  let started = false;
  let stopping = false;
  let stopped: Promise<void> | undefined;
  let ready = false;
  let caughtUp = false;
  let startedAt = 0;
  /** events in the store when this run began: caught up once that many were handled */
  let target = 0;
  let eventsRead = 0;
  let eventsFolded = 0;
  let lag = 0;
  let foldedAtLastTick = 0;
  let lastTickAt = 0;
  let flushing: Promise<void> | undefined;
  /** store position of the last event of the last batch handled: what a rebuild refolds up to */
  let handledThrough = 0;
  /** the turn of whoever holds the fold (exclusive) */
  let foldTurn: Promise<void> = Promise.resolve();
  let ticking = false;
  const counts = { stored: 0, duplicate: 0, suppressed: 0, summaries: 0 };

  /** retry pauses in progress: stop() ends them at once */
  const sleepers = new Set<() => void>();
  let resolveReady!: () => void;
  let rejectReady!: (err: unknown) => void;
  const readyPromise = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  readyPromise.catch(() => undefined);
  let resolveDone!: () => void;
  let rejectDone!: (err: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  done.catch(() => undefined);

  const sleep = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(t);
        sleepers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      sleepers.add(wake);
    });

  /**
   * Runs `fn` until it succeeds: a NATS outage stalls the fold (the store keeps the events) instead
   * of losing a finding. Gives up only when stopping, or on an error retrying cannot cure.
   */
  async function retrying<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    let delay = 100;
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (stopping) throw new Stopping();
        if (isFatal(err)) throw err;
        metrics.natsRetries.inc({ operation });
        if (attempt === 1 || attempt % 10 === 0) log.warn({ err, operation, attempt }, `${operation} failed; retrying`);
        await sleep(delay);
        if (stopping) throw new Stopping();
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  async function storeHead(): Promise<number> {
    let events = 0;
    for (const s of await store.listStreams()) events += s.lastRevision + 1;
    return events;
  }

  /**
   * A host this run has not met (or is folding again): what a previous run wrote about it decides
   * which findings are already out.
   */
  async function meet(hostId: string, partition: number): Promise<HostEntry> {
    const got = await retrying('read host summary', () => summaries!.get(hostId));
    // The summary may lag the findings by up to an interval (a run killed in between): the findings
    // stream itself says what got out, since one host's findings are published one at a time, in order.
    const last = await retrying('read the last finding', () => lastMessageOn(js!, FINDINGS_STREAM, findingsSubject(hostId)));
    const entry = new HostEntry(hostId, partition, projection, now());
    if (got !== undefined) {
      const progress = storedProgressOf(got.summary);
      entry.stored = progress;
      entry.findingsPublishedThrough = progress.findingsPublishedThrough;
    }
    const position = Number(last?.header(FINDING_POSITION_HEADER));
    const msgId = last?.header('Nats-Msg-Id');
    if (Number.isSafeInteger(position) && msgId !== undefined && position > entry.findingsPublishedThrough) entry.lastPublishedFinding = { position, msgId, passed: false };
    return entry;
  }

  interface Outgoing {
    readonly finding: Finding;
    readonly msgId: string;
    readonly position: number;
  }

  async function publishOne({ finding, msgId, position }: Outgoing): Promise<void> {
    const h = natsHeaders();
    h.set(FINDING_POSITION_HEADER, String(position));
    const ack = await retrying('publish finding', () => js!.publish(findingsSubject(finding.hostId), encodeJson(finding), { msgID: msgId, headers: h, timeout: PUBLISH_TIMEOUT_MS }));
    const outcome = ack.duplicate ? 'duplicate' : 'stored';
    counts[outcome]++;
    metrics.findingsPublished.inc({ outcome });
    log.debug({ hostId: finding.hostId, bootId: finding.bootId, seq: finding.seq, code: finding.code, msgId, duplicate: ack.duplicate }, 'finding published');
  }

  /**
   * Hosts in parallel, each host's findings one at a time in fold order: then the last finding on a
   * host's subject marks everything before it as published (see meet).
   */
  async function publishFindings(out: readonly Outgoing[]): Promise<void> {
    const byHost = new Map<string, Outgoing[]>();
    for (const o of out) {
      const list = byHost.get(o.finding.hostId);
      if (list === undefined) byHost.set(o.finding.hostId, [o]);
      else list.push(o);
    }
    await inChunks([...byHost.values()], MAX_IN_FLIGHT, async (list) => {
      for (const o of list) await publishOne(o);
    });
  }

  /**
   * Folds one event into its host and queues its new findings for publication (`out`), leaving out
   * those an earlier fold already published. False when the event was not folded (a dropped boot).
   * `again`: a rebuild folding what was folded before, which counts no new findings.
   */
  function foldOne(entry: HostEntry, event: HostEvent, rec: RecordedEvent, out: Outgoing[], again: boolean): boolean {
    const r = entry.fold(event, rec.position, rec.revision);
    if (r === undefined) {
      if (!again) metrics.eventsIgnored.inc({ reason: 'old_boot' });
      return false;
    }
    const findings = r.p.findings;
    for (let i = r.firstNewFinding; i < findings.length; i++) {
      const finding = findings[i]!;
      // Every finding takes its id, published or not: the occurrence count must replay the same.
      const msgId = entry.findingMsgId(r.p, finding);
      if (!again) metrics.findings.inc({ code: finding.code });
      if (entry.publishedBefore(rec.position, msgId)) {
        counts.suppressed++;
        metrics.findingsPublished.inc({ outcome: 'suppressed' });
        continue;
      }
      out.push({ finding, msgId, position: rec.position });
    }
    return true;
  }

  /**
   * Runs `fn` when nothing else holds the fold: the subscription's batches and rebuilds take turns,
   * so a rebuild sees no event folded halfway and new events wait (in the store) until it is done.
   */
  function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = foldTurn.then(fn);
    foldTurn = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * `rebuild`: drops what this copy holds of `hostId` and folds its events again from the store, up to
   * the last event the subscription handed over (the later ones follow through it as usual). The new
   * fold is built beside the old one, which answers queries meanwhile, and replaces it only once
   * complete: a failed rebuild leaves the host as it was. Which findings are already out is learnt
   * again as at a restart (meet: the host's summary, and the last finding on its subject), so none is
   * published twice, and one the old fold missed is published now.
   */
  function rebuildHost(hostId: string): Promise<RebuiltHost> {
    return exclusive(async () => {
      const t0 = performance.now();
      const old = hosts.get(hostId);
      if (old === undefined) throw new QueryError('NOT_FOUND', `no events of host ${hostId} have been folded`);
      const through = handledThrough;
      try {
        if (stopping) throw new Stopping();
        const entry = await meet(hostId, old.partition);
        let events = 0;
        let findingsPublished = 0;
        for await (const page of readHostInStoreOrder(store, hostId, { through, pageSize: MAX_BATCH })) {
          const out: Outgoing[] = [];
          // Stored data was validated by ingest: trusted (docs/replay.md).
          for (const rec of page) if (foldOne(entry, rec.data as HostEvent, rec, out, true)) events++;
          if (out.length > 0) await publishFindings(out);
          findingsPublished += out.length;
          // Other hosts' queries are answered between pages.
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (stopping) throw new Stopping();
        }
        entry.findingsPublishedThrough = Math.max(entry.findingsPublishedThrough, entry.position);
        // The host's rate and counters go on from the old fold's.
        entry.folded = old.folded;
        entry.eventsSinceSummary = old.eventsSinceSummary;
        entry.lastSummaryAt = old.lastSummaryAt;
        // A summary of the old fold being written now must not land after the new one.
        while (flushing !== undefined) await flushing;
        hosts.set(hostId, entry);
        stateAt.forget(hostId);
        await writeRebuiltSummary(entry);
        const p = entry.current;
        const rebuilt: RebuiltHost = {
          hostId,
          boots: [...entry.boots.keys()],
          seq: p?.seq ?? 0,
          stateHash: p?.stateHash() ?? '',
          events,
          findingsPublished,
          ms: Math.round(performance.now() - t0),
        };
        const was = old.current?.stateHash() ?? null;
        log.info({ ...rebuilt, through, was }, was === rebuilt.stateHash ? 'host rebuilt from the store: the same state' : 'host rebuilt from the store: its state was wrong, and is corrected');
        return rebuilt;
      } catch (err) {
        if (err instanceof Stopping) throw new QueryError('INTERNAL', `the projector stopped before the rebuild of ${hostId} was done; the host is as it was (a restart folds every host from the store)`);
        throw err;
      }
    });
  }

  /**
   * The rebuilt host's summary, written now (with the fold held: nothing can write an older one
   * after it). Not when the hosts bucket describes events past this fold (another copy of the
   * partition is ahead): that one stays, as at a restart. A failed write is tried again at the next tick.
   */
  async function writeRebuiltSummary(entry: HostEntry): Promise<void> {
    if (summaries === undefined) return;
    if (entry.stored !== undefined && entry.stored.position > entry.position) return;
    // Findings of the events after the stored summary were checked against the findings stream during
    // the refold: what the bucket said is spent.
    entry.stored = undefined;
    const t = now();
    const summary = summaryOf(entry, config.partitions, t);
    if (summary === undefined) return;
    entry.changed = false;
    entry.eventsSinceSummary = 0;
    entry.lastSummaryAt = t;
    try {
      await summaries.put(entry.hostId, summary);
      entry.stored = { position: summary.position, findingsPublishedThrough: summary.findingsPublishedThrough };
      counts.summaries++;
      metrics.summariesWritten.inc();
    } catch (err) {
      entry.changed = true;
      metrics.natsRetries.inc({ operation: 'write host summary' });
      log.warn({ err, hostId: entry.hostId }, 'could not write the rebuilt host summary; trying again at the next interval');
    }
  }

  async function handle(batch: readonly RecordedEvent[]): Promise<void> {
    const t0 = performance.now();
    const ours: Array<{ rec: RecordedEvent; event: HostEvent }> = [];
    const unmet = new Map<string, number>();
    for (const rec of batch) {
      // Stored data was validated by ingest: trusted, only routed here (docs/replay.md).
      const event = rec.data as HostEvent;
      const hostId = (event as { hostId?: unknown } | null)?.hostId;
      if (typeof hostId !== 'string') {
        metrics.eventsIgnored.inc({ reason: 'not_an_event' });
        continue;
      }
      let partition = partitionOfHost.get(hostId);
      if (partition === undefined) {
        partition = isValidId(hostId) ? partitionOf(hostId, config.partitions) : -1;
        partitionOfHost.set(hostId, partition);
      }
      if (!mine.has(partition)) continue;
      if (!hosts.has(hostId)) unmet.set(hostId, partition);
      ours.push({ rec, event });
    }
    if (unmet.size > 0) {
      for (const entry of await Promise.all([...unmet].map(([hostId, partition]) => meet(hostId, partition)))) hosts.set(entry.hostId, entry);
    }

    const out: Outgoing[] = [];
    const touched = new Set<HostEntry>();
    let folded = 0;
    for (const { rec, event } of ours) {
      const entry = hosts.get(event.hostId)!;
      if (!foldOne(entry, event, rec, out, false)) continue;
      folded++;
      touched.add(entry);
    }
    eventsFolded += folded;
    metrics.eventsFolded.inc(folded);

    if (out.length > 0) await publishFindings(out);
    // Every finding of these hosts' events up to here is on the stream: the next summary says so.
    for (const entry of touched) entry.findingsPublishedThrough = Math.max(entry.findingsPublishedThrough, entry.position);

    eventsRead += batch.length;
    handledThrough = batch[batch.length - 1]!.position;
    metrics.eventsRead.inc(batch.length);
    metrics.checkpoint.set(handledThrough);
    metrics.batchDuration.observe((performance.now() - t0) / 1000);
    // A short page means the read reached the end of the store (also where counting cannot tell).
    if (!caughtUp && (eventsRead >= target || batch.length < MAX_BATCH)) await becomeReady();
  }

  async function becomeReady(): Promise<void> {
    caughtUp = true;
    if (stopping) return;
    lag = Math.max(0, target - eventsRead);
    metrics.lag.set(lag);
    let behind = 0;
    for (const entry of hosts.values()) {
      // A stored summary ahead of the whole store was written against another store (it was
      // replaced or rebuilt): forget it, or this host's summary would never be written again and
      // its new findings would be taken for old ones.
      if (entry.stored !== undefined && entry.position < entry.stored.position) {
        behind++;
        entry.stored = undefined;
      }
    }
    if (behind > 0) log.warn({ hosts: behind }, 'the hosts bucket describes events this store does not hold (was the store replaced?): those summaries are overwritten');
    for (const partition of config.partitionsMine) {
      querySubs.push(nc.subscribe(queryWildcard(partition), { queue: QUERY_QUEUE, callback: onQuery }));
    }
    // The server knows the subscriptions once flushed: a request sent after whenReady() finds them.
    await retrying('subscribe to queries', () => nc.flush());
    ready = true;
    metrics.ready.set(1);
    const ms = Date.now() - startedAt;
    log.info({ events: eventsRead, folded: eventsFolded, hosts: hosts.size, ms, eventsPerSecond: ms > 0 ? Math.round((eventsRead / ms) * 1000) : null, partitions: config.partitionsMine }, 'caught up with the store; answering queries');
    resolveReady();
    void flushSummaries();
  }

  const queryContext: QueryContext = {
    partitions: config.partitions,
    host: (hostId) => hosts.get(hostId),
    *hostsOf(partition) {
      for (const entry of hosts.values()) if (entry.partition === partition) yield entry;
    },
    summaryOf: (entry) => summaryOf(entry, config.partitions, now()),
    stateAt,
    store,
    rebuild: rebuildHost,
  };

  function respond(msg: Msg, reply: QueryReply): void {
    if (!msg.reply) return;
    let payload = encodeJson(reply);
    const max = nc.info?.max_payload;
    if (max !== undefined && payload.length > max) {
      payload = encodeJson({
        ok: false,
        error: { code: 'BAD_REQUEST', message: `the answer is ${payload.length} bytes, more than this NATS server carries (max_payload ${max}); narrow it (a tree: only "locked"; events: a smaller limit)` },
      } satisfies QueryReply);
    }
    msg.respond(payload);
  }

  function onQuery(err: NatsError | null, msg: Msg): void {
    if (err !== null) {
      log.warn({ err }, 'query subscription error');
      return;
    }
    const t0 = performance.now();
    const work = answerQuery(msg.subject, msg.data, queryContext, (e) => log.error({ err: e, subject: msg.subject }, 'query failed'))
      .then(({ verb, reply }) => {
        metrics.queryDuration.observe({ verb, outcome: reply.ok ? 'ok' : reply.error.code }, (performance.now() - t0) / 1000);
        respond(msg, reply);
      })
      .catch((e: unknown) => log.warn({ err: e, subject: msg.subject }, 'could not reply to a query'))
      .finally(() => queriesInFlight.delete(work));
    queriesInFlight.add(work);
  }

  /** Writes the summary of every host changed since its last one; one flush at a time. */
  function flushSummaries(): Promise<void> {
    if (summaries === undefined) return Promise.resolve();
    if (flushing !== undefined) return flushing;
    const bucket = summaries;
    flushing = (async () => {
      const t = now();
      // Each summary is taken in one turn (consistent with itself); the fold may go on while they
      // are written. Taking them is not free (a state hash of the whole host each: ~0.4 ms for a
      // host of 1,000 processes), so after SUMMARY_SLICE_MS of it the fold and the queries get a
      // turn: a thousand such hosts would otherwise stall both for half a second every interval.
      const writes: Array<{ entry: HostEntry; summary: HostSummary; events: number; since: number }> = [];
      let sliceStart = performance.now();
      for (const entry of [...hosts.values()]) {
        if (performance.now() - sliceStart > SUMMARY_SLICE_MS) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          sliceStart = performance.now();
        }
        // (a host replaced meanwhile, by a rebuild, is summarised from its new entry next time)
        if (!entry.changed || hosts.get(entry.hostId) !== entry) continue;
        // Still replaying what a previous run already summarised: writing now would move the
        // summary (and its findings checkpoint) back.
        if (entry.stored !== undefined && entry.position <= entry.stored.position) continue;
        const summary = summaryOf(entry, config.partitions, t);
        if (summary === undefined) continue;
        writes.push({ entry, summary, events: entry.eventsSinceSummary, since: entry.lastSummaryAt });
        entry.changed = false;
        entry.eventsSinceSummary = 0;
        entry.lastSummaryAt = t;
      }
      await inChunks(writes, MAX_IN_FLIGHT, async ({ entry, summary, events, since }) => {
        try {
          await bucket.put(entry.hostId, summary);
          entry.stored = { position: summary.position, findingsPublishedThrough: summary.findingsPublishedThrough };
          counts.summaries++;
          metrics.summariesWritten.inc();
        } catch (err) {
          // Written again at the next tick, rate over the longer interval.
          entry.changed = true;
          entry.eventsSinceSummary += events;
          entry.lastSummaryAt = since;
          metrics.natsRetries.inc({ operation: 'write host summary' });
          log.warn({ err, hostId: entry.hostId }, 'could not write the host summary; trying again at the next interval');
        }
      });
    })().finally(() => {
      flushing = undefined;
    });
    return flushing;
  }

  async function tick(): Promise<void> {
    if (ticking) return;
    ticking = true;
    try {
      const t = now();
      if (lastTickAt > 0 && t > lastTickAt) metrics.foldRate.set(Math.round(((eventsFolded - foldedAtLastTick) / (t - lastTickAt)) * 1000));
      foldedAtLastTick = eventsFolded;
      lastTickAt = t;
      metrics.hosts.set(hosts.size);
      try {
        lag = Math.max(0, (await storeHead()) - eventsRead);
        metrics.lag.set(lag);
      } catch (err) {
        log.warn({ err }, 'could not read the store head for the lag');
      }
      if (!stopping) await flushSummaries();
    } finally {
      ticking = false;
    }
  }

  function fail(err: unknown): void {
    log.error({ err }, 'the projector stopped folding');
    ready = false;
    metrics.ready.set(0);
    rejectReady(err);
    rejectDone(err);
  }

  return {
    async start() {
      if (started) throw new Error('the projector was started already');
      started = true;
      startedAt = Date.now();
      js = nc.jetstream();
      summaries = await openHostSummaries(js);
      target = await storeHead();
      lag = target;
      metrics.lag.set(lag);
      log.info({ storeEvents: target, partitions: config.partitions, mine: config.partitionsMine, profile: config.profile ?? null }, 'folding the store from the start');
      if (target === 0) await becomeReady();
      subscription = store.subscribeToAll({ maxBatch: MAX_BATCH }, (batch) => exclusive(() => handle(batch)));
      subscription.done.then(
        () => {
          if (!stopping) fail(new Error('the store subscription ended (the store was closed)'));
        },
        (err: unknown) => {
          if (!(err instanceof Stopping) && !stopping) fail(err);
        },
      );
      lastTickAt = now();
      timer = setInterval(() => void tick(), config.summaryIntervalMs);
      timer.unref();
    },

    stop() {
      stopped ??= (async () => {
        stopping = true;
        ready = false;
        metrics.ready.set(0);
        for (const wake of [...sleepers]) wake();
        if (timer !== undefined) clearInterval(timer);
        // No new queries; the ones being answered finish.
        await Promise.all(
          querySubs.map(async (s) => {
            try {
              await s.drain();
            } catch {
              // the connection is closed already: nothing more can come in
            }
          }),
        );
        await Promise.allSettled([...queriesInFlight]);
        // The batch in progress finishes (a publish being retried gives up: its events come again next run).
        await subscription?.stop();
        // The last summaries carry the findings checkpoint: a restart then publishes nothing twice.
        if (flushing !== undefined) await flushing;
        let timeout: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([flushSummaries(), new Promise<void>((resolve) => (timeout = setTimeout(resolve, FINAL_FLUSH_MS)))]);
        clearTimeout(timeout);
        rejectReady(new Stopping());
        resolveDone();
        log.info({ events: eventsRead, folded: eventsFolded, hosts: hosts.size }, 'projector stopped');
      })();
      return stopped;
    },

    get ready() {
      return ready;
    },
    whenReady: () => readyPromise,
    done,
    status: () => ({
      ready,
      checkpoint: subscription?.checkpoint,
      eventsRead,
      eventsFolded,
      hosts: hosts.size,
      lag,
      findings: { stored: counts.stored, duplicate: counts.duplicate, suppressed: counts.suppressed },
      summariesWritten: counts.summaries,
    }),
  };
}
