import type { Finding, FindingItem, HostSummary } from './schemas.js';

/**
 * What the projector publishes, held in memory: every host's latest summary (from the hosts bucket)
 * and the most recent findings (from the findings stream), with listeners for the live stream.
 *
 * Both sources are ordered and numbered — a finding by its sequence in LOCKLINE_FINDINGS (`cursor`), a
 * summary by its revision in the bucket — so one pair `<findingCursor>.<hostRevision>` says how far a
 * client has read both: it is the id of every server-sent event, and a `Last-Event-ID` resumes from it.
 */

export type FeedEvent =
  | { readonly kind: 'finding'; readonly cursor: number; readonly finding: Finding }
  | { readonly kind: 'host'; readonly revision: number; readonly summary: HostSummary };

export interface FeedPosition {
  readonly findingCursor: number;
  readonly hostRevision: number;
}

export interface FindingsFilter {
  readonly hostId?: string;
  readonly codes?: ReadonlySet<string>;
  readonly pid?: number;
}

export interface FindingsPageRequest extends FindingsFilter {
  readonly before?: number;
  readonly after?: number;
  readonly limit: number;
}

export interface FindingsPageResult {
  readonly items: FindingItem[];
  /** the cursor to continue from (`before` newest first, `after` oldest first), or null at the end */
  readonly nextCursor: number | null;
  readonly direction: 'before' | 'after';
  readonly oldestHeld: number | null;
}

type Listener = (event: FeedEvent, position: FeedPosition) => void;

export const positionText = (p: FeedPosition): string => `${p.findingCursor}.${p.hostRevision}`;

/** `"12.40"` → position; undefined for anything else. */
export function parsePosition(text: string | undefined): FeedPosition | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d{1,15})\.(\d{1,15})$/.exec(text.trim());
  return m === null ? undefined : { findingCursor: Number(m[1]), hostRevision: Number(m[2]) };
}

export function matches(f: Finding, filter: FindingsFilter): boolean {
  return (filter.hostId === undefined || f.hostId === filter.hostId) && (filter.codes === undefined || filter.codes.has(f.code)) && (filter.pid === undefined || f.pid === filter.pid);
}

export class Feed {
  /** ascending by cursor */
  private findings: FindingItem[] = [];
  private readonly hosts = new Map<string, { summary: HostSummary; revision: number }>();
  private readonly listeners = new Set<Listener>();
  private findingCursor = 0;
  private hostRevision = 0;

  constructor(private readonly findingsKept: number) {}

  get position(): FeedPosition {
    return { findingCursor: this.findingCursor, hostRevision: this.hostRevision };
  }

  addFinding(cursor: number, finding: Finding): void {
    if (cursor <= this.findingCursor) return;
    this.findingCursor = cursor;
    this.findings.push({ cursor, finding });
    // Trim in chunks: one copy per tenth of the window, not one per finding.
    if (this.findings.length > this.findingsKept + Math.ceil(this.findingsKept / 10)) this.findings = this.findings.slice(this.findings.length - this.findingsKept);
    this.emit({ kind: 'finding', cursor, finding });
  }

  putHost(revision: number, summary: HostSummary): void {
    if (revision > this.hostRevision) this.hostRevision = revision;
    this.hosts.set(summary.hostId, { summary, revision });
    this.emit({ kind: 'host', revision, summary });
  }

  removeHost(hostId: string, revision: number): void {
    if (revision > this.hostRevision) this.hostRevision = revision;
    this.hosts.delete(hostId);
  }

  host(hostId: string): HostSummary | undefined {
    return this.hosts.get(hostId)?.summary;
  }

  /** Every host's latest summary, by hostId. */
  hostSummaries(): HostSummary[] {
    return [...this.hosts.values()].map((h) => h.summary).sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
  }

  get oldestHeld(): number | null {
    return this.findings[0]?.cursor ?? null;
  }

  /** Index of the first finding with cursor > `cursor`. */
  private firstAfter(cursor: number): number {
    let lo = 0;
    let hi = this.findings.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.findings[mid]!.cursor <= cursor) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  findingsPage(q: FindingsPageRequest): FindingsPageResult {
    const items: FindingItem[] = [];
    const all = this.findings;
    if (q.after !== undefined) {
      let i = this.firstAfter(q.after);
      for (; i < all.length && items.length < q.limit; i++) if (matches(all[i]!.finding, q)) items.push(all[i]!);
      const more = i < all.length && items.length === q.limit;
      return { items, nextCursor: more ? items[items.length - 1]!.cursor : null, direction: 'after', oldestHeld: this.oldestHeld };
    }
    let i = (q.before === undefined ? all.length : this.firstAfter(q.before - 1)) - 1;
    for (; i >= 0 && items.length < q.limit; i--) if (matches(all[i]!.finding, q)) items.push(all[i]!);
    const more = i >= 0 && items.length === q.limit;
    return { items, nextCursor: more ? items[items.length - 1]!.cursor : null, direction: 'before', oldestHeld: this.oldestHeld };
  }

  /**
   * What a client that has read up to `from` missed, oldest first: findings after its cursor (as far
   * back as they are held), then each host's summary if it changed after its revision. Without `from`:
   * every host's current summary, and no past findings.
   */
  backlog(from: FeedPosition | undefined, filter: { hostId?: string; kinds: ReadonlySet<FeedEvent['kind']> }): FeedEvent[] {
    const out: FeedEvent[] = [];
    if (from !== undefined && filter.kinds.has('finding')) {
      for (let i = this.firstAfter(from.findingCursor); i < this.findings.length; i++) {
        const { cursor, finding } = this.findings[i]!;
        if (filter.hostId === undefined || finding.hostId === filter.hostId) out.push({ kind: 'finding', cursor, finding });
      }
    }
    if (filter.kinds.has('host')) {
      const hosts = [...this.hosts.values()].filter((h) => (from === undefined || h.revision > from.hostRevision) && (filter.hostId === undefined || h.summary.hostId === filter.hostId));
      for (const h of hosts.sort((a, b) => a.revision - b.revision)) out.push({ kind: 'host', revision: h.revision, summary: h.summary });
    }
    return out;
  }

  /** Calls `listener` for every event from now on; returns the unsubscribe. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  private emit(event: FeedEvent): void {
    const position = this.position;
    for (const l of this.listeners) l(event, position);
  }
}
