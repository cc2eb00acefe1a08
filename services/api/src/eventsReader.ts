import type { EventStore } from '@lockline/eventstore';
import { bootsOf, readHostEvents } from '@lockline/eventstore';
import type { EventsRequest, EventsResult } from './backend.js';
import { notFound } from './errors.js';
import type { StoredEvent } from './schemas.js';

/**
 * A host's events read from the event store by the API itself: offline, or with NATS when no
 * projector answers (the paging and filters are @lockline/eventstore's readHostEvents, the same the
 * projector's `events` verb uses).
 */
export async function readEvents(store: EventStore, hostId: string, bootId: string | undefined, request: EventsRequest): Promise<EventsResult> {
  const boot = bootId ?? (await bootsOf(store, hostId))[0];
  if (boot === undefined) throw notFound(`the store has no events of host ${hostId}`);
  const page = await readHostEvents(store, hostId, boot, request);
  if (page === undefined) throw notFound(`host ${hostId} has no boot ${boot} in the store`);
  // Stored events were validated by ingest: what the API shows of them (StoredEvent) is looser.
  return { ...page, items: page.items as StoredEvent[] };
}
