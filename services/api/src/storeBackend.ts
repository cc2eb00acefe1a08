import { partitionOf } from '@lockline/bus';
import type { HostEvent } from '@lockline/events';
import { hostStreamName } from '@lockline/events';
import type { EventStore } from '@lockline/eventstore';
import { readAllPages, readStreamPages } from '@lockline/eventstore';
import { FleetProjection, HostProjection, diffViews, explain, hostSummaryView, hostView, vmaViews } from '@lockline/projection';
import type { Backend, Only } from './backend.js';
import { ApiError, notFound } from './errors.js';
import { readEvents } from './eventsReader.js';
import { Feed } from './feed.js';
import type { Explanation, Fleet, HostState, HostSummary, HostView, StateDiff, Vma } from './schemas.js';
import { filterProcesses } from './views.js';

/**
 * The offline backend: an event store folded in this process, for debugging without NATS (a copy of
 * a production store, an imported JSONL file). The whole store is folded on the first question and
 * again whenever the store has grown since; a past state is folded from its boot's stream. Nothing is
 * live: the stream sends the state as it is and stays quiet. Dead letters, replays and rebuilds need
 * NATS and answer 501.
 *
 * This is the one place the API imports the fold (@lockline/projection) and the store: with NATS the
 * projector does this work (DESIGN.md, "Who may import whom").
 */

interface Folded {
  readonly head: string;
  readonly fleet: FleetProjection;
  /** store position of the last event folded, per `hostId/bootId` */
  readonly positions: Map<string, number>;
  readonly feed: Feed;
  readonly at: number;
}

export interface StoreBackendOptions {
  readonly partitions: number;
  readonly findingsKept: number;
  readonly now?: () => number;
}

export function storeBackend(store: EventStore, options: StoreBackendOptions): Backend {
  const now = options.now ?? Date.now;
  let folded: Folded | undefined;
  let folding: Promise<Folded> | undefined;
  let feed = new Feed(options.findingsKept);
  let opened = true;

  async function headOf(): Promise<string> {
    const streams = await store.listStreams();
    let events = 0;
    for (const s of streams) events += s.lastRevision + 1;
    return `${streams.length}:${events}`;
  }

  async function foldAll(head: string): Promise<Folded> {
    const fleet = new FleetProjection();
    const positions = new Map<string, number>();
    for await (const page of readAllPages(store)) {
      for (const rec of page) {
        // Stored events were validated by ingest: trusted (docs/replay.md).
        const event = rec.data as HostEvent;
        if (typeof (event as { hostId?: unknown } | null)?.hostId !== 'string') continue;
        fleet.apply(event);
        positions.set(`${event.hostId}/${event.bootId}`, rec.position);
      }
    }
    const next = new Feed(options.findingsKept);
    let cursor = 0;
    for (const p of fleet.boots.values()) for (const f of p.findings) next.addFinding(++cursor, f);
    let revision = 0;
    const at = now();
    for (const p of [...fleet.latest.values()].sort((a, b) => (a.hostId < b.hostId ? -1 : 1))) next.putHost(++revision, summaryOf(p, positions, at));
    return { head, fleet, positions, feed: next, at };
  }

  function summaryOf(p: HostProjection, positions: Map<string, number>, at: number): HostSummary {
    let live = 0;
    if (p.host) for (const t of p.host.tasks.values()) if (t.alive) live++;
    const v = hostSummaryView(p);
    return {
      hostId: p.hostId,
      bootId: p.bootId,
      seq: p.seq,
      stateHash: v.stateHash,
      processes: live,
      lockedPages: p.lockedPages,
      findingsByCode: v.findingsByCode,
      eventRate: 0,
      lastEventTime: null,
      uncertainSince: p.uncertainSince,
      updatedAt: new Date(at).toISOString(),
      partition: partitionOf(p.hostId, options.partitions),
      partitions: options.partitions,
      position: positions.get(`${p.hostId}/${p.bootId}`) ?? 0,
    };
  }

  /** The fold of the whole store as it is now (refolded when the store has grown). */
  async function current(): Promise<Folded> {
    if (!opened) throw new ApiError('UNAVAILABLE', 'the API is stopping');
    const head = await headOf();
    if (folded?.head === head) return folded;
    folding ??= foldAll(head)
      .then((f) => {
        folded = f;
        feed = f.feed;
        return f;
      })
      .finally(() => {
        folding = undefined;
      });
    return folding;
  }

  async function boot(hostId: string, bootId: string | undefined): Promise<HostProjection> {
    const f = await current();
    const p = bootId === undefined ? f.fleet.latest.get(hostId) : f.fleet.boots.get(`${hostId}/${bootId}`);
    if (p === undefined) {
      if (!f.fleet.latest.has(hostId)) throw notFound(`the store has no events of host ${hostId}`);
      throw notFound(`the store has no boot ${bootId} of host ${hostId}`);
    }
    return p;
  }

  /** A fresh fold of one boot up to `seq`. */
  async function foldAt(hostId: string, bootId: string | undefined, seq: number): Promise<HostProjection> {
    const b = bootId ?? (await boot(hostId, undefined)).bootId;
    const p = new HostProjection(hostId, b);
    let any = false;
    outer: for await (const page of readStreamPages(store, hostStreamName(hostId, b))) {
      for (const rec of page) {
        const event = rec.data as HostEvent;
        if (event.seq > seq) break outer;
        p.apply(event);
        any = true;
      }
    }
    if (!any) throw notFound(`host ${hostId} boot ${b} has no event with seq ≤ ${seq} in the store`);
    return p;
  }

  const summary = (v: HostView): Omit<HostView, 'processes'> => {
    const { processes: _p, ...rest } = v;
    return rest;
  };

  function explained(p: HostProjection, pid: number): Explanation {
    const e = explain(p, pid);
    if (e === null) throw notFound(`host ${p.hostId} boot ${p.bootId} has no process ${pid} at seq ${p.seq}`);
    return e;
  }

  const offline = (what: string): Promise<never> =>
    Promise.reject(new ApiError('NOT_IMPLEMENTED', `${what} needs NATS, and this API serves an event store offline (set LOCKLINE_NATS_URL)`));

  return {
    kind: 'store',
    get feed() {
      return feed;
    },
    async start() {
      // The first fold runs in the background: /readyz says when it is done, a failure is a request's 500.
      void current().catch(() => undefined);
    },
    async stop() {
      opened = false;
      await folding?.catch(() => undefined);
    },
    checks: () => ({ store: opened && folded !== undefined }),

    async fleet(): Promise<Fleet> {
      const f = await current();
      const hosts = f.feed.hostSummaries().map((s) => ({ ...s, lagMs: 0 }));
      const findingsByCode: Record<string, number> = {};
      let processes = 0;
      let lockedPages = 0;
      for (const h of hosts) {
        processes += h.processes;
        lockedPages += h.lockedPages;
        for (const [code, n] of Object.entries(h.findingsByCode)) findingsByCode[code] = (findingsByCode[code] ?? 0) + n;
      }
      return { asOf: new Date(f.at).toISOString(), hosts, totals: { hosts: hosts.length, processes, lockedPages, findingsByCode, eventRate: 0 } };
    },

    async hostState(hostId, bootId): Promise<HostState> {
      const p = await boot(hostId, bootId);
      const f = await current();
      let live = 0;
      if (p.host) for (const t of p.host.tasks.values()) if (t.alive) live++;
      const boots = [...f.fleet.boots.values()].filter((b) => b.hostId === hostId).map((b) => b.bootId);
      return {
        ...hostSummaryView(p),
        liveProcesses: live,
        applied: p.applied,
        duplicates: p.duplicates,
        gaps: p.gaps.map(([a, b]) => [a, b] as [number, number]),
        setAside: p.setAside.length + p.setAsideDropped,
        position: f.positions.get(`${hostId}/${p.bootId}`) ?? 0,
        boots,
      };
    },

    async tree(hostId, o: { bootId?: string; only?: Only }) {
      return filterProcesses(hostView(await boot(hostId, o.bootId)), o.only);
    },

    async stateAt(hostId, o) {
      return filterProcesses(hostView(await foldAt(hostId, o.bootId, o.seq)), o.only);
    },

    async diff(hostId, o): Promise<StateDiff> {
      const [lo, hi] = o.from <= o.to ? [o.from, o.to] : [o.to, o.from];
      const a = hostView(await foldAt(hostId, o.bootId, lo));
      const b = hostView(await foldAt(hostId, o.bootId, hi));
      const [from, to] = o.from <= o.to ? [a, b] : [b, a];
      return { hostId, bootId: from.bootId, from: summary(from), to: summary(to), changes: diffViews(from.processes, to.processes) };
    },

    async explain(hostId, pid, o) {
      const p = o.seq === undefined ? await boot(hostId, o.bootId) : await foldAt(hostId, o.bootId, o.seq);
      return explained(p, pid);
    },

    async vmas(hostId, pid, o): Promise<Vma[] | undefined> {
      const p = o.seq === undefined ? await boot(hostId, o.bootId) : await foldAt(hostId, o.bootId, o.seq);
      return vmaViews(p, pid) ?? undefined;
    },

    events: (hostId, request) => readEvents(store, hostId, request.bootId, request),

    async findings(request) {
      const f = await current();
      return f.feed.findingsPage(request);
    },

    deadLetters: () => offline('reading dead letters'),
    deadLetter: () => offline('reading a dead letter'),
    replayDeadLetter: () => offline('replaying a dead letter'),
    rebuild: () => offline('a rebuild (the projector does it)'),
  };
}
