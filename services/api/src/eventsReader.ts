import { hostStreamName } from '@lockline/events';
import type { EventStore } from '@lockline/eventstore';
import type { EventsRequest, EventsResult } from './backend.js';
import { notFound } from './errors.js';
import type { StoredEvent } from './schemas.js';

/**
 * A host's events in pages, read from the event store: one stream per host boot
 * (`host-<hostId>-<bootId>`), filtered by type and pid. The cursor is a position in that stream, not a
 * seq: a recorded gap makes the two differ, and a cursor must never skip an event.
 */

/** Events read for one page at most, matching or not: a narrow filter returns a short page and a cursor, not a slow answer. */
export const MAX_SCAN = 5000;
const READ_CHUNK = 500;

/** The boots of `hostId` in the store, newest first (by the position of each boot's first event). */
export async function bootsOf(store: EventStore, hostId: string): Promise<string[]> {
  const prefix = `host-${hostId}-`;
  const boots: Array<{ bootId: string; first: number }> = [];
  for (const s of await store.listStreams()) {
    if (!s.stream.startsWith(prefix)) continue;
    const bootId = s.stream.slice(prefix.length);
    // A boot id has no "-": `host-a-b-c` is host "a-b" boot "c", never host "a" boot "b-c".
    if (bootId.includes('-') || bootId === '') continue;
    const [first] = await store.readStream(s.stream, { maxCount: 1 });
    boots.push({ bootId, first: first?.position ?? 0 });
  }
  return boots.sort((a, b) => b.first - a.first).map((b) => b.bootId);
}

/** Whether an event is about `pid`: its actor, or the child a fork or clone created. */
function about(event: StoredEvent, pid: number): boolean {
  const data = event.data as { pid?: unknown; child?: unknown } | null;
  return data !== null && typeof data === 'object' && (data.pid === pid || data.child === pid);
}

export async function readEvents(store: EventStore, hostId: string, bootId: string, request: EventsRequest): Promise<EventsResult> {
  const stream = hostStreamName(hostId, bootId);
  const items: StoredEvent[] = [];
  let cursor = request.cursor;
  let scanned = 0;
  for (;;) {
    const want = Math.min(READ_CHUNK, MAX_SCAN - scanned);
    const page = await store.readStream(stream, { fromRevision: cursor, maxCount: want });
    if (page.length === 0 && cursor === 0 && request.cursor === 0) throw notFound(`host ${hostId} has no boot ${bootId} in the store`);
    for (const rec of page) {
      cursor = rec.revision + 1;
      scanned++;
      // Stored events were validated by ingest: trusted (docs/replay.md).
      const event = rec.data as StoredEvent;
      if (request.types !== undefined && !request.types.has(event.type)) continue;
      if (request.pid !== undefined && !about(event, request.pid)) continue;
      items.push(event);
      if (items.length === request.limit) break;
    }
    const end = page.length < want;
    if (items.length === request.limit) {
      // Full page: there is a next page unless this was the stream's last event.
      const after = await store.readStream(stream, { fromRevision: cursor, maxCount: 1 });
      return { hostId, bootId, items, nextCursor: after.length > 0 ? cursor : null };
    }
    if (end) return { hostId, bootId, items, nextCursor: null };
    if (scanned >= MAX_SCAN) return { hostId, bootId, items, nextCursor: cursor };
  }
}
