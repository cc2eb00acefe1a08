import type { EventStore, RecordedEvent } from '@lockline/eventstore';

/**
 * What ingest needs to know of a host boot's stream in the store, read through the port alone (so
 * it works the same on SQLite and EventStoreDB): where it ends, and whether a given seq is in it.
 *
 * A stream's revisions are 0, 1, 2 … with no gap, and its events' seqs rise strictly with them, but a
 * recorded sequence gap makes seq − 1 > revision from there on. So the end is found by searching
 * revisions (a few one-event reads), and a seq by bisecting them.
 */

export interface StoredEnd {
  /** The seq of the stream's last event; 0 for no stream. */
  readonly lastSeq: number;
  /** Its revision: the expected revision of the next append. */
  readonly revision: number | 'no_stream';
}

/** The store holds an event in a host stream that ingest could not have written. */
export class StoredEventInvalid extends Error {
  readonly code = 'STORED_EVENT_INVALID';
  constructor(
    readonly stream: string,
    readonly revision: number,
  ) {
    super(`event ${revision} of stream "${stream}" carries no valid envelope seq: something other than ingest wrote it`);
    this.name = 'StoredEventInvalid';
  }
}

/** The envelope seq of a stored event (its data is the whole envelope). */
export function seqOf(event: RecordedEvent): number {
  const seq = (event.data as { seq?: unknown } | null)?.seq;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) throw new StoredEventInvalid(event.stream, event.revision);
  return seq;
}

type Reader = Pick<EventStore, 'readStream'>;

async function eventAt(store: Reader, stream: string, revision: number): Promise<RecordedEvent | undefined> {
  return (await store.readStream(stream, { fromRevision: revision, maxCount: 1 }))[0];
}

/**
 * The stream's last seq and revision. `hintRevision` is where the end probably is (the revision the
 * seq before the first one seen would have without gaps): when right, three reads settle it;
 * otherwise a galloping then bisecting search takes O(log n) reads.
 */
export async function readStoredEnd(store: Reader, stream: string, hintRevision = 0): Promise<StoredEnd> {
  const first = await eventAt(store, stream, 0);
  if (first === undefined) return { lastSeq: 0, revision: 'no_stream' };
  let lo = 0;
  let last = first;
  let upper: number | undefined;
  if (hintRevision > 0) {
    const atHint = await eventAt(store, stream, hintRevision);
    if (atHint === undefined) upper = hintRevision;
    else {
      lo = hintRevision;
      last = atHint;
    }
  }
  for (let step = 1; upper === undefined; step *= 2) {
    const probe = await eventAt(store, stream, lo + step);
    if (probe === undefined) upper = lo + step;
    else {
      lo += step;
      last = probe;
    }
  }
  // lo holds an event, hi does not: bisect.
  let hi: number = upper;
  while (hi - lo > 1) {
    const mid: number = lo + Math.floor((hi - lo) / 2);
    const probe = await eventAt(store, stream, mid);
    if (probe === undefined) hi = mid;
    else {
      lo = mid;
      last = probe;
    }
  }
  return { lastSeq: seqOf(last), revision: lo };
}

/** Whether the stream (ending at `lastRevision`) holds the event with `seq`. */
export async function isSeqStored(store: Reader, stream: string, seq: number, lastRevision: number): Promise<boolean> {
  let lo = 0;
  // seq(r) ≥ r + 1, so seq sits at revision seq − 1 at the latest.
  let hi = Math.min(lastRevision, seq - 1);
  while (lo <= hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const event = await eventAt(store, stream, mid);
    if (event === undefined) hi = mid - 1;
    else {
      const at = seqOf(event);
      if (at === seq) return true;
      if (at < seq) lo = mid + 1;
      else hi = mid - 1;
    }
  }
  return false;
}
