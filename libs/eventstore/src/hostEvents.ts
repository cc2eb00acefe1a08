import type { HostEvent } from '@lockline/events';
import { hostStreamName } from '@lockline/events';
import { readStreamPages } from './pages.js';
import type { EventStore, ExpectedRevision, NewEvent, RecordedEvent } from './port.js';

/**
 * A host's events as stored, for whoever shows them (the projector's `events` verb, the API offline):
 * one stream per host boot (`host-<hostId>-<bootId>`), read a page at a time, filtered by type and
 * pid. The cursor is a revision in that stream, not a seq: a recorded gap makes the two differ, and a
 * cursor must never skip an event.
 */

/** Events read for one page at most, matching or not: a narrow filter returns a short page and a cursor, not a slow answer. */
export const HOST_EVENTS_MAX_SCAN = 5000;
const READ_CHUNK = 500;

export interface HostEventsRequest {
  /** the revision in the boot's stream to read from (0: its first event) */
  readonly cursor: number;
  /** at most this many events in the page */
  readonly limit: number;
  /** only events of these types */
  readonly types?: ReadonlySet<string>;
  /** only events about this process: its actor, or the child a fork or clone created */
  readonly pid?: number;
}

export interface HostEventsPage {
  readonly hostId: string;
  readonly bootId: string;
  readonly items: HostEvent[];
  /** where the next page starts, or null at the end of the stream */
  readonly nextCursor: number | null;
}

/** The boot ids of `hostId`'s streams in the store, in no particular order. */
async function bootStreamsOf(store: Pick<EventStore, 'listStreams'>, hostId: string): Promise<string[]> {
  const prefix = `host-${hostId}-`;
  const boots: string[] = [];
  for (const s of await store.listStreams()) {
    if (!s.stream.startsWith(prefix)) continue;
    const bootId = s.stream.slice(prefix.length);
    // A boot id has no "-": `host-a-b-c` is host "a-b" boot "c", never host "a" boot "b-c".
    if (bootId.includes('-') || bootId === '') continue;
    boots.push(bootId);
  }
  return boots;
}

/** The boots of `hostId` in the store, newest first (by the position of each boot's first event). */
export async function bootsOf(store: Pick<EventStore, 'listStreams' | 'readStream'>, hostId: string): Promise<string[]> {
  const boots: Array<{ bootId: string; first: number }> = [];
  for (const bootId of await bootStreamsOf(store, hostId)) {
    const [first] = await store.readStream(hostStreamName(hostId, bootId), { maxCount: 1 });
    boots.push({ bootId, first: first?.position ?? 0 });
  }
  return boots.sort((a, b) => b.first - a.first).map((b) => b.bootId);
}

/**
 * Every event of `hostId` in the store at or before position `through`, in store order (the order a
 * subscription to all delivers them), in pages: its boots' streams read side by side and merged by
 * position. What refolding one host needs, without reading anyone else's events.
 */
export async function* readHostInStoreOrder(
  store: Pick<EventStore, 'listStreams' | 'readStream'>,
  hostId: string,
  options: { through: number; pageSize?: number },
): AsyncGenerator<RecordedEvent[], void, undefined> {
  const pageSize = options.pageSize ?? 1000;
  const streams = (await bootStreamsOf(store, hostId)).map((bootId) => ({
    pages: readStreamPages(store, hostStreamName(hostId, bootId), { pageSize }),
    page: [] as RecordedEvent[],
    next: 0,
    done: false,
  }));
  type Cursor = (typeof streams)[number];
  const fill = async (c: Cursor): Promise<void> => {
    while (!c.done && c.next >= c.page.length) {
      const r = await c.pages.next();
      if (r.done === true) c.done = true;
      else {
        c.page = r.value;
        c.next = 0;
      }
    }
  };
  try {
    for (const c of streams) await fill(c);
    let out: RecordedEvent[] = [];
    for (;;) {
      let best: Cursor | undefined;
      for (const c of streams) if (!c.done && (best === undefined || c.page[c.next]!.position < best.page[best.next]!.position)) best = c;
      if (best === undefined) break;
      const rec = best.page[best.next++]!;
      // A stream's positions only grow: past `through`, nothing more of it is wanted.
      if (rec.position > options.through) {
        best.done = true;
        continue;
      }
      out.push(rec);
      if (out.length >= pageSize) {
        yield out;
        out = [];
      }
      await fill(best);
    }
    if (out.length > 0) yield out;
  } finally {
    for (const c of streams) await c.pages.return(undefined);
  }
}

/** Whether an event is about `pid`: its actor, or the child a fork or clone created. */
function about(event: HostEvent, pid: number): boolean {
  const data = event.data as { pid?: unknown; child?: unknown } | null;
  return data !== null && typeof data === 'object' && (data.pid === pid || data.child === pid);
}

/**
 * One page of a host boot's events from `request.cursor`; undefined when the store has no such boot
 * (its stream is empty). Reads at most HOST_EVENTS_MAX_SCAN events: a filter that matches few may
 * answer a short page whose `nextCursor` is not null.
 */
export async function readHostEvents(store: Pick<EventStore, 'readStream'>, hostId: string, bootId: string, request: HostEventsRequest): Promise<HostEventsPage | undefined> {
  const stream = hostStreamName(hostId, bootId);
  const items: HostEvent[] = [];
  let cursor = request.cursor;
  let scanned = 0;
  for (;;) {
    const want = Math.min(READ_CHUNK, HOST_EVENTS_MAX_SCAN - scanned);
    const page: RecordedEvent[] = await store.readStream(stream, { fromRevision: cursor, maxCount: want });
    if (page.length === 0 && cursor === 0) return undefined;
    for (const rec of page) {
      cursor = rec.revision + 1;
      scanned++;
      // Stored events were validated by ingest: trusted (docs/replay.md).
      const event = rec.data as HostEvent;
      if (request.types !== undefined && !request.types.has(event.type)) continue;
      if (request.pid !== undefined && !about(event, request.pid)) continue;
      items.push(event);
      if (items.length === request.limit) break;
    }
    if (items.length === request.limit) {
      // Full page: there is a next page unless this was the stream's last event.
      const after = await store.readStream(stream, { fromRevision: cursor, maxCount: 1 });
      return { hostId, bootId, items, nextCursor: after.length > 0 ? cursor : null };
    }
    if (page.length < want) return { hostId, bootId, items, nextCursor: null };
    if (scanned >= HOST_EVENTS_MAX_SCAN) return { hostId, bootId, items, nextCursor: cursor };
  }
}

/**
 * Appends host events as ingest stores them: one stream per host boot (`hostStreamName`), batches of
 * at most `batchEvents` (default 100) of one stream, each with that stream's expected revision —
 * tracked in `expected` (pass the same map to a later call to go on appending). For tests, benches
 * and tools that fill a store without the pipeline. Returns the number of events appended.
 */
export async function appendHostEvents(
  store: EventStore,
  events: Iterable<HostEvent>,
  options: { batchEvents?: number; expected?: Map<string, ExpectedRevision> } = {},
): Promise<number> {
  const batchEvents = options.batchEvents ?? 100;
  const expected = options.expected ?? new Map<string, ExpectedRevision>();
  let batch: NewEvent[] = [];
  let stream = '';
  let appended = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const r = await store.append(stream, batch, expected.get(stream) ?? 'no_stream');
    expected.set(stream, r.nextExpectedRevision);
    appended += batch.length;
    batch = [];
  };
  for (const e of events) {
    const s = hostStreamName(e.hostId, e.bootId);
    if (s !== stream || batch.length >= batchEvents) {
      await flush();
      stream = s;
    }
    batch.push({ id: e.id, type: e.type, data: e });
  }
  await flush();
  return appended;
}
