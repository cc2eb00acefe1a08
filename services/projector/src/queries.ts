import type { QueryVerb } from '@lockline/bus';
import { QUERY_VERBS, isQueryVerb, partitionOf } from '@lockline/bus';
import { bootIdSchema, hostIdSchema } from '@lockline/events';
import type { EventStore } from '@lockline/eventstore';
import { bootsOf, readHostEvents } from '@lockline/eventstore';
import type { Explanation, HostProjection, HostView, ProcessChange, ProcessView, VmaView } from '@lockline/projection';
import { diffViews, explain, hostSummaryView, hostView, vmaViews } from '@lockline/projection';
import * as z from 'zod';
import type { HostEntry } from './hostEntry.js';
import type { HostSummary } from './hostSummary.js';
import type { StateAtReader } from './stateAt.js';

/**
 * The projector's side of request-reply: `lockline.v1.query.<partition>.<verb>` with a JSON request,
 * answered with `{ ok: true, data }` or `{ ok: false, error: { code, message } }` — a message a person
 * can act on, never a stack trace. The API chooses HTTP statuses from the codes (STYLE.md 6).
 */

export type QueryErrorCode = 'NOT_FOUND' | 'BAD_REQUEST' | 'INTERNAL';

export type QueryReply<T = unknown> = { ok: true; data: T } | { ok: false; error: { code: QueryErrorCode; message: string } };

export class QueryError extends Error {
  constructor(
    readonly code: QueryErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'QueryError';
  }
}

/** The most events an `events` page holds. */
export const MAX_EVENTS_LIMIT = 500;
const DEFAULT_EVENTS_LIMIT = 100;

/** Every field a request may carry; which ones a verb needs is checked per verb. */
export const queryRequestSchema = z.strictObject({
  /** rebuild: absent for every host of the partition */
  hostId: hostIdSchema.optional(),
  /** a boot other than the host's current one (state, tree, explain, vmas: one the projector still holds; events: any in the store) */
  bootId: bootIdSchema.optional(),
  /** explain, vmas: the process; events: only the events about it */
  pid: z.number().int().min(0).optional(),
  /** stateAt, explain, vmas: the state after the last event with seq ≤ this */
  seq: z.number().int().min(0).optional(),
  /** events: the revision in the boot's stream to start from (a page's nextCursor) */
  cursor: z.number().int().min(0).optional(),
  /** events: at most this many (default 100) */
  limit: z.number().int().min(1).max(MAX_EVENTS_LIMIT).optional(),
  /** events: only these types */
  types: z
    .array(z.string().regex(/^[a-z][a-z0-9_.]*$/, { error: 'expected an event type like "syscall.fork"' }))
    .min(1)
    .max(64)
    .optional(),
  /** stateAt: a diff between the states at `from` and at `to` */
  from: z.number().int().min(0).optional(),
  to: z.number().int().min(0).optional(),
  /** tree, stateAt: only processes holding locked memory, or only those over their limit */
  only: z.enum(['locked', 'over-limit']).optional(),
});
export type QueryRequest = z.output<typeof queryRequestSchema>;

/** What the queries need of the projector: its hosts, the store (directly and through stateAt), summaries, a rebuild. */
export interface QueryContext {
  readonly partitions: number;
  host(hostId: string): HostEntry | undefined;
  hostsOf(partition: number): Iterable<HostEntry>;
  summaryOf(entry: HostEntry): HostSummary | undefined;
  readonly stateAt: StateAtReader;
  readonly store: Pick<EventStore, 'listStreams' | 'readStream'>;
  /** Drops the host's fold and folds its events again from the store (see build() in projector.ts). */
  rebuild(hostId: string): Promise<RebuiltHost>;
}

/** `rebuild`: one host folded again from the store. */
export interface RebuiltHost {
  hostId: string;
  /** the boots held after the rebuild, oldest first */
  boots: string[];
  /** the current boot's seq and state hash: what the live fold had, unless it was wrong */
  seq: number;
  stateHash: string;
  /** events folded again */
  events: number;
  /** findings the rebuild published: those no earlier fold had got onto the findings stream */
  findingsPublished: number;
  ms: number;
}

/** `events`: a page of a host boot's stored events (@lockline/eventstore readHostEvents). */
export interface EventsPage {
  hostId: string;
  bootId: string;
  items: unknown[];
  /** the cursor of the next page, or null at the end of the stream */
  nextCursor: number | null;
}

/** `state`: the host view without its processes, plus what the fold knows about its input. */
export interface HostState extends Omit<HostView, 'processes'> {
  liveProcesses: number;
  applied: number;
  duplicates: number;
  gaps: Array<[number, number]>;
  setAside: number;
  /** store position of the host's last event folded */
  position: number;
  /** the boots the projector holds for this host, oldest first */
  boots: string[];
}

export interface StateAtDiff {
  hostId: string;
  bootId: string;
  from: Omit<HostView, 'processes'>;
  to: Omit<HostView, 'processes'>;
  changes: ProcessChange[];
}

const decoder = new TextDecoder();

function parseRequest(payload: Uint8Array): QueryRequest {
  const text = decoder.decode(payload).trim();
  let json: unknown;
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new QueryError('BAD_REQUEST', 'the request is not JSON: send an object like {"hostId":"host-001"}');
  }
  const r = queryRequestSchema.safeParse(json);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(request)'}: ${i.message}`);
    throw new QueryError('BAD_REQUEST', `invalid request: ${problems.join('; ')}`);
  }
  return r.data;
}

function need<T>(value: T | undefined, field: string, verb: QueryVerb): T {
  if (value === undefined) throw new QueryError('BAD_REQUEST', `${verb} needs "${field}"`);
  return value;
}

function checkPartition(ctx: QueryContext, partition: number, hostId: string): void {
  const owner = partitionOf(hostId, ctx.partitions);
  if (owner !== partition) {
    throw new QueryError(
      'BAD_REQUEST',
      `host ${hostId} belongs to partition ${owner} of ${ctx.partitions}, not ${partition}: ask lockline.v1.query.${owner}.<verb> (do the API and the projector agree on LOCKLINE_PARTITIONS?)`,
    );
  }
}

/** The host, checked to belong to the partition the request came in on. */
function hostFor(ctx: QueryContext, partition: number, hostId: string): HostEntry {
  checkPartition(ctx, partition, hostId);
  const entry = ctx.host(hostId);
  if (entry?.current === undefined) throw new QueryError('NOT_FOUND', `no events of host ${hostId} have been folded`);
  return entry;
}

function bootOf(entry: HostEntry, bootId: string | undefined): HostProjection {
  const p = entry.boot(bootId);
  if (p === undefined) {
    throw new QueryError('NOT_FOUND', `boot ${bootId} of host ${entry.hostId} is not held by the projector (it holds ${[...entry.boots.keys()].join(', ')}); stateAt reads any boot from the store`);
  }
  return p;
}


function stateOf(entry: HostEntry, p: HostProjection): HostState {
  let live = 0;
  if (p.host) for (const t of p.host.tasks.values()) if (t.alive) live++;
  return {
    ...hostSummaryView(p),
    liveProcesses: live,
    applied: p.applied,
    duplicates: p.duplicates,
    gaps: p.gaps.map(([a, b]) => [a, b]),
    setAside: p.setAside.length + p.setAsideDropped,
    position: entry.position,
    boots: [...entry.boots.keys()],
  };
}

function filtered(view: HostView, only: QueryRequest['only']): HostView {
  if (only === undefined) return view;
  const keep = (v: ProcessView): boolean => (only === 'over-limit' ? v.lockState === 'over-limit' : v.lockState !== 'none' || (v.lockedVmPages !== 0 && v.lockedVmPages !== '0'));
  return { ...view, processes: view.processes.filter(keep) };
}

/** The fold of `entry`'s boot at `seq`, from the store (see StateAtReader). */
async function foldAt(ctx: QueryContext, entry: HostEntry, bootId: string | undefined, seq: number): Promise<HostProjection> {
  const boot = bootId ?? entry.current!.bootId;
  const live = entry.boots.get(boot);
  const revision = live === undefined ? undefined : entry.lastRevision.get(live);
  const at = await ctx.stateAt.at(entry.hostId, boot, seq, live !== undefined && revision !== undefined ? { p: live, revision } : undefined);
  if (at === undefined) throw new QueryError('NOT_FOUND', `host ${entry.hostId} boot ${boot} has no event with seq ≤ ${seq} in the store`);
  return at.p;
}

async function answer(verb: QueryVerb, partition: number, req: QueryRequest, ctx: QueryContext): Promise<unknown> {
  switch (verb) {
    case 'state': {
      const entry = hostFor(ctx, partition, need(req.hostId, 'hostId', verb));
      return stateOf(entry, bootOf(entry, req.bootId));
    }
    case 'tree': {
      const entry = hostFor(ctx, partition, need(req.hostId, 'hostId', verb));
      return filtered(hostView(bootOf(entry, req.bootId)), req.only);
    }
    case 'explain': {
      const entry = hostFor(ctx, partition, need(req.hostId, 'hostId', verb));
      const pid = need(req.pid, 'pid', verb);
      const p = req.seq === undefined ? bootOf(entry, req.bootId) : await foldAt(ctx, entry, req.bootId, req.seq);
      const e: Explanation | null = explain(p, pid);
      if (e === null) throw new QueryError('NOT_FOUND', `host ${entry.hostId} boot ${p.bootId} has no process ${pid} at seq ${p.seq}`);
      return e;
    }
    case 'vmas': {
      const entry = hostFor(ctx, partition, need(req.hostId, 'hostId', verb));
      const pid = need(req.pid, 'pid', verb);
      const p = req.seq === undefined ? bootOf(entry, req.bootId) : await foldAt(ctx, entry, req.bootId, req.seq);
      if (p.host?.tasks.has(pid) !== true) throw new QueryError('NOT_FOUND', `host ${entry.hostId} boot ${p.bootId} has no process ${pid} at seq ${p.seq}`);
      // null: a process without an mm (a kernel thread, or one that exited)
      const vmas: VmaView[] | null = vmaViews(p, pid);
      return vmas;
    }
    case 'events': {
      const hostId = need(req.hostId, 'hostId', verb);
      checkPartition(ctx, partition, hostId);
      // Any boot the store holds, also one the projector has dropped: the default is the current one.
      const bootId = req.bootId ?? ctx.host(hostId)?.current?.bootId ?? (await bootsOf(ctx.store, hostId))[0];
      if (bootId === undefined) throw new QueryError('NOT_FOUND', `the store has no events of host ${hostId}`);
      const page = await readHostEvents(ctx.store, hostId, bootId, {
        cursor: req.cursor ?? 0,
        limit: req.limit ?? DEFAULT_EVENTS_LIMIT,
        ...(req.types === undefined ? {} : { types: new Set(req.types) }),
        ...(req.pid === undefined ? {} : { pid: req.pid }),
      });
      if (page === undefined) throw new QueryError('NOT_FOUND', `host ${hostId} has no boot ${bootId} in the store`);
      const out: EventsPage = page;
      return out;
    }
    case 'rebuild': {
      if (req.hostId !== undefined) {
        const entry = hostFor(ctx, partition, req.hostId);
        return ctx.rebuild(entry.hostId);
      }
      // One host at a time: the fold goes on between them (each holds it only while it refolds).
      const out: RebuiltHost[] = [];
      const hostIds = [...ctx.hostsOf(partition)].map((e) => e.hostId).sort();
      for (const hostId of hostIds) out.push(await ctx.rebuild(hostId));
      return out;
    }
    case 'stateAt': {
      const entry = hostFor(ctx, partition, need(req.hostId, 'hostId', verb));
      if (req.seq !== undefined) {
        if (req.from !== undefined || req.to !== undefined) throw new QueryError('BAD_REQUEST', 'stateAt takes "seq" (a state) or "from" and "to" (a diff), not both');
        return filtered(hostView(await foldAt(ctx, entry, req.bootId, req.seq)), req.only);
      }
      if (req.from === undefined || req.to === undefined) throw new QueryError('BAD_REQUEST', 'stateAt needs "seq", or "from" and "to"');
      // The earlier state first: the later one then starts from the copies the first read kept.
      const [lo, hi] = req.from <= req.to ? [req.from, req.to] : [req.to, req.from];
      const a = hostView(await foldAt(ctx, entry, req.bootId, lo));
      const b = hostView(await foldAt(ctx, entry, req.bootId, hi));
      const [from, to] = req.from <= req.to ? [a, b] : [b, a];
      const { processes: fromProcesses, ...fromRest } = from;
      const { processes: toProcesses, ...toRest } = to;
      const diff: StateAtDiff = { hostId: entry.hostId, bootId: from.bootId, from: fromRest, to: toRest, changes: diffViews(fromProcesses, toProcesses) };
      return diff;
    }
    case 'fleet': {
      const out: HostSummary[] = [];
      for (const entry of ctx.hostsOf(partition)) {
        const s = ctx.summaryOf(entry);
        if (s !== undefined) out.push(s);
      }
      return out.sort((x, y) => (x.hostId < y.hostId ? -1 : x.hostId > y.hostId ? 1 : 0));
    }
    default: {
      const _exhaustive: never = verb;
      throw new QueryError('BAD_REQUEST', `unknown verb ${String(_exhaustive)}`);
    }
  }
}

/**
 * Answers one request that came in on `lockline.v1.query.<partition>.<verb>`. Never throws: an
 * unexpected failure becomes INTERNAL with a generic message, and `onInternal` gets the error to log.
 */
export async function answerQuery(subject: string, payload: Uint8Array, ctx: QueryContext, onInternal: (err: unknown) => void): Promise<{ verb: string; reply: QueryReply }> {
  const tokens = subject.split('.');
  const verb = tokens[tokens.length - 1] ?? '';
  const partition = Number(tokens[tokens.length - 2]);
  try {
    if (!isQueryVerb(verb)) throw new QueryError('BAD_REQUEST', `unknown query verb ${JSON.stringify(verb)}; the projector answers ${QUERY_VERBS.join(', ')}`);
    const data = await answer(verb, partition, parseRequest(payload), ctx);
    return { verb, reply: { ok: true, data } };
  } catch (err) {
    if (err instanceof QueryError) return { verb: isQueryVerb(verb) ? verb : 'unknown', reply: { ok: false, error: { code: err.code, message: err.message } } };
    onInternal(err);
    return { verb: isQueryVerb(verb) ? verb : 'unknown', reply: { ok: false, error: { code: 'INTERNAL', message: 'the projector failed to answer; the error is in its log' } } };
  }
}
