import { describe, expect, it } from 'vitest';
import { IMG28, PAGE, given, pages } from './testing/given.js';
import type { Op } from './types.js';

const A = 0x10000000;
const anon = (addr: number, n: number, extra: Op extends never ? never : string[] = []): Op => ({
  op: 'mmap',
  pid: 1,
  addr,
  length: pages(n),
  prot: 'rw-',
  flags: ['MAP_PRIVATE', 'MAP_ANONYMOUS', ...(extra as never[])],
});

describe('locked_vm wrap-around (B7)', () => {
  for (const profile of ['linux-2008-patch', 'linux-2008-patch-fixed'] as const) {
    it(`${profile}: munlockall after an exec under inherited MCL_FUTURE wraps to 2^64 - 1, and small mlocks then pass the limit`, () => {
      const g = given(profile, { pid: 1, image: IMG28 }).and(
        { op: 'mlockall', pid: 1, flags: ['MCL_FUTURE', 'MCL_INHERIT'] },
        { op: 'exec', pid: 1, image: IMG28 },
      );
      g.when({ op: 'check', pid: 1 }).then({ lockedVmPages: 26, totalVmPages: 28, defFlags: ['VM_LOCKED'], mclInherit: [] });
      g.when({ op: 'munlockall', pid: 1 })
        .then({ errno: null, lockedVmPages: '18446744073709551615' })
        // len + locked_vm wraps: 1 page + (2^64 - 1) = 0 pages, within the 64-page limit
        .when({ op: 'mlock', pid: 1, addr: 0x400000, length: pages(1) })
        .then({ errno: null, lockedVmPages: 0 });
    });
  }

  it('linux-2008-patch: exec under inherited MCL_FUTURE with a tiny limit skips the stack expansion silently, then SIGKILLs on the text map', () => {
    const g = given('linux-2008-patch', { pid: 1, image: IMG28, rlimitMemlock: { cur: pages(3), max: pages(3) } }).and(
      { op: 'mlockall', pid: 1, flags: ['MCL_FUTURE', 'MCL_INHERIT'] },
    );
    g.when({ op: 'exec', pid: 1, image: IMG28 }).then({ signal: 'SIGKILL', alive: false, lockedVmPages: 0, totalVmPages: 1 });
  });

  it('2.6.28 munmap subtracts locked pages only `if (mm->locked_vm)`; munlock always does', () => {
    const stackPage = 0x7fffffffe000;
    const setup = (profile: 'linux-2008-patch' | 'linux-2008-patch-fixed') =>
      given(profile, { pid: 1, image: IMG28, rlimitMemlock: { cur: pages(8), max: pages(8) } }).and(
        { op: 'mlockall', pid: 1, flags: ['MCL_FUTURE', 'MCL_INHERIT'] },
        // stack expansion (20 > 8) is skipped: 2 argument pages locked, locked_vm 0
        { op: 'exec', pid: 1, image: { ...IMG28, argPages: 2, textPages: 0, dataPages: 0 } },
      );
    for (const profile of ['linux-2008-patch', 'linux-2008-patch-fixed'] as const) {
      setup(profile).when({ op: 'check', pid: 1 }).then({ lockedVmPages: 0, totalVmPages: 3 });
      setup(profile).when({ op: 'munmap', pid: 1, addr: stackPage, length: pages(1) }).then({ errno: null, lockedVmPages: 0, totalVmPages: 2 });
      setup(profile).when({ op: 'munlock', pid: 1, addr: stackPage, length: pages(1) }).then({ errno: null, lockedVmPages: '18446744073709551615' });
    }
  });
});

describe('processes', () => {
  it('threads share the mm and RLIMIT_MEMLOCK; a fork child gets copies', () => {
    const g = given('linux-modern').and(
      { op: 'clone', pid: 1, child: 2, shareVm: true },
      { op: 'fork', pid: 1, child: 3 },
      { op: 'setrlimit', pid: 2, cur: pages(8), max: pages(8) },
    );
    expect(g.process(1).rlimitMemlock).toEqual({ cur: pages(8), max: pages(8) });
    expect(g.process(3).rlimitMemlock).toEqual({ cur: pages(64), max: pages(64) });
    expect(g.process(2).mm).toBe(g.process(1).mm);
    expect(g.process(3).mm).not.toBe(g.process(1).mm);
    g.when({ op: 'mmap', pid: 2, addr: A, length: pages(2), prot: 'rw-', flags: ['MAP_PRIVATE', 'MAP_LOCKED'] }).then({
      pid: 1,
      lockedVmPages: 2,
    });
  });

  it('exec in a thread kills the other threads (de_thread) and gives the caller a new mm', () => {
    const g = given('linux-modern').and({ op: 'clone', pid: 1, child: 2, shareVm: true });
    g.when({ op: 'exec', pid: 2, image: IMG28 }).then({ errno: null, alive: true, totalVmPages: 40 }).then({ pid: 1, alive: false });
    expect(g.process(1).killedBy).toBe('SIGKILL');
  });

  it('a vfork child shares the parent mm until it execs', () => {
    const g = given('linux-modern').and({ op: 'vfork', pid: 1, child: 2 });
    expect(g.process(2).mm).toBe(g.process(1).mm);
    g.when({ op: 'exec', pid: 2, image: IMG28 });
    expect(g.process(2).mm).not.toBe(g.process(1).mm);
    g.when(anon(A, 3)).then({ pid: 1, totalVmPages: 43 }).then({ pid: 2, totalVmPages: 40 });
  });

  it('a dead process keeps the state it had when it died; its pid can be reused', () => {
    const g = given('linux-modern').and(anon(A, 2, ['MAP_LOCKED']), { op: 'vfork', pid: 1, child: 2 }, { op: 'exit', pid: 2 });
    g.when({ op: 'munmap', pid: 1, addr: A, length: pages(2) }).then({ lockedVmPages: 0 }).then({ pid: 2, alive: false, lockedVmPages: 2 });
    g.when({ op: 'fork', pid: 1, child: 2 }).then({ errno: null, pid: 2, alive: true, lockedVmPages: 0 });
    g.when({ op: 'fork', pid: 1, child: 2 }).then({ errno: 'EEXIST' });
  });

  it('an operation by a process that does not exist, or is dead, is ESRCH', () => {
    given('linux-modern').when({ op: 'munlockall', pid: 9 }).then({ errno: 'ESRCH' });
    given('linux-modern').and({ op: 'exit', pid: 1 }).when({ op: 'munlockall', pid: 1 }).then({ errno: 'ESRCH' });
  });

  it('exec from a kernel thread (current->mm == NULL) inherits nothing (B8)', () => {
    for (const profile of ['linux-2008-patch', 'linux-2008-patch-fixed', 'linux-modern'] as const) {
      given(profile, { pid: 1, kernelThread: true })
        .when({ op: 'exec', pid: 1, image: IMG28 })
        .then({ errno: null, defFlags: [], mclInherit: [], lockedVmPages: 0 });
    }
  });

  it('setrlimit checks in each kernel order (C37)', () => {
    const lim = { cur: pages(4), max: pages(4) };
    given('linux-modern', { pid: 1, rlimitMemlock: lim })
      .when({ op: 'setrlimit', pid: 1, cur: pages(16), max: pages(8) })
      .then({ errno: 'EINVAL' });
    given('linux-2008-patch', { pid: 1, rlimitMemlock: lim })
      .when({ op: 'setrlimit', pid: 1, cur: pages(16), max: pages(8) })
      .then({ errno: 'EPERM' });
    given('linux-modern', { pid: 1, rlimitMemlock: lim, capSysResource: true })
      .when({ op: 'setrlimit', pid: 1, cur: Number.POSITIVE_INFINITY, max: Number.POSITIVE_INFINITY })
      .then({ errno: null });
  });
});

describe('mappings', () => {
  it('MAP_FIXED_NOREPLACE refuses an occupied range; a plain hint moves elsewhere', () => {
    const g = given('linux-modern').and(anon(A, 4));
    g.when(anon(A, 2, ['MAP_FIXED_NOREPLACE'])).then({ errno: 'EEXIST' });
    const w = g.when(anon(A, 2));
    expect(w.result.errno).toBeNull();
    expect(w.result.addr).not.toBe(A);
    g.when(anon(A + pages(1), 2, ['MAP_FIXED'])).then({ errno: null, totalVmPages: 40 + 4 + 2 });
  });

  it('brk grows and shrinks by page-rounded increments, locked under MCL_FUTURE with the capability (C26)', () => {
    const g = given('linux-modern', { pid: 1, image: IMG28, capIpcLock: true }).and({ op: 'mlockall', pid: 1, flags: ['MCL_CURRENT', 'MCL_FUTURE'] });
    g.when({ op: 'brk', pid: 1, increment: 40 * 1024 + 100 }).then({ errno: null, lockedVmPages: 39 + 11, totalVmPages: 40 + 11 });
    g.when({ op: 'brk', pid: 1, increment: -20 * 1024 }).then({ errno: null, lockedVmPages: 39 + 6 });
    g.when({ op: 'brk', pid: 1, addr: 0x100 }).then({ errno: 'ENOMEM' });
  });

  it('a locked stack that would grow past the limit kills the process with SIGSEGV (C27)', () => {
    const g = given('linux-modern', { pid: 1, image: IMG28, capIpcLock: true }).and(
      { op: 'mlockall', pid: 1, flags: ['MCL_CURRENT', 'MCL_FUTURE'] },
      { op: 'capset', pid: 1, capIpcLock: false },
      { op: 'setrlimit', pid: 1, cur: pages(39 + 4), max: pages(64) },
    );
    g.when({ op: 'growstack', pid: 1, length: pages(4) }).then({ errno: null, lockedVmPages: 43 });
    g.when({ op: 'growstack', pid: 1, length: 512 * 1024 }).then({ signal: 'SIGSEGV', alive: false });
  });

  it('MADV_DONTFORK regions are not copied into a fork child', () => {
    const g = given('linux-modern').and(anon(A, 8), { op: 'madvise', pid: 1, addr: A, length: pages(3), advice: 'MADV_DONTFORK' });
    g.when({ op: 'fork', pid: 1, child: 2 }).then({ pid: 2, totalVmPages: 40 + 5 });
    g.when({ op: 'madvise', pid: 1, addr: A + pages(6), length: pages(4), advice: 'MADV_DOFORK' }).then({ errno: 'ENOMEM' });
  });

  it('an mm with thousands of VMAs stays consistent through splits and merges', () => {
    const g = given('linux-modern', { pid: 1, image: IMG28, capIpcLock: true });
    // 2000 adjacent one-page mappings that can't merge (alternating protection)
    for (let i = 0; i < 2000; i++) g.and({ op: 'mmap', pid: 1, addr: A + pages(i), length: pages(1), prot: i % 2 ? 'r--' : 'rw-', flags: ['MAP_PRIVATE', 'MAP_ANONYMOUS'] });
    g.when({ op: 'mlockall', pid: 1, flags: ['MCL_CURRENT'] }).then({ lockedVmPages: 39 + 2000 });
    g.when({ op: 'munlock', pid: 1, addr: A + pages(10), length: pages(1990) }).then({ errno: null, lockedVmPages: 39 + 10 });
    expect(g.process(1).vmas.length).toBe(2000 + 4);
    // a hole stops munlock with ENOMEM after the pieces before it
    g.and({ op: 'munmap', pid: 1, addr: A + pages(5), length: pages(1) });
    g.when({ op: 'munlock', pid: 1, addr: A, length: pages(10) }).then({ errno: 'ENOMEM', lockedVmPages: 39 + 4 });
    expect(g.process(1).vmas.length).toBe(1999 + 4);
  });
});

describe('lock provenance tags', () => {
  it('a locked VMA carries the tag of the operation that locked it, through fork; exec records where MCL_FUTURE came from', async () => {
    const { applyOp, createHost } = await import('./host.js');
    const { vmaTag, vmaFlags, VmaFlag } = await import('./vmaTable.js');
    const host = createHost('linux-2008-patch', [{ pid: 1, image: IMG28, capIpcLock: true }]);
    applyOp(host, anon(A, 4), 10);
    applyOp(host, { op: 'mlockall', pid: 1, flags: ['MCL_CURRENT', 'MCL_FUTURE', 'MCL_INHERIT', 'MCL_RECURSIVE'] }, 40);
    applyOp(host, anon(A + pages(8), 2), 41);
    applyOp(host, { op: 'fork', pid: 1, child: 2 }, 812);
    const child = host.tasks.get(2)!.mm!;
    const tags = Array.from({ length: child.vmas.n }, (_, i) => [vmaFlags(child.vmas, i) & VmaFlag.LOCKED ? 1 : 0, vmaTag(child.vmas, i)]);
    expect(tags.filter(([l]) => l).map(([, t]) => t).sort()).toEqual([40, 40, 40, 40, 41]);
    expect(child).toMatchObject({ parentId: host.tasks.get(1)!.mm!.id, createdTag: 812, defTag: 40, mclTag: 40 });
    applyOp(host, { op: 'exec', pid: 2, image: IMG28 }, 900);
    const execd = host.tasks.get(2)!.mm!;
    expect(execd).toMatchObject({ parentId: child.id, createdTag: 900, defTag: 40, mclTag: 40, lockedVm: 26 });
    // unlocking clears the tag; locking again takes the new one
    applyOp(host, { op: 'munlock', pid: 1, addr: A, length: pages(4) }, 50);
    applyOp(host, { op: 'mlock', pid: 1, addr: A, length: pages(2) }, 51);
    const parent = host.tasks.get(1)!.mm!;
    const at = (addr: number) => {
      for (let i = 0; i < parent.vmas.n; i++) if (parent.vmas.d[i * 4]! * PAGE === addr) return vmaTag(parent.vmas, i);
      return undefined;
    };
    expect(at(A)).toBe(51);
    expect(at(A + pages(2))).toBe(0);
  });

  it('a thread group dying together keeps one mm and makes no copies; a vfork child still using it makes one', async () => {
    const { applyOp, createHost } = await import('./host.js');
    const host = createHost('linux-modern', [{ pid: 1, image: IMG28 }]);
    applyOp(host, { op: 'clone', pid: 1, child: 2, shareVm: true });
    applyOp(host, { op: 'clone', pid: 1, child: 3, shareVm: true });
    const mm = host.tasks.get(1)!.mm!;
    applyOp(host, { op: 'exit', pid: 2 });
    expect([1, 2, 3].map((p) => host.tasks.get(p)!.alive)).toEqual([false, false, false]);
    expect([1, 2, 3].map((p) => host.tasks.get(p)!.mm)).toEqual([mm, mm, mm]);
    const h2 = createHost('linux-modern', [{ pid: 1, image: IMG28 }]);
    applyOp(h2, { op: 'vfork', pid: 1, child: 2 });
    applyOp(h2, { op: 'exit', pid: 1 });
    expect(h2.tasks.get(1)!.mm).not.toBe(h2.tasks.get(2)!.mm);
    expect(h2.tasks.get(2)!.mm!.users).toBe(1);
  });

  it('a thread group has a member list once it has a second task; the group of one is the task itself', async () => {
    const { applyOp, createHost } = await import('./host.js');
    const { cloneHostState, threadGroup } = await import('./state.js');
    const host = createHost('linux-modern', [{ pid: 1, image: IMG28 }]);
    applyOp(host, { op: 'fork', pid: 1, child: 2 });
    const [t1, t2] = [host.tasks.get(1)!, host.tasks.get(2)!];
    expect([t1.limits.threads, t2.limits.threads]).toEqual([null, null]);
    expect(threadGroup(t2)).toEqual([t2]);
    applyOp(host, { op: 'clone', pid: 2, child: 3, shareVm: true });
    applyOp(host, { op: 'clone', pid: 3, child: 4, shareVm: true });
    expect(threadGroup(t2).map((t) => t.pid)).toEqual([2, 3, 4]);
    expect(host.tasks.get(4)!.limits).toBe(t2.limits);
    // de_thread: an exec in pid 3 leaves it alone in its group
    applyOp(host, { op: 'exec', pid: 3, image: IMG28 });
    expect(threadGroup(host.tasks.get(3)!).map((t) => t.pid)).toEqual([3]);
    const copy = cloneHostState(host);
    expect(copy.tasks.get(1)!.limits.threads).toBeNull();
    expect(threadGroup(copy.tasks.get(3)!)).toEqual([copy.tasks.get(3)]);
    applyOp(host, { op: 'exit', pid: 3 });
    expect(threadGroup(host.tasks.get(3)!)).toEqual([]);
    expect(host.tasks.get(2)!.alive).toBe(false);
  });

  it('reapTask forgets a dead process only', async () => {
    const { applyOp, createHost, reapTask } = await import('./host.js');
    const host = createHost('linux-modern', [{ pid: 1, image: IMG28 }, { pid: 2, image: IMG28 }]);
    applyOp(host, { op: 'exit', pid: 2 });
    expect(reapTask(host, 1)).toBe(false);
    expect(reapTask(host, 2)).toBe(true);
    expect(host.tasks.has(2)).toBe(false);
  });
});
