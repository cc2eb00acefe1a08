import { setTimeout as sleep } from 'node:timers/promises';
import { BusError, PublishTimeout, Publisher, StreamFull, type PublisherResult } from '@lockline/bus';
import { Counter, Gauge, Histogram, type Logger, type NatsConnection, type Registry } from '@lockline/runtime';
import { createSimHost } from '@lockline/sim';
import type { HostSimConfig } from './config.js';
import { HostStream, type Batch } from './hostStream.js';
import { ResumeState, type HostPosition } from './resumeState.js';
import { TokenBucket } from './tokenBucket.js';

/**
 * host-sim: N simulated hosts (libs/sim) publishing their events to JetStream in batches.
 *
 * Order. Each host has at most one batch awaiting its ack: the next batch is sent only once the one
 * before it is acked, and a retry resends the same batch (same Msg-Id) before anything later, so a
 * host's batches are stored in the order they were cut. The parallelism comes from the hosts; each
 * host generates its next batch while its current one is in flight.
 *
 * Batching. A batch is up to BATCH_MAX_EVENTS records or BATCH_MAX_MS of the host's events, whichever
 * is fewer — both applied as a count, so batch boundaries are deterministic (see HostStream):
 *  - RATE=0: a host generates a whole batch at once (~3 µs an event), so the count always comes first
 *    and the time limit never binds;
 *  - RATE>0: a host's share of the rate gives the events it has in BATCH_MAX_MS; a batch is that many
 *    (at least one, at most BATCH_MAX_EVENTS), generated once the token bucket grants them. A slow
 *    host therefore sends small batches often instead of holding events back, and the cut still does
 *    not depend on timing.
 *
 * Resume. After each ack the host's position (records acked, boot, seq) is updated, and written to
 * STATE_DIR every STATE_SAVE_MS and at stop. A restart regenerates each host and skips what was
 * acked. After a crash the saved state may lag the acks: the batches between are published again,
 * with the same events (same ids and seqs). When they are cut where they were before (same position,
 * same BATCH_MAX_EVENTS and rate share) their batch ids match and JetStream drops them inside its
 * duplicate window; when the cut differs (the batch configuration changed across the crash, or the
 * window passed) they are stored again, and ingest drops the events whose seq it already appended —
 * downstream dedupe by (host, boot, seq) is what makes that harmless.
 */

export interface HostSimDeps {
  nc: NatsConnection;
  log: Logger;
  registry: Registry;
}

export interface HostPositionStats extends HostPosition {
  readonly hostId: string;
}

export interface HostSimStats {
  readonly hosts: number;
  /** Records generated and put in batches by this run (resume skips not counted). */
  readonly generated: number;
  /** Records regenerated at start and skipped: acked by an earlier run. */
  readonly skipped: number;
  /** Events in batches JetStream acked as new. */
  readonly published: number;
  /** Events in batches JetStream already had (sent again after a crash): not stored twice. */
  readonly deduplicated: number;
  readonly batches: number;
  readonly duplicateBatches: number;
  /** Publish attempts beyond the first. */
  readonly retries: number;
  readonly inFlight: number;
  /** Events acked per second (new and deduplicated), from start() to the end of stop() or now. */
  readonly eventsPerSecond: number;
  /** Events per batch this run aims for (BATCH_MAX_EVENTS, or the rate share of BATCH_MAX_MS). */
  readonly batchEvents: number;
  readonly positions: readonly HostPositionStats[];
}

export interface HostSim {
  /** Loads the resume state, regenerates the hosts up to it and starts publishing. */
  start(): Promise<void>;
  /**
   * A clean stop: stop generating, publish the batches already cut, await every outstanding ack,
   * save the resume state. Idempotent.
   */
  stop(): Promise<void>;
  /**
   * A crash, for tests: stops at once without awaiting acks or saving the state. Acks that arrive
   * afterwards are ignored, as a dead process would. Resolves once a state write already under way
   * has landed (so that it cannot overwrite the state of a run started after this one).
   */
  abort(): Promise<void>;
  /** For readiness: started, publishing, not stopping or failed. */
  readonly ready: boolean;
  readonly stats: HostSimStats;
  /** Resolves with the error that stopped publishing for good (a permission or a refused publish). */
  readonly failed: Promise<Error>;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 200, 500, 1000];
const RATE_WINDOW_MS = 5000;
const PROGRESS_LOG_MS = 10_000;

/** Events per batch: all of BATCH_MAX_EVENTS at full speed, the rate share of BATCH_MAX_MS when paced. */
export function batchEventsFor(config: Pick<HostSimConfig, 'rate' | 'batchMaxEvents' | 'batchMaxMs' | 'hostIds'>): number {
  if (config.rate === 0) return config.batchMaxEvents;
  const perHost = (config.rate / config.hostIds.length) * (config.batchMaxMs / 1000);
  return Math.max(1, Math.min(config.batchMaxEvents, Math.round(perHost)));
}

/**
 * Publish failures a retry with the same Msg-Id may cure: the server or JetStream not answering, or
 * the events stream full until ingest catches up (nothing was stored).
 */
function retryable(error: unknown, nc: NatsConnection): boolean {
  return error instanceof BusError && (error.code === 'PUBLISH_TIMEOUT' || error.code === 'BUS_UNAVAILABLE' || error.code === 'STREAM_FULL') && !nc.isClosed();
}

/** Pause before re-sending into a full stream: 250 ms, doubling to 2 s. */
const FULL_FIRST_PAUSE_MS = 250;
const FULL_MAX_PAUSE_MS = 2000;
/** Say that the stream is full at most this often (every host hits it at once). */
const FULL_LOG_EVERY_MS = 10_000;

export function build(config: HostSimConfig, deps: HostSimDeps): HostSim {
  const { nc, log, registry } = deps;
  const batchEvents = batchEventsFor(config);
  const state = new ResumeState(config.stateDir, { seed: config.seed, profile: config.profile, faults: config.faults });
  const publisher = new Publisher(nc.jetstream(), { maxInFlight: config.maxInFlight, timeoutMs: config.publishTimeoutMs });
  const bucket = config.rate > 0 ? new TokenBucket(config.rate, Math.max(batchEvents, Math.ceil(config.rate / 20))) : undefined;

  const metric = {
    generated: new Counter({ name: 'lockline_host_sim_events_generated_total', help: 'Events the simulated hosts generated into batches', registers: [registry] }),
    skipped: new Counter({ name: 'lockline_host_sim_events_skipped_total', help: 'Events regenerated at start and skipped: acked by an earlier run', registers: [registry] }),
    published: new Counter({ name: 'lockline_host_sim_events_published_total', help: 'Events in batches JetStream acked as new', registers: [registry] }),
    deduplicated: new Counter({ name: 'lockline_host_sim_events_deduplicated_total', help: 'Events in batches JetStream already held (re-sent after a crash)', registers: [registry] }),
    batches: new Counter({ name: 'lockline_host_sim_batches_published_total', help: 'Batches JetStream acked, by whether it stored them or already had them', labelNames: ['result'] as const, registers: [registry] }),
    retries: new Counter({ name: 'lockline_host_sim_publish_retries_total', help: 'Publish attempts beyond the first (same Msg-Id)', registers: [registry] }),
    failures: new Counter({
      name: 'lockline_host_sim_publish_failures_total',
      help: "Publishes that failed past the publisher's own retries, by error code (PUBLISH_TIMEOUT, BUS_UNAVAILABLE and STREAM_FULL are sent again; any other stops the service)",
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    latency: new Histogram({ name: 'lockline_host_sim_publish_seconds', help: 'From sending a batch to its JetStream ack, retries included', buckets: LATENCY_BUCKETS, registers: [registry] }),
    batchSize: new Histogram({ name: 'lockline_host_sim_batch_events', help: 'Events per published batch', buckets: BATCH_BUCKETS, registers: [registry] }),
    inFlight: new Gauge({ name: 'lockline_host_sim_publishes_in_flight', help: 'Batches awaiting their JetStream ack', registers: [registry], collect() { this.set(publisher.inFlight); } }),
    rate: new Gauge({ name: 'lockline_host_sim_events_per_second', help: `Events acked per second over the last ${RATE_WINDOW_MS / 1000} s`, registers: [registry], collect() { this.set(recentRate()); } }),
    target: new Gauge({ name: 'lockline_host_sim_target_events_per_second', help: 'LOCKLINE_RATE (0: as fast as acks allow)', registers: [registry] }),
    hosts: new Gauge({ name: 'lockline_host_sim_hosts', help: 'Simulated hosts in this process', registers: [registry] }),
  };
  metric.target.set(config.rate);
  metric.hosts.set(config.hostIds.length);

  const streams: HostStream[] = [];
  const counts = { generated: 0, skipped: 0, published: 0, deduplicated: 0, batches: 0, duplicateBatches: 0, retries: 0 };
  const samples: Array<{ at: number; acked: number }> = [];
  let startedAt = 0;
  let endedAt: number | undefined;
  let phase: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' | 'aborted' = 'new';
  /** Set by stop(): a start still regenerating hosts gives up, publishing nothing. */
  let stopRequested = false;
  let dirty = false;
  let saving: Promise<void> | undefined;
  let saveTimer: ReturnType<typeof setInterval> | undefined;
  let lastProgressLog = 0;
  let lastFullLog = -Infinity;
  let loops: Array<Promise<void>> = [];
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  let failure: Error | undefined;
  let reportFailure: (error: Error) => void = () => undefined;
  const failed = new Promise<Error>((resolve) => {
    reportFailure = resolve;
  });

  const ackedEvents = (): number => counts.published + counts.deduplicated;
  function recentRate(): number {
    const first = samples[0];
    const last = samples[samples.length - 1];
    if (first === undefined || last === undefined || last.at === first.at) return 0;
    return ((last.acked - first.acked) * 1000) / (last.at - first.at);
  }
  const generating = (): boolean => phase === 'running';

  function fail(error: Error): void {
    if (failure !== undefined) return;
    failure = error;
    log.error({ err: error }, 'publishing failed for good: stopping the hosts');
    if (phase === 'running') phase = 'stopping';
    bucket?.cancel();
    reportFailure(error);
  }

  /** One batch, retried with its Msg-Id until JetStream acks it; undefined once aborted or failed. */
  async function publish(stream: HostStream, batch: Batch, hostLog: Logger): Promise<PublisherResult | undefined> {
    const sentAt = performance.now();
    let fullPause = FULL_FIRST_PAUSE_MS;
    for (;;) {
      try {
        const result = await publisher.publish(batch.hostId, batch.lines, { batchId: batch.batchId });
        if (phase === 'aborted') return undefined;
        metric.latency.observe((performance.now() - sentAt) / 1000);
        if (result.attempts > 1) {
          counts.retries += result.attempts - 1;
          metric.retries.inc(result.attempts - 1);
        }
        stream.ack(batch);
        dirty = true;
        const n = batch.lines.length;
        metric.batchSize.observe(n);
        if (result.duplicate) {
          counts.duplicateBatches++;
          counts.deduplicated += n;
          metric.deduplicated.inc(n);
          metric.batches.inc({ result: 'duplicate' });
        } else {
          counts.batches++;
          counts.published += n;
          metric.published.inc(n);
          metric.batches.inc({ result: 'stored' });
        }
        return result;
      } catch (error) {
        if (phase === 'aborted') return undefined;
        const code = error instanceof BusError ? error.code : 'UNKNOWN';
        metric.failures.inc({ code });
        if (!retryable(error, nc) || failure !== undefined) {
          fail(error as Error);
          return undefined;
        }
        // Past the publisher's own retry budget: keep resending the same batch, since skipping it
        // would leave a gap and sending a later one first would break the host's order. Past the
        // stream's duplicate window a resend may be stored twice; ingest dedupes by seq.
        const resends = (error instanceof PublishTimeout ? error.attempts - 1 : 0) + 1;
        counts.retries += resends;
        metric.retries.inc(resends);
        if (error instanceof StreamFull) {
          // Nothing was stored. Hold this host's events (its later batches wait behind this one)
          // until ingest has made room, saying so now and then rather than once per host per try.
          const now = Date.now();
          if (now - lastFullLog >= FULL_LOG_EVERY_MS) {
            lastFullLog = now;
            log.warn({ reason: error.reason }, `${error.message}; holding the hosts' events and sending again until there is room`);
          }
          await sleep(fullPause);
          fullPause = Math.min(fullPause * 2, FULL_MAX_PAUSE_MS);
          if ((phase as string) === 'aborted') return undefined; // stop() may abort while we sleep
          continue;
        }
        hostLog.warn({ err: error, batchId: batch.batchId, seq: batch.firstSeq }, 'no ack yet: sending the batch again');
      }
    }
  }

  /** A host: cut a batch, wait for the previous ack, send it; one batch in flight at a time. */
  async function runHost(stream: HostStream): Promise<void> {
    const hostLog = log.child({ hostId: stream.hostId });
    let inFlight: Promise<PublisherResult | undefined> = Promise.resolve(undefined);
    while (generating()) {
      if (bucket !== undefined && !(await bucket.take(batchEvents))) break;
      if (!generating()) break;
      const batch = stream.nextBatch(batchEvents);
      if (batch === undefined) {
        hostLog.info({ seq: stream.acked.lastAckedSeq }, 'the simulated host is done');
        break;
      }
      counts.generated += batch.lines.length;
      metric.generated.inc(batch.lines.length);
      // A batch cut is a batch sent, even when a stop comes now: "flush the current batches".
      await inFlight;
      if (failure !== undefined || phase === 'aborted') break;
      hostLog.debug({ seq: batch.firstSeq, lastSeq: batch.lastSeq, events: batch.lines.length }, 'publishing a batch');
      inFlight = publish(stream, batch, hostLog);
    }
    await inFlight;
  }

  function positions(): Map<string, HostPosition> {
    return new Map(streams.map((s) => [s.hostId, s.acked]));
  }

  async function saveState(): Promise<void> {
    if (!dirty || saving !== undefined) return;
    dirty = false;
    saving = state.save(positions());
    try {
      await saving;
    } catch (error) {
      dirty = true;
      log.error({ err: error }, 'could not save the resume state (will try again)');
    } finally {
      saving = undefined;
    }
  }

  function tick(): void {
    const now = performance.now();
    samples.push({ at: now, acked: ackedEvents() });
    while (samples.length > 2 && samples[0]!.at < now - RATE_WINDOW_MS) samples.shift();
    if (now - lastProgressLog >= PROGRESS_LOG_MS) {
      lastProgressLog = now;
      log.info({ published: counts.published, deduplicated: counts.deduplicated, batches: counts.batches, eventsPerSecond: Math.round(recentRate()), inFlight: publisher.inFlight, retries: counts.retries }, 'publishing');
    }
    void saveState();
  }

  async function start(): Promise<void> {
    if (phase !== 'new') throw new Error(`host-sim: start() when ${phase}`);
    phase = 'starting';
    const saved = await state.load();
    let resumed = 0;
    for (const hostId of config.hostIds) {
      const stream = new HostStream(createSimHost({ hostId, seed: config.seed, profile: config.profile, faults: config.faults }));
      const position = saved.get(hostId);
      if (position !== undefined) {
        counts.skipped += await stream.skipTo(position);
        resumed++;
        log.debug({ hostId, bootId: position.bootId, seq: position.lastAckedSeq, records: position.recordsAcked }, 'resuming the host after its last acked event');
      }
      streams.push(stream);
      if (phase !== 'starting' || stopRequested) return; // stopped or aborted while regenerating
    }
    metric.skipped.inc(counts.skipped);
    startedAt = performance.now();
    lastProgressLog = startedAt;
    samples.push({ at: startedAt, acked: 0 });
    phase = 'running';
    saveTimer = setInterval(tick, config.stateSaveMs);
    loops = streams.map((stream) => runHost(stream));
    log.info(
      { hosts: streams.length, resumed, skipped: counts.skipped, rate: config.rate, batchEvents, maxInFlight: config.maxInFlight, stateFile: state.path },
      resumed > 0 ? 'publishing: hosts resumed after their last acked events' : 'publishing',
    );
  }

  async function stopNow(): Promise<void> {
    stopRequested = true;
    if (starting !== undefined) await starting.catch(() => undefined);
    if (phase === 'aborted' || phase === 'stopped') return;
    if (phase === 'new' || phase === 'starting') {
      // Never published (not started, a start that failed or gave up): the state on disk stays as it was.
      phase = 'stopped';
      return;
    }
    phase = 'stopping';
    bucket?.cancel();
    await Promise.all(loops);
    await publisher.flush();
    endedAt ??= performance.now();
    if (saveTimer !== undefined) clearInterval(saveTimer);
    dirty = true;
    await state.save(positions());
    phase = 'stopped';
    log.info({ ...summary(), positions: undefined }, 'stopped: every batch acked, resume state saved');
  }

  function summary(): HostSimStats {
    const elapsed = startedAt === 0 ? 0 : (endedAt ?? performance.now()) - startedAt;
    return {
      hosts: config.hostIds.length,
      ...counts,
      inFlight: publisher.inFlight,
      eventsPerSecond: elapsed > 0 ? (ackedEvents() * 1000) / elapsed : 0,
      batchEvents,
      positions: streams.map((s) => ({ hostId: s.hostId, ...s.acked })),
    };
  }

  return {
    start() {
      starting ??= start();
      return starting;
    },
    stop() {
      stopping ??= stopNow();
      return stopping;
    },
    async abort() {
      phase = 'aborted';
      endedAt ??= performance.now();
      bucket?.cancel();
      if (saveTimer !== undefined) clearInterval(saveTimer);
      log.warn('aborted: nothing awaited, nothing saved');
      await saving?.catch(() => undefined);
    },
    get ready() {
      return phase === 'running' && failure === undefined && !nc.isClosed();
    },
    get stats() {
      return summary();
    },
    failed,
  };
}
