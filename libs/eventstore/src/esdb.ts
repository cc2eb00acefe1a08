import {
  ANY,
  AccessDeniedError,
  CancelledError,
  DeadlineExceededError,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  NotLeaderError,
  START,
  StreamNotFoundError,
  TimeoutError,
  UnavailableError,
  WrongExpectedVersionError,
  jsonEvent,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendExpectedRevision,
  type JSONType,
  type Position,
  type ResolvedEvent,
} from '@eventstore/db-client';
import { checkAppendArguments, checkMaxCount, checkReadAllOptions, checkReadStreamOptions } from './appendDecision.js';
import { batchSubscription } from './batchSubscription.js';
import { DEFAULT_MAX_BATCH } from './catchUpSubscription.js';
import { ExpectedRevisionConflict, InvalidStoreUrl, StoreUnavailable } from './errors.js';
import type {
  ActualRevision,
  AppendResult,
  BatchHandler,
  EventStore,
  ExpectedRevision,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StreamInfo,
  SubscribeOptions,
  Subscription,
} from './port.js';

/**
 * The port on an EventStoreDB (KurrentDB) server, for clusters (@eventstore/db-client 6).
 *
 * - Event ids are the envelope ids (UUIDs, as the server requires), so the server itself recognises a
 *   retried append with the same expected revision and writes nothing (its idempotent write).
 * - A position is the event's commit position in the server's log: strictly increasing but with
 *   gaps, so readers page with `after` (the client turns it into an exclusive read).
 * - Only streams whose name starts with `streamPrefix` ('host-') are read by readAll, subscribeToAll
 *   and listStreams: system streams and other applications' streams are left out.
 * - Every call is raced against our own timeout: with a server that accepts connections but never
 *   answers, the client's first call waits forever whatever its deadline options.
 * - Every read result is iterated to its end or cancelled: a read stream left alone crashes the
 *   process when its connection fails.
 */

export interface EsdbEventStoreOptions {
  /** How long any one call may take before StoreUnavailable (ms); default 5,000. */
  readonly timeoutMs?: number;
  /** Only streams starting with this are ours; default 'host-'. */
  readonly streamPrefix?: string;
}

/** The events read per request when the caller did not bound a read. */
const READ_PAGE = 1000;

/** Accepts esdb://, esdb+discover://, kurrentdb:// and kurrentdb+discover:// (the client knows only esdb). */
export function toEsdbConnectionString(url: string): string {
  const m = /^(esdb|kurrentdb)(\+discover)?:\/\//.exec(url);
  if (m === null) throw new InvalidStoreUrl(url, 'not an EventStoreDB connection string');
  return `esdb${m[2] ?? ''}://${url.slice(m[0].length)}`;
}

/**
 * Connects and checks the server answers (within `timeoutMs`); StoreUnavailable if it does not.
 */
export async function openEsdbEventStore(connectionString: string, options: EsdbEventStoreOptions = {}): Promise<EsdbEventStore> {
  let client: EventStoreDBClient;
  try {
    client = EventStoreDBClient.connectionString(toEsdbConnectionString(connectionString));
  } catch (error) {
    if (error instanceof InvalidStoreUrl) throw error;
    throw new InvalidStoreUrl(connectionString, error instanceof Error ? error.message : String(error));
  }
  const store = new EsdbEventStore(client, options);
  try {
    await store.probe();
  } catch (error) {
    await client.dispose().catch(() => undefined);
    throw error;
  }
  return store;
}

export class EsdbEventStore implements EventStore {
  readonly #client: EventStoreDBClient;
  readonly #timeoutMs: number;
  readonly #prefix: string;
  readonly #subscriptions = new Set<Subscription>();
  #closed = false;

  constructor(client: EventStoreDBClient, options: EsdbEventStoreOptions = {}) {
    this.#client = client;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#prefix = options.streamPrefix ?? 'host-';
  }

  /** One cheap read: proves the server answers. A missing stream is an answer. */
  async probe(): Promise<void> {
    await this.#call('connecting', async () => {
      try {
        await drain(this.#client.readStream('lockline-probe', { maxCount: 1 }));
      } catch (error) {
        if (!(error instanceof StreamNotFoundError)) throw error;
      }
    });
  }

  async append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    this.#checkOpen();
    checkAppendArguments(stream, events, expected);
    const expectedRevision: AppendExpectedRevision = expected === 'any' ? ANY : expected === 'no_stream' ? NO_STREAM : BigInt(expected);
    const data = events.map((e) => jsonEvent({ id: e.id, type: e.type, data: e.data as JSONType }));
    const result = await this.#call('appending', () => this.#client.appendToStream(stream, data, { expectedRevision }), stream, expected);
    const nextExpectedRevision = Number(result.nextExpectedRevision);
    let position = result.position === undefined ? undefined : positionNumber(result.position.commit);
    // The server answers a recognised retry without a position: read the stored event's.
    if (position === undefined) {
      const [last] = await this.readStream(stream, { fromRevision: nextExpectedRevision, maxCount: 1 });
      position = last?.position ?? -1;
    }
    return { nextExpectedRevision, position };
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.#checkOpen();
    const { fromRevision, maxCount } = checkReadStreamOptions(options);
    const out: RecordedEvent[] = [];
    while (out.length < maxCount) {
      const want = Math.min(READ_PAGE, maxCount - out.length);
      const from = fromRevision + out.length;
      const page = await this.#call('reading a stream', async () => {
        try {
          return await drain(this.#client.readStream(stream, { fromRevision: BigInt(from), maxCount: want, direction: FORWARDS }));
        } catch (error) {
          if (error instanceof StreamNotFoundError) return [];
          throw error;
        }
      });
      for (const r of page) {
        const e = recorded(r);
        if (e !== undefined) out.push(e);
      }
      if (page.length < want) break;
    }
    return out;
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.#checkOpen();
    checkReadAllOptions(options);
    const { maxCount = Number.MAX_SAFE_INTEGER } = options;
    const out: RecordedEvent[] = [];
    // Positions have gaps: `after` is read from that (existing) position and the event there dropped.
    let from: Position | typeof START = START;
    let after = options.after;
    if (options.fromPosition !== undefined && options.fromPosition > 0) from = toPosition(options.fromPosition);
    if (after !== undefined && after > 0) from = toPosition(after);
    while (out.length < maxCount) {
      const start = from;
      const page = await this.#call('reading all streams', () => drain(this.#client.readAll({ fromPosition: start, maxCount: READ_PAGE, direction: FORWARDS })));
      for (const r of page) {
        const e = this.#ours(r);
        if (e === undefined || (after !== undefined && e.position <= after)) continue;
        out.push(e);
        if (out.length === maxCount) break;
      }
      const last = page[page.length - 1];
      if (page.length < READ_PAGE || last?.event === undefined) break;
      // Resume after the page's last record, whether it was ours or not.
      from = last.event.position;
      after = positionNumber(last.event.position.commit);
    }
    return out;
  }

  subscribeToAll(options: SubscribeOptions, handler: BatchHandler): Subscription {
    this.#checkOpen();
    const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    checkMaxCount('subscribeToAll', maxBatch);
    const sub = esdbSubscription(
      (fromPosition) => this.#client.subscribeToAll({ fromPosition, filter: streamNameFilter({ prefixes: [this.#prefix] }) }),
      (r) => this.#ours(r),
      options.after,
      maxBatch,
      handler,
      (s) => this.#subscriptions.delete(s),
    );
    this.#subscriptions.add(sub);
    return sub;
  }

  /**
   * EventStoreDB keeps no list of streams unless its system projections run, so this reads $all:
   * as slow as a replay. Replay and export call it once.
   */
  async listStreams(): Promise<StreamInfo[]> {
    const last = new Map<string, number>();
    let after: number | undefined;
    for (;;) {
      const page = await this.readAll(after === undefined ? { maxCount: 10_000 } : { after, maxCount: 10_000 });
      for (const e of page) last.set(e.stream, Math.max(e.revision, last.get(e.stream) ?? -1));
      if (page.length < 10_000) break;
      after = (page[page.length - 1] as RecordedEvent).position;
    }
    return [...last].map(([stream, lastRevision]) => ({ stream, lastRevision }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((s) => s.stop()));
    await this.#client.dispose().catch(() => undefined);
  }

  #ours(r: AllStreamResolvedEvent): RecordedEvent | undefined {
    const e = r.event;
    if (e === undefined || !e.streamId.startsWith(this.#prefix) || e.type.startsWith('$')) return undefined;
    return recorded(r);
  }

  /** Runs `work` against our own timeout and translates what the driver throws. */
  async #call<T>(doing: string, work: () => Promise<T>, stream?: string, expected?: ExpectedRevision): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const running = work();
    running.catch(() => undefined); // if the timeout wins, a late failure must not go unhandled
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailable(`EventStoreDB did not answer within ${this.#timeoutMs} ms while ${doing}`)), this.#timeoutMs);
    });
    try {
      return await Promise.race([running, timeout]);
    } catch (error) {
      throw translateEsdbError(error, doing, stream, expected);
    } finally {
      clearTimeout(timer);
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreUnavailable('the EventStoreDB event store is closed');
  }
}

/** Reads a whole (bounded) read result; iterating it is what keeps a failed connection from crashing the process. */
async function drain<E>(read: AsyncIterable<E> & { cancel(): Promise<void> }): Promise<E[]> {
  const out: E[] = [];
  for await (const e of read) out.push(e);
  return out;
}

function toPosition(position: number): Position {
  const p = BigInt(position);
  return { commit: p, prepare: p };
}

/** 2^64 − 1 is the server's "no position" (reads of a stream before 22.6). */
function positionNumber(commit: bigint): number | undefined {
  return commit < 0n || commit >= 0xffffffffffffffffn ? undefined : Number(commit);
}

function recorded(r: ResolvedEvent | AllStreamResolvedEvent): RecordedEvent | undefined {
  const e = r.event;
  if (e === undefined) return undefined;
  const commit = e.position?.commit ?? r.commitPosition;
  return {
    stream: e.streamId,
    revision: Number(e.revision),
    position: commit === undefined ? -1 : (positionNumber(commit) ?? -1),
    id: e.id,
    type: e.type,
    data: e.data as unknown,
  };
}

export function translateEsdbError(error: unknown, doing: string, stream?: string, expected?: ExpectedRevision): unknown {
  if (error instanceof StoreUnavailable || error instanceof ExpectedRevisionConflict) return error;
  if (error instanceof WrongExpectedVersionError) {
    const actual: ActualRevision = typeof error.actualVersion === 'bigint' ? Number(error.actualVersion) : 'no_stream';
    return new ExpectedRevisionConflict(stream ?? error.streamName, expected ?? 'any', actual, { cause: error });
  }
  if (
    error instanceof UnavailableError ||
    error instanceof DeadlineExceededError ||
    error instanceof CancelledError ||
    error instanceof TimeoutError ||
    error instanceof NotLeaderError
  ) {
    return new StoreUnavailable(`EventStoreDB unavailable while ${doing}: ${error.message}`, { cause: error });
  }
  if (error instanceof AccessDeniedError) {
    return new StoreUnavailable(`EventStoreDB refused access while ${doing} (check the credentials in the connection string): ${error.message}`, { cause: error });
  }
  return error;
}

/**
 * A native catch-up subscription, delivered in batches: events are queued as they arrive, the
 * handler gets what is queued when it is free, and the stream is paused while the queue is full.
 */
function esdbSubscription(
  subscribe: (from: Position | typeof START) => AllStreamSubscription,
  ours: (r: AllStreamResolvedEvent) => RecordedEvent | undefined,
  after: number | undefined,
  maxBatch: number,
  handler: BatchHandler,
  onEnd: (s: Subscription) => void,
): Subscription {
  /** The position of the last event queued: the server starts after `after`, and this check keeps
   * a repeat out whatever it does. */
  let lastQueued = after;
  let stopping = false;
  const queue: RecordedEvent[] = [];
  let wake: (() => void) | undefined;
  let failure: unknown;
  const native = subscribe(after === undefined || after === 0 ? START : toPosition(after));
  const poke = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  native.on('data', (r: AllStreamResolvedEvent) => {
    const e = ours(r);
    if (e === undefined || (lastQueued !== undefined && e.position <= lastQueued)) return;
    lastQueued = e.position;
    queue.push(e);
    if (queue.length >= maxBatch * 4) native.pause();
    poke();
  });
  native.on('error', (error: Error) => {
    failure ??= translateEsdbError(error, 'subscribing');
    poke();
  });
  native.on('end', () => {
    if (!stopping) failure ??= new StoreUnavailable('EventStoreDB ended the subscription');
    poke();
  });

  return batchSubscription(
    after,
    {
      next: () => {
        if (queue.length > 0) {
          const batch = queue.splice(0, maxBatch);
          if (native.isPaused() && queue.length < maxBatch) native.resume();
          return batch;
        }
        if (failure !== undefined) throw failure;
        return [];
      },
      wait: () => new Promise<void>((resolve) => (wake = resolve)),
      interrupt: () => {
        stopping = true;
        poke();
      },
      close: () => native.unsubscribe().catch(() => undefined),
    },
    handler,
    onEnd,
  );
}
