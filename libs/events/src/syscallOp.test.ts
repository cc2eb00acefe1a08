import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ERRNO_NAMES,
  IMAGE_FORMATS,
  MADVICE_NAMES,
  MAP_FLAG_NAMES,
  MCL_FLAG_NAMES,
  MLOCK2_FLAG_NAMES,
  SIGNAL_NAMES,
  applyOp,
  createHost,
  processReport,
  type Image,
  type OpResult,
} from '@lockline/kernel';
import { buildEvent, isSyscallEvent, type HostEvent } from './events.js';
import { parseEvent, parseEventLine } from './parseEvent.js';
import { opFromSyscallEvent, opResultFromSyscallEvent, syscallEventBody, type SyscallEventBody, type SyscallOp } from './syscallOp.js';
import { SAMPLE_IMAGE, sampleEventId, sampleEvents } from './testing/sampleEvents.js';

const ENVELOPE = { id: sampleEventId(1), hostId: 'h1', bootId: 'boot1', seq: 1, time: '2025-01-31T12:00:00.000Z' };

/** Through the wire and back: body → event → JSON → parseEvent. */
function overTheWire(body: SyscallEventBody): HostEvent {
  const r = parseEvent(JSON.stringify(buildEvent(ENVELOPE, body)));
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.event;
}

const pid = fc.integer({ min: 1, max: 4_194_304 });
const u64 = fc.oneof(fc.integer({ min: 0, max: 2 ** 32 }), fc.constantFrom(0, 2 ** 64 - 4096, 2 ** 53 + 2), fc.nat().map((n) => n * 4096));
const pages = fc.integer({ min: 0, max: 1000 });
const prot = fc.tuple(fc.constantFrom('r', '-'), fc.constantFrom('w', '-'), fc.constantFrom('x', '-')).map((p) => p.join(''));
const rlim = fc.oneof(fc.nat(), fc.constant(Number.POSITIVE_INFINITY));
const names = <T extends string>(list: readonly T[]) => fc.subarray([...list]);

const image: fc.Arbitrary<Image> = fc.oneof(
  fc.record(
    {
      format: fc.constantFrom(...IMAGE_FORMATS),
      argPages: pages,
      textPages: pages,
      dataPages: pages,
      bssPages: pages,
      vdsoPages: pages,
      interpPages: pages,
    },
    { requiredKeys: ['format', 'argPages', 'textPages', 'dataPages', 'bssPages', 'vdsoPages'] },
  ),
  fc.record(
    {
      format: fc.constantFrom(...IMAGE_FORMATS),
      vmas: fc.uniqueArray(fc.integer({ min: 1, max: 1 << 20 }), { maxLength: 4 }).map((starts) =>
        starts.sort((a, b) => a - b).map((p) => ({ start: p * 2 * 4096, end: (p * 2 + 1) * 4096, prot: 'rw-' })),
      ),
      brk: u64,
    },
    { requiredKeys: ['vmas', 'brk'] },
  ),
);

const op: fc.Arbitrary<SyscallOp> = fc.oneof(
  fc.record({ op: fc.constant('fork' as const), pid, child: pid }),
  fc.record({ op: fc.constant('vfork' as const), pid, child: pid }),
  fc.record({ op: fc.constant('clone' as const), pid, child: pid, shareVm: fc.boolean() }),
  fc.record({ op: fc.constant('exec' as const), pid, image }),
  fc.record(
    { op: fc.constant('mmap' as const), pid, addr: u64, length: u64, prot, flags: names(MAP_FLAG_NAMES) },
    { requiredKeys: ['op', 'pid', 'length', 'prot', 'flags'] },
  ),
  fc.record({ op: fc.constant('munmap' as const), pid, addr: u64, length: u64 }),
  fc.oneof(
    fc.record({ op: fc.constant('brk' as const), pid, addr: u64 }),
    fc.record({ op: fc.constant('brk' as const), pid, increment: fc.integer({ min: -(2 ** 40), max: 2 ** 40 }) }),
  ),
  fc.record({ op: fc.constant('mlock' as const), pid, addr: u64, length: u64 }),
  fc.record({ op: fc.constant('mlock2' as const), pid, addr: u64, length: u64, flags: names(MLOCK2_FLAG_NAMES) }),
  fc.record({ op: fc.constant('munlock' as const), pid, addr: u64, length: u64 }),
  fc.record({ op: fc.constant('mlockall' as const), pid, flags: names(MCL_FLAG_NAMES) }),
  fc.record({ op: fc.constant('munlockall' as const), pid }),
  fc.record({ op: fc.constant('setrlimit' as const), pid, cur: rlim, max: rlim }),
  fc.record({ op: fc.constant('capset' as const), pid, capIpcLock: fc.boolean(), capSysResource: fc.boolean() }, { requiredKeys: ['op', 'pid'] }),
  fc.record({ op: fc.constant('madvise' as const), pid, addr: u64, length: u64, advice: fc.constantFrom(...MADVICE_NAMES) }),
  fc.record({ op: fc.constant('mremap' as const), pid, addr: u64, oldLength: u64, newLength: u64 }),
  fc.record({ op: fc.constant('growstack' as const), pid, length: u64 }),
);

const opResult: fc.Arbitrary<OpResult> = fc.record(
  { errno: fc.constantFrom(null, ...ERRNO_NAMES), signal: fc.constantFrom(...SIGNAL_NAMES), addr: u64, brk: u64, note: fc.string() },
  { requiredKeys: ['errno'] },
);

/** What survives of a result in an event of `op`: no note; addr only from mmap/mremap, brk only from brk. */
function reportable(op: SyscallOp, result: OpResult): OpResult {
  const out: OpResult = { errno: result.errno };
  if (result.signal !== undefined) out.signal = result.signal;
  if (result.addr !== undefined && (op.op === 'mmap' || op.op === 'mremap')) out.addr = result.addr;
  if (result.brk !== undefined && op.op === 'brk') out.brk = result.brk;
  return out;
}

describe('syscall events and model operations', () => {
  it('any operation and result survive the trip to an event, over the wire and back', () => {
    fc.assert(
      fc.property(op, opResult, (o, result) => {
        const event = overTheWire(syscallEventBody(o, result));
        expect(event.type).toBe(`syscall.${o.op}`);
        if (!isSyscallEvent(event)) throw new Error('not a syscall event');
        expect(opFromSyscallEvent(event)).toEqual(o);
        expect(opResultFromSyscallEvent(event)).toEqual(reportable(o, result));
      }),
      { numRuns: 1000 },
    );
  });

  it("builds data with its keys in the schema's order: a published line is its own JSON for the store", () => {
    fc.assert(
      fc.property(op, opResult, fc.record({ comm: fc.constant('make'), path: fc.constant('/usr/bin/make') }, { requiredKeys: [] }), (o, result, exec) => {
        const line = JSON.stringify(buildEvent(ENVELOPE, syscallEventBody(o, result, exec)));
        const r = parseEventLine(line);
        expect(r.ok && r.json).toBe(line);
      }),
      { numRuns: 1000 },
    );
  });

  it('every sample syscall event converts to an op and back to the same body', () => {
    for (const event of sampleEvents().filter(isSyscallEvent)) {
      const exec = event.type === 'syscall.exec' ? { ...(event.data.comm && { comm: event.data.comm }), ...(event.data.path && { path: event.data.path }) } : {};
      expect(syscallEventBody(opFromSyscallEvent(event), opResultFromSyscallEvent(event), exec)).toEqual({ type: event.type, data: event.data });
    }
  });

  it('writes RLIM_INFINITY as "unlimited" on the wire and reads it back as RLIM_INFINITY', () => {
    const body = syscallEventBody({ op: 'setrlimit', pid: 1, cur: 65536, max: Number.POSITIVE_INFINITY }, { errno: null });
    expect(body).toEqual({ type: 'syscall.setrlimit', data: { pid: 1, cur: 65536, max: 'unlimited', result: { errno: null } } });
    expect(JSON.stringify(body)).toContain('"max":"unlimited"');
    expect(opFromSyscallEvent(body)).toEqual({ op: 'setrlimit', pid: 1, cur: 65536, max: Number.POSITIVE_INFINITY });
  });

  it('adds comm and path to an exec event, and never shares the image with the op', () => {
    const o: SyscallOp = { op: 'exec', pid: 7, image: { vmas: [{ start: 0x400000, end: 0x401000, prot: 'r-x' }], brk: 0x402000 } };
    const body = syscallEventBody(o, { errno: null }, { comm: 'cc1', path: '/usr/lib/gcc/cc1' });
    expect(body).toEqual({ type: 'syscall.exec', data: { pid: 7, image: o.image, comm: 'cc1', path: '/usr/lib/gcc/cc1', result: { errno: null } } });
    if (body.type !== 'syscall.exec' || !('vmas' in body.data.image)) throw new Error('unexpected body');
    expect(body.data.image.vmas).not.toBe('vmas' in o.image ? o.image.vmas : undefined);
  });

  it('drops what a host does not report: the model note, and addresses from calls that return none', () => {
    const body = syscallEventBody({ op: 'fork', pid: 1, child: 1 }, { errno: 'EAGAIN', note: 'pid 1 is in use', addr: 4096, brk: 8192 });
    expect(body).toEqual({ type: 'syscall.fork', data: { pid: 1, child: 1, result: { errno: 'EAGAIN' } } });
  });

  it('lets a projection replay a host: the model gives the results and state the host reported', () => {
    // A host runs `mlock -r make` under the 2008 patch; what it publishes is replayed on a fresh model.
    const ops: SyscallOp[] = [
      { op: 'mlockall', pid: 1, flags: ['MCL_CURRENT', 'MCL_FUTURE', 'MCL_INHERIT', 'MCL_RECURSIVE'] },
      { op: 'exec', pid: 1, image: { ...SAMPLE_IMAGE, textPages: 60, dataPages: 8, bssPages: 4, argPages: 2 } },
      { op: 'brk', pid: 1, increment: 65536 },
      { op: 'fork', pid: 1, child: 10 },
      { op: 'exec', pid: 10, image: { ...SAMPLE_IMAGE, textPages: 2400 } },
      { op: 'mmap', pid: 10, addr: 0x10000000, length: 4 << 20, prot: 'rw-', flags: ['MAP_PRIVATE', 'MAP_ANONYMOUS'] },
      { op: 'setrlimit', pid: 10, cur: 0, max: Number.POSITIVE_INFINITY },
      { op: 'mlock', pid: 10, addr: 0x10000000, length: 2 ** 64 - 4096 },
      { op: 'munlockall', pid: 10 },
    ];
    const initial = [{ pid: 1, capIpcLock: true, rlimitMemlock: { cur: Number.POSITIVE_INFINITY, max: Number.POSITIVE_INFINITY }, image: SAMPLE_IMAGE }];
    const host = createHost('linux-2008-patch', initial);
    const published = ops.map((o) => overTheWire(syscallEventBody(o, applyOp(host, o))));

    const replica = createHost('linux-2008-patch', initial);
    for (const event of published) {
      if (!isSyscallEvent(event)) throw new Error('not a syscall event');
      expect(applyOp(replica, opFromSyscallEvent(event))).toEqual(opResultFromSyscallEvent(event));
    }
    for (const pidOf of [1, 10]) {
      const live = host.tasks.get(pidOf);
      const replayed = replica.tasks.get(pidOf);
      expect(live && replayed && processReport(replayed)).toEqual(live && processReport(live));
    }
    expect(published.map((e) => e.type)).toContain('syscall.setrlimit');
  });
});
