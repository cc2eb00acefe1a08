import { canDoMlock, lockSpan, lockWouldExceed, spanWraps } from './limits.js';
import type { Profile } from './profile.js';
import type { Mm, Task } from './state.js';
import { DEF_LOCKED, DEF_LOCKONFAULT, MCL_INHERIT_BIT, MCL_RECURSIVE_BIT } from './state.js';
import type { Errno, MclFlagName, Mlock2FlagName } from './types.js';
import type { VmaTable } from './vmaTable.js';
import {
  LOCK_MASK,
  PROT_MASK,
  UNLOCKABLE,
  VmaFlag,
  findVma,
  mergeAround,
  setVmaFlags,
  setVmaTag,
  splitAt,
  vmaEnd,
  vmaFlags,
  vmaStart,
} from './vmaTable.js';

const L = VmaFlag.LOCKED;
const LOF = VmaFlag.LOCKONFAULT;

/**
 * mlock_fixup(): give one VMA new lock flags and account for it. Special and droppable VMAs are
 * left alone, and so is a VMA whose flags would not change. Returns true when the VMA changed.
 *   new ∋ L, old ∌ L  → locked_vm += pages
 *   new ∋ L, old ∋ L  → +0 (ONFAULT ↔ plain; b155b4fde5bd)
 *   new ∌ L           → locked_vm −= pages
 */
function fixupVma(mm: Mm, t: VmaTable, i: number, newLock: number, tag: number): boolean {
  const f = vmaFlags(t, i);
  const old = f & LOCK_MASK;
  if (old === newLock || (f & UNLOCKABLE) !== 0) return false;
  const pages = vmaEnd(t, i) - vmaStart(t, i);
  if ((newLock & L) === 0) {
    mm.lockedVm -= pages;
    setVmaTag(t, i, 0);
  } else if ((old & L) === 0) {
    mm.lockedVm += pages;
    setVmaTag(t, i, tag);
  }
  setVmaFlags(t, i, (f & ~LOCK_MASK) | newLock);
  return true;
}

/** __mlock_vma_pages_range()/__mm_populate() fail on PROT_NONE: no FOLL_FORCE for an inaccessible VMA. */
function populateFails(flags: number): boolean {
  return (flags & PROT_MASK) === 0 && (flags & (UNLOCKABLE | LOF)) === 0;
}

/**
 * apply_vma_lock_flags() (modern) / do_mlock() (2.6.28): set `newLock` on every VMA of
 * [start, end), splitting at the edges. A hole makes it ENOMEM with the pieces before the hole
 * already changed (observed S11). 2.6.28 also populates VMA by VMA and stops at the first failure
 * (PROT_NONE → ENOMEM), leaving the failing VMA locked and counted.
 */
function lockRange(mm: Mm, start: number, end: number, newLock: number, stopOnPopulateError: boolean, tag: number): Errno | null {
  const t = mm.vmas;
  let k = findVma(t, start);
  if (k >= t.n || vmaStart(t, k) > start) return 'ENOMEM';
  const first = Math.max(k - 1, 0);
  let cursor = start;
  let err: Errno | null = null;
  while (k < t.n && vmaStart(t, k) < end) {
    if (vmaStart(t, k) > cursor) {
      err = 'ENOMEM';
      break;
    }
    const f = vmaFlags(t, k);
    if ((f & LOCK_MASK) !== newLock && (f & UNLOCKABLE) === 0) {
      if (vmaStart(t, k) < cursor) k = splitAt(t, cursor);
      if (vmaEnd(t, k) > end) splitAt(t, end);
      fixupVma(mm, t, k, newLock, tag);
      if (stopOnPopulateError && (newLock & L) !== 0 && populateFails(f)) {
        err = 'ENOMEM';
        cursor = vmaEnd(t, k);
        k++;
        break;
      }
    }
    cursor = vmaEnd(t, k);
    k++;
  }
  if (err === null && cursor < end) err = 'ENOMEM';
  mergeAround(t, first, Math.min(k + 1, t.n));
  return err;
}

/** Pages already VM_LOCKED inside [start, end): count_mm_mlocked_page_nr() (v4.9, 0cf2f6f6dc60). */
function lockedPagesIn(t: VmaTable, start: number, end: number): number {
  let count = 0;
  for (let i = findVma(t, start); i < t.n && vmaStart(t, i) < end; i++) {
    if ((vmaFlags(t, i) & L) === 0) continue;
    count += Math.min(vmaEnd(t, i), end) - Math.max(vmaStart(t, i), start);
  }
  return count;
}

/** Modern __mm_populate() after locking: PROT_NONE makes mlock() return ENOMEM, the lock stays. */
function populateRange(t: VmaTable, start: number, end: number): Errno | null {
  for (let i = findVma(t, start); i < t.n && vmaStart(t, i) < end; i++) {
    if (populateFails(vmaFlags(t, i))) return 'ENOMEM';
  }
  return null;
}

/** do_mlock(): mlock(2) and mlock2(2), in the order of the checks of the profile's kernel. */
function doMlock(profile: Profile, task: Task, mm: Mm, addr: number, length: number, newLock: number, tag: number): Errno | null {
  if (!canDoMlock(task)) return 'EPERM';
  const span = lockSpan(addr, length);
  let locked = span.pages + mm.lockedVm;
  if (lockWouldExceed(task, locked) && !profile.base2008) {
    // Modern only: pages already locked in the range don't count twice (count_mm_mlocked_page_nr).
    locked -= lockedPagesIn(mm.vmas, span.startPage, span.startPage + span.pages);
  }
  if (lockWouldExceed(task, locked)) return 'ENOMEM';
  if (spanWraps(span)) return 'EINVAL';
  if (span.pages === 0) return null;
  const end = span.startPage + span.pages;
  const err = lockRange(mm, span.startPage, end, newLock, profile.base2008, tag);
  if (err !== null || profile.base2008) return err;
  return populateRange(mm.vmas, span.startPage, end);
}

export function sysMlock(profile: Profile, task: Task, mm: Mm, addr: number, length: number, tag: number): Errno | null {
  return doMlock(profile, task, mm, addr, length, L, tag);
}

export function sysMlock2(
  profile: Profile,
  task: Task,
  mm: Mm,
  addr: number,
  length: number,
  flags: readonly Mlock2FlagName[],
  tag: number,
): Errno | null {
  if (profile.base2008) return 'ENOSYS';
  let lock = L;
  for (const f of flags) {
    if (f === 'MLOCK_ONFAULT') lock |= LOF;
    else return 'EINVAL';
  }
  return doMlock(profile, task, mm, addr, length, lock, tag);
}

/** sys_munlock(): no capability or limit check; holes give ENOMEM with partial effect. */
export function sysMunlock(_profile: Profile, mm: Mm, addr: number, length: number): Errno | null {
  const span = lockSpan(addr, length);
  if (spanWraps(span)) return 'EINVAL';
  if (span.pages === 0) return null;
  return lockRange(mm, span.startPage, span.startPage + span.pages, 0, false, 0);
}

/** Lock or unlock every VMA, ignoring errors (the loop of do_mlockall / apply_mlockall_flags). */
function fixupAll(mm: Mm, newLock: number, tag: number): void {
  const t = mm.vmas;
  for (let i = 0; i < t.n; i++) fixupVma(mm, t, i, newLock, tag);
  mergeAround(t, 0, t.n);
}

const MCL_CURRENT = 1;
const MCL_FUTURE = 2;
const MCL_ONFAULT = 4;
const MCL_INHERIT = 8;
const MCL_RECURSIVE = 16;
const MCL_UNKNOWN = 1 << 20;

function mclBits(profile: Profile, flags: readonly MclFlagName[]): number {
  let bits = 0;
  for (const f of flags) {
    switch (f) {
      case 'MCL_CURRENT':
        bits |= MCL_CURRENT;
        break;
      case 'MCL_FUTURE':
        bits |= MCL_FUTURE;
        break;
      // A name the profile's kernel doesn't define is an unknown bit: EINVAL.
      case 'MCL_ONFAULT':
        bits |= profile.base2008 ? MCL_UNKNOWN : MCL_ONFAULT;
        break;
      case 'MCL_INHERIT':
        bits |= profile.base2008 ? MCL_INHERIT : MCL_UNKNOWN;
        break;
      case 'MCL_RECURSIVE':
        bits |= profile.base2008 ? MCL_RECURSIVE : MCL_UNKNOWN;
        break;
      default: {
        const _exhaustive: never = f;
        return MCL_UNKNOWN | (_exhaustive as number);
      }
    }
  }
  return bits;
}

/** sys_mlockall() for the profile: flag checks, EPERM, the total_vm ENOMEM test, then do_mlockall(). */
export function sysMlockall(profile: Profile, task: Task, mm: Mm, flags: readonly MclFlagName[], tag: number): Errno | null {
  const bits = mclBits(profile, flags);
  if (profile.base2008) {
    // V2's vetting (KOSAKI): CUR or FUT required, no unknown bits, RECURSIVE needs INHERIT.
    if ((bits & (MCL_CURRENT | MCL_FUTURE)) === 0) return 'EINVAL';
    if ((bits & ~(MCL_CURRENT | MCL_FUTURE | MCL_INHERIT | MCL_RECURSIVE)) !== 0) return 'EINVAL';
    if ((bits & (MCL_INHERIT | MCL_RECURSIVE)) === MCL_RECURSIVE) return 'EINVAL';
  } else {
    if (bits === 0 || (bits & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)) !== 0 || bits === MCL_ONFAULT) {
      return 'EINVAL';
    }
  }
  if (!canDoMlock(task)) return 'EPERM';
  // The MCL_CURRENT test is against total_vm, every mapped page, special ones included.
  if ((bits & MCL_CURRENT) !== 0 && lockWouldExceed(task, mm.totalVm)) return 'ENOMEM';

  if (profile.base2008) {
    // do_mlockall(): def_flags set wholesale.
    mm.defFlags = (bits & MCL_FUTURE) !== 0 ? DEF_LOCKED : 0;
    mm.defTag = mm.defFlags !== 0 ? tag : 0;
    const inherit = (bits & MCL_INHERIT ? MCL_INHERIT_BIT : 0) | (bits & MCL_RECURSIVE ? MCL_RECURSIVE_BIT : 0);
    // B2: as written, only `if (flags & MCL_INHERIT)` assigns mcl_inherit; never cleared.
    if (!profile.asWritten || inherit !== 0) {
      mm.mclInherit = inherit;
      mm.mclTag = inherit !== 0 ? tag : 0;
    }
    if ((bits & ~(MCL_INHERIT | MCL_RECURSIVE)) === MCL_FUTURE) return null;
    fixupAll(mm, bits & MCL_CURRENT ? L : 0, tag);
    return null;
  }

  // apply_mlockall_flags()
  mm.defFlags &= ~(DEF_LOCKED | DEF_LOCKONFAULT);
  mm.defTag = 0;
  if (bits & MCL_FUTURE) {
    mm.defFlags |= DEF_LOCKED | (bits & MCL_ONFAULT ? DEF_LOCKONFAULT : 0);
    mm.defTag = tag;
    if ((bits & MCL_CURRENT) === 0) return null;
  }
  fixupAll(mm, L | (bits & MCL_ONFAULT ? LOF : 0), tag);
  return null;
}

/** sys_munlockall(): always 0. As written (B2) the patch leaves mcl_inherit set. */
export function sysMunlockall(profile: Profile, mm: Mm): Errno | null {
  mm.defFlags &= ~(DEF_LOCKED | DEF_LOCKONFAULT);
  mm.defTag = 0;
  if (profile.base2008 && !profile.asWritten) {
    mm.mclInherit = 0;
    mm.mclTag = 0;
  }
  fixupAll(mm, 0, 0);
  return null;
}
