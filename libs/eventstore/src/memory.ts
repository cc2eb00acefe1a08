import { AppendSignal } from './appendSignal.js';
import { checkAppendArguments, checkReadAllOptions, checkReadStreamOptions, decideAppend } from './appendDecision.js';
import { catchUpSubscription } from './catchUpSubscription.js';
import { StoreUnavailable } from './errors.js';
import type {
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
 * The in-memory adapter, for unit tests only. It keeps the same promises as the others (positions
 * 1, 2, 3 …; data goes through JSON, so what comes back is a copy, as from a database).
 */

interface StoredEvent {
  readonly stream: string;
  readonly revision: number;
  readonly id: string;
  readonly type: string;
  readonly json: string;
}

/** The data behind one or more memory stores: open a second store on the same log to "restart". */
export class MemoryEventLog {
  readonly events: StoredEvent[] = [];
  /** stream → index in `events` of each revision */
  readonly streams = new Map<string, number[]>();
  readonly signal = new AppendSignal();
}

export interface MemoryEventStoreOptions {
  /** The log to use; default a new, empty one. */
  readonly log?: MemoryEventLog;
}

export function openMemoryEventStore(options: MemoryEventStoreOptions = {}): Promise<MemoryEventStore> {
  return Promise.resolve(new MemoryEventStore(options.log ?? new MemoryEventLog()));
}

export class MemoryEventStore implements EventStore {
  readonly #subscriptions = new Set<Subscription>();
  #closed = false;

  constructor(readonly log: MemoryEventLog) {}

  append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    try {
      this.#checkOpen();
      checkAppendArguments(stream, events, expected);
      const log = this.log;
      const indexes = log.streams.get(stream) ?? [];
      const decision = decideAppend(stream, indexes.length - 1, events, expected, (from, count) =>
        indexes.slice(from, from + count).map((i) => (log.events[i] as StoredEvent).id),
      );
      if (decision.kind === 'retry') {
        return Promise.resolve({ nextExpectedRevision: decision.lastRevision, position: (indexes[decision.lastRevision] as number) + 1 });
      }
      // Serialise everything first: an event that cannot be stored leaves the log untouched.
      const stored = events.map((e, k): StoredEvent => ({ stream, revision: decision.firstRevision + k, id: e.id, type: e.type, json: toJson(e.data) }));
      for (const e of stored) indexes.push(log.events.push(e) - 1);
      log.streams.set(stream, indexes);
      log.signal.notify();
      return Promise.resolve({ nextExpectedRevision: indexes.length - 1, position: log.events.length });
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    try {
      this.#checkOpen();
      const { fromRevision, maxCount } = checkReadStreamOptions(options);
      const indexes = this.log.streams.get(stream) ?? [];
      return Promise.resolve(indexes.slice(fromRevision, fromRevision + maxCount).map((i) => this.#recorded(i)));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    try {
      this.#checkOpen();
      const { from, maxCount } = checkReadAllOptions(options);
      const start = Math.max(from, 1) - 1;
      const end = Math.min(this.log.events.length, start + maxCount);
      const out: RecordedEvent[] = [];
      for (let i = start; i < end; i++) out.push(this.#recorded(i));
      return Promise.resolve(out);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  subscribeToAll(options: SubscribeOptions, handler: BatchHandler): Subscription {
    this.#checkOpen();
    const sub = catchUpSubscription({ readAll: (o) => this.readAll(o), signal: this.log.signal }, options, handler, (s) => this.#subscriptions.delete(s));
    this.#subscriptions.add(sub);
    return sub;
  }

  listStreams(): Promise<StreamInfo[]> {
    try {
      this.#checkOpen();
      return Promise.resolve([...this.log.streams].map(([stream, indexes]) => ({ stream, lastRevision: indexes.length - 1 })));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#subscriptions].map((s) => s.stop()));
    this.#closed = true;
  }

  #recorded(index: number): RecordedEvent {
    const e = this.log.events[index] as StoredEvent;
    return { stream: e.stream, revision: e.revision, position: index + 1, id: e.id, type: e.type, data: JSON.parse(e.json) as unknown };
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreUnavailable('the memory event store is closed');
  }
}

function toJson(data: unknown): string {
  const json = JSON.stringify(data);
  if (json === undefined) throw new TypeError(`event data must be JSON-serialisable, got ${typeof data}`);
  return json;
}
