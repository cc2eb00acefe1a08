import type { HostEvent } from '@lockline/events';
import type { ProjectionOptions } from './hostProjection.js';
import { HostProjection } from './hostProjection.js';

export interface TimelineOptions extends ProjectionOptions {
  /** keep a snapshot every N events (default 1000): any state is a snapshot plus < N events */
  snapshotEvery?: number;
}

/**
 * One host boot's history with snapshots, so the state at any seq is the nearest snapshot at or
 * before it plus a short replay. Events must be in seq order (duplicates are fine: the fold
 * counts and ignores them).
 */
export class HostTimeline {
  readonly hostId: string;
  readonly bootId: string;
  readonly events: readonly HostEvent[];
  readonly snapshotEvery: number;
  private readonly options: ProjectionOptions;
  /** snapshots[k] is the fold of events[0 .. k*N) */
  private readonly snapshots: HostProjection[] = [];
  /** the fold of every event */
  readonly final: HostProjection;

  constructor(hostId: string, bootId: string, events: readonly HostEvent[], options: TimelineOptions = {}) {
    this.hostId = hostId;
    this.bootId = bootId;
    this.events = events;
    this.snapshotEvery = Math.max(1, options.snapshotEvery ?? 1000);
    this.options = options;
    const p = new HostProjection(hostId, bootId, options);
    for (let i = 0; i < events.length; i++) {
      if (i % this.snapshotEvery === 0) this.snapshots.push(p.clone());
      p.apply(events[i]!);
    }
    this.final = p;
  }

  /** How many events have seq ≤ `seq`. */
  private countUpTo(seq: number): number {
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.events[mid]!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** A fresh projection of the host as it was after its last event with seq ≤ `seq`. */
  at(seq: number): HostProjection {
    const n = this.countUpTo(seq);
    if (n === this.events.length) return this.final.clone();
    const k = Math.min(Math.floor(n / this.snapshotEvery), this.snapshots.length - 1);
    const p = k >= 0 ? this.snapshots[k]!.clone() : new HostProjection(this.hostId, this.bootId, this.options);
    for (let i = Math.max(k, 0) * this.snapshotEvery; i < n; i++) p.apply(this.events[i]!);
    return p;
  }

  get lastSeq(): number {
    return this.events.length ? this.events[this.events.length - 1]!.seq : 0;
  }
}
