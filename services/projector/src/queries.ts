import type { QueryVerb } from '@lockline/bus';
import { isQueryVerb, partitionOf } from '@lockline/bus';
import { bootIdSchema, hostIdSchema } from '@lockline/events';
import type { Explanation, HostProjection, HostView, ProcessChange, ProcessView } from '@lockline/projection';
import { diffViews, explain, hostSummaryView, hostView } from '@lockline/projection';
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

/** Every field a request may carry; which ones a verb needs is checked per verb. */
export const queryRequestSchema = z.strictObject({
  hostId: hostIdSchema.optional(),
  /** a boot other than the host's current one (state, tree, explain: one the projector still holds) */
  bootId: bootIdSchema.optional(),
  pid: z.number().int().min(0).optional(),
  /** stateAt, explain: the state after the last event with seq ≤ this */
  seq: z.number().int().min(0).optional(),
  /** stateAt: a diff between the states at `from` and at `to` */
  from: z.number().int().min(0).optional(),
  to: z.number().int().min(0).optional(),
  /** tree, stateAt: only processes holding locked memory, or only those over their limit */
  only: z.enum(['locked', 'over-limit']).optional(),
});
export type QueryRequest = z.output<typeof queryRequestSchema>;

/** What the queries need of the projector: its hosts, the store (through stateAt), summaries. */
export interface QueryContext {
  readonly partitions: number;
  host(hostId: string): HostEntry | undefined;
  hostsOf(partition: number): Iterable<HostEntry>;
  summaryOf(entry: HostEntry): HostSummary | undefined;
  readonly stateAt: StateAtReader;
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

/** The host, checked to belong to the partition the request came in on. */
function hostFor(ctx: QueryContext, partition: number, hostId: string): HostEntry {
  const owner = partitionOf(hostId, ctx.partitions);
  if (owner !== partition) {
    throw new QueryError(
      'BAD_REQUEST',
      `host ${hostId} belongs to partition ${owner} of ${ctx.partitions}, not ${partition}: ask lockline.v1.query.${owner}.<verb> (do the API and the projector agree on LOCKLINE_PARTITIONS?)`,
    );
  }
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
    if (!isQueryVerb(verb)) throw new QueryError('BAD_REQUEST', `unknown query verb ${JSON.stringify(verb)}; the projector answers state, tree, explain, stateAt, fleet`);
    const data = await answer(verb, partition, parseRequest(payload), ctx);
    return { verb, reply: { ok: true, data } };
  } catch (err) {
    if (err instanceof QueryError) return { verb: isQueryVerb(verb) ? verb : 'unknown', reply: { ok: false, error: { code: err.code, message: err.message } } };
    onInternal(err);
    return { verb: isQueryVerb(verb) ? verb : 'unknown', reply: { ok: false, error: { code: 'INTERNAL', message: 'the projector failed to answer; the error is in its log' } } };
  }
}
