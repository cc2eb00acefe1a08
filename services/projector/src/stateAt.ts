import type { HostEvent } from '@lockline/events';
import { hostStreamName } from '@lockline/events';
import type { EventStore } from '@lockline/eventstore';
import { readStreamPages } from '@lockline/eventstore';
import type { ProjectionOptions } from '@lockline/projection';
import { HostProjection } from '@lockline/projection';

export interface StateAtOptions {
  readonly projection: ProjectionOptions;
  /** keep a copy of the fold every N events read (default 10,000): a later request folds fewer than N */
  readonly snapshotEvery?: number;
  /** at most this many copies per boot (default 32; beyond it every other one is dropped) */
  readonly maxSnapshotsPerBoot?: number;
  /** boots whose copies are kept, least recently asked dropped first (default 4) */
  readonly bootsCached?: number;
}

/** A fold of a boot up to some seq, and where in its stream to go on from. */
export interface FoldAt {
  readonly p: HostProjection;
  /** the stream revision to read next */
  readonly nextRevision: number;
}

/**
 * A host boot's state at a past seq, rebuilt from its stream in the store: the nearest copy at or
 * before it (one kept from an earlier request, or the live fold itself when it is not past the seq)
 * plus the events in between. The cost is bounded by `snapshotEvery` once a boot has been read,
 * and by the boot's length the first time; the stream is read a page at a time with a turn of the
 * event loop in between, so a long rebuild does not stall the live fold or other queries.
 */
export class StateAtReader {
  private readonly store: Pick<EventStore, 'readStream'>;
  private readonly options: StateAtOptions;
  private readonly snapshotEvery: number;
  private readonly maxSnapshots: number;
  private readonly bootsCached: number;
  /** by `hostId/bootId`, least recently used first; each list sorted by seq */
  private readonly cache = new Map<string, FoldAt[]>();

  constructor(store: Pick<EventStore, 'readStream'>, options: StateAtOptions) {
    this.store = store;
    this.options = options;
    this.snapshotEvery = Math.max(1, options.snapshotEvery ?? 10_000);
    this.maxSnapshots = Math.max(2, options.maxSnapshotsPerBoot ?? 32);
    this.bootsCached = Math.max(1, options.bootsCached ?? 4);
  }

  /**
   * The boot as it was after its last event with seq ≤ `seq`, or undefined when its stream holds no
   * such event. `live` is the live fold of the boot with the revision of its last event: used as the
   * starting point when it is not past `seq` (a copy is made; it is never changed).
   */
  async at(hostId: string, bootId: string, seq: number, live?: { p: HostProjection; revision: number }): Promise<FoldAt | undefined> {
    const key = `${hostId}/${bootId}`;
    const snapshots = this.cache.get(key) ?? [];
    this.cache.delete(key);
    this.cache.set(key, snapshots);
    for (const old of this.cache.keys()) {
      if (this.cache.size <= this.bootsCached) break;
      this.cache.delete(old);
    }

    let base: FoldAt | undefined;
    for (const s of snapshots) {
      if (s.p.seq > seq) break;
      base = s;
    }
    if (live !== undefined && live.p.seq <= seq && live.p.seq > (base?.p.seq ?? 0)) base = { p: live.p, nextRevision: live.revision + 1 };

    const p = base === undefined ? new HostProjection(hostId, bootId, this.options.projection) : base.p.clone();
    let nextRevision = base?.nextRevision ?? 0;
    let sinceCopy = 0;
    reading: for await (const page of readStreamPages(this.store, hostStreamName(hostId, bootId), { fromRevision: nextRevision })) {
      for (const rec of page) {
        const event = rec.data as HostEvent;
        if (event.seq > seq) break reading;
        p.apply(event);
        nextRevision = rec.revision + 1;
        if (++sinceCopy >= this.snapshotEvery) {
          sinceCopy = 0;
          this.keep(snapshots, { p: p.clone(), nextRevision });
        }
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (nextRevision === 0) return undefined;
    return { p, nextRevision };
  }

  /** Drops every copy kept of `hostId`'s boots (a rebuild trusts nothing folded before it). */
  forget(hostId: string): void {
    const prefix = `${hostId}/`;
    for (const key of [...this.cache.keys()]) if (key.startsWith(prefix)) this.cache.delete(key);
  }

  private keep(snapshots: FoldAt[], s: FoldAt): void {
    let i = snapshots.length;
    while (i > 0 && snapshots[i - 1]!.p.seq > s.p.seq) i--;
    if (i > 0 && snapshots[i - 1]!.p.seq === s.p.seq) return;
    snapshots.splice(i, 0, s);
    if (snapshots.length > this.maxSnapshots) {
      // Thin out evenly rather than stop keeping: the spacing doubles, memory stays bounded.
      for (let k = snapshots.length - 2; k >= 0; k -= 2) snapshots.splice(k, 1);
    }
  }
}
