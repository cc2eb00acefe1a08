import { describe, expect, it } from 'vitest';
import { PROFILES, processReport, type ProfileName } from '@lockline/kernel';
import { EVENT_ID_PATTERN, parseEvent, type HostEvent } from '@lockline/events';
import { createSimHost, type SimRecord } from './simHost.js';
import { InvalidFaultSpecError, InvalidSimOptionError } from './errors.js';
import { buildFarm } from './workloads/buildFarm.js';
import { churn } from './workloads/churn.js';
import { eventsByBoot, replayBoot } from './testing/replay.js';

const payloads = (records: readonly SimRecord[]): string[] => records.map((r) => r.payload);

describe('createSimHost: determinism', () => {
  it('gives byte-identical payloads for the same arguments', () => {
    const a = createSimHost({ hostId: 'web-01', seed: 42 }).take(5000);
    const b = createSimHost({ hostId: 'web-01', seed: 42 }).take(5000);
    expect(payloads(a)).toEqual(payloads(b));
  });

  it('is byte-identical with faults on too, whichever way the records are taken', () => {
    const faults = { drop: 0.05, duplicate: 0.05, reorder: 0.05, corrupt: 0.05, reboot: 0.002, kernelBugResult: 0.02, kernelBugCounter: 0.2 };
    const a = createSimHost({ hostId: 'web-01', seed: 'abc', faults }).take(5000);
    const host = createSimHost({ hostId: 'web-01', seed: 'abc', faults });
    const b: SimRecord[] = [];
    while (b.length < 5000) b.push(...host.take(7), ...host.next());
    b.length = 5000;
    expect(payloads(a)).toEqual(payloads(b));
    expect(a.map((r) => r.fault ?? '')).toEqual(b.map((r) => r.fault ?? ''));
    expect(a.filter((r) => r.fault !== undefined).length).toBeGreaterThan(500);
  });

  it('differs with the seed and with the host id', () => {
    const base = payloads(createSimHost({ hostId: 'web-01', seed: 1 }).take(200));
    expect(payloads(createSimHost({ hostId: 'web-01', seed: 2 }).take(200))).not.toEqual(base);
    const other = createSimHost({ hostId: 'web-02', seed: 1 }).take(200);
    expect(other.map((r) => r.event?.id)).not.toEqual(base.map((p) => (JSON.parse(p) as { id: string }).id));
  });

  it('does not change the underlying events when faults are turned on', () => {
    // Faults draw from their own stream: the same host with faults reports the same facts (minus drops).
    const clean = createSimHost({ hostId: 'h', seed: 9 }).take(3000);
    const faulty = createSimHost({ hostId: 'h', seed: 9, faults: { drop: 0.1, duplicate: 0.1 } }).take(3000);
    const byId = new Map(clean.map((r) => [r.event!.id, r.payload]));
    let compared = 0;
    for (const r of faulty) {
      const p = byId.get(r.event!.id);
      if (p !== undefined) {
        expect(r.payload).toBe(p);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(2000);
  });
});

describe('createSimHost: events', () => {
  const host = createSimHost({ hostId: 'db-7', seed: 5 });
  const records = host.take(20_000);

  it('starts with host.booted and process.table', () => {
    const [booted, table] = records;
    expect(booted?.event?.type).toBe('host.booted');
    expect(booted?.event?.data).toMatchObject({ profile: 'linux-2008-patch', pageSize: 4096 });
    expect(table?.event?.type).toBe('process.table');
    if (table?.event?.type !== 'process.table') return;
    const procs = table.event.data.processes;
    expect(procs[0]).toMatchObject({ pid: 1, ppid: 0, comm: 'init' });
    expect(procs.find((p) => p.pid === 2)).toMatchObject({ kernelThread: true, comm: 'kthreadd' });
    for (const p of procs) if (p.kernelThread !== true) expect(p.image).toMatchObject({ format: expect.any(String), textPages: expect.any(Number) });
  });

  it('emits only payloads that parse, equal to the event they carry, with contiguous seq from 1', () => {
    let seq = 0;
    let time = '';
    for (const r of records) {
      const parsed = parseEvent(r.payload);
      expect(parsed.ok, r.payload).toBe(true);
      if (!parsed.ok) continue;
      expect(parsed.event).toEqual(r.event);
      expect(parsed.event.seq).toBe(++seq);
      expect(r.seq).toBe(seq);
      expect(parsed.event.hostId).toBe('db-7');
      expect(parsed.event.bootId).toBe(host.bootId);
      expect(parsed.event.id).toMatch(EVENT_ID_PATTERN);
      expect(parsed.event.time > time).toBe(true);
      time = parsed.event.time;
    }
    expect(host.stats).toMatchObject({ generated: 20_000, emitted: 20_000, dropped: 0, duplicated: 0, reordered: 0, corrupted: 0, reboots: 0, kernelBugs: 0 });
  });

  it('uses UUIDv7 ids that sort in event order, unique', () => {
    const ids = records.map((r) => r.event!.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids.slice(0, 100)) expect(id[14]).toBe('7');
    expect([...ids].sort()).toEqual(ids);
  });

  it('samples counters every 50 events, for every live process with an mm', () => {
    const samples = records.filter((r) => r.event?.type === 'counters.sampled');
    expect(samples.length).toBeGreaterThan(20_000 / 52);
    const last = samples[samples.length - 1]!.event!;
    if (last.type !== 'counters.sampled') return;
    expect(last.data.samples.length).toBeGreaterThan(3);
    for (const s of last.data.samples) expect(s.totalVmPages).toBeGreaterThan(0);
  });

  it('reports a process.exited for every exit and every kill, and never acts for a dead pid', () => {
    const results = records.flatMap((r) => (r.event && 'result' in r.event.data ? [r.event.data.result] : []));
    expect(results.some((res) => res.errno === 'ESRCH')).toBe(false);
    expect(results.some((res) => res.errno === 'EEXIST')).toBe(false);
    expect(records.filter((r) => r.event?.type === 'process.exited').length).toBeGreaterThan(100);
  });

  it('keeps its process list in step with its kernel model', () => {
    const live = host.processes();
    const alive = [...host.kernel.tasks].filter(([, t]) => t.alive).map(([pid]) => pid);
    expect(live.map((p) => p.pid)).toEqual(alive.sort((a, b) => a - b));
  });
});

describe('the fold against the model', () => {
  // Replaying a host's valid events through a fresh kernel model (createHost from process.table,
  // applyOp of each syscall via opFromSyscallEvent) reproduces every reported result, every sampled
  // counter, and the host's own final state of every pid it ever used.
  const cases: Array<[ProfileName, number]> = PROFILES.flatMap((p) => [1, 2, 3, 4].map((seed): [ProfileName, number] => [p, seed]));
  it.each(cases)('%s, seed %i', (profile, seed) => {
    const host = createSimHost({ hostId: `fold-${seed}`, seed, profile, keepDeadTasks: true });
    const records = host.take(6000);
    const boots = eventsByBoot(records);
    expect(boots.size).toBe(1);
    const events = [...boots.values()][0]!;
    const replay = replayBoot(events);
    expect(replay.replayed).toBeGreaterThan(4000);
    expect(replay.resultMismatches).toEqual([]);
    expect(replay.counterMismatches).toEqual([]);
    const state = replay.state!;
    expect([...state.tasks.keys()].sort()).toEqual([...host.kernel.tasks.keys()].sort());
    for (const [pid, task] of host.kernel.tasks) expect(processReport(state.tasks.get(pid)!), `pid ${pid}`).toEqual(processReport(task));
  });

  it.each(PROFILES)('%s: by default the host drops reaped tasks from its model; the replay has them dead', (profile) => {
    const host = createSimHost({ hostId: 'fold', seed: 5, profile });
    const replay = replayBoot(host.take(6000).map((r) => r.event!));
    const state = replay.state!;
    for (const [pid, task] of host.kernel.tasks) expect(processReport(state.tasks.get(pid)!), `pid ${pid}`).toEqual(processReport(task));
    const reaped = [...state.tasks.keys()].filter((pid) => !host.kernel.tasks.has(pid));
    expect(reaped.length).toBeGreaterThan(100);
    for (const pid of reaped) expect(state.tasks.get(pid)!.alive).toBe(false);
    expect([...host.kernel.tasks.values()].every((t) => t.alive)).toBe(true);
  });

  it('holds for a build farm at -j16 under each profile', () => {
    for (const profile of PROFILES) {
      const host = createSimHost({ hostId: 'farm', seed: 11, profile, workloads: [buildFarm({ jobs: 16 }), churn()], keepDeadTasks: true });
      const events = host.take(8000).map((r) => r.event!);
      const replay = replayBoot(events);
      expect(replay.resultMismatches).toEqual([]);
      expect(replay.counterMismatches).toEqual([]);
      for (const [pid, task] of host.kernel.tasks) expect(processReport(replay.state!.tasks.get(pid)!)).toEqual(processReport(task));
    }
  });
});

describe('bounded', () => {
  it('keeps the live process count bounded over 100k events', () => {
    const host = createSimHost({ hostId: 'long', seed: 3, workloads: [buildFarm({ jobs: 16 }), churn({ concurrency: 8 })] });
    let max = 0;
    let exits = 0;
    for (let i = 0; i < 100_000; i++) {
      for (const r of host.next()) if (r.event?.type === 'process.exited') exits++;
      if (i % 100 === 0) max = Math.max(max, host.processes().length);
    }
    expect(exits).toBeGreaterThan(3000);
    expect(max).toBeGreaterThan(20);
    expect(max).toBeLessThanOrEqual(256);
    // reaped tasks leave the host's model: it holds the live ones only
    expect(host.kernel.tasks.size).toBe(host.processes().length);
  });

  it('holds new jobs back at a small process cap', () => {
    const host = createSimHost({ hostId: 'tight', seed: 3, maxProcesses: 24, workloads: [buildFarm({ jobs: 16 }), churn({ concurrency: 8 })] });
    let max = 0;
    for (let i = 0; i < 20_000; i++) {
      host.next();
      max = Math.max(max, host.processes().length);
    }
    // jobs admitted just under the cap can still grow (sh → cc → cc1, a pipeline's two children)
    expect(max).toBeLessThanOrEqual(24 + 16);
    expect(max).toBeGreaterThanOrEqual(24);
  });

  it('reuses pids after a wrap at pid_max, never a live one', () => {
    const host = createSimHost({ hostId: 'wrap', seed: 4, pidMax: 1024, workloads: [churn({ concurrency: 8 })] });
    const records = host.take(30_000);
    const created = records.flatMap((r) => (r.event?.type === 'syscall.fork' || r.event?.type === 'syscall.vfork' ? [r.event.data.child] : []));
    expect(Math.max(...created)).toBeLessThan(1024);
    expect(new Set(created).size).toBeLessThan(created.length);
    const replay = replayBoot(records.map((r) => r.event!));
    expect(replay.resultMismatches).toEqual([]);
  });
});

describe('options', () => {
  it('rejects bad ids and numbers with the option named', () => {
    expect(() => createSimHost({ hostId: 'a.b', seed: 1 })).toThrow(InvalidSimOptionError);
    expect(() => createSimHost({ hostId: 'a.b', seed: 1 })).toThrow(/hostId/);
    expect(() => createSimHost({ hostId: 'a', seed: 1, bootId: 'with-dash' })).toThrow(/bootId/);
    expect(() => createSimHost({ hostId: 'a', seed: 1, counterSampleEvery: -1 })).toThrow(/counterSampleEvery/);
    expect(() => createSimHost({ hostId: 'a', seed: 1, ramPages: 1.5 })).toThrow(/ramPages/);
    expect(() => createSimHost({ hostId: 'a', seed: 1, profile: 'linux-2.4' as ProfileName })).toThrow(/profile/);
    expect(() => createSimHost({ hostId: 'a', seed: 1, workloads: [] })).toThrow(/workloads/);
    expect(() => createSimHost({ hostId: 'a', seed: 1, faults: { drop: 2 } })).toThrow(InvalidFaultSpecError);
    expect(() => createSimHost({ hostId: 'a', seed: 1, epoch: '2025-13-01T00:00:00Z' })).toThrow(/epoch/);
  });

  it('takes a boot id, RAM size, hostname, epoch and sampling interval', () => {
    const host = createSimHost({ hostId: 'a', seed: 1, bootId: 'boot_1', ramPages: 1000, hostname: 'a.example', epoch: '2030-06-01T12:00:00Z', counterSampleEvery: 0 });
    const records = host.take(2000);
    const first = records[0]!.event as HostEvent;
    expect(first).toMatchObject({ bootId: 'boot_1', type: 'host.booted', data: { ramPages: 1000, hostname: 'a.example' } });
    expect(first.time.startsWith('2030-06-01T12:00:00.')).toBe(true);
    expect(records.some((r) => r.event?.type === 'counters.sampled')).toBe(false);
  });
});
