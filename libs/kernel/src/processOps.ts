import { PAGE, lockWouldExceed } from './limits.js';
import { protBits } from './mapOps.js';
import type { HostState, Limits, Mm, Task } from './state.js';
import { DEF_LOCKED, MCL_RECURSIVE_BIT, copyMm, newMm } from './state.js';
import type { Errno, Image, OpResult, Signal } from './types.js';
import {
  LOCK_MASK,
  UNLOCKABLE,
  VmaFlag,
  createVmaTable,
  findVma,
  insertVma,
  setVmaFlags,
  setVmaStart,
  vmaEnd,
  vmaFlags,
  vmaStart,
} from './vmaTable.js';
import { cloneVmaTable } from './vmaTable.js';

const L = VmaFlag.LOCKED;
const TEXT_BASE_PAGE = 0x400;
const STACK_TOP_PAGE = 0x7ffffffff;
const VDSO_PAGE = 0x7ffff7ffd;
const INTERP_PAGE = 0x7ffff7dd0;

/** The other live threads of the caller's thread group (those sharing its signal_struct). */
function otherThreads(state: HostState, task: Task): Task[] {
  if (task.limits.liveThreads <= 1) return [];
  const group: Task[] = [];
  for (const t of state.tasks.values()) if (t !== task && t.alive && t.limits === task.limits) group.push(t);
  return group;
}

/** A task stops using its mm. A dead task keeps a frozen view of the mm as it was when it died. */
function dropMm(task: Task): void {
  const mm = task.mm;
  if (!mm) return;
  mm.users--;
  if (mm.users > 0) task.mm = { ...mm, users: 0, vmas: cloneVmaTable(mm.vmas) };
}

function kill(task: Task, signal: Signal | undefined): void {
  if (!task.alive) return;
  task.alive = false;
  task.limits.liveThreads--;
  if (signal) task.killedBy = signal;
  dropMm(task);
}

/** exit_group() / a fatal signal: every thread of the group dies. */
export function killThreadGroup(state: HostState, task: Task, signal: Signal | undefined): void {
  for (const t of otherThreads(state, task)) kill(t, signal);
  kill(task, signal);
}

/**
 * Lay an executable out in a fresh mm, as exec (or the start of a scenario) does. With VM_LOCKED in
 * `defFlags` (the 2008 patch's inherited MCL_FUTURE) every mapping is locked as it is made, in
 * load_elf_binary()'s order, each against the limit:
 *  - setup_arg_pages(): the argument pages become VM_LOCKED through mprotect_fixup() without any
 *    locked_vm accounting; the 20-page expand_stack() is limit-checked and silently skipped on failure;
 *  - elf_map() of text and data, set_brk() of bss: failure after the point of no return is SIGKILL;
 *  - the interpreter: failure is SIGSEGV;
 *  - the vDSO (install_special_mapping) gets VM_LOCKED ORed in by 2.6.28 but is never counted.
 */
export function layoutImage(
  state: HostState,
  task: Task,
  image: Image,
  defFlags: number,
  mclInherit: number,
): { mm: Mm; signal?: Signal } {
  const profile = state.profile;
  const locking = (defFlags & L) !== 0;
  const mm = newMm(state, createVmaTable('vmas' in image ? image.vmas.length + 4 : 12));
  mm.defFlags = defFlags;
  mm.mclInherit = mclInherit;
  const t = mm.vmas;

  const place = (start: number, pages: number, flags: number): void => {
    insertVma(t, findVma(t, start), start, start + pages, flags);
    mm.totalVm += pages;
  };
  /** elf_map()/set_brk(): false when the limit refuses the locked mapping. */
  const mapLocked = (start: number, pages: number, prot: number): boolean => {
    if (pages === 0) return true;
    if (locking && lockWouldExceed(task, mm.lockedVm + pages)) return false;
    place(start, pages, prot | (locking ? L : 0));
    if (locking) mm.lockedVm += pages;
    return true;
  };
  const RW = VmaFlag.READ | VmaFlag.WRITE;
  const RX = VmaFlag.READ | VmaFlag.EXEC;

  if ('vmas' in image) {
    // An explicit layout (a real process's maps): stack and specials first, then the rest in order.
    const sorted = [...image.vmas].sort((a, b) => a.start - b.start);
    for (const v of sorted) {
      const start = v.start / PAGE;
      const pages = (v.end - v.start) / PAGE;
      const prot = protBits(v.prot) ?? 0;
      if (v.special) place(start, pages, prot | VmaFlag.SPECIAL | (locking && profile.base2008 ? L : 0));
      else if (v.growsDown) {
        place(start, pages, prot | VmaFlag.GROWSDOWN | (locking ? L : 0));
        if (locking && pages > 0) mm.accountingExact = false;
      }
    }
    for (const v of sorted) {
      if (v.special || v.growsDown) continue;
      if (!mapLocked(v.start / PAGE, (v.end - v.start) / PAGE, protBits(v.prot) ?? 0)) return { mm, signal: 'SIGKILL' };
    }
    mm.startBrk = mm.brk = image.brk;
    return { mm };
  }

  // __bprm_mm_init() starts the stack with one page, copy_strings() fills it; setup_arg_pages()
  const argPages = Math.max(1, image.argPages);
  place(STACK_TOP_PAGE - argPages, argPages, RW | VmaFlag.GROWSDOWN | (locking ? L : 0));
  if (locking) mm.accountingExact = false;
  const extra = profile.execExtraStackPages;
  if (!(locking && lockWouldExceed(task, mm.lockedVm + extra))) {
    const s = findVma(t, STACK_TOP_PAGE - 1);
    setVmaStart(t, s, vmaStart(t, s) - extra);
    mm.totalVm += extra;
    if (locking) mm.lockedVm += extra;
  }
  // elf_map() of each PT_LOAD, then set_brk()
  const dataStart = TEXT_BASE_PAGE + image.textPages;
  const bssStart = dataStart + image.dataPages;
  if (!mapLocked(TEXT_BASE_PAGE, image.textPages, RX)) return { mm, signal: 'SIGKILL' };
  if (!mapLocked(dataStart, image.dataPages, RW)) return { mm, signal: 'SIGKILL' };
  if (!mapLocked(bssStart, image.bssPages, RW)) return { mm, signal: 'SIGKILL' };
  mm.startBrk = mm.brk = (bssStart + image.bssPages) * PAGE;
  if (image.interpPages && !mapLocked(INTERP_PAGE, image.interpPages, RX)) return { mm, signal: 'SIGSEGV' };
  // Modern __install_special_mapping() masks VM_LOCKED_MASK; 2.6.28 ORs def_flags in.
  if (image.vdsoPages > 0) place(VDSO_PAGE, image.vdsoPages, RX | VmaFlag.SPECIAL | (profile.base2008 ? defFlags & L : 0));
  return { mm };
}

/**
 * dup_mm() → mm_init() → dup_mmap() for the profile.
 *  modern: mm_init() clears the lock bits of def_flags (VM_INIT_DEF_MASK) and locked_vm; dup_mmap()
 *    clears VM_LOCKED_MASK on every VMA.
 *  2008 patch: the child is a byte copy of the parent's mm; mm_init() gives it the parent's VM_LOCKED
 *    default when the parent has mcl_inherit. As written (B1/B4) the child keeps mcl_inherit
 *    whatever RECURSIVE says, and dup_mmap() tests the CHILD's copy to keep locks and copy
 *    locked_vm verbatim, DONTCOPY pages included (B6). As intended, mcl_inherit survives only with
 *    RECURSIVE, the keep decision reads the parent's (oldmm) value, and locked_vm is recomputed as
 *    the pages of the copied locked, lockable VMAs (B5/B6; spec A.2).
 */
function dupMm(state: HostState, parent: Mm): Mm {
  const profile = state.profile;
  const child = copyMm(parent, state.nextMmId++);
  let keep: boolean;
  if (!profile.base2008) {
    child.defFlags = 0;
    child.mclInherit = 0;
    keep = false;
  } else {
    child.defFlags = parent.mclInherit !== 0 ? parent.defFlags & DEF_LOCKED : 0;
    if (profile.asWritten) {
      child.mclInherit = parent.mclInherit;
      keep = child.mclInherit !== 0;
    } else {
      child.mclInherit = (parent.mclInherit & MCL_RECURSIVE_BIT) !== 0 ? parent.mclInherit : 0;
      keep = parent.mclInherit !== 0;
    }
  }
  if (!keep) {
    child.lockedVm = 0;
    child.accountingExact = true;
  }
  const t = child.vmas;
  let w = 0;
  let droppedLocked = 0;
  let copiedLocked = 0;
  for (let r = 0; r < t.n; r++) {
    let f = vmaFlags(t, r);
    const pages = vmaEnd(t, r) - vmaStart(t, r);
    const countable = (f & L) !== 0 && (f & UNLOCKABLE) === 0;
    if ((f & VmaFlag.DONTCOPY) !== 0) {
      child.totalVm -= pages;
      if (countable) droppedLocked += pages;
      continue;
    }
    if (!keep) f &= ~LOCK_MASK;
    else if (countable) copiedLocked += pages;
    if (w !== r) t.d.copyWithin(w * 3, r * 3, r * 3 + 3);
    setVmaFlags(t, w, f);
    w++;
  }
  t.n = w;
  if (keep) {
    if (!profile.asWritten) {
      // As intended: the child's locked_vm is what it actually has locked.
      child.lockedVm = copiedLocked;
      child.accountingExact = true;
    } else if (droppedLocked > 0) {
      child.accountingExact = false;
    }
  }
  return child;
}

export type ForkKind = 'fork' | 'vfork' | 'thread';

export function sysFork(state: HostState, parent: Task, childPid: number, kind: ForkKind): OpResult {
  const existing = state.tasks.get(childPid);
  if (existing?.alive) return { errno: 'EEXIST', note: `pid ${childPid} is already in use by a live process` };
  let mm: Mm | null = parent.mm;
  if (mm) {
    if (kind === 'fork') mm = dupMm(state, mm);
    else mm.users++;
  }
  const limits: Limits = kind === 'thread' ? parent.limits : { ...parent.limits, liveThreads: 0 };
  limits.liveThreads++;
  state.tasks.set(childPid, {
    pid: childPid,
    ppid: kind === 'thread' ? parent.ppid : parent.pid,
    tgid: kind === 'thread' ? parent.tgid : childPid,
    mm,
    capIpcLock: parent.capIpcLock,
    capSysResource: parent.capSysResource,
    limits,
    alive: true,
  });
  return { errno: null };
}

/**
 * execve(): a new mm from mm_alloc() → mm_init(), then the binary loader.
 *  modern: no lock state survives (VM_INIT_DEF_MASK).
 *  2008 patch: mm_init() inherits VM_LOCKED from an old mm with mcl_inherit; mcl_inherit itself only
 *    crosses through load_elf_binary() and only with RECURSIVE (B1: the mm_init test reads the zeroed
 *    new mm). As written, a.out and other non-ELF loaders lose RECURSIVE (B3); as intended every
 *    format behaves like ELF. A NULL current->mm (kernel thread) inherits nothing (B8).
 */
export function sysExec(state: HostState, task: Task, image: Image): OpResult {
  const profile = state.profile;
  // de_thread(): the other threads of the group are killed.
  for (const t of otherThreads(state, task)) kill(t, 'SIGKILL');
  task.tgid = task.pid;
  const old = task.mm;
  let defFlags = 0;
  let mclInherit = 0;
  if (profile.base2008 && old && old.mclInherit !== 0) {
    defFlags = old.defFlags & DEF_LOCKED;
    const elfLoader = (image.format ?? 'elf') !== 'aout' || !profile.asWritten;
    if (elfLoader && (old.mclInherit & MCL_RECURSIVE_BIT) !== 0) mclInherit = old.mclInherit;
  }
  const { mm, signal } = layoutImage(state, task, image, defFlags, mclInherit);
  if (old) {
    old.users--;
  }
  task.mm = mm;
  if (signal) {
    killThreadGroup(state, task, signal);
    return { errno: null, signal };
  }
  return { errno: null };
}

export function sysSetrlimit(state: HostState, task: Task, cur: number, max: number): Errno | null {
  const invalid = cur > max;
  const raisesMax = max > task.limits.memlockMax && !task.capSysResource;
  // 2.6.28 tests "raising max" first; 6.x rejects cur > max first (observed rl.out).
  if (state.profile.base2008) {
    if (raisesMax) return 'EPERM';
    if (invalid) return 'EINVAL';
  } else {
    if (invalid) return 'EINVAL';
    if (raisesMax) return 'EPERM';
  }
  task.limits.memlockCur = cur;
  task.limits.memlockMax = max;
  return null;
}
