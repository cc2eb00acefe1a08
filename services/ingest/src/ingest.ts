import { EVENTS_STREAM, NotFound, ingestConsumerName, readPartitions } from '@lockline/bus';
import type { EventStore } from '@lockline/eventstore';
import type { Logger, NatsConnection, Registry } from '@lockline/runtime';
import type { JetStreamManager } from 'nats';
import type { IngestConfig } from './config.js';
import { createIngestMetrics } from './metrics.js';
import { PartitionWorker, type MutableStats } from './partitionWorker.js';

/**
 * The ingest service (STYLE.md 8): `build(config, deps)` wires it on connections opened elsewhere
 * (main.ts, or a test), `start()` consumes, `stop()` finishes what is in flight. See
 * partitionWorker.ts for how batches become appends.
 */

/** What build needs of the configuration. */
export type IngestOptions = Pick<IngestConfig, 'partitionsMine' | 'gapHoldMs' | 'fetchMaxMessages' | 'storeRetryMs'>;

export interface IngestDeps {
  /** Connected as the ingest user (natsAuthOptions(credentials.ingest)). */
  readonly nc: NatsConnection;
  readonly store: EventStore;
  readonly log: Logger;
  readonly registry: Registry;
}

/** Counts over the service's life, all partitions together (the metrics say the same). */
export type IngestStats = Readonly<MutableStats>;

export interface Ingest {
  /**
   * Reads the partition count from LOCKLINE_EVENTS and starts one consumer per partition of this
   * copy. Throws IngestStartError when the stream or a consumer is missing (the setup step has not
   * run) or a configured partition does not exist.
   */
  start(): Promise<void>;
  /**
   * The SIGTERM path: stop asking for batches, finish the appends in progress and ack them (acks
   * confirmed by the server); batches still waiting behind a gap are handed back (nak) for the next
   * copy. Nothing received is lost or acked unstored. Does not close the connection or the store.
   */
  stop(): Promise<void>;
  /** Like SIGKILL: drop everything in flight without acking or nak'ing; JetStream redelivers after ack-wait. */
  abort(): Promise<void>;
  /** For /healthz: started, consuming on every partition, not stopping, connection open. */
  ready(): boolean;
  /** Settles once stopped; rejects if a partition's consumer failed (main exits non-zero then). */
  readonly done: Promise<void>;
  /** The partitions this copy consumes (known after start). */
  readonly partitions: readonly number[];
  readonly stats: IngestStats;
}

/** Ingest cannot start: the message says what to do about it. */
export class IngestStartError extends Error {
  readonly code = 'INGEST_START';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IngestStartError';
  }
}

const SETUP_HINT = 'the setup step (`lockline up`: ensureStreams and ensureIngestConsumers as the admin user) must run before ingest starts';

export function build(config: IngestOptions, deps: IngestDeps): Ingest {
  const stats: MutableStats = { messages: 0, events: 0, appended: 0, duplicates: 0, deadLettered: 0, gaps: 0, gapMissing: 0, acked: 0, naked: 0, conflicts: 0, storeFailures: 0, held: 0 };
  const metrics = createIngestMetrics(deps.registry, () => stats.held);
  const log = deps.log;
  let workers: PartitionWorker[] = [];
  let partitions: readonly number[] = [];
  let phase: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  let settle!: { resolve: () => void; reject: (error: unknown) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  // Nobody may be listening (a test): never an unhandled rejection.
  done.catch(() => undefined);

  const watch = (worker: PartitionWorker): void => {
    worker.done().catch((error: unknown) => {
      if (phase === 'running') settle.reject(error);
    });
  };

  async function start(): Promise<void> {
    if (phase !== 'new') throw new Error(`ingest: start() called when ${phase}`);
    phase = 'starting';
    let jsm: JetStreamManager;
    let count: number;
    try {
      jsm = await deps.nc.jetstreamManager();
      count = await readPartitions(jsm);
    } catch (error) {
      phase = 'stopped';
      if (error instanceof NotFound) throw new IngestStartError(`stream ${EVENTS_STREAM} does not exist: ${SETUP_HINT}`, { cause: error });
      throw new IngestStartError(`cannot read the partition count of ${EVENTS_STREAM}: ${(error as Error).message}`, { cause: error });
    }
    const mine = config.partitionsMine === 'all' ? Array.from({ length: count }, (_, p) => p) : [...config.partitionsMine];
    const outside = mine.filter((p) => p >= count);
    if (outside.length > 0) {
      phase = 'stopped';
      throw new IngestStartError(`LOCKLINE_PARTITIONS_MINE names partition ${outside.join(', ')}, but ${EVENTS_STREAM} has ${count} partition(s): 0 to ${count - 1}`);
    }
    if (mine.length === 0) {
      phase = 'stopped';
      throw new IngestStartError('no partition to consume');
    }
    const js = deps.nc.jetstream();
    const started: PartitionWorker[] = [];
    for (const partition of mine) {
      const worker = new PartitionWorker(
        { partition, gapHoldMs: config.gapHoldMs, fetchMaxMessages: config.fetchMaxMessages, storeRetryMs: config.storeRetryMs },
        { js, jsm, store: deps.store, log, metrics, stats },
      );
      try {
        await worker.start();
      } catch (error) {
        await Promise.all(started.map((w) => w.stop()));
        phase = 'stopped';
        if (error instanceof NotFound) throw new IngestStartError(`consumer ${ingestConsumerName(partition)} on ${EVENTS_STREAM} does not exist: ${SETUP_HINT}`, { cause: error });
        throw new IngestStartError(`cannot consume partition ${partition}: ${(error as Error).message}`, { cause: error });
      }
      started.push(worker);
    }
    workers = started;
    partitions = Object.freeze(mine);
    phase = 'running';
    for (const worker of workers) watch(worker);
    log.info({ partitions: mine, partitionCount: count, gapHoldMs: config.gapHoldMs }, 'ingest consuming');
  }

  let finishing: Promise<void> | undefined;
  function finish(how: 'stop' | 'abort'): Promise<void> {
    finishing ??= (async () => {
      // A start still under way gets to its end first, so that its consumers are stopped too.
      while (phase === 'starting') await new Promise((resolve) => setTimeout(resolve, 10));
      phase = 'stopping';
      await Promise.all(workers.map((w) => (how === 'stop' ? w.stop() : w.abort())));
      if (how === 'stop' && !deps.nc.isClosed()) {
        // The acks are confirmed one by one; this makes sure any nak before them reached the server too.
        await deps.nc.flush().catch((error: unknown) => log.warn({ err: error }, 'flush after stop failed'));
      }
      phase = 'stopped';
      log.info({ ...stats }, how === 'stop' ? 'ingest stopped' : 'ingest aborted');
      settle.resolve();
    })();
    return finishing;
  }

  return {
    start,
    stop: () => finish('stop'),
    abort: () => finish('abort'),
    ready: () => phase === 'running' && !deps.nc.isClosed() && workers.every((w) => w.healthy),
    done,
    get partitions() {
      return partitions;
    },
    get stats() {
      return { ...stats };
    },
  };
}
