import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HostEvent } from '@lockline/events';
import type { Op, ProfileName } from '@lockline/kernel';
import { processReport } from '@lockline/kernel';
import { IMG28, PROPERTY_WINDOW_BASE, opArb, pages } from '@lockline/kernel/testing';
import { explain } from './explain.js';
import { HostProjection } from './hostProjection.js';
import { recordHost } from './testing/recordHost.js';
import { HostTimeline } from './timeline.js';
import { hostView } from './view.js';

const PROFILES: ProfileName[] = ['linux-2008-patch', 'linux-2008-patch-fixed', 'linux-modern'];

function fold(events: readonly HostEvent[], profile?: ProfileName): HostProjection {
  const first = events[0]!;
  const p = new HostProjection(first.hostId, first.bootId, profile ? { profile } : {});
  for (const e of events) p.apply(e);
  return p;
}

const codes = (p: HostProjection): string[] => p.findings.map((f) => f.code);

const setup: Op[] = [1, 2].flatMap((pid): Op[] => [
  { op: 'mmap', pid, addr: PROPERTY_WINDOW_BASE, length: pages(40), prot: 'rw-', flags: ['MAP_PRIVATE', 'MAP_ANONYMOUS'] },
  { op: 'mmap', pid, addr: PROPERTY_WINDOW_BASE + pages(40), length: pages(24), prot: 'r--', flags: ['MAP_PRIVATE', 'MAP_ANONYMOUS'] },
]);
const processes = [
  { pid: 1, image: IMG28, capIpcLock: true },
  { pid: 2, image: IMG28, rlimitMemlock: { cur: pages(24), max: pages(32) } },
];

describe('the fold against the model', () => {
  for (const profile of PROFILES) {
    it(`${profile}: replaying a host's events gives the host's own state, results and no findings of disagreement`, () => {
      fc.assert(
        fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
          const rec = recordHost(profile, processes, [...setup, ...ops], { sampleEvery: 10 });
          const p = fold(rec.events);
          expect(p.setAside).toEqual([]);
          expect(codes(p).filter((c) => c === 'RESULT_DIVERGENCE' || c === 'ACCOUNTING_DRIFT' || c === 'SEQUENCE_GAP')).toEqual([]);
          for (const [pid, t] of rec.host.tasks) {
            if (!t.alive) continue;
            expect(processReport(p.host!.tasks.get(pid)!)).toEqual(processReport(t));
          }
          // a rebuild from the same events has the same hash
          expect(fold(rec.events).stateHash()).toBe(p.stateHash());
        }),
        { numRuns: 100 },
      );
    });
  }

  it('the state at any seq is a snapshot plus a short replay, with the hash of a fold up to that seq', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 20, maxLength: 80 }), fc.integer({ min: 1, max: 7 }), fc.nat(), (ops, every, pick) => {
        const { events } = recordHost('linux-2008-patch', processes, [...setup, ...ops]);
        const timeline = new HostTimeline('h1', 'b1', events, { snapshotEvery: every });
        const seq = 1 + (pick % events.length);
        expect(timeline.at(seq).stateHash()).toBe(fold(events.slice(0, seq)).stateHash());
        expect(timeline.at(seq).seq).toBe(seq);
      }),
      { numRuns: 60 },
    );
  });

  it('the hash does not depend on the order the maps were filled', () => {
    const a = recordHost('linux-modern', [processes[0]!, processes[1]!], setup);
    const b = recordHost('linux-modern', [processes[1]!, processes[0]!], setup);
    expect(fold(a.events).stateHash()).toBe(fold(b.events).stateHash());
    const c = recordHost('linux-modern', processes, setup.slice(0, 1));
    expect(fold(c.events).stateHash()).not.toBe(fold(a.events).stateHash());
  });
});

/** C32: a daemon with CAP_IPC_LOCK locks itself with MCL_INHERIT, drops the capability, forks. */
const inheritStory: Op[] = [
  { op: 'mlockall', pid: 1, flags: ['MCL_CURRENT', 'MCL_FUTURE', 'MCL_INHERIT'] },
  { op: 'capset', pid: 1, capIpcLock: false },
  { op: 'fork', pid: 1, child: 2 },
];
const daemon = [{ pid: 1, image: IMG28, capIpcLock: true, rlimitMemlock: { cur: pages(8), max: pages(8) } }];

describe('findings: each code has a case that produces it and one that must not', () => {
  it('LOCKED_OVER_LIMIT: inheritance across fork puts the child over its limit without a failed call; modern does not', () => {
    const p = fold(recordHost('linux-2008-patch', daemon, inheritStory).events);
    const f = p.findings.filter((x) => x.code === 'LOCKED_OVER_LIMIT');
    // the parent once it drops the capability, the child at fork
    expect(f.map((x) => [x.pid, x.seq])).toEqual([
      [1, 4],
      [2, 5],
    ]);
    expect(f[1]!.message).toMatch(/pid 2 holds 27 pages \(108 KiB\) locked against its RLIMIT_MEMLOCK of 8 pages \(32 KiB\), without CAP_IPC_LOCK/);
    const modern = fold(recordHost('linux-modern', daemon, [{ op: 'mlockall', pid: 1, flags: ['MCL_CURRENT'] }, { op: 'fork', pid: 1, child: 2 }]).events);
    expect(codes(modern)).not.toContain('LOCKED_OVER_LIMIT');
  });

  it('LOCKED_OVER_LIMIT is reported once per episode, again after the process got back under', () => {
    const ops: Op[] = [
      ...inheritStory,
      { op: 'mmap', pid: 2, addr: 0x10000000, length: pages(1), prot: 'rw-', flags: ['MAP_PRIVATE'] },
      { op: 'munlockall', pid: 2 },
      { op: 'setrlimit', pid: 2, cur: pages(8), max: pages(8) },
      { op: 'mlockall', pid: 2, flags: ['MCL_CURRENT'] },
    ];
    const p = fold(recordHost('linux-2008-patch', daemon, ops).events);
    expect(p.findings.filter((x) => x.code === 'LOCKED_OVER_LIMIT' && x.pid === 2).length).toBe(1);
    expect(p.isOverLimit(2)).toBe(false);
  });

  it('RESULT_DIVERGENCE: a host reporting a result its profile does not give; none when it tells the truth', () => {
    const lie = recordHost('linux-modern', daemon, [{ op: 'mlock', pid: 1, addr: 0x400000, length: pages(1) }], {
      report: () => ({ errno: 'ENOMEM' }),
    });
    const p = fold(lie.events);
    expect(codes(p)).toEqual(['RESULT_DIVERGENCE']);
    expect(p.findings[0]!.message).toBe('mlock by pid 1 was reported as ENOMEM, but linux-modern gives success');
    // a host on the 2008 patch audited as linux-modern: MCL_INHERIT is EINVAL today
    const patched = recordHost('linux-2008-patch', daemon, inheritStory);
    expect(codes(fold(patched.events, 'linux-modern'))).toContain('RESULT_DIVERGENCE');
    expect(codes(fold(patched.events))).not.toContain('RESULT_DIVERGENCE');
  });

  it('ACCOUNTING_DRIFT: a sampled counter that disagrees; none when it agrees', () => {
    const rec = recordHost('linux-modern', daemon, [{ op: 'mlockall', pid: 1, flags: ['MCL_CURRENT'] }], { sampleEvery: 1 });
    expect(codes(fold(rec.events))).toEqual([]);
    const bad = rec.events.map((e) =>
      e.type === 'counters.sampled' ? { ...e, data: { samples: e.data.samples.map((s) => ({ ...s, lockedVmPages: 3 })) } } : e,
    );
    const p = fold(bad);
    expect(codes(p)).toEqual(['ACCOUNTING_DRIFT']);
    expect(p.findings[0]!.message).toBe('pid 1: the host counts 3 locked / 40 total pages, the projection 39 / 40');
  });

  it('LOCKED_VM_UNDERFLOW: munlockall after an exec under inherited MCL_FUTURE (B7); none under linux-modern', () => {
    const ops: Op[] = [
      { op: 'mlockall', pid: 1, flags: ['MCL_FUTURE', 'MCL_INHERIT'] },
      { op: 'exec', pid: 1, image: IMG28 },
      { op: 'munlockall', pid: 1 },
    ];
    const p = fold(recordHost('linux-2008-patch', [{ pid: 1, image: IMG28 }], ops).events);
    expect(codes(p)).toEqual(['LOCKED_VM_UNDERFLOW']);
    expect(p.findings[0]!.message).toContain('18446744073709551615');
    const modern = fold(recordHost('linux-modern', [{ pid: 1, image: IMG28 }], [{ op: 'mlockall', pid: 1, flags: ['MCL_FUTURE'] }, { op: 'exec', pid: 1, image: IMG28 }, { op: 'munlockall', pid: 1 }]).events);
    expect(codes(modern)).toEqual([]);
  });

  it('SEQUENCE_GAP: a missing event makes the state uncertain until a sample agrees; no gap, no finding', () => {
    const ops: Op[] = [
      { op: 'mmap', pid: 1, addr: 0x10000000, length: pages(4), prot: 'rw-', flags: ['MAP_PRIVATE', 'MAP_LOCKED'] },
      { op: 'mmap', pid: 1, addr: 0x20000000, length: pages(2), prot: 'rw-', flags: ['MAP_PRIVATE'] },
      { op: 'munmap', pid: 1, addr: 0x20000000, length: pages(2) },
      { op: 'check', pid: 1 },
    ];
    const rec = recordHost('linux-modern', daemon, ops, { sampleEvery: 3 });
    expect(codes(fold(rec.events))).toEqual([]);
    // drop the second mmap (seq 4): its munmap undoes it, so the next sample agrees again
    const p = new HostProjection('h1', 'b1');
    const dropped = rec.events.filter((e) => e.seq !== 4);
    for (const e of dropped) {
      p.apply(e);
      if (e.seq === 5) expect(p.uncertainSince).toBe(4);
    }
    expect(codes(p)).toEqual(['SEQUENCE_GAP']);
    expect(p.findings[0]!.message).toBe('1 event missing before seq 5 (seq 4); the state after it is uncertain until a counter sample agrees');
    expect(p.uncertainSince).toBeNull();
  });

  it('DUPLICATE_EVENT: a copy is counted and ignored; a late event in a gap is set aside instead', () => {
    const rec = recordHost('linux-modern', daemon, [{ op: 'mlockall', pid: 1, flags: ['MCL_CURRENT'] }, { op: 'munlockall', pid: 1 }]);
    const [booted, table, lock, unlock] = rec.events as [HostEvent, HostEvent, HostEvent, HostEvent];
    const p = fold([booted, table, lock, lock, unlock]);
    expect(codes(p)).toEqual(['DUPLICATE_EVENT']);
    expect(p.duplicates).toBe(1);
    expect(p.stateHash()).toBe(fold(rec.events).stateHash());
    const late = fold([booted, table, unlock, lock]);
    expect(codes(late)).toEqual(['SEQUENCE_GAP']);
    expect(late.setAside).toEqual([{ seq: 3, type: 'syscall.mlockall', reason: 'arrived after seq 4: out of order, its place was already recorded as a gap' }]);
  });

  it('HOST_LOCKED_OVER_SHARE: locked memory above half the RAM, once; not below', () => {
    const ops: Op[] = [{ op: 'mmap', pid: 1, addr: 0x10000000, length: pages(60), prot: 'rw-', flags: ['MAP_PRIVATE', 'MAP_LOCKED'] }];
    const small = fold(recordHost('linux-modern', daemon, ops, { ramPages: 100 }).events);
    expect(codes(small)).toEqual(['HOST_LOCKED_OVER_SHARE']);
    expect(small.lockedPages).toBe(60);
    const big = fold(recordHost('linux-modern', daemon, ops, { ramPages: 1000 }).events);
    expect(codes(big)).toEqual([]);
  });

  it('sets aside events it cannot apply, and never stops', () => {
    const rec = recordHost('linux-modern', daemon, [{ op: 'mlockall', pid: 1, flags: ['MCL_CURRENT'] }]);
    const p = new HostProjection('h1', 'b1');
    p.apply(rec.events[2]!); // a syscall before the process table
    p.apply({ ...rec.events[0]!, hostId: 'other' });
    expect(p.setAside.map((s) => s.reason)).toEqual(['no process table yet: the host state is unknown', 'belongs to other/b1, not h1/b1']);
  });
});

describe('explain', () => {
  const MAKE = { ...IMG28, argPages: 2, textPages: 60, dataPages: 8, bssPages: 4 };
  const CC1 = { ...IMG28, argPages: 3, textPages: 200, dataPages: 20, bssPages: 5 };
  const make: Op[] = [
    { op: 'mlockall', pid: 17, flags: ['MCL_CURRENT', 'MCL_FUTURE', 'MCL_INHERIT', 'MCL_RECURSIVE'] },
    { op: 'exec', pid: 17, image: MAKE },
    { op: 'fork', pid: 17, child: 301 },
    { op: 'fork', pid: 301, child: 302 },
    { op: 'exec', pid: 302, image: CC1 },
    { op: 'mmap', pid: 302, addr: 0x10000000, length: pages(16), prot: 'rw-', flags: ['MAP_PRIVATE', 'MAP_ANONYMOUS'] },
  ];

  it("tells why a process's memory is locked: the chain of forks and execs back to the mlockall", () => {
    const p = fold(recordHost('linux-2008-patch', [{ pid: 17, image: IMG28, capIpcLock: true }], make).events);
    const x = explain(p, 302)!;
    expect(x.lockState).toBe('inherited');
    expect(x.lockedVmPages).toBe(20 + 200 + 20 + 5 + 16);
    expect(x.mclInherit).toEqual(['MCL_INHERIT', 'MCL_RECURSIVE']);
    const mmapped = x.ranges.find((r) => r.start === '0x10000000')!;
    expect(mmapped.lockedAt).toBe(8);
    expect(mmapped.text).toBe(
      "inherited: pid 302 exec'd at event 7; pid 302 was forked from pid 301 at event 6; pid 301 was forked from pid 17 at event 5; pid 17 exec'd at event 4; pid 17 called mlockall(MCL_CURRENT|MCL_FUTURE|MCL_INHERIT|MCL_RECURSIVE) at event 3 (this range was locked by mmap at event 8 while MCL_FUTURE was set)",
    );
    // the exec locked the 3 argument pages without counting them (B7): the VMAs hold 3 more than locked_vm
    expect(x.text[0]).toMatch(
      /^pid 302 has 264 pages \(1\.0 MiB\) locked in \d+ ranges \(locked_vm counts 261 pages \(1\.0 MiB\)\); its RLIMIT_MEMLOCK is 64 pages \(256 KiB\), and it has CAP_IPC_LOCK\.$/,
    );
    expect(x.text).toContain('Its children will inherit its locks (MCL_INHERIT|MCL_RECURSIVE): the same mlockall(MCL_CURRENT|MCL_FUTURE|MCL_INHERIT|MCL_RECURSIVE) at event 3, as above.');
  });

  it('distinguishes own locks, inherited ones and none', () => {
    const ops: Op[] = [
      { op: 'fork', pid: 1, child: 2 },
      { op: 'mmap', pid: 1, addr: 0x10000000, length: pages(2), prot: 'rw-', flags: ['MAP_PRIVATE', 'MAP_LOCKED'] },
    ];
    const p = fold(recordHost('linux-modern', [{ pid: 1, image: IMG28 }], ops).events);
    expect(explain(p, 1)!.lockState).toBe('own');
    expect(explain(p, 1)!.ranges[0]!.text).toBe('locked by its own mmap(MAP_LOCKED) at event 4');
    expect(explain(p, 2)!.lockState).toBe('none');
    expect(explain(p, 99)).toBeNull();
    const view = hostView(p);
    expect(view.processes.map((v) => [v.pid, v.lockState, v.children])).toEqual([
      [1, 'own', [2]],
      [2, 'none', []],
    ]);
  });
});
