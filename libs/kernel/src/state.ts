import type { Profile } from './profile.js';
import { profileOf } from './profile.js';
import type { ProfileName, Signal } from './types.js';
import type { VmaTable } from './vmaTable.js';
import { cloneVmaTable } from './vmaTable.js';

/** mm->def_flags bits (VM_LOCKED, VM_LOCKONFAULT): the same bits as VmaFlag.LOCKED/LOCKONFAULT. */
export const DEF_LOCKED = 8;
export const DEF_LOCKONFAULT = 16;

/** mm->mcl_inherit holds the patch's own values: MCL_INHERIT = 4, MCL_RECURSIVE = 8 (so 0, 4 or 12). */
export const MCL_INHERIT_BIT = 4;
export const MCL_RECURSIVE_BIT = 8;

export interface Mm {
  readonly id: number;
  /** tasks using this mm (threads, vfork children) */
  users: number;
  defFlags: number;
  mclInherit: number;
  /**
   * locked_vm in pages, maintained incrementally and never recomputed. Signed here: a negative value
   * is what the kernel's unsigned long holds after wrapping below zero (B7), i.e. 2^64 + lockedVm.
   */
  lockedVm: number;
  totalVm: number;
  vmas: VmaTable;
  /** mm->start_brk and mm->brk, in bytes */
  startBrk: number;
  brk: number;
  /** The caller's tag of the operation that set VM_LOCKED in def_flags (MCL_FUTURE); 0 when clear. */
  defTag: number;
  /** The caller's tag of the mlockall() that set mcl_inherit; 0 when clear. */
  mclTag: number;
  /** The mm this one was copied from (fork) or replaced (exec); 0 for a starting process. */
  parentId: number;
  /** The caller's tag of the fork or exec that made this mm (0 for a starting process). */
  createdTag: number;
  /**
   * False once a profile quirk made locked_vm differ from the pages of locked, lockable VMAs
   * (uncounted exec stack pages, a verbatim copy over DONTCOPY locks, munmap while locked_vm == 0).
   */
  accountingExact: boolean;
}

/** The part of signal_struct we model, shared by a thread group: RLIMIT_MEMLOCK and the live threads. */
export interface Limits {
  memlockCur: number;
  memlockMax: number;
  /**
   * The group's live tasks, once it has had more than one (clone with a shared mm). null while the
   * group is the one task these limits were made for, alive or dead by its own flag: most processes
   * never start a thread, and an array each would cost ~56 bytes. Read it with threadGroup().
   */
  threads: Task[] | null;
}

export interface Task {
  readonly pid: number;
  ppid: number;
  /** thread group id: equals pid except for threads made by clone(shareVm) */
  tgid: number;
  /** null for a kernel thread (current->mm == NULL) */
  mm: Mm | null;
  capIpcLock: boolean;
  capSysResource: boolean;
  limits: Limits;
  alive: boolean;
  killedBy?: Signal;
}

/** The live tasks of `task`'s thread group (just the task, alive or not, when it never had a thread). */
export function threadGroup(task: Task): readonly Task[] {
  return task.limits.threads ?? [task];
}

export interface HostState {
  readonly profile: Profile;
  readonly tasks: Map<number, Task>;
  nextMmId: number;
}

export function createHostState(profile: ProfileName): HostState {
  return { profile: profileOf(profile), tasks: new Map(), nextMmId: 1 };
}

export function newMm(state: HostState, vmas: VmaTable): Mm {
  return {
    id: state.nextMmId++,
    users: 1,
    defFlags: 0,
    mclInherit: 0,
    lockedVm: 0,
    totalVm: 0,
    vmas,
    startBrk: 0,
    brk: 0,
    defTag: 0,
    mclTag: 0,
    parentId: 0,
    createdTag: 0,
    accountingExact: true,
  };
}

export function copyMm(mm: Mm, id: number): Mm {
  return { ...mm, id, users: 1, vmas: cloneVmaTable(mm.vmas) };
}

/**
 * A deep copy of a host (for snapshots and for keeping an earlier state: the model changes the
 * state it is given). Shared mms and shared limits stay shared in the copy.
 */
export function cloneHostState(state: HostState): HostState {
  const mms = new Map<Mm, Mm>();
  const limits = new Map<Limits, Limits>();
  const tasks = new Map<number, Task>();
  for (const [pid, t] of state.tasks) {
    let mm: Mm | null = null;
    if (t.mm) {
      mm = mms.get(t.mm) ?? null;
      if (!mm) {
        mm = { ...t.mm, vmas: cloneVmaTable(t.mm.vmas) };
        mms.set(t.mm, mm);
      }
    }
    let lim = limits.get(t.limits);
    if (!lim) {
      lim = { ...t.limits, threads: t.limits.threads ? [] : null };
      limits.set(t.limits, lim);
    }
    const copy = { ...t, mm, limits: lim };
    tasks.set(pid, copy);
    if (copy.alive && lim.threads) lim.threads.push(copy);
  }
  return { profile: state.profile, tasks, nextMmId: state.nextMmId };
}
