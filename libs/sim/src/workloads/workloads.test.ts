import { describe, expect, it } from 'vitest';
import { processReport, type ProcessReport, type ProfileName } from '@lockline/kernel';
import type { HostEvent } from '@lockline/events';
import { createSimHost, type SimHost } from '../simHost.js';
import { replayBoot } from '../testing/replay.js';
import { buildFarm } from './buildFarm.js';
import { churn } from './churn.js';
import { database } from './database.js';
import { leaky } from './leaky.js';
import { parseWorkloadMix, defaultMix } from './mix.js';
import { rtDaemon } from './rtDaemon.js';
import { secretsAgent } from './secretsAgent.js';
import type { Workload } from './workload.js';
import { Random } from '../random.js';

interface Observed {
  event: HostEvent;
  /** the acting process's comm (after the event, for exec) */
  comm: string;
  /** the acting process right after the event, as the host's model has it */
  after: ProcessReport | undefined;
}

/** Run a host with one workload, recording each event with its actor's name and state right after it. */
function observe(profile: ProfileName, workload: Workload, n: number, seed = 1): { host: SimHost; seen: Observed[] } {
  const host = createSimHost({ hostId: 'w', seed, profile, workloads: [workload] });
  const comm = new Map<number, string>();
  const seen: Observed[] = [];
  while (seen.length < n) {
    for (const r of host.next()) {
      const event = r.event!;
      if (event.type === 'process.table') for (const p of event.data.processes) comm.set(p.pid, p.comm ?? '');
      const data = event.data as { pid?: number; child?: number };
      if ((event.type === 'syscall.fork' || event.type === 'syscall.vfork' || event.type === 'syscall.clone') && data.child !== undefined) {
        comm.set(data.child, comm.get(data.pid!) ?? '');
      }
      if (event.type === 'syscall.exec') comm.set(event.data.pid, event.data.comm ?? '');
      const task = data.pid === undefined ? undefined : host.kernel.tasks.get(data.pid);
      seen.push({ event, comm: comm.get(data.pid ?? 0) ?? '', after: task ? processReport(task, false) : undefined });
    }
  }
  return { host, seen };
}

const ofType = <T extends HostEvent['type']>(seen: readonly Observed[], type: T, comm?: string): Array<Observed & { event: Extract<HostEvent, { type: T }> }> =>
  seen.filter((o): o is Observed & { event: Extract<HostEvent, { type: T }> } => o.event.type === type && (comm === undefined || o.comm === comm));

const errnos = (list: readonly Observed[]): Array<string | null> =>
  list.map((o) => ('result' in o.event.data ? o.event.data.result.errno : 'none'));

/** Depth of the deepest process below the process table's. */
function treeDepth(seen: readonly Observed[]): number {
  const depth = new Map<number, number>();
  let max = 0;
  for (const { event } of seen) {
    if (event.type === 'process.table') for (const p of event.data.processes) depth.set(p.pid, 0);
    if (event.type === 'syscall.fork' || event.type === 'syscall.vfork') {
      const d = (depth.get(event.data.pid) ?? 0) + 1;
      depth.set(event.data.child, d);
      max = Math.max(max, d);
    }
  }
  return max;
}

describe('buildFarm: mlock -r make -jN', () => {
  it('under linux-2008-patch: locks, and every exec below inherits VM_LOCKED and INHERIT|RECURSIVE', () => {
    const { seen } = observe('linux-2008-patch', buildFarm({ jobs: 8 }), 6000);
    const mlockall = ofType(seen, 'syscall.mlockall', 'mlock');
    expect(mlockall.length).toBeGreaterThan(0);
    expect(mlockall[0]!.event.data.flags).toEqual(['MCL_CURRENT', 'MCL_FUTURE', 'MCL_INHERIT', 'MCL_RECURSIVE']);
    expect(errnos(mlockall).every((e) => e === null)).toBe(true);
    const execs = ofType(seen, 'syscall.exec').filter((o) => ['make', 'sh', 'cc', 'cc1', 'as'].includes(o.comm));
    expect(execs.length).toBeGreaterThan(100);
    for (const o of execs) {
      expect(o.after?.defFlags, o.comm).toEqual(['VM_LOCKED']);
      expect(o.after?.mclInherit, o.comm).toEqual(['MCL_INHERIT', 'MCL_RECURSIVE']);
    }
    const cc1 = ofType(seen, 'syscall.exec', 'cc1');
    expect(cc1.length).toBeGreaterThan(10);
    for (const o of cc1) expect(o.after!.lockedVmPages).toBeGreaterThan(6000);
    // deep trees: bash → make → sh → cc → cc1 at least, sub-makes deeper
    expect(treeDepth(seen)).toBeGreaterThanOrEqual(4);
  });

  it('under linux-2008-patch as written, an a.out tool loses RECURSIVE at exec (B3); as intended it keeps it', () => {
    const asWritten = observe('linux-2008-patch', buildFarm({ jobs: 8 }), 30_000, 2).seen.filter((o) => o.event.type === 'syscall.exec' && o.comm === 'm4');
    const fixed = observe('linux-2008-patch-fixed', buildFarm({ jobs: 8 }), 30_000, 2).seen.filter((o) => o.event.type === 'syscall.exec' && o.comm === 'm4');
    expect(asWritten.length).toBeGreaterThan(0);
    expect(fixed.length).toBeGreaterThan(0);
    for (const o of asWritten) expect([o.after?.defFlags, o.after?.mclInherit]).toEqual([['VM_LOCKED'], []]);
    for (const o of fixed) expect([o.after?.defFlags, o.after?.mclInherit]).toEqual([['VM_LOCKED'], ['MCL_INHERIT', 'MCL_RECURSIVE']]);
  });

  it('under linux-modern: mlockall(…INHERIT…) is EINVAL and the same build runs unlocked', () => {
    const { seen } = observe('linux-modern', buildFarm({ jobs: 8 }), 6000);
    const mlockall = ofType(seen, 'syscall.mlockall', 'mlock');
    expect(mlockall.length).toBeGreaterThan(0);
    expect(new Set(errnos(mlockall))).toEqual(new Set(['EINVAL']));
    const cc1 = ofType(seen, 'syscall.exec', 'cc1');
    expect(cc1.length).toBeGreaterThan(10);
    for (const o of cc1) expect([o.after!.lockedVmPages, o.after!.defFlags, o.after!.mclInherit]).toEqual([0, [], []]);
    // no locking, so nothing fails for RLIMIT_MEMLOCK: every compiler run succeeds
    const exits = ofType(seen, 'process.exited', 'cc1');
    expect(exits.length).toBeGreaterThan(10);
    expect(exits.every((o) => o.event.data.code === 0)).toBe(true);
    expect(ofType(seen, 'process.exited', 'make').some((o) => o.event.data.code === 0)).toBe(true);
  });

  it('restarts a new build when one ends', () => {
    const { seen } = observe('linux-2008-patch', buildFarm({ jobs: 4, files: [3, 5] }), 5000);
    expect(ofType(seen, 'syscall.exec', 'mlock').length).toBeGreaterThan(3);
    expect(ofType(seen, 'syscall.exec', 'ld').length).toBeGreaterThan(1);
  });

  it('pays for inherited locks under a small limit: compiler runs fail with ENOMEM/EAGAIN', () => {
    const { seen } = observe('linux-2008-patch', buildFarm({ jobs: 8, rlimitMemlock: 40 * 1024 * 1024 }), 8000);
    const failures = seen.filter((o) => o.comm === 'cc1' && 'result' in o.event.data && ['ENOMEM', 'EAGAIN'].includes(o.event.data.result.errno ?? ''));
    expect(failures.length).toBeGreaterThan(0);
    expect(ofType(seen, 'process.exited', 'make').some((o) => o.event.data.code === 2)).toBe(true);
  });
});

describe('rtDaemon', () => {
  it.each(['linux-2008-patch', 'linux-modern'] as const)('under %s: mlockall(CURRENT|FUTURE) with the capability, everything mapped later locked, threads sharing it', (profile) => {
    const { seen, host } = observe(profile, rtDaemon({ threads: 3 }), 3000);
    const mlockall = ofType(seen, 'syscall.mlockall', 'ptp4l');
    expect(mlockall[0]!.event.data.flags).toEqual(['MCL_CURRENT', 'MCL_FUTURE']);
    expect(errnos(mlockall).every((e) => e === null)).toBe(true);
    const clones = ofType(seen, 'syscall.clone');
    expect(clones.length).toBeGreaterThanOrEqual(3);
    expect(clones.every((o) => o.event.data.shareVm && o.event.data.result.errno === null)).toBe(true);
    const mmaps = ofType(seen, 'syscall.mmap', 'ptp4l');
    expect(mmaps.every((o) => o.event.data.result.errno === null)).toBe(true);
    for (const o of mmaps.slice(0, 200)) {
      expect(o.after!.defFlags).toContain('VM_LOCKED');
      expect(o.after!.capIpcLock).toBe(true);
      // far over its 64 KiB (16-page) limit: the capability lets it
      expect(o.after!.lockedVmPages).toBeGreaterThan(1000);
    }
    expect(host.processes().some((p) => p.thread && p.comm === 'ptp4l')).toBe(true);
  });
});

describe('database', () => {
  it.each(['linux-2008-patch', 'linux-2008-patch-fixed', 'linux-modern'] as const)('under %s: holds locked pages above the limit it lowered itself to', (profile) => {
    const { seen } = observe(profile, database({ bufferBytes: 128 * 1024 * 1024, loweredLimit: 32 * 1024 * 1024 }), 3000);
    const setrlimit = ofType(seen, 'syscall.setrlimit', 'postgres');
    expect(setrlimit.length).toBeGreaterThan(0);
    for (const o of setrlimit) {
      expect(o.event.data.result.errno).toBeNull();
      const after = o.after!;
      expect(after.capIpcLock).toBe(false);
      expect(after.rlimitMemlock.cur).toBe(32 * 1024 * 1024);
      expect(after.lockedVmPages).toBeGreaterThan(32 * 1024 * 1024 / 4096);
      expect(after.lockedVmPages).toBeGreaterThanOrEqual(128 * 1024 * 1024 / 4096);
    }
    // the big mlock succeeded only thanks to the capability; a slice unlocked later cannot be locked back
    expect(errnos(ofType(seen, 'syscall.mlock', 'postgres')).filter((e) => e === 'ENOMEM').length).toBeGreaterThan(0);
    expect(ofType(seen, 'syscall.fork', 'postgres').length).toBeGreaterThan(10);
  });
});

describe('secretsAgent', () => {
  it('locks single pages (mlock2 falls back to mlock on ENOSYS), marks them DONTFORK, forks helpers without them', () => {
    for (const profile of ['linux-2008-patch', 'linux-modern'] as const) {
      const { seen } = observe(profile, secretsAgent(), 3000);
      const mlock2 = errnos(ofType(seen, 'syscall.mlock2', 'gpg-agent'));
      expect(new Set(mlock2)).toEqual(new Set(profile === 'linux-modern' ? [null] : ['ENOSYS']));
      if (profile !== 'linux-modern') expect(ofType(seen, 'syscall.mlock', 'gpg-agent').length).toBeGreaterThan(0);
      expect(ofType(seen, 'syscall.madvise').every((o) => o.event.data.advice === 'MADV_DONTFORK' && o.event.data.length === 4096)).toBe(true);
      // the 12-page cache runs into the 16-page limit now and then
      expect(errnos(ofType(seen, 'syscall.mlock', 'gpg-agent'))).toContain('ENOMEM');
      const forks = ofType(seen, 'syscall.fork', 'gpg-agent');
      expect(forks.length).toBeGreaterThan(10);
      const execs = ofType(seen, 'syscall.exec', 'pinentry-curses');
      expect(execs.every((o) => o.after!.lockedVmPages === 0)).toBe(true);
    }
  });
});

describe('leaky', () => {
  it.each(['linux-2008-patch', 'linux-modern'] as const)('under %s: allocates locked memory until EAGAIN/ENOMEM, exits 1, is restarted', (profile) => {
    const { seen } = observe(profile, leaky(), 5000);
    const runs = ofType(seen, 'syscall.exec', 'cache-warmer');
    expect(runs.length).toBeGreaterThan(5);
    const failures = seen.filter((o) => o.comm === 'cache-warmer' && 'result' in o.event.data && o.event.data.result.errno !== null);
    const failureKinds = new Set(failures.map((o) => `${o.event.type}:${'result' in o.event.data ? o.event.data.result.errno : ''}`));
    expect(failureKinds.has('syscall.mmap:EAGAIN')).toBe(true);
    expect(failureKinds.has('syscall.brk:ENOMEM')).toBe(true);
    const exits = ofType(seen, 'process.exited', 'cache-warmer');
    expect(exits.length).toBeGreaterThan(5);
    expect(exits.every((o) => o.event.data.code === 1)).toBe(true);
    // it got close to its 8 MiB (2048 pages) before the limit stopped it
    const peak = Math.max(...seen.filter((o) => o.comm === 'cache-warmer').map((o) => Number(o.after?.lockedVmPages ?? 0)));
    expect(peak).toBeGreaterThan(1500);
    expect(peak).toBeLessThanOrEqual(2048);
  });
});

describe('churn', () => {
  it('runs short-lived processes through fork, vfork and exec; some die of SIGSEGV', () => {
    const { seen, host } = observe('linux-2008-patch', churn(), 5000);
    expect(ofType(seen, 'syscall.vfork').length).toBeGreaterThan(10);
    expect(ofType(seen, 'syscall.exec').length).toBeGreaterThan(200);
    const segv = ofType(seen, 'process.exited').filter((o) => o.event.data.signal === 'SIGSEGV');
    expect(segv.length).toBeGreaterThan(0);
    const growstack = ofType(seen, 'syscall.growstack').filter((o) => o.event.data.result.signal === 'SIGSEGV');
    expect(growstack.length).toBe(segv.length);
    expect(host.processes().length).toBeLessThan(20);
    expect(replayBoot(seen.map((o) => o.event)).resultMismatches).toEqual([]);
  });
});

describe('mixes', () => {
  it('parses a mix from the command line, naming a bad item', () => {
    expect(parseWorkloadMix('buildFarm=3, churn').map((w) => [w.kind, w.weight])).toEqual([
      ['buildFarm', 3],
      ['churn', 1],
    ]);
    expect(() => parseWorkloadMix('buildFram')).toThrow(/"buildFram": unknown workload/);
    expect(() => parseWorkloadMix('churn=0')).toThrow(/"churn=0": the weight must be a positive number/);
    expect(() => parseWorkloadMix('churn,churn')).toThrow(/given twice/);
    expect(() => parseWorkloadMix('')).toThrow(/no workload/);
  });

  it('draws a default mix per host: churn always, at least one other', () => {
    const kinds = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const mix = defaultMix(Random.of(i, 'mix'));
      expect(mix.some((w) => w.kind === 'churn')).toBe(true);
      expect(mix.length).toBeGreaterThanOrEqual(2);
      for (const w of mix) kinds.add(w.kind);
    }
    expect(kinds.size).toBe(6);
  });
});
