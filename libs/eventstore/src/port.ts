/**
 * The event store port (DESIGN.md, libs/eventstore): append with an expected revision, read a stream
 * or everything forward, subscribe from a checkpoint. Adapters live behind subpath exports
 * (`@lockline/eventstore/sqlite`, `…/esdb`, `…/memory`); nothing here knows a driver.
 *
 * Streams are one per host boot, `host-<hostId>-<bootId>` (`hostStreamName` in @lockline/events), and
 * an event's revision in its stream is its envelope's `seq − 1`.
 */

/** An event to append. `data` is the JSON-serialisable payload: callers store the whole envelope. */
export interface NewEvent {
  /** Unique and stable across retries (the envelope id, a UUID): a retried append is recognised by it. */
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  /**
   * `data` as JSON text, when the caller has it already (ingest receives events as JSON lines): an
   * adapter that keeps JSON may store this text instead of serialising `data` again (SQLite does).
   * It must read back as exactly `data` (parseEventLine in @lockline/events gives such a text): the
   * adapter trusts it.
   */
  readonly json?: string;
}

/** An event as stored. */
export interface RecordedEvent {
  readonly stream: string;
  /** 0, 1, 2 … within its stream, no gaps. */
  readonly revision: number;
  /**
   * Where the event sits in the order of all events. Strictly increasing in that order; that is all
   * the port promises. SQLite and memory number events 1, 2, 3 … with no gaps; EventStoreDB gives its
   * commit position, which leaves gaps, so `position + 1` is not a position there: page with `after`.
   */
  readonly position: number;
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
}

/**
 * What the appender believes about the stream: the revision of its last event, `'no_stream'` (it has
 * no event yet), or `'any'` (no check; a retry is then not recognised and appends again).
 */
export type ExpectedRevision = number | 'no_stream' | 'any';

/** A stream's actual state, as reported in a conflict. */
export type ActualRevision = number | 'no_stream';

export interface AppendResult {
  /** The revision of the stream's last event after the append: pass it as the next expected revision. */
  readonly nextExpectedRevision: number;
  /** The position of the last event appended (for a recognised retry: of the event stored then). */
  readonly position: number;
}

export interface ReadStreamOptions {
  /** First revision to return (inclusive); default 0. */
  readonly fromRevision?: number;
  /** At most this many events; default all. */
  readonly maxCount?: number;
}

export interface ReadAllOptions {
  /** First position to return (inclusive); default the start. Must be a position the store returned. */
  readonly fromPosition?: number;
  /** Return only events after this position (a checkpoint). Give this or `fromPosition`, not both. */
  readonly after?: number;
  /** At most this many events; default all. */
  readonly maxCount?: number;
}

export interface SubscribeOptions {
  /** The checkpoint: the position of the last event already processed. Default: from the start. */
  readonly after?: number;
  /** At most this many events per handler call; default 1,000. */
  readonly maxBatch?: number;
}

/** Receives events in order. Calls never overlap: the next batch waits for the returned promise. */
export type BatchHandler = (batch: readonly RecordedEvent[]) => void | Promise<void>;

export interface Subscription {
  /**
   * Stops delivering and resolves once the handler call in progress (if any) has returned. A handler
   * that stops its own subscription must not await this (it would wait for itself).
   */
  stop(): Promise<void>;
  /**
   * Settles when the subscription ends: resolves after `stop()` or the store's `close()`, rejects with
   * the handler's error or the store's (e.g. StoreUnavailable). Rejections are also handled internally,
   * so ignoring it never crashes the process.
   */
  readonly done: Promise<void>;
  /** The position of the last event whose handler call returned; `after` (or undefined) before that. */
  readonly checkpoint: number | undefined;
}

export interface StreamInfo {
  readonly stream: string;
  /** The revision of its last event. */
  readonly lastRevision: number;
}

export interface EventStore {
  /**
   * Appends `events` (at least one) to `stream` if its last revision is `expected`. Throws
   * ExpectedRevisionConflict otherwise, except for a retry: when `expected` is behind the stream and the
   * stored events after it carry exactly these ids, nothing is written and the first result is returned.
   */
  append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult>;
  /** One page of a stream, in revision order. A stream that does not exist reads as empty. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /** One page of every stream, in position order. */
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** Delivers every event after the checkpoint (catch-up), then new ones as they are appended (live). */
  subscribeToAll(options: SubscribeOptions, handler: BatchHandler): Subscription;
  /** Every stream with its last revision. */
  listStreams(): Promise<StreamInfo[]>;
  /** Stops every subscription and releases the store. */
  close(): Promise<void>;
}
