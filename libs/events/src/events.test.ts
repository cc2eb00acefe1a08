import { describe, expect, it } from 'vitest';
import { EVENT_SCHEMA_VERSION, EVENT_TYPES, SYSCALL_OP_NAMES, buildEvent, isEventType, isSyscallEvent, type HostEvent } from './events.js';
import { initialProcessFromTableEntry } from './initialProcess.js';
import { parseEvent } from './parseEvent.js';
import type { Problem } from './problems.js';
import { sampleEvent, sampleEvents } from './testing/sampleEvents.js';

function problemsOf(input: unknown): Problem[] {
  const r = parseEvent(input);
  if (r.ok) throw new Error('expected the event to be rejected');
  return r.problems;
}

/** A sample event of `type` with its data changed by `change` (a JSON copy, so anything goes). */
function withData(type: HostEvent['type'], change: (data: Record<string, unknown>) => void): Record<string, unknown> {
  const event = JSON.parse(JSON.stringify(sampleEvent(type))) as Record<string, unknown> & { data: Record<string, unknown> };
  change(event.data);
  return event;
}

describe('event types', () => {
  it('has a sample of every type, and every type is a syscall op, host.booted, process.table/exited or counters.sampled', () => {
    expect(sampleEvents().map((e) => e.type).sort()).toEqual([...EVENT_TYPES].sort());
    expect(EVENT_TYPES.filter((t) => t.startsWith('syscall.'))).toEqual(SYSCALL_OP_NAMES.map((op) => `syscall.${op}`));
    expect(Object.keys(EVENT_SCHEMA_VERSION).sort()).toEqual([...EVENT_TYPES].sort());
  });

  it.each(sampleEvents().map((e) => [e.type, e] as const))('%s round-trips through JSON', (_type, event) => {
    const r = parseEvent(JSON.stringify(event));
    expect(r).toEqual({ ok: true, event });
  });

  it('parses an already decoded value the same as its JSON text', () => {
    for (const event of sampleEvents()) expect(parseEvent(event)).toEqual(parseEvent(JSON.stringify(event)));
  });

  it('buildEvent stamps the current schema version', () => {
    const e = buildEvent(
      { id: '0190f5c4-7a1e-7cc2-9b1a-000000000001', hostId: 'h', bootId: 'b', seq: 1, time: '2025-01-31T12:00:00Z' },
      { type: 'process.exited', data: { pid: 5, signal: 'SIGKILL' } },
    );
    expect(e).toEqual({
      id: '0190f5c4-7a1e-7cc2-9b1a-000000000001',
      hostId: 'h',
      bootId: 'b',
      seq: 1,
      time: '2025-01-31T12:00:00Z',
      type: 'process.exited',
      schemaVersion: EVENT_SCHEMA_VERSION['process.exited'],
      data: { pid: 5, signal: 'SIGKILL' },
    });
    expect(parseEvent(e).ok).toBe(true);
  });

  it('tells syscall events and event type names apart', () => {
    expect(sampleEvents().filter(isSyscallEvent).map((e) => e.type)).toEqual(EVENT_TYPES.filter((t) => t.startsWith('syscall.')).sort((a, b) => sampleOrder(a) - sampleOrder(b)));
    expect(isEventType('syscall.mmap')).toBe(true);
    expect(isEventType('syscall.exit')).toBe(false);
    expect(isEventType('__proto__')).toBe(false);
    expect(isEventType('toString')).toBe(false);
  });
});

function sampleOrder(type: string): number {
  return sampleEvents().findIndex((e) => e.type === type);
}

describe('the envelope', () => {
  const mmap = sampleEvent('syscall.mmap');

  it('refuses host and boot ids a NATS subject cannot carry', () => {
    for (const hostId of ['web.01', 'web 01', 'web*', '>', '', 'x'.repeat(65), 'wéb']) {
      expect(problemsOf({ ...mmap, hostId }).map((p) => p.path)).toEqual(['hostId']);
    }
    expect(problemsOf({ ...mmap, bootId: 'a.b' })).toEqual([
      { path: 'bootId', message: 'expected a boot id of 1 to 64 letters, digits or "_" (no "-"; write a UUID without dashes), got string "a.b"' },
    ]);
  });

  it('needs a lowercase UUID id, a positive integer seq and an ISO-8601 time with a zone', () => {
    expect(problemsOf({ ...mmap, id: mmap.id.toUpperCase(), seq: 0, time: '2025-01-31 12:00' })).toEqual([
      { path: 'id', message: `expected a lowercase UUID like "0190f5c4-7a1e-7cc2-9b1a-3f5d2e8a4b10", got string "${mmap.id.toUpperCase()}"` },
      { path: 'seq', message: 'must be at least 1, got 0' },
      { path: 'time', message: 'expected an ISO-8601 date-time like "2025-01-31T12:00:00.000Z", got string "2025-01-31 12:00"' },
    ]);
    expect(parseEvent({ ...mmap, time: '2025-01-31T13:00:00.123456+01:00' }).ok).toBe(true);
    expect(problemsOf({ ...mmap, seq: 1.5 }).map((p) => p.path)).toEqual(['seq']);
  });

  it('rejects unknown keys in the envelope and in the data', () => {
    expect(problemsOf({ ...mmap, extra: 1, data: { ...mmap.data, hint: 'x' } })).toEqual([
      { path: 'data.hint', message: 'unknown field "hint"' },
      { path: 'extra', message: 'unknown field "extra"' },
    ]);
  });

  it('names an unknown or missing type', () => {
    const [unknown] = problemsOf({ ...mmap, type: 'syscall.mmap2' });
    expect(unknown?.path).toBe('type');
    expect(unknown?.message).toMatch(/^unknown type "syscall.mmap2" \(expected one of host.booted, process.table, syscall.fork, /);
    const { type: _type, ...untyped } = mmap;
    expect(problemsOf(untyped)[0]?.message).toMatch(/^required field is missing \(expected one of host.booted,/);
  });
});

describe('event data', () => {
  it('takes flags as names only, reporting each bad one by its path', () => {
    expect(problemsOf(withData('syscall.mmap', (d) => (d.flags = [2, 'MAP_PRIVATE', 'MCL_FUTURE']))).map((p) => p.path)).toEqual([
      'data.flags[0]',
      'data.flags[2]',
    ]);
    expect(problemsOf(withData('syscall.mlockall', (d) => (d.flags = ['MCL_FOO'])))[0]?.message).toBe(
      'unknown flag "MCL_FOO" (expected one of MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, MCL_INHERIT, MCL_RECURSIVE)',
    );
  });

  it('takes addresses and lengths as non-negative integers below 2^64', () => {
    expect(parseEvent(withData('syscall.munmap', (d) => (d.length = 2 ** 64 - 4096))).ok).toBe(true);
    expect(problemsOf(withData('syscall.munmap', (d) => ((d.addr = -1), (d.length = 2 ** 64))))).toEqual([
      { path: 'data.addr', message: 'must not be negative, got number -1' },
      { path: 'data.length', message: 'must fit in 64 bits (less than 2^64)' },
    ]);
    expect(problemsOf(withData('syscall.mlock', (d) => (d.length = 1.5)))).toEqual([{ path: 'data.length', message: 'expected an integer, got number 1.5' }]);
  });

  it('checks the result: errno and signal names; addr only where the call returns one', () => {
    expect(problemsOf(withData('syscall.fork', (d) => (d.result = { errno: 'EWHAT', signal: 'SIGTERM', addr: 4096 })))).toEqual([
      { path: 'data.result.errno', message: 'unknown errno "EWHAT" (expected one of EPERM, ESRCH, EAGAIN, ENOMEM, EFAULT, EEXIST, EINVAL, ENOSYS)' },
      { path: 'data.result.signal', message: 'unknown signal "SIGTERM" (expected one of SIGKILL, SIGSEGV)' },
      { path: 'data.result.addr', message: 'unknown field "addr"' },
    ]);
    expect(problemsOf(withData('syscall.fork', (d) => (d.result = {})))).toEqual([
      { path: 'data.result.errno', message: 'required field is missing (expected one of EPERM, ESRCH, EAGAIN, ENOMEM, EFAULT, EEXIST, EINVAL, ENOSYS)' },
    ]);
  });

  it('requires exactly one of addr and increment for brk', () => {
    expect(problemsOf(withData('syscall.brk', (d) => delete d.increment))).toEqual([
      { path: 'data', message: 'needs exactly one of "addr" (brk) and "increment" (sbrk)' },
    ]);
    expect(problemsOf(withData('syscall.brk', (d) => (d.addr = 0x500000))).map((p) => p.path)).toEqual(['data']);
    expect(parseEvent(withData('syscall.brk', (d) => ((d.addr = 0x500000), delete d.increment))).ok).toBe(true);
  });

  it('takes RLIMIT_MEMLOCK as bytes or "unlimited"', () => {
    expect(problemsOf(withData('syscall.setrlimit', (d) => ((d.cur = 'infinity'), (d.max = null))))).toEqual([
      { path: 'data.cur', message: 'expected a number of bytes or "unlimited", got string "infinity"' },
      { path: 'data.max', message: 'expected a number of bytes or "unlimited", got null' },
    ]);
  });

  it('takes an exec image in either form, reporting problems of the form meant', () => {
    const explicit = { format: 'script', vmas: [{ start: 0x400000, end: 0x401000, prot: 'r-x' }], brk: 0x402000 };
    expect(parseEvent(withData('syscall.exec', (d) => (d.image = explicit)))).toMatchObject({ ok: true, event: { data: { image: explicit } } });
    expect(problemsOf(withData('syscall.exec', (d) => (d.image = { vmas: [{ start: 1, end: 0, prot: 'rw-' }] })))).toEqual([
      { path: 'data.image.vmas[0].start', message: 'must be page aligned (a multiple of 4096), got 0x1' },
      { path: 'data.image.vmas[0].end', message: 'must be above start (0x1), got 0x0' },
      { path: 'data.image.brk', message: 'required field is missing' },
    ]);
    expect(problemsOf(withData('syscall.exec', (d) => (d.image = { format: 'elf', argPages: 1 }))).map((p) => p.path)).toEqual([
      'data.image.textPages',
      'data.image.dataPages',
      'data.image.bssPages',
      'data.image.vdsoPages',
    ]);
  });

  it('checks the process table: an image for every task but kernel threads, each pid once', () => {
    const table = sampleEvent('process.table');
    const [kthread, init] = table.data.processes;
    const bad = { ...table, data: { processes: [{ ...kthread, image: { format: 'elf', argPages: 1, textPages: 1, dataPages: 0, bssPages: 0, vdsoPages: 1 } }, { ...init, image: undefined }, init] } };
    expect(problemsOf(JSON.parse(JSON.stringify(bad)))).toEqual([
      { path: 'data.processes[0].image', message: 'a kernel thread has no memory map; it has no image' },
      { path: 'data.processes[1].image', message: 'required field is missing (only a kernel thread has no image)' },
    ]);
    const dup = { ...table, data: { processes: [init, init] } };
    expect(problemsOf(dup)).toEqual([{ path: 'data.processes[1].pid', message: 'pid 1 is already used by processes[0]' }]);
  });

  it('gives a process table entry to the model as its starting process', () => {
    const [kthread, init] = sampleEvent('process.table').data.processes;
    expect(kthread && initialProcessFromTableEntry(kthread)).toEqual({
      pid: 2,
      ppid: 0,
      capIpcLock: true,
      capSysResource: true,
      rlimitMemlock: { cur: 65536, max: 65536 },
      kernelThread: true,
    });
    expect(init && initialProcessFromTableEntry(init)).toEqual({
      pid: 1,
      ppid: 0,
      capIpcLock: true,
      capSysResource: true,
      rlimitMemlock: { cur: Number.POSITIVE_INFINITY, max: Number.POSITIVE_INFINITY },
      image: init?.image,
    });
  });

  it('takes sampled lockedVmPages as a number or a decimal string, normalising small strings to numbers', () => {
    const sampled = (lockedVmPages: unknown) => withData('counters.sampled', (d) => (d.samples = [{ pid: 1, lockedVmPages, totalVmPages: 28 }]));
    expect(parseEvent(sampled('27'))).toMatchObject({ ok: true, event: { data: { samples: [{ lockedVmPages: 27 }] } } });
    expect(parseEvent(sampled('18446744073709551615'))).toMatchObject({ ok: true, event: { data: { samples: [{ lockedVmPages: '18446744073709551615' }] } } });
    for (const bad of ['18446744073709551616', '-1', '007', 1.5, -1, null]) {
      expect(problemsOf(sampled(bad)).map((p) => p.path)).toEqual(['data.samples[0].lockedVmPages']);
    }
  });

  it('says how a process ended: a code or a signal, not both', () => {
    expect(problemsOf(withData('process.exited', (d) => (d.signal = 'SIGKILL')))).toEqual([
      { path: 'data.signal', message: 'a process exits with a code or is killed by a signal, not both' },
    ]);
    expect(problemsOf(withData('process.exited', (d) => (d.code = 256))).map((p) => p.path)).toEqual(['data.code']);
  });

  it('checks host.booted: a known profile and 4 KiB pages', () => {
    expect(problemsOf(withData('host.booted', (d) => ((d.profile = 'linux-6.1'), (d.pageSize = 16384)))).map((p) => p.path)).toEqual([
      'data.profile',
      'data.pageSize',
    ]);
  });
});
