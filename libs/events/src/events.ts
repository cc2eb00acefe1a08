import * as z from 'zod';
import { OP_NAMES, PAGE_SIZE, type ExplicitImage, type ImageLayout, type OpName, type VmaSpec } from '@lockline/kernel';
import { envelopeShape, type EnvelopeFields } from './envelope.js';
import { isRecord } from './problems.js';
import {
  checkVma,
  checkVmaList,
  eitherImage,
  errnoSchema,
  i64Schema,
  imageFormatSchema,
  lockedVmPagesSchema,
  madviceSchema,
  mapFlagsSchema,
  mclFlagsSchema,
  mlock2FlagsSchema,
  pageCountSchema,
  pidSchema,
  ppidSchema,
  profileSchema,
  protSchema,
  rlimitValueSchema,
  signalSchema,
  u64Schema,
} from './vocabulary.js';

/**
 * Every fact a host reports, as one discriminated union on `type`. A host reports what happened in
 * its own order: the syscall, its arguments and the result it got; the projection re-runs the model
 * on the same operations and compares. Addresses are plain JSON numbers; RLIM_INFINITY is
 * "unlimited" (JSON has no Infinity); flags are names.
 */

/** The model's operations a host reports as `syscall.<op>`; `exit` is `process.exited`, `check` is not a fact. */
export const SYSCALL_OP_NAMES = OP_NAMES.filter((op): op is Exclude<OpName, 'exit' | 'check'> => op !== 'exit' && op !== 'check');
export type SyscallOpName = (typeof SYSCALL_OP_NAMES)[number];
export type SyscallEventType = `syscall.${SyscallOpName}`;

export const EVENT_TYPES = [
  'host.booted',
  'process.table',
  ...SYSCALL_OP_NAMES.map((op): SyscallEventType => `syscall.${op}`),
  'process.exited',
  'counters.sampled',
] as const;
export type EventType = 'host.booted' | 'process.table' | SyscallEventType | 'process.exited' | 'counters.sampled';

/**
 * The current schema version of each event type. Raising one means: a new schema here, and an
 * upcaster from the old version registered in `upcasters.ts`, so stored events still read.
 */
export const EVENT_SCHEMA_VERSION = {
  'host.booted': 1,
  'process.table': 1,
  'syscall.fork': 1,
  'syscall.vfork': 1,
  'syscall.clone': 1,
  'syscall.exec': 1,
  'syscall.mmap': 1,
  'syscall.munmap': 1,
  'syscall.brk': 1,
  'syscall.mlock': 1,
  'syscall.mlock2': 1,
  'syscall.munlock': 1,
  'syscall.mlockall': 1,
  'syscall.munlockall': 1,
  'syscall.setrlimit': 1,
  'syscall.capset': 1,
  'syscall.madvise': 1,
  'syscall.mremap': 1,
  'syscall.growstack': 1,
  'process.exited': 1,
  'counters.sampled': 1,
} as const satisfies Record<EventType, number>;

const vmaSchema: z.ZodType<VmaSpec> = z
  .strictObject({
    start: u64Schema,
    end: u64Schema,
    prot: protSchema,
    special: z.boolean().exactOptional(),
    growsDown: z.boolean().exactOptional(),
  })
  .superRefine(checkVma);

const imageLayoutSchema: z.ZodType<ImageLayout> = z.strictObject({
  format: imageFormatSchema,
  argPages: pageCountSchema,
  textPages: pageCountSchema,
  dataPages: pageCountSchema,
  bssPages: pageCountSchema,
  vdsoPages: pageCountSchema,
  interpPages: pageCountSchema.exactOptional(),
});

const explicitImageSchema: z.ZodType<ExplicitImage> = z.strictObject({
  format: imageFormatSchema.exactOptional(),
  vmas: z.array(vmaSchema).superRefine(checkVmaList),
  brk: u64Schema,
});

// Compiled (z.compile, as hostEventSchema is in parseEvent.ts): eitherImage's transform parses the
// image on its own, so the event's compiled parser would otherwise run this part on zod's runtime.
const imageSchema = eitherImage(z.compile(imageLayoutSchema), z.compile(explicitImageSchema));

/** The program name as the kernel keeps it is 15 bytes (TASK_COMM_LEN); hosts may report more. */
const commSchema = z.string().min(1).max(64);
const pathSchema = z.string().min(1).max(4096);

const rlimitSchema = z.strictObject({ cur: rlimitValueSchema, max: rlimitValueSchema });

const processEntrySchema = z
  .strictObject({
    pid: pidSchema,
    ppid: ppidSchema,
    capIpcLock: z.boolean(),
    capSysResource: z.boolean(),
    rlimitMemlock: rlimitSchema,
    kernelThread: z.boolean().exactOptional(),
    comm: commSchema.exactOptional(),
    image: imageSchema.exactOptional(),
  })
  .superRefine((p, ctx) => {
    // A kernel thread has no mm (current->mm == NULL); every other task has one.
    if (p.kernelThread === true && p.image !== undefined) {
      ctx.issues.push({ code: 'custom', input: p.image, path: ['image'], message: 'a kernel thread has no memory map; it has no image' });
    } else if (p.kernelThread !== true && p.image === undefined) {
      ctx.issues.push({ code: 'custom', input: p, path: ['image'], message: 'required field is missing (only a kernel thread has no image)' });
    }
  });

const processTableSchema = z.strictObject({
  processes: z.array(processEntrySchema).superRefine((processes, ctx) => {
    const seen = new Map<number, number>();
    processes.forEach((p: unknown, i) => {
      if (!isRecord(p) || typeof p.pid !== 'number') return;
      const first = seen.get(p.pid);
      if (first === undefined) seen.set(p.pid, i);
      else ctx.issues.push({ code: 'custom', input: p.pid, path: [i, 'pid'], message: `pid ${p.pid} is already used by processes[${first}]` });
    });
  }),
});

/** What the calling process observed: errno (null for success), or the signal that killed it. */
const result = { errno: errnoSchema.nullable(), signal: signalSchema.exactOptional() };
const plainResult = z.strictObject(result);
/** mmap and mremap also report the address they returned. */
const addrResult = z.strictObject({ ...result, addr: u64Schema.exactOptional() });
/** brk also reports the program break after the call. */
const brkResult = z.strictObject({ ...result, brk: u64Schema.exactOptional() });

const pid = pidSchema;
const range = { addr: u64Schema, length: u64Schema };

export const EVENT_DATA_SCHEMAS = {
  'host.booted': z.strictObject({
    profile: profileSchema,
    hostname: z.string().min(1).max(253).exactOptional(),
    ramPages: z.number().int().min(1),
    pageSize: z.literal(PAGE_SIZE),
  }),
  'process.table': processTableSchema,
  'syscall.fork': z.strictObject({ pid, child: pidSchema, result: plainResult }),
  'syscall.vfork': z.strictObject({ pid, child: pidSchema, result: plainResult }),
  'syscall.clone': z.strictObject({ pid, child: pidSchema, shareVm: z.boolean(), result: plainResult }),
  'syscall.exec': z.strictObject({
    pid,
    image: imageSchema,
    comm: commSchema.exactOptional(),
    path: pathSchema.exactOptional(),
    result: plainResult,
  }),
  'syscall.mmap': z.strictObject({
    pid,
    addr: u64Schema.exactOptional(),
    length: u64Schema,
    prot: protSchema,
    flags: mapFlagsSchema,
    result: addrResult,
  }),
  'syscall.munmap': z.strictObject({ pid, ...range, result: plainResult }),
  'syscall.brk': z
    .strictObject({ pid, addr: u64Schema.exactOptional(), increment: i64Schema.exactOptional(), result: brkResult })
    .superRefine((d, ctx) => {
      if ((d.addr === undefined) === (d.increment === undefined)) {
        ctx.issues.push({ code: 'custom', input: d, path: [], message: 'needs exactly one of "addr" (brk) and "increment" (sbrk)' });
      }
    }),
  'syscall.mlock': z.strictObject({ pid, ...range, result: plainResult }),
  'syscall.mlock2': z.strictObject({ pid, ...range, flags: mlock2FlagsSchema, result: plainResult }),
  'syscall.munlock': z.strictObject({ pid, ...range, result: plainResult }),
  'syscall.mlockall': z.strictObject({ pid, flags: mclFlagsSchema, result: plainResult }),
  'syscall.munlockall': z.strictObject({ pid, result: plainResult }),
  'syscall.setrlimit': z.strictObject({ pid, cur: rlimitValueSchema, max: rlimitValueSchema, result: plainResult }),
  'syscall.capset': z.strictObject({
    pid,
    capIpcLock: z.boolean().exactOptional(),
    capSysResource: z.boolean().exactOptional(),
    result: plainResult,
  }),
  'syscall.madvise': z.strictObject({ pid, ...range, advice: madviceSchema, result: plainResult }),
  'syscall.mremap': z.strictObject({ pid, addr: u64Schema, oldLength: u64Schema, newLength: u64Schema, result: addrResult }),
  'syscall.growstack': z.strictObject({ pid, length: u64Schema, result: plainResult }),
  'process.exited': z
    .strictObject({ pid, code: z.number().int().min(0).max(255).exactOptional(), signal: signalSchema.exactOptional() })
    .superRefine((d, ctx) => {
      if (d.code !== undefined && d.signal !== undefined) {
        ctx.issues.push({ code: 'custom', input: d, path: ['signal'], message: 'a process exits with a code or is killed by a signal, not both' });
      }
    }),
  'counters.sampled': z.strictObject({
    samples: z.array(z.strictObject({ pid, lockedVmPages: lockedVmPagesSchema, totalVmPages: pageCountSchema })),
  }),
} as const satisfies Record<EventType, z.ZodType>;

function eventSchema<const T extends EventType>(type: T) {
  return z.strictObject({
    ...envelopeShape,
    type: z.literal(type),
    schemaVersion: z.literal(EVENT_SCHEMA_VERSION[type]),
    data: EVENT_DATA_SCHEMAS[type],
  });
}

/** Every event of the current schema versions. Older versions go through `upcast` first (parseEvent does). */
export const hostEventSchema = z.discriminatedUnion('type', [
  eventSchema('host.booted'),
  eventSchema('process.table'),
  eventSchema('syscall.fork'),
  eventSchema('syscall.vfork'),
  eventSchema('syscall.clone'),
  eventSchema('syscall.exec'),
  eventSchema('syscall.mmap'),
  eventSchema('syscall.munmap'),
  eventSchema('syscall.brk'),
  eventSchema('syscall.mlock'),
  eventSchema('syscall.mlock2'),
  eventSchema('syscall.munlock'),
  eventSchema('syscall.mlockall'),
  eventSchema('syscall.munlockall'),
  eventSchema('syscall.setrlimit'),
  eventSchema('syscall.capset'),
  eventSchema('syscall.madvise'),
  eventSchema('syscall.mremap'),
  eventSchema('syscall.growstack'),
  eventSchema('process.exited'),
  eventSchema('counters.sampled'),
]);

export type HostEvent = z.output<typeof hostEventSchema>;
export type EventOf<T extends EventType> = Extract<HostEvent, { type: T }>;
export type EventData<T extends EventType> = EventOf<T>['data'];
export type SyscallEvent = EventOf<SyscallEventType>;
export type ProcessTableEntry = EventData<'process.table'>['processes'][number];
export type SyscallResult = EventData<SyscallEventType>['result'];

/** An event without its envelope: what a host decides; the envelope is added when it is published. */
export type EventBody = { [T in EventType]: { type: T; data: EventData<T> } }[EventType];

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
// The union, the type list and the syscall list agree (a new op in the kernel must be decided here).
const _unionCoversTypes: Same<HostEvent['type'], EventType> = true;
const _listCoversTypes: Same<(typeof EVENT_TYPES)[number], EventType> = true;
const _everySyscall: Same<SyscallOpName, Exclude<OpName, 'exit' | 'check'>> = true;
void [_unionCoversTypes, _listCoversTypes, _everySyscall];

export function isSyscallEvent<E extends { type: string }>(event: E): event is Extract<E, { type: SyscallEventType }> {
  return event.type.startsWith('syscall.');
}

/** An event of the current schema version, from its envelope and body. */
export function buildEvent(envelope: EnvelopeFields, body: EventBody): HostEvent {
  const { id, hostId, bootId, seq, time } = envelope;
  return { id, hostId, bootId, seq, time, type: body.type, schemaVersion: EVENT_SCHEMA_VERSION[body.type], data: body.data } as HostEvent;
}

export function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && Object.hasOwn(EVENT_SCHEMA_VERSION, value);
}
