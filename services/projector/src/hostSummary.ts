import { findingsByCode } from '@lockline/projection';
import * as z from 'zod';
import type { HostEntry, StoredProgress } from './hostEntry.js';

/**
 * A host's summary as the projector writes it to the `lockline_hosts` bucket (key: hostId) and
 * answers the `fleet` query with. It describes the host's current boot.
 */
export interface HostSummary {
  hostId: string;
  bootId: string;
  seq: number;
  stateHash: string;
  /** live processes */
  processes: number;
  lockedPages: number;
  findingsByCode: Record<string, number>;
  /** events of this host folded per second, over the interval since its previous summary */
  eventRate: number;
  /** the host's own time of its last event folded */
  lastEventTime: string | null;
  /** seq of the first gap no counter sample has confirmed since; null when the state is certain */
  uncertainSince: number | null;
  /** when this summary was made (projector clock) */
  updatedAt: string;
  /** partitionOf(hostId, partitions): which projector copies own it */
  partition: number;
  partitions: number;
  /** store position of the host's last event folded */
  position: number;
  /**
   * Findings of this host's events at or below this store position are on the findings stream: a
   * restarted projector publishes none of them again.
   */
  findingsPublishedThrough: number;
}

/** The summary of `entry`'s current boot at `now` (ms); undefined before its first event. */
export function summaryOf(entry: HostEntry, partitions: number, now: number): HostSummary | undefined {
  const p = entry.current;
  if (p === undefined) return undefined;
  const seconds = (now - entry.lastSummaryAt) / 1000;
  return {
    hostId: entry.hostId,
    bootId: p.bootId,
    seq: p.seq,
    stateHash: p.stateHash(),
    processes: entry.liveProcesses(),
    lockedPages: p.lockedPages,
    findingsByCode: findingsByCode(p.findings),
    eventRate: seconds > 0 ? Math.round((entry.eventsSinceSummary / seconds) * 10) / 10 : 0,
    lastEventTime: entry.lastEventTime,
    uncertainSince: p.uncertainSince,
    updatedAt: new Date(now).toISOString(),
    partition: entry.partition,
    partitions,
    position: entry.position,
    findingsPublishedThrough: entry.findingsPublishedThrough,
  };
}

const storedSchema = z.object({
  position: z.number().int().min(0).catch(0),
  findingsPublishedThrough: z.number().int().min(0).catch(0),
});

/**
 * What a stored summary says about a previous run's progress. The bucket is input to this process
 * like any other (another version may have written it): parsed, never trusted blindly. Anything
 * unreadable counts as no progress: findings are then published again and JetStream's duplicate
 * window catches the recent ones.
 */
export function storedProgressOf(value: unknown): StoredProgress {
  const r = storedSchema.safeParse(value);
  return r.success ? r.data : { position: 0, findingsPublishedThrough: 0 };
}
