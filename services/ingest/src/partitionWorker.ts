import { setImmediate as nextTurn } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import type { BusMessage, BusSubscription, DeadLetterInput } from '@lockline/bus';
import { EVENTS_STREAM, consume, decodeText, ingestConsumerName, publishDeadLetter } from '@lockline/bus';
import type { HostEvent } from '@lockline/events';
import { formatProblems, hostStreamName, parseEventLine } from '@lockline/events';
import type { EventStore } from '@lockline/eventstore';
import { ExpectedRevisionConflict } from '@lockline/eventstore';
import type { Logger } from '@lockline/runtime';
import type { JetStreamClient, JetStreamManager } from 'nats';
import type { DeadLetterKind, IngestMetrics } from './metrics.js';
import { isSeqStored, readStoredEnd } from './storedEnd.js';


/** How long one pull request waits on the server (see start()). */
const PULL_EXPIRES_MS = 5000;
/**
 * One ingest partition: reads the durable consumer `ingest-p<k>`, and for each batch parses every
 * line, dead-letters what is unusable, and appends the rest to the host boot's stream in seq order
 * with the expected revision; a batch is acked once every event in it is stored, dead-lettered or
 * known to be a duplicate.
 *
 * A partition owns its hosts (the stream's subject transform routes a host to exactly one), so the
 * state kept here per host boot — the stored end, events waiting behind a gap — is nobody else's.
 * Several copies stay correct anyway if partitions overlap: every append carries the expected
 * revision, and a conflict reloads the stream's end from the store.
 *
 * Rounds: the messages that arrived since the last round (up to fetchMaxMessages) are handled
 * together, so a host's consecutive events across several batches become one append per stream, and
 * the appends of all streams of the round are issued together (the SQLite adapter commits what is
 * issued in one turn of the event loop in one transaction).
 */

export interface WorkerOptions {
  readonly partition: number;
  readonly gapHoldMs: number;
  readonly fetchMaxMessages: number;
  readonly storeRetryMs: number;
}

export interface WorkerDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly store: EventStore;
  readonly log: Logger;
  readonly metrics: IngestMetrics;
  readonly stats: MutableStats;
}

/** Counters over the service's life (all partitions); the same numbers as the metrics. */
export interface MutableStats {
  messages: number;
  events: number;
  appended: number;
  duplicates: number;
  deadLettered: number;
  gaps: number;
  gapMissing: number;
  acked: number;
  naked: number;
  conflicts: number;
  storeFailures: number;
  /** Events waiting in memory behind a missing seq right now. */
  held: number;
}

/** A batch being worked on. */
interface Tracked {
  readonly msg: BusMessage;
  /** Events and dead letters of this batch not yet settled (+1 while its lines are being read). */
  outstanding: number;
  state: 'open' | 'acked' | 'naked';
  /** Its valid events, once the batch is taken in (a batch handed back at once has none). */
  entries: Entry[];
}

/** One valid event of a batch, on its way to the store. */
interface Entry {
  readonly tracked: Tracked;
  readonly stream: HostStream;
  readonly event: HostEvent;
  /** The event as JSON for the store: its line, unless that does not read back as the event (parseEventLine). */
  readonly json: string;
  readonly line: string;
  readonly lineIndex: number;
  readonly arrivedAt: number;
}

/**
 * The event waiting for one seq, and any copies of it that arrived meanwhile (a redelivered batch,
 * a host's duplicate): the copies settle when it is stored, never before — acking a copy earlier
 * would lose the event if the first batch were then handed back.
 */
interface Slot {
  primary: Entry;
  shadows: Entry[];
}

/** What this worker knows of one host boot's stream. */
interface HostStream {
  readonly name: string;
  readonly hostId: string;
  readonly bootId: string;
  /** Whether lastSeq/revision were read from the store (lazily, on first sight, after a conflict or failure). */
  loaded: boolean;
  /** The seq of the last stored event (0: none). */
  lastSeq: number;
  revision: number | 'no_stream';
  /** The seq the next append must start with: lastSeq + 1, or past a recorded gap. */
  nextSeq: number;
  /** Seqs up to here were given up in a recorded gap. */
  givenUpTo: number;
  /** The stored stream skips seqs (revision ≠ seq − 1): a seq ≤ lastSeq may be missing from it. */
  gappy: boolean;
  /** Events with seq ≥ nextSeq not yet stored, by seq. */
  readonly held: Map<number, Slot>;
  /** This round's arrivals, merged into held by settle. */
  incoming: Entry[];
  /** When the oldest event waiting behind the head gap arrived. */
  gapSince: number | undefined;
  /** Look at the gap again then (it was due, but earlier batches were still on their way). */
  recheckAt: number | undefined;
  conflicts: number;
  failures: number;
  backoffUntil: number;
  /** When an event of it last arrived (idle streams are forgotten, and read again if they come back). */
  lastSeen: number;
}

const MAX_CONFLICTS_IN_A_ROW = 5;
const MAX_STORE_RETRY_MS = 30_000;
/** How often a due gap is looked at again while batches delivered earlier are still unacked. */
const GAP_RECHECK_MS = 250;
/** How often the consumer's pending counts are read for the lag gauges when nothing else asks. */
const LAG_REFRESH_MS = 5000;
/** A host boot stream idle this long is forgotten (read from the store again if it comes back). */
const IDLE_STREAM_MS = 10 * 60_000;

type AppendOutcome = 'ok' | 'conflict' | 'failed';

export class PartitionWorker {
  readonly partition: number;
  readonly #durable: string;
  readonly #opts: WorkerOptions;
  readonly #deps: WorkerDeps;
  readonly #log: Logger;
  readonly #label: { partition: string };

  #sub: BusSubscription | undefined;
  #loop: Promise<void> | undefined;
  readonly #queue: Array<{ msg: BusMessage; at: number }> = [];
  readonly #streams = new Map<string, HostStream>();
  /** Streams with events held behind a gap. */
  readonly #gapped = new Set<HostStream>();
  /**
   * Batches received and not yet acked or handed back, by stream sequence (a batch redelivered while
   * its first delivery is still here counts once, as the server counts it): the server's ack-pending
   * count for this consumer minus these is what is out elsewhere.
   */
  readonly #unsettled = new Map<number, number>();
  /** When held batches last told the server they are still being worked on. */
  #keptAliveAt = 0;
  /** Dead letters and acks on their way (each removes itself when done). */
  readonly #inFlight = new Set<Promise<void>>();
  #pumpDone = false;
  #stopping = false;
  #aborted = false;
  #fatal: unknown;
  #wake: (() => void) | undefined;
  #ackWaitMs = 30_000;
  #nextLagRefresh = 0;
  #lagRefreshing = false;

  constructor(options: WorkerOptions, deps: WorkerDeps) {
    this.partition = options.partition;
    this.#durable = ingestConsumerName(options.partition);
    this.#opts = options;
    this.#deps = deps;
    this.#log = deps.log.child({ partition: options.partition });
    this.#label = { partition: String(options.partition) };
  }

  /** False once its consumer stopped delivering for any reason but stop()/abort(). */
  get healthy(): boolean {
    return this.#sub !== undefined && !this.#pumpDone && this.#fatal === undefined;
  }

  /** Throws NotFound (from the bus) when the consumer does not exist. */
  async start(): Promise<void> {
    const sub = await consume(this.#deps.js, {
      stream: EVENTS_STREAM,
      durable: this.#durable,
      maxMessages: this.#opts.fetchMaxMessages,
      // Short pulls: a pull request dies with the consumer's old leader when it moves (a node lost,
      // a cluster restart), and the client notices only after two missed idle heartbeats (half the
      // expiry each). At nats.js's 30 s default that stalled ingest ~45 s after a cluster restart
      // (docs/reliability.md); at 5 s it asks again within ~5 s. An idle partition costs one pull
      // request every 5 s.
      expiresMs: PULL_EXPIRES_MS,
      onEvent: (event) => this.#log.debug({ nats: event.type, data: String(event.data) }, 'consumer status'),
    });
    this.#sub = sub;
    await this.#refreshConsumerInfo();
    void this.#pump(sub);
    this.#loop = this.#run();
  }

  /** Settles when the worker has ended: rejects if its consumer failed. */
  async done(): Promise<void> {
    await this.#loop;
    if (this.#fatal !== undefined) throw this.#fatal;
  }

  /** Stop asking for batches, handle what was received, ack it; what waits behind a gap is handed back. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#sub?.stop().catch((error: unknown) => this.#log.warn({ err: error }, 'closing the consumer failed'));
    this.#wakeUp();
    await this.#loop;
  }

  /** Like a killed process: stop now, ack and hand back nothing; unacked batches return after ack-wait. */
  async abort(): Promise<void> {
    this.#aborted = true;
    this.#stopping = true;
    this.#wakeUp();
    await this.#sub?.stop().catch(() => undefined);
    await this.#loop;
  }

  async #pump(sub: BusSubscription): Promise<void> {
    try {
      // No backpressure needed here: the consumer's max_ack_pending bounds what is delivered unacked.
      for await (const msg of sub) {
        if (this.#aborted) continue;
        this.#unsettled.set(msg.streamSeq, (this.#unsettled.get(msg.streamSeq) ?? 0) + 1);
        this.#queue.push({ msg, at: Date.now() });
        this.#wakeUp();
      }
      if (!this.#stopping) this.#fatal ??= new Error(`consumer ${this.#durable} on ${EVENTS_STREAM} stopped delivering`);
    } catch (error) {
      if (!this.#stopping) this.#fatal ??= error;
    } finally {
      this.#pumpDone = true;
      this.#wakeUp();
    }
  }

  async #run(): Promise<void> {
    try {
      for (;;) {
        if (this.#aborted) return;
        if (this.#queue.length > 0) {
          await this.#round(this.#queue.splice(0, this.#opts.fetchMaxMessages));
          continue;
        }
        if (this.#pumpDone) break;
        const now = Date.now();
        if (this.#gapped.size > 0 && this.#gapDueAt() <= now) {
          await this.#expireGaps();
          await this.#flushPending();
          continue;
        }
        this.#housekeeping(now);
        await this.#sleep(Math.min(this.#gapped.size > 0 ? this.#gapDueAt() : Number.POSITIVE_INFINITY, this.#nextLagRefresh) - now);
      }
      if (this.#aborted) return;
      // Stopping (or the consumer failed): every received batch has been handled. What still waits
      // behind a gap goes back to the stream for whichever copy comes next — nothing is given up.
      this.#handBackHeld();
      await this.#flushPending();
    } catch (error) {
      this.#fatal ??= error;
    } finally {
      if (this.#fatal !== undefined && !this.#aborted) this.#log.error({ err: this.#fatal }, 'partition stopped consuming');
    }
  }

  /** Every LAG_REFRESH_MS, busy or not: the lag gauges, and forgetting idle streams. */
  #housekeeping(now: number): void {
    if (now < this.#nextLagRefresh) return;
    this.#nextLagRefresh = now + LAG_REFRESH_MS;
    void this.#refreshLag();
    this.#forgetIdleStreams(now);
  }

  /** Host boots not heard of for a while (a rebooted host's old boot) leave memory; their end is in the store. */
  #forgetIdleStreams(now: number): void {
    for (const [name, s] of this.#streams) {
      if (now - s.lastSeen > IDLE_STREAM_MS && s.held.size === 0 && s.incoming.length === 0 && s.backoffUntil < now) this.#streams.delete(name);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(finish, Math.max(0, Math.min(ms, 60_000)));
      function finish(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        finish();
      };
    });
  }

  #wakeUp(): void {
    this.#wake?.();
  }

  // ---- a round -------------------------------------------------------------------------------

  async #round(batch: ReadonlyArray<{ msg: BusMessage; at: number }>): Promise<void> {
    this.#deps.metrics.roundMessages.observe(batch.length);
    const touched = new Set<HostStream>();
    for (const { msg, at } of batch) this.#accept(msg, at, touched);
    await this.#settle(touched, false);
    if (this.#aborted) return;
    // Acks and dead letters complete on their own; only a gap decision (and stop) waits for them.
    if (this.#gapped.size > 0 && this.#gapDueAt() <= Date.now()) await this.#expireGaps();
    this.#housekeeping(Date.now());
  }

  /** Reads one batch: dead letters go out, valid events join their stream's arrivals. */
  #accept(msg: BusMessage, arrivedAt: number, touched: Set<HostStream>): void {
    const { stats, metrics } = this.#deps;
    stats.messages++;
    metrics.messagesReceived.inc();
    metrics.consumerPending.set(this.#label, msg.pending);
    const tracked: Tracked = { msg, outstanding: 1, state: 'open', entries: [] };
    const hostId = msg.hostId;
    if (hostId === undefined || msg.partition === undefined) {
      this.#deadLetter(tracked, null, 'not_events', { reason: `not a partitioned events subject: ${msg.subject}`, line: decodeText(msg.data), subject: msg.subject, seq: msg.streamSeq });
      this.#settled(tracked);
      return;
    }
    const lines = msg.lines();
    let letters: Array<{ kind: DeadLetterKind; input: DeadLetterInput }> | undefined;
    if (lines.length === 0) {
      letters = [{ kind: 'invalid', input: { reason: 'the batch holds no event line', line: decodeText(msg.data), subject: msg.subject, seq: msg.streamSeq } }];
    }
    stats.events += lines.length;
    metrics.eventsReceived.inc(lines.length);
    const entries: Entry[] = [];
    // The events of a batch are one host's (checked below) and nearly always of one boot: the stream
    // is looked up once per boot seen in the batch, not once per event.
    let stream: HostStream | undefined;
    for (let lineIndex = 0; lineIndex < lines.length; lineIndex++) {
      const line = lines[lineIndex]!;
      const parsed = parseEventLine(line);
      if (!parsed.ok) {
        (letters ??= []).push({ kind: 'invalid', input: { reason: formatProblems(parsed.problems, 'invalid event'), line, subject: msg.subject, seq: msg.streamSeq, lineIndex } });
        continue;
      }
      const event = parsed.event;
      if (event.hostId !== hostId) {
        const reason = `claims host ${event.hostId} on host ${hostId}'s subject (${msg.subject})`;
        (letters ??= []).push({ kind: 'wrong_host', input: { reason, line, subject: msg.subject, seq: msg.streamSeq, lineIndex } });
        continue;
      }
      if (stream === undefined || stream.bootId !== event.bootId) stream = this.#streamOf(event, arrivedAt);
      entries.push({ tracked, stream, event, json: parsed.json, line, lineIndex, arrivedAt });
    }
    // A stream whose last append failed is backing off: the whole batch comes back after the delay.
    let backoffUntil = 0;
    for (const e of entries) backoffUntil = Math.max(backoffUntil, e.stream.backoffUntil);
    if (backoffUntil > arrivedAt) {
      this.#handBack(tracked, Math.max(50, backoffUntil - arrivedAt), 'store');
      return;
    }
    if (letters !== undefined) for (const letter of letters) this.#deadLetter(tracked, hostId, letter.kind, letter.input);
    tracked.entries = entries;
    tracked.outstanding += entries.length;
    let last: HostStream | undefined;
    for (const entry of entries) {
      entry.stream.incoming.push(entry);
      if (entry.stream !== last) touched.add((last = entry.stream));
    }
    this.#settled(tracked);
  }

  #streamOf(event: HostEvent, now: number): HostStream {
    const name = hostStreamName(event.hostId, event.bootId);
    let stream = this.#streams.get(name);
    if (stream === undefined) {
      stream = {
        name,
        hostId: event.hostId,
        bootId: event.bootId,
        loaded: false,
        lastSeq: 0,
        revision: 'no_stream',
        nextSeq: 1,
        givenUpTo: 0,
        gappy: false,
        held: new Map(),
        incoming: [],
        gapSince: undefined,
        recheckAt: undefined,
        conflicts: 0,
        failures: 0,
        backoffUntil: 0,
        lastSeen: 0,
      };
      this.#streams.set(name, stream);
    }
    stream.lastSeen = now;
    return stream;
  }

  /**
   * Brings each stream's arrivals into order and appends what follows its stored end without a
   * hole; repeats for streams whose append met another writer. A gap seen for the first time is
   * checked against the store once (another writer may have filled it: overlapping partitions)
   * before its hold starts. With `giveUpGaps`, a stream whose next seq is still missing gives it up
   * first (its hold expired).
   */
  async #settle(streams: ReadonlySet<HostStream>, giveUpGaps: boolean): Promise<void> {
    let pending = [...streams];
    const rechecked = new Set<HostStream>();
    while (pending.length > 0 && !this.#aborted) {
      const prepared = await Promise.all(pending.map((s) => this.#prepare(s, giveUpGaps)));
      if (this.#aborted) return;
      const again: HostStream[] = [];
      const appending: HostStream[] = [];
      const outcomes: Array<Promise<AppendOutcome>> = [];
      pending.forEach((s, i) => {
        const outcome = prepared[i];
        if (outcome === undefined) return;
        if (outcome.run.length > 0) {
          appending.push(s);
          outcomes.push(this.#append(s, outcome.run));
        } else if (s.held.size > 0 && s.gapSince === undefined && !outcome.loadedNow && !rechecked.has(s)) {
          rechecked.add(s);
          s.loaded = false;
          again.push(s);
        } else this.#noteGap(s);
      });
      const results = await Promise.all(outcomes);
      pending = [...again, ...appending.filter((_, i) => results[i] === 'conflict')];
    }
  }

  /**
   * Loads (if needed) and merges; the run of slots to append now (empty: nothing to append), or
   * undefined after a store failure.
   */
  async #prepare(s: HostStream, giveUpGaps: boolean): Promise<{ run: Slot[]; loadedNow: boolean } | undefined> {
    const loadedNow = !s.loaded;
    try {
      if (loadedNow) await this.#load(s);
      await this.#merge(s);
    } catch (error) {
      this.#storeFailed(s, error);
      return undefined;
    }
    if (giveUpGaps) this.#giveUpHeadGap(s);
    const run: Slot[] = [];
    for (let seq = s.nextSeq; ; seq++) {
      const slot = s.held.get(seq);
      if (slot === undefined) break;
      run.push(slot);
    }
    return { run, loadedNow };
  }

  async #load(s: HostStream): Promise<void> {
    let lowest = Number.POSITIVE_INFINITY;
    for (const e of s.incoming) lowest = Math.min(lowest, e.event.seq);
    for (const seq of s.held.keys()) lowest = Math.min(lowest, seq);
    // Without gaps the seq before the lowest one waiting sits at revision lowest − 2.
    const hint = Number.isFinite(lowest) ? Math.max(0, lowest - 2) : 0;
    const end = await readStoredEnd(this.#deps.store, s.name, hint);
    s.lastSeq = end.lastSeq;
    s.revision = end.revision;
    s.nextSeq = Math.max(end.lastSeq + 1, s.givenUpTo + 1);
    s.gappy = end.revision !== 'no_stream' && end.revision !== end.lastSeq - 1;
    s.loaded = true;
  }

  /** Arrivals join held by seq; anything behind nextSeq (on arrival, or after a reload) is settled now. */
  async #merge(s: HostStream): Promise<void> {
    for (const [seq, slot] of s.held) {
      if (seq >= s.nextSeq) continue;
      this.#dropSlot(s, seq);
      for (const e of [slot.primary, ...slot.shadows]) await this.#behind(s, e);
    }
    const incoming = s.incoming;
    s.incoming = [];
    for (const e of incoming) {
      if (e.tracked.state !== 'open') continue;
      if (e.event.seq < s.nextSeq) {
        await this.#behind(s, e);
        continue;
      }
      const slot = s.held.get(e.event.seq);
      if (slot === undefined) {
        s.held.set(e.event.seq, { primary: e, shadows: [] });
        this.#deps.stats.held++;
      } else slot.shadows.push(e);
    }
  }

  /** An event whose seq is behind the stream's next: stored already (a duplicate), or given up in a gap (late). */
  async #behind(s: HostStream, e: Entry): Promise<void> {
    if (e.tracked.state !== 'open') return;
    const seq = e.event.seq;
    const stored = seq <= s.lastSeq && (!s.gappy || (typeof s.revision === 'number' && (await isSeqStored(this.#deps.store, s.name, seq, s.revision))));
    if (stored) {
      this.#duplicate(e);
      return;
    }
    const msg = e.tracked.msg;
    this.#deadLetter(e.tracked, s.hostId, 'late', {
      reason: `arrived after its gap was recorded: seq ${seq} of ${s.name} was given up, the stream goes on at seq ${s.nextSeq}`,
      line: e.line,
      subject: msg.subject,
      seq: msg.streamSeq,
      lineIndex: e.lineIndex,
    });
    this.#settled(e.tracked);
  }

  #duplicate(e: Entry): void {
    this.#deps.stats.duplicates++;
    this.#deps.metrics.eventsDuplicate.inc();
    this.#settled(e.tracked);
  }

  async #append(s: HostStream, run: readonly Slot[]): Promise<AppendOutcome> {
    const { store, metrics, stats } = this.#deps;
    const events = run.map(({ primary: { event, json } }) => ({ id: event.id, type: event.type, data: event, json }));
    const started = performance.now();
    try {
      const result = await store.append(s.name, events, s.revision);
      metrics.appendSeconds.observe((performance.now() - started) / 1000);
      metrics.appendBatchEvents.observe(events.length);
      const last = run[run.length - 1]!.primary.event.seq;
      s.revision = result.nextExpectedRevision;
      s.lastSeq = last;
      s.nextSeq = last + 1;
      if (s.revision !== last - 1) s.gappy = true;
      s.conflicts = 0;
      s.failures = 0;
      stats.appended += events.length;
      metrics.eventsAppended.inc(events.length);
      for (const { primary } of run) {
        const seq = primary.event.seq;
        // The slot may have changed meanwhile (a batch handed back): whatever waits for seq is stored now.
        const current = s.held.get(seq);
        if (current === undefined) continue;
        this.#dropSlot(s, seq);
        this.#settled(current.primary.tracked);
        for (const shadow of current.shadows) this.#duplicate(shadow);
      }
      // Progress: a gap left behind what was just stored is a new one, timed from its own events.
      s.gapSince = undefined;
      s.recheckAt = undefined;
      this.#noteGap(s);
      return 'ok';
    } catch (error) {
      if (error instanceof ExpectedRevisionConflict) {
        stats.conflicts++;
        metrics.appendConflicts.inc();
        s.loaded = false;
        s.conflicts++;
        this.#log.info({ stream: s.name, expected: error.expected, actual: error.actual }, 'another writer appended to the stream: reloading its end');
        if (s.conflicts <= MAX_CONFLICTS_IN_A_ROW) return 'conflict';
      }
      this.#storeFailed(s, error);
      return 'failed';
    }
  }

  #dropSlot(s: HostStream, seq: number): void {
    if (s.held.delete(seq)) {
      this.#deps.stats.held--;
    }
    if (s.held.size === 0) {
      s.gapSince = undefined;
      s.recheckAt = undefined;
      this.#gapped.delete(s);
    }
  }

  /** After a settle: events still held means the next seq is missing; start its clock. */
  #noteGap(s: HostStream): void {
    if (s.held.size === 0) {
      s.gapSince = undefined;
      s.recheckAt = undefined;
      this.#gapped.delete(s);
      return;
    }
    if (s.gapSince === undefined) {
      let oldest = Number.POSITIVE_INFINITY;
      for (const slot of s.held.values()) oldest = Math.min(oldest, slot.primary.arrivedAt);
      s.gapSince = oldest;
      this.#log.debug({ hostId: s.hostId, bootId: s.bootId, waitingFor: s.nextSeq, held: s.held.size }, 'holding events behind a missing seq');
    }
    this.#gapped.add(s);
  }

  /**
   * The store failed (unavailable, or broken): every batch with an event of this stream waiting goes
   * back for redelivery after a delay, and the stream backs off until then. Nothing is acked.
   */
  #storeFailed(s: HostStream, error: unknown): void {
    const { stats, metrics } = this.#deps;
    stats.storeFailures++;
    metrics.storeFailures.inc();
    s.failures++;
    s.loaded = false;
    const delay = Math.min(this.#opts.storeRetryMs * 2 ** (s.failures - 1), MAX_STORE_RETRY_MS);
    s.backoffUntil = Date.now() + delay;
    const fields = { err: error, stream: s.name, failuresInARow: s.failures, retryInMs: delay };
    if (s.failures === 1) this.#log.error(fields, 'event store append failed: batches handed back for redelivery');
    else this.#log.warn(fields, 'event store append failed again');
    const batches = new Set<Tracked>();
    for (const slot of s.held.values()) for (const e of [slot.primary, ...slot.shadows]) batches.add(e.tracked);
    for (const e of s.incoming) batches.add(e.tracked);
    s.incoming = [];
    for (const tracked of batches) this.#handBack(tracked, delay, 'store');
  }

  // ---- gaps ------------------------------------------------------------------------------------

  #gapDueAt(): number {
    let due = Number.POSITIVE_INFINITY;
    for (const s of this.#gapped) due = Math.min(due, s.recheckAt ?? (s.gapSince ?? 0) + this.#opts.gapHoldMs);
    if (this.#gapped.size > 0) due = Math.min(due, this.#keptAliveAt + this.#ackWaitMs / 3);
    return due;
  }

  /**
   * Batches held longer than a third of ack-wait tell the server they are still being worked on, so
   * that a long hold (a gap waiting for redeliveries) does not get them redelivered meanwhile.
   */
  #keepHeldAlive(now: number): void {
    const every = this.#ackWaitMs / 3;
    if (now - this.#keptAliveAt < every) return;
    this.#keptAliveAt = now;
    const told = new Set<Tracked>();
    for (const s of this.#gapped) {
      for (const slot of s.held.values()) {
        for (const e of [slot.primary, ...slot.shadows]) {
          if (told.has(e.tracked) || e.tracked.state !== 'open' || now - e.arrivedAt < every) continue;
          told.add(e.tracked);
          try {
            e.tracked.msg.working();
          } catch (error) {
            this.#log.debug({ err: error }, 'could not extend the ack-wait of a held batch');
          }
        }
      }
    }
  }

  /**
   * Gaps whose hold expired are given up — unless batches delivered before are still unacked
   * somewhere (handed back, or left by a copy that died): the missing events may be in them, and
   * they come back within the consumer's ack-wait. So a gap waits at most gapHoldMs plus ack-wait.
   */
  async #expireGaps(): Promise<void> {
    const now = Date.now();
    this.#keepHeldAlive(now);
    const due = [...this.#gapped].filter((s) => now >= (s.recheckAt ?? (s.gapSince ?? 0) + this.#opts.gapHoldMs));
    if (due.length === 0) return;
    const quiet = await this.#nothingElsewhere();
    if (this.#aborted) return;
    if (quiet === true && this.#queue.length > 0) {
      // Everything delivered before the server's answer is here; what is still queued may hold the
      // missing events, so take it in before giving anything up.
      const touched = new Set<HostStream>();
      for (const { msg, at } of this.#queue.splice(0)) this.#accept(msg, at, touched);
      await this.#settle(touched, false);
      if (this.#aborted) return;
    }
    const giveUp = new Set<HostStream>();
    const recheck = new Set<HostStream>();
    for (const s of due) {
      if (s.held.size === 0 || s.gapSince === undefined) {
        this.#gapped.delete(s);
        continue;
      }
      if (now < (s.recheckAt ?? s.gapSince + this.#opts.gapHoldMs)) continue; // the queue just moved its gap on
      // Read the end again either way: another writer (overlapping partitions) may have filled the gap.
      s.loaded = false;
      const hardLimit = s.gapSince + this.#opts.gapHoldMs + this.#ackWaitMs + 1000;
      if (quiet !== true && now < hardLimit) {
        s.recheckAt = now + GAP_RECHECK_MS;
        recheck.add(s);
        continue;
      }
      s.recheckAt = undefined;
      giveUp.add(s);
    }
    if (recheck.size > 0) await this.#settle(recheck, false);
    if (giveUp.size > 0) await this.#settle(giveUp, true);
  }

  /** Whether the server has no unacked batch of this partition other than the ones this worker holds. */
  async #nothingElsewhere(): Promise<boolean | undefined> {
    // Unconfirmed acks would make the count below look lower than it is.
    await this.#flushPending();
    const info = await this.#refreshConsumerInfo();
    if (info === undefined) return undefined;
    // Deliveries the server counted came before its answer on this connection: let the pump take them.
    await nextTurn();
    return info.num_ack_pending <= this.#unsettled.size;
  }

  #giveUpHeadGap(s: HostStream): void {
    if (s.held.size === 0 || s.held.has(s.nextSeq)) return;
    let first = Number.POSITIVE_INFINITY;
    for (const seq of s.held.keys()) first = Math.min(first, seq);
    const missingFrom = s.nextSeq;
    const missingTo = first - 1;
    const heldMs = s.gapSince === undefined ? 0 : Date.now() - s.gapSince;
    s.givenUpTo = missingTo;
    s.nextSeq = first;
    s.gapSince = undefined;
    s.recheckAt = undefined;
    this.#deps.stats.gaps++;
    this.#deps.stats.gapMissing += missingTo - missingFrom + 1;
    this.#deps.metrics.gaps.inc();
    this.#deps.metrics.gapMissingEvents.inc(missingTo - missingFrom + 1);
    this.#log.warn(
      { hostId: s.hostId, bootId: s.bootId, stream: s.name, missingFrom, missingTo, heldMs, waiting: s.held.size },
      'sequence gap recorded: the events after it are appended without the missing ones',
    );
  }

  // ---- settling batches ------------------------------------------------------------------------

  #deadLetter(tracked: Tracked, hostId: string | null, kind: DeadLetterKind, input: DeadLetterInput): void {
    if (this.#aborted) return;
    tracked.outstanding++;
    const { stats, metrics } = this.#deps;
    const published = publishDeadLetter(this.#deps.js, hostId, input).then(
      () => {
        stats.deadLettered++;
        metrics.eventsDeadLettered.inc({ reason: kind });
        this.#log.warn({ hostId, streamSeq: input.seq, lineIndex: input.lineIndex, reason: input.reason }, 'dead-lettered');
        this.#settled(tracked);
      },
      (error: unknown) => {
        metrics.deadLetterFailures.inc();
        this.#log.error({ err: error, hostId, streamSeq: input.seq }, 'could not dead-letter: the batch is handed back');
        this.#handBack(tracked, this.#opts.storeRetryMs, 'dead_letter');
      },
    );
    this.#track(published);
  }

  /** One event or dead letter of the batch is settled; the last one acks it. */
  #settled(tracked: Tracked): void {
    tracked.outstanding--;
    if (tracked.outstanding > 0 || tracked.state !== 'open') return;
    tracked.state = 'acked';
    if (this.#aborted) return;
    const { stats, metrics } = this.#deps;
    // Confirmed acks: the count of unacked batches compared in #nothingElsewhere is then exact, and
    // stop() returns only once the server has recorded every ack.
    const acked = tracked.msg.ackAndConfirm().then(
      () => {
        stats.acked++;
        metrics.messagesAcked.inc();
      },
      (error: unknown) => this.#log.warn({ err: error, streamSeq: tracked.msg.streamSeq }, 'ack not confirmed: the batch may come again (its events are then duplicates)'),
    );
    this.#track(acked.finally(() => this.#release(tracked.msg)));
  }

  /** Not now: the batch comes again after `delayMs`; its events waiting here are forgotten. */
  #handBack(tracked: Tracked, delayMs: number, cause: 'store' | 'dead_letter' | 'stopping'): void {
    if (tracked.state !== 'open') return;
    tracked.state = 'naked';
    for (const e of tracked.entries) this.#forget(e);
    if (this.#aborted) return;
    this.#release(tracked.msg);
    try {
      tracked.msg.nak(delayMs);
      this.#deps.stats.naked++;
      this.#deps.metrics.messagesNaked.inc({ cause });
    } catch (error) {
      this.#log.warn({ err: error, streamSeq: tracked.msg.streamSeq }, 'nak failed: the batch comes again after ack-wait');
    }
  }

  #release(msg: BusMessage): void {
    const left = (this.#unsettled.get(msg.streamSeq) ?? 1) - 1;
    if (left > 0) this.#unsettled.set(msg.streamSeq, left);
    else this.#unsettled.delete(msg.streamSeq);
  }

  #forget(e: Entry): void {
    const s = e.stream;
    s.incoming = s.incoming.filter((x) => x !== e);
    const slot = s.held.get(e.event.seq);
    if (slot === undefined) return;
    if (slot.primary === e) {
      const next = slot.shadows.shift();
      if (next === undefined) this.#dropSlot(s, e.event.seq);
      else slot.primary = next;
    } else slot.shadows = slot.shadows.filter((x) => x !== e);
  }

  #handBackHeld(): void {
    const batches = new Set<Tracked>();
    for (const s of this.#gapped) for (const slot of s.held.values()) for (const e of [slot.primary, ...slot.shadows]) batches.add(e.tracked);
    if (batches.size > 0) this.#log.info({ batches: batches.size }, 'stopping: batches waiting behind a gap are handed back');
    for (const tracked of batches) this.#handBack(tracked, 0, 'stopping');
  }

  #track(work: Promise<void>): void {
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
  }

  /** Waits for the dead letters and acks on their way (a dead letter may settle a batch: hence the loop). */
  async #flushPending(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  // ---- consumer info ---------------------------------------------------------------------------

  async #refreshConsumerInfo(): Promise<{ num_ack_pending: number } | undefined> {
    try {
      const info = await this.#deps.jsm.consumers.info(EVENTS_STREAM, this.#durable);
      if (info.config.ack_wait !== undefined) this.#ackWaitMs = Math.max(1, Math.round(info.config.ack_wait / 1e6));
      this.#deps.metrics.consumerPending.set(this.#label, info.num_pending);
      this.#deps.metrics.consumerAckPending.set(this.#label, info.num_ack_pending);
      this.#nextLagRefresh = Date.now() + LAG_REFRESH_MS;
      return info;
    } catch (error) {
      this.#log.warn({ err: error }, 'could not read the consumer info');
      this.#nextLagRefresh = Date.now() + LAG_REFRESH_MS;
      return undefined;
    }
  }

  async #refreshLag(): Promise<void> {
    if (this.#lagRefreshing) return;
    this.#lagRefreshing = true;
    try {
      await this.#refreshConsumerInfo();
    } finally {
      this.#lagRefreshing = false;
    }
  }
}
