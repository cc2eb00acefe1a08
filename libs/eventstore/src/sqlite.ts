import Database from 'better-sqlite3';
import { AppendSignal } from './appendSignal.js';
import { checkAppendArguments, checkReadAllOptions, checkReadStreamOptions, decideAppend } from './appendDecision.js';
import { catchUpSubscription } from './catchUpSubscription.js';
import { ExpectedRevisionConflict, InvalidStoreFile, StoreUnavailable } from './errors.js';
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
 * The embedded event store: one SQLite file (better-sqlite3), WAL, one writer per store object.
 *
 * Layout — one row per appended batch, not per event:
 *
 *   streams(id, name UNIQUE, last_revision)
 *   batches(position PRIMARY KEY, stream_id, revision, count, events)   UNIQUE(stream_id, revision)
 *
 * `batches.position` is the global position of the batch's first event and the table's rowid, so
 * rows are stored in position order; event k of a batch has position `position + k` and revision
 * `revision + k`, and `events` is the JSON array `[[id, type, data], …]`. Positions are 1, 2, 3 …
 * with no gap. A host sends its events in batches and a projection reads them back in order, so
 * storing what is read together together means one B-tree insert per batch instead of per event,
 * and a replay parses a few large JSON arrays instead of a million small strings (measured in
 * docs/benchmarks.md, "Event store"). The index on (stream_id, revision) has one entry per batch:
 * it lets a stream be read without scanning the file, and costs next to nothing at append.
 *
 * Revisions are checked in memory: the store keeps every stream's last revision in a Map loaded at
 * open. Several writers on one file stay correct all the same: each write transaction (BEGIN
 * IMMEDIATE, so writers queue on SQLite's lock) first compares the file's end with the position this
 * object expects, and reloads the Map if another writer appended meanwhile.
 *
 * Appends made in the same turn of the event loop share one transaction (group commit); each keeps
 * its own result or conflict.
 *
 * Durability: synchronous=NORMAL (the default) in WAL mode never corrupts the file and loses nothing
 * on a process crash, but the last transactions before a power cut or kernel crash may roll back.
 * synchronous=FULL syncs the WAL at every commit and loses nothing acknowledged; it costs an fsync per
 * transaction (see docs/benchmarks.md for what that costs on these machines). Choose FULL when an
 * acknowledgement upstream (the JetStream ack in ingest) depends on the append surviving a power cut.
 *
 * Readers in other processes see new rows as soon as they commit; their subscriptions notice them by
 * polling (`pollIntervalMs`), while appends through the same store object wake them at once.
 */

export interface SqliteEventStoreOptions {
  /** 'NORMAL' (default): fast, durable against a process crash. 'FULL': durable against a power cut. */
  readonly synchronous?: 'NORMAL' | 'FULL';
  /** How often a live subscription looks for rows written by other processes (ms); default 50. */
  readonly pollIntervalMs?: number;
  /** How long a writer waits for another process's write lock before StoreUnavailable (ms); default 5,000. */
  readonly busyTimeoutMs?: number;
}

/** 'LKLN': marks a file as a Lockline event store (PRAGMA application_id). */
const APPLICATION_ID = 0x4c4b4c4e;
const SCHEMA_VERSION = 1;

const SCHEMA = `
  CREATE TABLE streams (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    last_revision INTEGER NOT NULL
  );
  CREATE TABLE batches (
    position  INTEGER PRIMARY KEY,
    stream_id INTEGER NOT NULL,
    revision  INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    events    TEXT    NOT NULL
  );
  CREATE UNIQUE INDEX batches_by_stream ON batches (stream_id, revision);
`;

type StoredTriple = [id: string, type: string, data: unknown];
/**
 * How an event is stored in its batch's JSON array: `[id, type, data]`, or just `data` when data is
 * an object that carries the same `id` and `type` (an envelope): the copy would cost ~60 bytes an
 * event to write and, more, to parse again on every replay.
 */
type StoredEvent = StoredTriple | Record<string, unknown>;

function toStored(e: NewEvent, data: unknown): StoredEvent {
  if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
    const d = data as Record<string, unknown>;
    if (d.id === e.id && d.type === e.type) return d;
  }
  return [e.id, e.type, data];
}

/**
 * A batch's JSON array, as text. An envelope whose JSON the caller already has (`NewEvent.json`:
 * ingest keeps the line the event came in) goes in as that text, not serialised again.
 */
function batchJson(events: readonly NewEvent[]): string {
  const parts = new Array<string>(events.length);
  for (let k = 0; k < events.length; k++) {
    const e = events[k]!;
    const data = checkData(e.data);
    const stored = toStored(e, data);
    parts[k] = stored === data && typeof e.json === 'string' ? e.json : JSON.stringify(stored);
  }
  return `[${parts.join(',')}]`;
}

function fromStored(s: StoredEvent): StoredTriple {
  if (Array.isArray(s)) return s;
  return [s.id as string, s.type as string, s];
}

interface StreamState {
  readonly id: number;
  readonly lastRevision: number;
}

interface WrittenGroup {
  readonly outcomes: Outcome[];
  /** The streams this group changed, as they are once it has committed. */
  readonly staged: Map<string, StreamState>;
  /** The position the next event gets once it has committed. */
  readonly next: number;
}

interface PendingAppend {
  readonly stream: string;
  readonly events: readonly NewEvent[];
  readonly expected: ExpectedRevision;
  readonly json: string;
  readonly resolve: (result: AppendResult) => void;
  readonly reject: (error: unknown) => void;
}

type Outcome = { readonly result: AppendResult } | { readonly error: unknown };

export async function openSqliteEventStore(path: string, options: SqliteEventStoreOptions = {}): Promise<SqliteEventStore> {
  const synchronous = options.synchronous ?? 'NORMAL';
  if (synchronous !== 'NORMAL' && synchronous !== 'FULL') throw new TypeError(`synchronous must be 'NORMAL' or 'FULL', got ${JSON.stringify(synchronous)}`);
  let db: Database.Database;
  try {
    db = new Database(path, { timeout: options.busyTimeoutMs ?? 5000 });
  } catch (error) {
    // better-sqlite3 checks the directory itself and throws a plain TypeError.
    if (error instanceof TypeError && /directory does not exist/.test(error.message)) {
      throw new InvalidStoreFile(path, 'cannot create it: its directory does not exist', { cause: error });
    }
    throw translateSqliteError(error, path, 'opening the file');
  }
  try {
    await enableWal(db, options.busyTimeoutMs ?? 5000);
    db.pragma(`synchronous = ${synchronous}`);
    prepareSchema(db, path);
    return new SqliteEventStore(db, path, options.pollIntervalMs ?? 50);
  } catch (error) {
    db.close();
    throw error instanceof InvalidStoreFile ? error : translateSqliteError(error, path, 'opening the store');
  }
}

/**
 * `PRAGMA journal_mode = WAL`, waiting up to `busyTimeoutMs` for other connections. While another
 * connection is writing a new (rollback-journal) file — converting it to WAL too, or creating the
 * schema — the pragma fails at once with SQLITE_BUSY: SQLite does not call its busy handler there
 * (it would deadlock), so the timeout given to the driver does not apply. Two services opening a
 * fresh store together (`lockline up` starts ingest and the projector at once) hit exactly that; so
 * try again until the other one is done (the file is then WAL already, and this is a no-op).
 */
async function enableWal(db: Database.Database, busyTimeoutMs: number): Promise<void> {
  const deadline = Date.now() + busyTimeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(5 * attempt, 50)));
    }
  }
}

/** Creates the schema in a new file; refuses a database that is not ours or from a newer build. */
function prepareSchema(db: Database.Database, path: string): void {
  db.transaction(() => {
    const applicationId = db.pragma('application_id', { simple: true }) as number;
    const tables = (db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table'").pluck().get() as number) ?? 0;
    if (applicationId === 0 && tables === 0) {
      db.exec(SCHEMA);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      return;
    }
    if (applicationId !== APPLICATION_ID) {
      throw new InvalidStoreFile(path, `it is an SQLite database of another application (application_id ${applicationId}, ${tables} tables)`);
    }
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version !== SCHEMA_VERSION) throw new InvalidStoreFile(path, `its schema version is ${version}; this build reads version ${SCHEMA_VERSION}`);
  }).immediate();
}

export class SqliteEventStore implements EventStore {
  readonly #db: Database.Database;
  readonly #path: string;
  readonly #pollMs: number;
  readonly #signal = new AppendSignal();
  readonly #subscriptions = new Set<Subscription>();
  /** Every stream's id and last revision, as committed. */
  /** the batch row a readAll page stopped inside of, already parsed (rows never change once written) */
  #lastParsed: { position: number; triples: StoredEvent[] } | undefined;
  #streams = new Map<string, StreamState>();
  /** The position the next appended event gets. */
  #nextPosition = 1;
  #queue: PendingAppend[] = [];
  #flushScheduled = false;
  #closed = false;

  readonly #lastBatch: Database.Statement<[], { position: number; count: number } | undefined>;
  readonly #allStreams: Database.Statement<[], { id: number; name: string; last_revision: number }>;
  readonly #streamId: Database.Statement<[string], number | undefined>;
  readonly #insertStream: Database.Statement<[string, number], number>;
  readonly #updateStream: Database.Statement<[number, number]>;
  readonly #insertBatch: Database.Statement<[number, number, number, number, string]>;
  readonly #streamBatches: Database.Statement<[{ stream: number; revision: number }], [number, number, number, string]>;
  readonly #allBatches: Database.Statement<[{ position: number }], [number, string, number, number, string]>;
  readonly #writeGroup: Database.Transaction<(group: readonly PendingAppend[]) => WrittenGroup>;

  constructor(db: Database.Database, path: string, pollMs: number) {
    this.#db = db;
    this.#path = path;
    this.#pollMs = pollMs;
    this.#lastBatch = db.prepare('SELECT position, count FROM batches ORDER BY position DESC LIMIT 1');
    this.#allStreams = db.prepare('SELECT id, name, last_revision FROM streams ORDER BY id');
    this.#streamId = db.prepare<[string], number>('SELECT id FROM streams WHERE name = ?').pluck();
    this.#insertStream = db.prepare<[string, number], number>('INSERT INTO streams (name, last_revision) VALUES (?, ?) RETURNING id').pluck();
    this.#updateStream = db.prepare('UPDATE streams SET last_revision = ? WHERE id = ?');
    this.#insertBatch = db.prepare('INSERT INTO batches (position, stream_id, revision, count, events) VALUES (?, ?, ?, ?, ?)');
    // The batches of a stream from the one holding @revision on.
    this.#streamBatches = db
      .prepare<[{ stream: number; revision: number }], [number, number, number, string]>(
        `SELECT position, revision, count, events FROM batches
         WHERE stream_id = @stream AND revision >= coalesce((SELECT max(revision) FROM batches WHERE stream_id = @stream AND revision <= @revision), 0)
         ORDER BY revision`,
      )
      .raw();
    // Every batch from the one holding @position on.
    this.#allBatches = db
      .prepare<[{ position: number }], [number, string, number, number, string]>(
        `SELECT b.position, s.name, b.revision, b.count, b.events FROM batches b JOIN streams s ON s.id = b.stream_id
         WHERE b.position >= coalesce((SELECT max(position) FROM batches WHERE position <= @position), 0)
         ORDER BY b.position`,
      )
      .raw();
    this.#writeGroup = db.transaction((group: readonly PendingAppend[]) => this.#write(group));
    this.#reload();
  }

  append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    try {
      this.#checkOpen();
      checkAppendArguments(stream, events, expected);
      // Serialised before queueing: an event that cannot be stored fails its own append only.
      const json = batchJson(events);
      return new Promise<AppendResult>((resolve, reject) => {
        this.#queue.push({ stream, events, expected, json, resolve, reject });
        if (!this.#flushScheduled) {
          this.#flushScheduled = true;
          setImmediate(() => this.#flush());
        }
      });
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    try {
      this.#checkOpen();
      const { fromRevision, maxCount } = checkReadStreamOptions(options);
      const id = this.#streamId.get(stream);
      const out: RecordedEvent[] = [];
      if (id === undefined) return Promise.resolve(out);
      for (const [position, revision, count, json] of this.#streamBatches.iterate({ stream: id, revision: fromRevision })) {
        const triples = JSON.parse(json) as StoredEvent[];
        for (let k = Math.max(0, fromRevision - revision); k < count; k++) {
          const [eventId, type, data] = fromStored(triples[k]!);
          out.push({ stream, revision: revision + k, position: position + k, id: eventId, type, data });
          if (out.length === maxCount) return Promise.resolve(out);
        }
      }
      return Promise.resolve(out);
    } catch (error) {
      return Promise.reject(this.#translate(error, 'reading a stream'));
    }
  }

  readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    try {
      this.#checkOpen();
      const { from, maxCount } = checkReadAllOptions(options);
      const out: RecordedEvent[] = [];
      // iterate() reads rows lazily; leaving the loop early resets the statement.
      for (const [position, stream, revision, count, json] of this.#allBatches.iterate({ position: from })) {
        // A page that ended inside a batch kept the rest of it parsed: the next page starts there.
        // Its events were not returned yet, so nothing returned twice shares an object.
        const cached = this.#lastParsed?.position === position ? this.#lastParsed.triples : undefined;
        this.#lastParsed = undefined;
        const triples = cached ?? (JSON.parse(json) as StoredEvent[]);
        for (let k = Math.max(0, from - position); k < count; k++) {
          const [id, type, data] = fromStored(triples[k]!);
          out.push({ stream, revision: revision + k, position: position + k, id, type, data });
          if (out.length === maxCount) {
            if (k + 1 < count) this.#lastParsed = { position, triples };
            return Promise.resolve(out);
          }
        }
      }
      return Promise.resolve(out);
    } catch (error) {
      return Promise.reject(this.#translate(error, 'reading all streams'));
    }
  }

  subscribeToAll(options: SubscribeOptions, handler: BatchHandler): Subscription {
    this.#checkOpen();
    const source = { readAll: (o: ReadAllOptions) => this.readAll(o), signal: this.#signal, pollMs: this.#pollMs };
    const sub = catchUpSubscription(source, options, handler, (s) => this.#subscriptions.delete(s));
    this.#subscriptions.add(sub);
    return sub;
  }

  listStreams(): Promise<StreamInfo[]> {
    try {
      this.#checkOpen();
      return Promise.resolve(this.#allStreams.all().map((r) => ({ stream: r.name, lastRevision: r.last_revision })));
    } catch (error) {
      return Promise.reject(this.#translate(error, 'listing streams'));
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await Promise.all([...this.#subscriptions].map((s) => s.stop()));
    this.#flush(); // appends already accepted are written, not dropped
    this.#closed = true;
    this.#db.close();
  }

  #flush(): void {
    this.#flushScheduled = false;
    const group = this.#queue;
    this.#queue = [];
    if (group.length === 0) return;
    let written: WrittenGroup;
    try {
      written = this.#writeGroup.immediate(group);
    } catch (error) {
      const translated = this.#translate(error, 'appending');
      for (const p of group) p.reject(translated);
      return;
    }
    for (const [stream, state] of written.staged) this.#streams.set(stream, state);
    const wrote = written.next !== this.#nextPosition;
    this.#nextPosition = written.next;
    group.forEach((p, i) => {
      const outcome = written.outcomes[i] as Outcome;
      if ('result' in outcome) p.resolve(outcome.result);
      else p.reject(outcome.error);
    });
    if (wrote) this.#signal.notify();
  }

  /** Runs inside the write transaction; the Map changes only once it has committed. */
  #write(group: readonly PendingAppend[]): WrittenGroup {
    this.#syncWithOtherWriters();
    const staged = new Map<string, StreamState>();
    const outcomes: Outcome[] = [];
    let next = this.#nextPosition;
    for (const p of group) {
      const state = staged.get(p.stream) ?? this.#streams.get(p.stream);
      try {
        const decision = decideAppend(p.stream, state?.lastRevision ?? -1, p.events, p.expected, (from, count) =>
          this.#storedIds(state as StreamState, from, count),
        );
        if (decision.kind === 'retry') {
          outcomes.push({ result: { nextExpectedRevision: decision.lastRevision, position: this.#positionOf(state as StreamState, decision.lastRevision) } });
          continue;
        }
        const lastRevision = decision.firstRevision + p.events.length - 1;
        let id: number;
        if (state === undefined) {
          id = this.#insertStream.get(p.stream, lastRevision) as number;
        } else {
          id = state.id;
          this.#updateStream.run(lastRevision, id);
        }
        this.#insertBatch.run(next, id, decision.firstRevision, p.events.length, p.json);
        next += p.events.length;
        staged.set(p.stream, { id, lastRevision });
        outcomes.push({ result: { nextExpectedRevision: lastRevision, position: next - 1 } });
      } catch (error) {
        if (!(error instanceof ExpectedRevisionConflict)) throw error;
        outcomes.push({ error });
      }
    }
    return { outcomes, staged, next };
  }

  /** Another writer (process or store object) appended since we last looked: take its streams in. */
  #syncWithOtherWriters(): void {
    const last = this.#lastBatch.get();
    if ((last === undefined ? 1 : last.position + last.count) !== this.#nextPosition) this.#reload();
  }

  #reload(): void {
    const streams = new Map<string, StreamState>();
    for (const r of this.#allStreams.iterate()) streams.set(r.name, { id: r.id, lastRevision: r.last_revision });
    this.#streams = streams;
    const last = this.#lastBatch.get();
    this.#nextPosition = last === undefined ? 1 : last.position + last.count;
  }

  #storedIds(state: StreamState, from: number, count: number): string[] {
    const ids: string[] = [];
    for (const [, revision, n, json] of this.#streamBatches.iterate({ stream: state.id, revision: from })) {
      const triples = JSON.parse(json) as StoredEvent[];
      for (let k = Math.max(0, from - revision); k < n && ids.length < count; k++) ids.push(fromStored(triples[k]!)[0]);
      if (ids.length === count) break;
    }
    return ids;
  }

  #positionOf(state: StreamState, revision: number): number {
    for (const [position, first] of this.#streamBatches.iterate({ stream: state.id, revision })) {
      return position + (revision - first);
    }
    throw new Error(`internal: revision ${revision} of stream ${state.id} not found`);
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreUnavailable(`the SQLite event store "${this.#path}" is closed`);
  }

  #translate(error: unknown, doing: string): unknown {
    return translateSqliteError(error, this.#path, doing);
  }
}

function checkData(data: unknown): unknown {
  if (data === undefined || typeof data === 'function' || typeof data === 'symbol') {
    throw new TypeError(`event data must be JSON-serialisable, got ${typeof data}`);
  }
  return data;
}

/** SQLite's errors become ours (STYLE.md 6); anything else (a TypeError from bad arguments) passes. */
export function translateSqliteError(error: unknown, path: string, doing: string): unknown {
  if (!(error instanceof Database.SqliteError)) return error;
  const { code, message } = error;
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new InvalidStoreFile(path, `${message} (${code}) while ${doing}`, { cause: error });
  }
  if (code.startsWith('SQLITE_CANTOPEN')) {
    return new InvalidStoreFile(path, `cannot open it (${code}): does its directory exist, and may this process write there?`, { cause: error });
  }
  return new StoreUnavailable(`SQLite event store "${path}": ${doing} failed: ${message} (${code})`, { cause: error });
}
