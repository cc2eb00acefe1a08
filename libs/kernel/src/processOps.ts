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
  moveVma,
  setVmaFlags,
  setVmaTag,
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

/**
 * Tasks die together (exit_group, a fatal signal, de_thread). Each stops using its mm; a dead task
 * keeps the mm as it was when it died — the mm itself when nobody else uses it any more, otherwise
 * one frozen copy shared by the tasks that died with it.
 */
export function killTasks(tasks: readonly Task[], signal: Signal | undefined): void {
  const dying: Task[] = [];
  for (const t of tasks) {
    if (!t.alive) continue;
    t.alive = false;
    if (signal) t.killedBy = signal;
    const group = t.limits.threads;
    if (group) {
      const at = group.indexOf(t);
      if (at >= 0) group.splice(at, 1);
    }
    if (t.mm) t.mm.users--;
    dying.push(t);
  }
  let frozen: Map<Mm, Mm> | undefined;
  for (const t of dying) {
    const mm = t.mm;
    if (!mm || mm.users <= 0) continue;
    frozen ??= new Map();
    let copy = frozen.get(mm);
    if (!copy) {
      copy = { ...mm, users: 0, vmas: cloneVmaTable(mm.vmas) };
      frozen.set(mm, copy);
    }
    t.mm = copy;
  }
}

/** exit_group() / a fatal signal: every thread of the group dies. */
export function killThreadGroup(task: Task, signal: Signal | undefined): void {
  const group = task.limits.threads;
  killTasks(group && group.length > 1 ? [...group] : [task], signal);
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
  tag = 0,
): { mm: Mm; signal?: Signal } {
  const profile = state.profile;
  const locking = (defFlags & L) !== 0;
  // Room for the image's mappings (stack, text, data, bss, interpreter, vDSO) and two more.
  const mm = newMm(state, createVmaTable('vmas' in image ? image.vmas.length + 2 : 8));
  mm.defFlags = defFlags;
  mm.mclInherit = mclInherit;
  mm.createdTag = tag;
  const t = mm.vmas;

  const place = (start: number, pages: number, flags: number): void => {
    insertVma(t, findVma(t, start), start, start + pages, flags, (flags & L) !== 0 ? tag : 0);
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
function dupMm(state: HostState, parent: Mm, tag: number): Mm {
  const profile = state.profile;
  const child = copyMm(parent, state.nextMmId++);
  child.parentId = parent.id;
  child.createdTag = tag;
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
  if (child.defFlags === 0) child.defTag = 0;
  if (child.mclInherit === 0) child.mclTag = 0;
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
    moveVma(t, w, r);
    if (!keep) {
      f &= ~LOCK_MASK;
      setVmaTag(t, w, 0);
    } else if (countable) copiedLocked += pages;
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

export function sysFork(state: HostState, parent: Task, childPid: number, kind: ForkKind, tag: number): OpResult {
  const existing = state.tasks.get(childPid);
  if (existing?.alive) return { errno: 'EEXIST', note: `pid ${childPid} is already in use by a live process` };
  let mm: Mm | null = parent.mm;
  if (mm) {
    if (kind === 'fork') mm = dupMm(state, mm, tag);
    else mm.users++;
  }
  const limits: Limits =
    kind === 'thread' ? parent.limits : { memlockCur: parent.limits.memlockCur, memlockMax: parent.limits.memlockMax, threads: null };
  const child: Task = {
    pid: childPid,
    ppid: kind === 'thread' ? parent.ppid : parent.pid,
    tgid: kind === 'thread' ? parent.tgid : childPid,
    mm,
    capIpcLock: parent.capIpcLock,
    capSysResource: parent.capSysResource,
    limits,
    alive: true,
  };
  // The group's first thread makes its list (an array literal: exact size; push() reserves 17 slots).
  if (kind === 'thread') {
    if (limits.threads) limits.threads.push(child);
    else limits.threads = [parent, child];
  }
  state.tasks.set(childPid, child);
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
export function sysExec(state: HostState, task: Task, image: Image, tag: number): OpResult {
  const profile = state.profile;
  const old = task.mm;
  let defFlags = 0;
  let mclInherit = 0;
  if (profile.base2008 && old && old.mclInherit !== 0) {
    defFlags = old.defFlags & DEF_LOCKED;
    const elfLoader = (image.format ?? 'elf') !== 'aout' || !profile.asWritten;
    if (elfLoader && (old.mclInherit & MCL_RECURSIVE_BIT) !== 0) mclInherit = old.mclInherit;
  }
  const { mm, signal } = layoutImage(state, task, image, defFlags, mclInherit, tag);
  if (old) {
    mm.parentId = old.id;
    if (defFlags !== 0) mm.defTag = old.defTag;
    if (mclInherit !== 0) mm.mclTag = old.mclTag;
    old.users--;
  }
  task.mm = mm;
  // de_thread(): the other threads of the group are killed; the caller leads the group alone.
  const group = task.limits.threads;
  if (group && group.length > 1) killTasks(group.filter((t) => t !== task), 'SIGKILL');
  task.tgid = task.pid;
  if (signal) {
    killThreadGroup(task, signal);
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
