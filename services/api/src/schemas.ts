import { bootIdSchema, hostIdSchema } from '@lockline/events';
import * as z from 'zod';

/**
 * Every schema of the API, in one place: route params, query strings and bodies (validated by the
 * zod type provider), response bodies (the OpenAPI document at /docs is generated from them), and the
 * projector's replies, which are parsed with the same response schemas where they enter the API
 * (STYLE.md 3): what the API sends was checked once, on the way in, and is not checked again on the
 * way out.
 */

// ---------------------------------------------------------------------------------------------
// Inputs

/** A whole number in a path or query string ("0", "42"): strings in, numbers out. */
const wholeNumber = (what: string, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^\d{1,15}$/, { error: `expected ${what} (a whole number)` })
    .transform(Number)
    .pipe(z.number().max(max, { error: `${what} must be at most ${max}` }));

export const hostParams = z.strictObject({ hostId: hostIdSchema });
export const processParams = z.strictObject({ hostId: hostIdSchema, pid: wholeNumber('a pid', 4_194_304) });
export const seqParams = z.strictObject({ hostId: hostIdSchema, seq: wholeNumber('a seq') });
export const deadLetterParams = z.strictObject({ seq: wholeNumber('a dead letter sequence number').pipe(z.number().min(1, { error: 'dead letters are numbered from 1' })) });

export const ONLY = ['locked', 'over-limit'] as const;
const only = z.enum(ONLY, { error: 'expected "locked" (processes holding locked memory) or "over-limit"' });

export const bootQuery = z.strictObject({ bootId: bootIdSchema.optional() });
export const treeQuery = z.strictObject({ bootId: bootIdSchema.optional(), only: only.optional() });
export const historyQuery = treeQuery;
export const processQuery = z.strictObject({ bootId: bootIdSchema.optional(), seq: wholeNumber('a seq').optional() });
export const diffQuery = z.strictObject({ bootId: bootIdSchema.optional(), from: wholeNumber('a seq'), to: wholeNumber('a seq') });

export const MAX_PAGE = 500;
const limit = (fallback: number) => wholeNumber('a page size', MAX_PAGE).pipe(z.number().min(1, { error: 'a page holds at least 1 item' })).optional().default(fallback);

export const eventsQuery = z.strictObject({
  bootId: bootIdSchema.optional(),
  /** where to start: a position in the boot's stream (0: its first event; the previous page's `next` carries it) */
  cursor: wholeNumber('a cursor').optional(),
  limit: limit(100),
  /** only events of these types (comma separated) */
  type: z
    .string()
    .regex(/^[a-z][a-z0-9_.]*(,[a-z][a-z0-9_.]*)*$/, { error: 'expected event types separated by commas, e.g. "syscall.fork,syscall.exec"' })
    .optional(),
  /** only events about this process (as the actor, or as a new child) */
  pid: wholeNumber('a pid', 4_194_304).optional(),
});

export const findingsQuery = z
  .strictObject({
    hostId: hostIdSchema.optional(),
    /** only these finding codes (comma separated) */
    code: z
      .string()
      .regex(/^[A-Z_]+(,[A-Z_]+)*$/, { error: 'expected finding codes separated by commas, e.g. "LOCKED_OVER_LIMIT,ACCOUNTING_DRIFT"' })
      .optional(),
    pid: wholeNumber('a pid', 4_194_304).optional(),
    /** newest first (default): the page before this cursor */
    before: wholeNumber('a cursor').optional(),
    /** oldest first: the page after this cursor */
    after: wholeNumber('a cursor').optional(),
    limit: limit(100),
  })
  .refine((q) => q.before === undefined || q.after === undefined, { error: 'give "before" (newest first) or "after" (oldest first), not both', path: ['after'] });

export const deadLettersQuery = z.strictObject({
  /** only the dead letters of this host; `~unknown` for those no host could be told for */
  hostId: z.union([hostIdSchema, z.literal('~unknown')]).optional(),
  after: wholeNumber('a dead letter sequence number').optional(),
  limit: limit(50),
});

export const STREAM_KINDS = ['finding', 'host'] as const;
export const streamQuery = z.strictObject({
  hostId: hostIdSchema.optional(),
  /** which events: `finding`, `host`, or both (default) */
  kinds: z
    .string()
    .regex(/^(finding|host)(,(finding|host))?$/, { error: 'expected "finding", "host" or "finding,host"' })
    .optional(),
  /** where to resume, for clients that cannot send a Last-Event-ID header (the header wins) */
  lastEventId: z
    .string()
    .regex(/^\d{1,15}\.\d{1,15}$/, { error: 'expected an event id like "120.42" (as the stream sent it)' })
    .optional(),
});

// fastify hands a request without a body to validation as null: "no body" is null or undefined.
export const rebuildBody = z.strictObject({ hostId: hostIdSchema.optional() }).nullish();
export const replayBody = z.strictObject({}).nullish();

// ---------------------------------------------------------------------------------------------
// What the projector answers, and the API sends (ProcessView, HostView … of @lockline/projection)

const count = z.number().int().min(0);
/** locked_vm can be negative under the patch's accounting bug; it then travels as a string */
const pages = z.union([z.number(), z.string()]);
const lockState = z.enum(['none', 'own', 'inherited', 'over-limit']);
const findingsByCode = z.record(z.string(), count);

export const processView = z
  .object({
    pid: count,
    ppid: count,
    comm: z.string().optional(),
    alive: z.boolean(),
    createdSeq: count.describe('seq of the event that created it (0: the starting process table)'),
    createdBy: z.string(),
    execs: z.array(z.object({ seq: count, comm: z.string().optional() })).describe('its exec chain, oldest first'),
    mm: z.string().nullable().describe("the mm's id: processes sharing an mm (threads, vfork) show the same one"),
    lockedVmPages: pages,
    totalVmPages: z.number(),
    defFlags: z.array(z.string()).describe("the mm's def_flags (MCL_FUTURE): VM_LOCKED, VM_LOCKONFAULT"),
    mclInherit: z.array(z.string()).describe("the mm's mcl_inherit: MCL_INHERIT, MCL_RECURSIVE …"),
    capIpcLock: z.boolean(),
    rlimitMemlockPages: z.union([z.number(), z.literal('unlimited')]),
    lockState,
    vmaCount: count,
    children: z.array(count),
  })
  .meta({ id: 'ProcessView' });
export type ProcessView = z.output<typeof processView>;

const hostViewShape = {
  hostId: z.string(),
  bootId: z.string(),
  seq: count,
  stateHash: z.string(),
  profile: z.string().nullable(),
  hostProfile: z.string().nullable(),
  uncertainSince: count.nullable(),
  lockedPages: z.number(),
  findingsByCode,
};
export const hostSummaryView = z.object(hostViewShape).meta({ id: 'HostSummaryView' });

export const hostState = z
  .object({
    ...hostViewShape,
    liveProcesses: count,
    applied: count,
    duplicates: count,
    gaps: z.array(z.tuple([count, count])),
    setAside: count,
    position: count,
    boots: z.array(z.string()),
  })
  .meta({ id: 'HostState' });
export type HostState = z.output<typeof hostState>;

export const hostView = z.object({ ...hostViewShape, processes: z.array(processView) }).meta({ id: 'HostView' });
export type HostView = z.output<typeof hostView>;

export const tree = z
  .object({
    ...hostViewShape,
    processes: z.array(processView),
    sharedMms: z.array(z.object({ mm: z.string(), pids: z.array(count) })).describe('mms used by more than one process (threads, vfork children)'),
  })
  .meta({ id: 'ProcessTree' });
export type Tree = z.output<typeof tree>;

const chainLink = z.object({
  seq: count,
  pid: count,
  what: z.enum(['fork', 'vfork', 'thread', 'exec', 'locked']),
  fromPid: count.optional(),
  comm: z.string().optional(),
  call: z.string().optional(),
});
const lockedRange = z.object({
  start: z.string(),
  end: z.string(),
  pages: z.number(),
  lockedAt: count,
  origin: z.enum(['own', 'inherited', 'unknown']),
  chain: z.array(chainLink),
  text: z.string(),
});
export const explanation = z
  .object({
    hostId: z.string(),
    pid: count,
    seq: count,
    comm: z.string().optional(),
    alive: z.boolean(),
    lockState,
    lockedVmPages: pages,
    limitPages: z.union([z.number(), z.literal('unlimited')]),
    capIpcLock: z.boolean(),
    defFlags: z.array(z.string()),
    mclInherit: z.array(z.string()),
    ranges: z.array(lockedRange),
    text: z.array(z.string()).describe('sentences, the first one the answer'),
  })
  .meta({ id: 'Explanation' });
export type Explanation = z.output<typeof explanation>;

export const vma = z.object({ start: z.string(), end: z.string(), pages: z.number(), flags: z.array(z.string()), lockedAt: count.nullable() });
export type Vma = z.output<typeof vma>;

export const processDetail = z
  .object({
    hostId: z.string(),
    bootId: z.string(),
    seq: count,
    process: processView,
    mm: z
      .object({
        id: z.string(),
        defFlags: z.array(z.string()),
        mclInherit: z.array(z.string()),
        lockedVmPages: pages,
        totalVmPages: z.number(),
        vmaCount: count,
        sharedWith: z.array(count).describe('other processes using this mm'),
        lockedRanges: z.array(lockedRange),
        vmas: z.array(vma).optional().describe('every VMA of the mm, in address order'),
      })
      .nullable()
      .describe('null for a process without an mm (a kernel thread)'),
    explain: explanation,
  })
  .meta({ id: 'ProcessDetail' });
export type ProcessDetail = z.output<typeof processDetail>;

export const processChange = z.object({
  pid: count,
  change: z.enum(['added', 'removed', 'changed']),
  fields: z.record(z.string(), z.object({ from: z.unknown(), to: z.unknown() })),
});
export const stateDiff = z
  .object({ hostId: z.string(), bootId: z.string(), from: hostSummaryView, to: hostSummaryView, changes: z.array(processChange) })
  .meta({ id: 'StateDiff' });
export type StateDiff = z.output<typeof stateDiff>;

export const hostSummary = z
  .object({
    hostId: z.string(),
    bootId: z.string(),
    seq: count,
    stateHash: z.string(),
    processes: count.describe('live processes'),
    lockedPages: z.number(),
    findingsByCode,
    eventRate: z.number().describe("the host's events folded per second, over the last summary interval"),
    lastEventTime: z.string().nullable(),
    uncertainSince: count.nullable(),
    updatedAt: z.string(),
    partition: count,
    partitions: count,
    position: count,
  })
  .meta({ id: 'HostSummary' });
export type HostSummary = z.output<typeof hostSummary>;

export const fleetHost = hostSummary
  .extend({ lagMs: z.number().describe('how old this summary is: ms since the projector last wrote it (it writes a changed host every interval)') })
  .meta({ id: 'FleetHost' });
export type FleetHost = z.output<typeof fleetHost>;

export const fleet = z
  .object({
    asOf: z.string(),
    hosts: z.array(fleetHost),
    totals: z.object({ hosts: count, processes: count, lockedPages: z.number(), findingsByCode, eventRate: z.number() }),
  })
  .meta({ id: 'Fleet' });
export type Fleet = z.output<typeof fleet>;

export const finding = z
  .object({
    code: z.string(),
    hostId: z.string(),
    bootId: z.string(),
    pid: count.nullable(),
    seq: count,
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'Finding' });
export type Finding = z.output<typeof finding>;

export const findingItem = z.object({ cursor: count.describe('its position in the findings stream: a page cursor, and the SSE resume point'), finding });
export type FindingItem = z.output<typeof findingItem>;

export const findingsPage = z
  .object({
    items: z.array(findingItem),
    next: z.string().nullable().describe('the URL of the next page, or null at the end'),
    oldestHeld: count.nullable().describe('the oldest cursor still held: pages do not reach further back'),
  })
  .meta({ id: 'FindingsPage' });
export type FindingsPage = z.output<typeof findingsPage>;

export const storedEvent = z
  .looseObject({ id: z.string(), hostId: z.string(), bootId: z.string(), seq: count, time: z.string(), type: z.string(), schemaVersion: z.number().optional(), data: z.unknown() })
  .meta({ id: 'StoredEvent' });
export type StoredEvent = z.output<typeof storedEvent>;

export const eventsPage = z
  .object({
    hostId: z.string(),
    bootId: z.string(),
    items: z.array(storedEvent),
    next: z.string().nullable().describe('the URL of the next page, or null at the end of the stream'),
  })
  .meta({ id: 'EventsPage' });
export type EventsPage = z.output<typeof eventsPage>;

/** The projector's answer to `events` (the API turns `nextCursor` into a `next` link). */
export const eventsResult = z.object({ hostId: z.string(), bootId: z.string(), items: z.array(storedEvent), nextCursor: count.nullable() });

export const deadLetter = z
  .object({
    seq: count.describe('its sequence number in LOCKLINE_DLQ'),
    reason: z.string(),
    hostId: z.string().nullable(),
    payload: z.string().nullable(),
    payloadTruncated: z.boolean(),
    payloadBytes: count,
    receivedAt: z.string(),
    sourceSubject: z.string(),
    sourceSeq: count.nullable(),
    lineIndex: count.nullable(),
  })
  .meta({ id: 'DeadLetter' });
export type DeadLetter = z.output<typeof deadLetter>;

export const deadLettersPage = z.object({ items: z.array(deadLetter), next: z.string().nullable() }).meta({ id: 'DeadLettersPage' });
export type DeadLettersPage = z.output<typeof deadLettersPage>;

export const replayResult = z
  .object({
    seq: count,
    hostId: z.string(),
    subject: z.string().describe('where the payload was published again'),
    duplicate: z.boolean().describe('true when the same dead letter was replayed within the duplicate window: nothing new was published'),
  })
  .meta({ id: 'ReplayResult' });
export type ReplayResult = z.output<typeof replayResult>;

export const rebuiltHost = z
  .object({
    hostId: z.string(),
    boots: z.array(z.string()).describe('the boots the projector holds after the rebuild, oldest first'),
    seq: count,
    stateHash: z.string().describe("the current boot's state hash after the rebuild"),
    events: count.describe('events folded again from the store'),
    findingsPublished: count.describe('findings the rebuild published: those no earlier fold had published (none, when the state was right)'),
    ms: z.number(),
  })
  .meta({ id: 'RebuiltHost' });
export type RebuiltHost = z.output<typeof rebuiltHost>;

export const rebuildResult = z.object({ hosts: z.array(rebuiltHost).describe('each host rebuilt, by hostId') }).meta({ id: 'RebuildResult' });
export type RebuildResult = z.output<typeof rebuildResult>;

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
    instance: z.string().optional(),
    requestId: z.string().optional(),
    errors: z.array(z.object({ in: z.string(), path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details (application/problem+json)' });

export const health = z.object({ status: z.enum(['ok', 'not ready']), backend: z.enum(['nats', 'store']), checks: z.record(z.string(), z.boolean()) });
