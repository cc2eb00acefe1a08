import type { Feed, FindingsPageRequest, FindingsPageResult } from './feed.js';
import type { DeadLetter, Explanation, Fleet, HostState, HostView, RebuildResult, ReplayResult, StateDiff, StoredEvent, Vma } from './schemas.js';

/**
 * Where the API's answers come from — a small port with two adapters: the projector over NATS
 * (natsBackend.ts, the normal case) and an event store folded in this process (storeBackend.ts, for
 * offline debugging). Routes know only this interface; failures are ApiErrors with a stable code.
 */

export type Only = 'locked' | 'over-limit';

export interface EventsRequest {
  readonly bootId?: string;
  /** position in the boot's stream to read from (0: its first event) */
  readonly cursor: number;
  readonly limit: number;
  readonly types?: ReadonlySet<string>;
  readonly pid?: number;
}

export interface EventsResult {
  readonly hostId: string;
  readonly bootId: string;
  readonly items: StoredEvent[];
  /** where the next page starts, or null at the end of the stream */
  readonly nextCursor: number | null;
}

export interface DeadLettersRequest {
  readonly hostId?: string;
  readonly after: number;
  readonly limit: number;
}

export interface Backend {
  readonly kind: 'nats' | 'store';
  /** The findings and host summaries this backend holds, with their listeners (the live stream). */
  readonly feed: Feed;
  /** Starts what runs in the background (watches, consumers); resolves once it has begun. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** What /readyz reports: each check and whether it passes. */
  checks(): Record<string, boolean>;

  fleet(): Promise<Fleet>;
  hostState(hostId: string, bootId: string | undefined): Promise<HostState>;
  tree(hostId: string, options: { bootId?: string; only?: Only }): Promise<HostView>;
  stateAt(hostId: string, options: { bootId?: string; seq: number; only?: Only }): Promise<HostView>;
  diff(hostId: string, options: { bootId?: string; from: number; to: number }): Promise<StateDiff>;
  explain(hostId: string, pid: number, options: { bootId?: string; seq?: number }): Promise<Explanation>;
  /** Every VMA of the process, when the backend can list them; undefined when it cannot. */
  vmas(hostId: string, pid: number, options: { bootId?: string; seq?: number }): Promise<Vma[] | undefined>;
  events(hostId: string, request: EventsRequest): Promise<EventsResult>;
  findings(request: FindingsPageRequest): Promise<FindingsPageResult>;

  deadLetters(request: DeadLettersRequest): Promise<{ items: DeadLetter[]; nextAfter: number | null }>;
  deadLetter(seq: number): Promise<DeadLetter>;
  replayDeadLetter(seq: number): Promise<ReplayResult>;
  /** Folds the host (or every host) again from the event store: the projector does it, so offline this is NOT_IMPLEMENTED. */
  rebuild(hostId: string | undefined): Promise<RebuildResult>;
}
