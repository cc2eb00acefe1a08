import type { HostEvent } from '@lockline/events';
import type { ProjectionOptions } from '@lockline/projection';
import { HostProjection } from '@lockline/projection';

/** Boots of one host folded at once: the current one and the one before (late events of it still fold). */
export const BOOTS_KEPT = 2;

/** What the hosts bucket held for a host when this copy first met it: how far a previous run got. */
export interface StoredProgress {
  /** store position of the last event the stored summary describes */
  readonly position: number;
  /** findings of events at or below this store position were published */
  readonly findingsPublishedThrough: number;
}

/**
 * One host as this projector copy holds it: its latest boots, each folded by a HostProjection, and the
 * bookkeeping around them (store positions, summary cadence, finding publication).
 *
 * Memory is bounded by the hosts of this copy's partitions: a host keeps BOOTS_KEPT boots; an older
 * boot is dropped and its late events, should any come, are ignored (counted by the caller).
 */
export class HostEntry {
  readonly hostId: string;
  readonly partition: number;
  private readonly options: ProjectionOptions;
  /** by bootId, oldest first */
  readonly boots = new Map<string, HostProjection>();
  private readonly dropped = new Set<string>();
  /** the boot seen first most recently: what state, tree and the summary show */
  current: HostProjection | undefined;
  /** the store revision of the last event folded into each boot (stateAt continues from there) */
  readonly lastRevision = new WeakMap<HostProjection, number>();
  /** occurrences of each finding id per boot: two findings with the same id get `.1`, `.2` … */
  private readonly findingIds = new WeakMap<HostProjection, Map<string, number>>();

  /** store position of the last event folded (0: none yet) */
  position = 0;
  lastEventTime: string | null = null;
  /** events folded by this copy since it started */
  folded = 0;

  /** what a previous run left in the hosts bucket (undefined until looked up) */
  stored: StoredProgress | undefined;
  /** findings of this host's events at or below this store position are on the findings stream */
  findingsPublishedThrough = 0;
  /**
   * The last finding a previous run got onto the findings stream for this host (read from the stream
   * at the first meeting): findings up to and including it are not published again, even when that
   * run died before its summary said so. `passed` once the fold met it; cleared after its event.
   */
  lastPublishedFinding: { readonly position: number; readonly msgId: string; readonly passed: boolean } | undefined;

  /** folded since the last summary was written */
  changed = false;
  eventsSinceSummary = 0;
  /** when the last summary was written (or the host was first met), ms since the epoch */
  lastSummaryAt: number;

  /**
   * True when a previous run already published the finding `msgId` raised by the event at store
   * `position` (its summary or the findings stream says so). Asked once per finding, in fold order.
   */
  publishedBefore(position: number, msgId: string): boolean {
    if (this.stored !== undefined && position <= this.stored.findingsPublishedThrough) return true;
    const last = this.lastPublishedFinding;
    if (last === undefined) return false;
    if (position < last.position) return true;
    if (position > last.position) {
      this.lastPublishedFinding = undefined;
      return false;
    }
    // The event that raised the last one: its findings up to and including that one are out.
    if (last.passed) return false;
    if (msgId === last.msgId) this.lastPublishedFinding = { ...last, passed: true };
    return true;
  }

  constructor(hostId: string, partition: number, options: ProjectionOptions, now: number) {
    this.hostId = hostId;
    this.partition = partition;
    this.options = options;
    this.lastSummaryAt = now;
  }

  /**
   * Folds one event of this host. Returns the boot's projection and the index of its first new
   * finding, or undefined when the event belongs to a boot dropped earlier.
   */
  fold(event: HostEvent, position: number, revision: number): { p: HostProjection; firstNewFinding: number } | undefined {
    let p = this.current;
    if (p === undefined || p.bootId !== event.bootId) {
      p = this.boots.get(event.bootId);
      if (p === undefined) {
        if (this.dropped.has(event.bootId)) return undefined;
        p = new HostProjection(this.hostId, event.bootId, this.options);
        this.boots.set(event.bootId, p);
        this.current = p;
        for (const bootId of this.boots.keys()) {
          if (this.boots.size <= BOOTS_KEPT) break;
          this.boots.delete(bootId);
          this.dropped.add(bootId);
        }
      }
    }
    const firstNewFinding = p.findings.length;
    p.apply(event);
    this.lastRevision.set(p, revision);
    this.position = position;
    this.lastEventTime = event.time;
    this.folded++;
    this.eventsSinceSummary++;
    this.changed = true;
    return { p, firstNewFinding };
  }

  /** The boot asked for (default: the current one), if this copy still folds it. */
  boot(bootId?: string): HostProjection | undefined {
    return bootId === undefined ? this.current : this.boots.get(bootId);
  }

  /**
   * The finding's `Nats-Msg-Id`: `<hostId>.<bootId>.<seq>.<code>.<pid or ->`, deterministic so that a
   * finding published again (after a restart) falls into JetStream's duplicate window. The fold can
   * report the same code for the same pid at the same seq twice (a seq received three times gives two
   * DUPLICATE_EVENT findings): the second gets `.1`, the third `.2`, the same on every replay.
   */
  findingMsgId(p: HostProjection, f: { seq: number; code: string; pid: number | null }): string {
    let seen = this.findingIds.get(p);
    if (seen === undefined) {
      seen = new Map();
      this.findingIds.set(p, seen);
    }
    const id = `${p.hostId}.${p.bootId}.${f.seq}.${f.code}.${f.pid ?? '-'}`;
    const n = seen.get(id) ?? 0;
    seen.set(id, n + 1);
    return n === 0 ? id : `${id}.${n}`;
  }

  /** Live processes of the current boot. */
  liveProcesses(): number {
    let n = 0;
    const tasks = this.current?.host?.tasks;
    if (tasks) for (const t of tasks.values()) if (t.alive) n++;
    return n;
  }
}
