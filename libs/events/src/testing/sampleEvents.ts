import type { ImageLayout } from '@lockline/kernel';
import { buildEvent, type EventBody, type EventOf, type EventType, type HostEvent } from '../events.js';

/**
 * One valid event of every type, for tests of anything that consumes events: a host "web-01" that
 * boots, reports its process table, runs `mlock -r make` and samples its counters.
 */

export const SAMPLE_HOST_ID = 'web-01';
export const SAMPLE_BOOT_ID = 'b7e0c1d25f3a4e8b9c6d0a1b2c3d4e5f';

export const SAMPLE_IMAGE: ImageLayout = { format: 'elf', argPages: 1, textPages: 4, dataPages: 2, bssPages: 0, vdsoPages: 1 };

/** A UUID-shaped id derived from seq, so samples are reproducible. */
export function sampleEventId(seq: number): string {
  return `0190f5c4-7a1e-7cc2-9b1a-${seq.toString(16).padStart(12, '0')}`;
}

const BODIES: readonly EventBody[] = [
  { type: 'host.booted', data: { profile: 'linux-2008-patch', hostname: 'web-01.example', ramPages: 4_194_304, pageSize: 4096 } },
  {
    type: 'process.table',
    data: {
      processes: [
        { pid: 2, ppid: 0, capIpcLock: true, capSysResource: true, rlimitMemlock: { cur: 65536, max: 65536 }, kernelThread: true, comm: 'kthreadd' },
        { pid: 1, ppid: 0, capIpcLock: true, capSysResource: true, rlimitMemlock: { cur: 'unlimited', max: 'unlimited' }, comm: 'init', image: SAMPLE_IMAGE },
        {
          pid: 300,
          ppid: 1,
          capIpcLock: false,
          capSysResource: false,
          rlimitMemlock: { cur: 262144, max: 262144 },
          comm: 'sshd',
          image: {
            format: 'elf',
            vmas: [
              { start: 0x400000, end: 0x404000, prot: 'r-x' },
              { start: 0x7ffffffde000, end: 0x7ffffffff000, prot: 'rw-', growsDown: true },
              { start: 0x7ffff7ffd000, end: 0x7ffff7ffe000, prot: 'r-x', special: true },
            ],
            brk: 0x406000,
          },
        },
      ],
    },
  },
  { type: 'syscall.mlockall', data: { pid: 1, flags: ['MCL_CURRENT', 'MCL_FUTURE', 'MCL_INHERIT', 'MCL_RECURSIVE'], result: { errno: null } } },
  { type: 'syscall.fork', data: { pid: 1, child: 301, result: { errno: null } } },
  { type: 'syscall.vfork', data: { pid: 1, child: 302, result: { errno: null } } },
  { type: 'syscall.clone', data: { pid: 301, child: 303, shareVm: true, result: { errno: null } } },
  { type: 'syscall.exec', data: { pid: 301, image: { ...SAMPLE_IMAGE, textPages: 60, interpPages: 40 }, comm: 'make', path: '/usr/bin/make', result: { errno: null } } },
  {
    type: 'syscall.mmap',
    data: { pid: 301, addr: 0x10000000, length: 32768, prot: 'rw-', flags: ['MAP_PRIVATE', 'MAP_ANONYMOUS'], result: { errno: null, addr: 0x10000000 } },
  },
  { type: 'syscall.munmap', data: { pid: 301, addr: 0x10000000, length: 4096, result: { errno: null } } },
  { type: 'syscall.brk', data: { pid: 301, increment: -20480, result: { errno: null, brk: 0x40a000 } } },
  { type: 'syscall.mlock', data: { pid: 301, addr: 0x10001000, length: 18446744073709547520, result: { errno: 'ENOMEM' } } },
  { type: 'syscall.mlock2', data: { pid: 301, addr: 0x10001000, length: 8192, flags: ['MLOCK_ONFAULT'], result: { errno: 'ENOSYS' } } },
  { type: 'syscall.munlock', data: { pid: 301, addr: 0x10001000, length: 4096, result: { errno: null } } },
  { type: 'syscall.munlockall', data: { pid: 301, result: { errno: null } } },
  { type: 'syscall.setrlimit', data: { pid: 301, cur: 131072, max: 'unlimited', result: { errno: 'EPERM' } } },
  { type: 'syscall.capset', data: { pid: 301, capIpcLock: false, result: { errno: null } } },
  { type: 'syscall.madvise', data: { pid: 301, addr: 0x10002000, length: 8192, advice: 'MADV_DONTFORK', result: { errno: null } } },
  { type: 'syscall.mremap', data: { pid: 301, addr: 0x10002000, oldLength: 8192, newLength: 16384, result: { errno: null, addr: 0x10002000 } } },
  { type: 'syscall.growstack', data: { pid: 301, length: 524288, result: { errno: null, signal: 'SIGSEGV' } } },
  { type: 'process.exited', data: { pid: 302, code: 0 } },
  {
    type: 'counters.sampled',
    data: { samples: [{ pid: 1, lockedVmPages: 27, totalVmPages: 28 }, { pid: 301, lockedVmPages: '18446744073709551615', totalVmPages: 95 }] },
  },
];

/** Every sample event, seq 1, 2, 3 … in the order a host would publish them. Fresh objects each call. */
export function sampleEvents(): HostEvent[] {
  return BODIES.map((body, i) =>
    buildEvent(
      { id: sampleEventId(i + 1), hostId: SAMPLE_HOST_ID, bootId: SAMPLE_BOOT_ID, seq: i + 1, time: `2025-01-31T12:00:${String(i).padStart(2, '0')}.000Z` },
      structuredCopy(body),
    ),
  );
}

/** The sample event of one type. */
export function sampleEvent<T extends EventType>(type: T): EventOf<T> {
  const event = sampleEvents().find((e): e is EventOf<T> => e.type === type);
  if (event === undefined) throw new Error(`no sample event of type ${type}`);
  return event;
}

function structuredCopy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
