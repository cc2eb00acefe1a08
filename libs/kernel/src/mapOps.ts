import { PAGE, TASK_SIZE_PAGES, canDoMlock, lockWouldExceed, pagesOfLength } from './limits.js';
import type { Profile } from './profile.js';
import type { Mm, Task } from './state.js';
import type { Errno, MadviceName, MapFlagName, OpResult, Prot } from './types.js';
import type { VmaTable } from './vmaTable.js';
import {
  LOCK_MASK,
  UNLOCKABLE,
  VmaFlag,
  findGapTopDown,
  findVma,
  insertVma,
  mergeAround,
  rangeIsFree,
  removeVmas,
  setVmaEnd,
  setVmaFlags,
  setVmaStart,
  splitAt,
  vmaEnd,
  vmaFlags,
  vmaStart,
} from './vmaTable.js';

const L = VmaFlag.LOCKED;

/** Top of the top-down mmap search: below where an interpreter is laid out. */
export const MMAP_BASE_PAGE = 0x7ffff7dd0;
/** Bottom of the search (mmap_min_addr-like, above the classic ELF text base). */
const MMAP_FLOOR_PAGE = 0x10;
/** RLIMIT_STACK's usual 8 MiB: acct_stack_growth() refuses to grow the stack past it. */
const STACK_LIMIT_PAGES = 2048;
/** modern stack_guard_gap (256 pages) kept below a growsdown VMA by brk and mmap placement */
const STACK_GUARD_GAP_PAGES = 256;

/** "rw-" → VmaFlag bits; null when it isn't a protection string. */
export function protBits(prot: Prot): number | null {
  if (prot.length !== 3) return null;
  const r = prot.charCodeAt(0);
  const w = prot.charCodeAt(1);
  const x = prot.charCodeAt(2);
  if ((r !== 114 && r !== 45) || (w !== 119 && w !== 45) || (x !== 120 && x !== 45)) return null;
  return (r === 114 ? VmaFlag.READ : 0) | (w === 119 ? VmaFlag.WRITE : 0) | (x === 120 ? VmaFlag.EXEC : 0);
}

export function protString(flags: number): string {
  return (
    (flags & VmaFlag.READ ? 'r' : '-') + (flags & VmaFlag.WRITE ? 'w' : '-') + (flags & VmaFlag.EXEC ? 'x' : '-')
  );
}

/**
 * Remove [start, end) from the mm (do_munmap): total_vm drops by every page removed, locked_vm by
 * every VM_LOCKED page — but 2.6.28 subtracts only `if (mm->locked_vm)`, tested once up front.
 */
export function unmapRange(profile: Profile, mm: Mm, start: number, end: number): void {
  if (end <= start) return;
  const t = mm.vmas;
  let i = findVma(t, start);
  if (i >= t.n || vmaStart(t, i) >= end) return;
  i = splitAt(t, start);
  const subtractLocked = !profile.base2008 || mm.lockedVm !== 0;
  let j = i;
  while (j < t.n && vmaStart(t, j) < end) {
    if (vmaEnd(t, j) > end) splitAt(t, end);
    const pages = vmaEnd(t, j) - vmaStart(t, j);
    mm.totalVm -= pages;
    if ((vmaFlags(t, j) & L) !== 0) {
      if (subtractLocked) mm.lockedVm -= pages;
      else if ((vmaFlags(t, j) & UNLOCKABLE) === 0) mm.accountingExact = false;
    }
    j++;
  }
  removeVmas(t, i, j);
}

/** Insert a new VMA [start, end) that the caller has made room for, merging with like neighbours. */
export function mapVma(t: VmaTable, start: number, end: number, flags: number, tag: number): void {
  const i = findVma(t, start);
  insertVma(t, i, start, end, flags, (flags & L) !== 0 ? tag : 0);
  mergeAround(t, i, i + 1);
}

export function sysMmap(
  profile: Profile,
  task: Task,
  mm: Mm,
  addr: number | undefined,
  length: number,
  prot: Prot,
  flags: readonly MapFlagName[],
  tag: number,
): OpResult {
  if (length === 0) return { errno: 'EINVAL' };
  const pages = pagesOfLength(length);
  if (pages <= 0) return { errno: 'ENOMEM' };
  const protFlags = protBits(prot);
  if (protFlags === null) return { errno: 'EINVAL' };

  let fixed = false;
  let noReplace = false;
  let locked = false;
  let shared = 0;
  let priv = 0;
  let droppable = false;
  let growsDown = false;
  for (const f of flags) {
    switch (f) {
      case 'MAP_FIXED':
        fixed = true;
        break;
      case 'MAP_FIXED_NOREPLACE':
        if (profile.base2008) return { errno: 'EINVAL' };
        noReplace = true;
        break;
      case 'MAP_LOCKED':
        locked = true;
        break;
      case 'MAP_SHARED':
        shared = 1;
        break;
      case 'MAP_PRIVATE':
        priv = 1;
        break;
      case 'MAP_DROPPABLE':
        if (profile.base2008) return { errno: 'EINVAL' };
        droppable = true;
        break;
      case 'MAP_GROWSDOWN':
        growsDown = true;
        break;
      case 'MAP_ANONYMOUS':
      case 'MAP_POPULATE':
      case 'MAP_NORESERVE':
        break;
      default: {
        const _exhaustive: never = f;
        return { errno: 'EINVAL', note: `unknown mmap flag ${String(_exhaustive)}` };
      }
    }
  }

  // get_unmapped_area()
  let start: number;
  if (fixed || noReplace) {
    if (addr === undefined || addr % PAGE !== 0) return { errno: 'EINVAL' };
    start = addr / PAGE;
    if (start + pages > TASK_SIZE_PAGES) return { errno: 'ENOMEM' };
    if (noReplace && !rangeIsFree(mm.vmas, start, start + pages)) return { errno: 'EEXIST' };
  } else {
    const hint = addr === undefined ? 0 : Math.floor(addr / PAGE);
    if (hint > 0 && hint + pages <= TASK_SIZE_PAGES && rangeIsFree(mm.vmas, hint, hint + pages)) start = hint;
    else start = findGapTopDown(mm.vmas, pages, MMAP_FLOOR_PAGE, MMAP_BASE_PAGE);
    if (start < 0) return { errno: 'ENOMEM' };
  }

  // vm_flags = prot | def_flags | (MAP_LOCKED ? VM_LOCKED : 0); then the lock checks of do_mmap().
  let lockBits = mm.defFlags & LOCK_MASK;
  if (locked) {
    if (!canDoMlock(task)) return { errno: 'EPERM' };
    lockBits |= L;
  }
  // The count is locked_vm before any MAP_FIXED unmap (observed S07).
  if ((lockBits & L) !== 0 && lockWouldExceed(task, mm.lockedVm + pages)) return { errno: 'EAGAIN' };
  if (shared + priv !== 1 && !droppable) return { errno: 'EINVAL' };
  if (droppable && (shared + priv !== 0 || locked)) return { errno: 'EINVAL' };

  if (fixed && !noReplace) unmapRange(profile, mm, start, start + pages);
  let vmFlags = protFlags | (shared ? VmaFlag.SHARED : 0) | (growsDown ? VmaFlag.GROWSDOWN : 0);
  if (droppable) vmFlags |= VmaFlag.DROPPABLE;
  mm.totalVm += pages;
  // __mmap_complete() / mmap_region(): a VMA that can't be locked drops VM_LOCKED and isn't counted.
  if ((lockBits & L) !== 0 && !droppable) {
    vmFlags |= lockBits;
    mm.lockedVm += pages;
  }
  mapVma(mm.vmas, start, start + pages, vmFlags, tag);
  return { errno: null, addr: start * PAGE };
}

export function sysMunmap(profile: Profile, mm: Mm, addr: number, length: number): Errno | null {
  if (addr % PAGE !== 0 || length === 0) return 'EINVAL';
  const start = addr / PAGE;
  const pages = Math.ceil(length / PAGE);
  if (start > TASK_SIZE_PAGES || pages > TASK_SIZE_PAGES - start) return 'EINVAL';
  unmapRange(profile, mm, start, start + pages);
  return null;
}

/**
 * sys_brk(). glibc reports failure as ENOMEM (the raw call returns the old break).
 * Growth is limit-checked only when def_flags has VM_LOCKED (do_brk / check_brk_limits).
 */
export function sysBrk(
  profile: Profile,
  task: Task,
  mm: Mm,
  addr: number | undefined,
  increment: number | undefined,
  tag: number,
): OpResult {
  const requested = addr ?? mm.brk + (increment ?? 0);
  const fail: OpResult = { errno: 'ENOMEM', brk: mm.brk };
  if (requested < mm.startBrk) return fail;
  const newEnd = Math.ceil(requested / PAGE);
  const oldEnd = Math.ceil(mm.brk / PAGE);
  if (newEnd === oldEnd) {
    mm.brk = requested;
    return { errno: null, brk: requested };
  }
  if (newEnd < oldEnd) {
    unmapRange(profile, mm, newEnd, oldEnd);
    mm.brk = requested;
    return { errno: null, brk: requested };
  }
  const grow = newEnd - oldEnd;
  const lockBits = mm.defFlags & LOCK_MASK;
  if ((lockBits & L) !== 0 && lockWouldExceed(task, mm.lockedVm + grow)) return fail;
  // The heap must not run into the next mapping (one page, and the stack guard gap, kept free).
  const t = mm.vmas;
  const next = findVma(t, oldEnd);
  if (next < t.n) {
    const gap = profile.base2008 ? 0 : (vmaFlags(t, next) & VmaFlag.GROWSDOWN ? STACK_GUARD_GAP_PAGES : 0);
    if (newEnd + 1 > vmaStart(t, next) - gap) return fail;
  }
  mm.totalVm += grow;
  if ((lockBits & L) !== 0) mm.lockedVm += grow;
  mapVma(t, oldEnd, newEnd, VmaFlag.READ | VmaFlag.WRITE | lockBits, tag);
  mm.brk = requested;
  return { errno: null, brk: requested };
}

/**
 * mremap() without MREMAP_MAYMOVE: shrink, or grow in place.
 * 6.x looks the VMA up first (no VMA at addr → EFAULT, even to shrink) and refuses old_len 0
 * without MAYMOVE (EINVAL); 2.6.28 shrinks by do_munmap() before looking anything up.
 */
export function sysMremap(
  profile: Profile,
  task: Task,
  mm: Mm,
  addr: number,
  oldLength: number,
  newLength: number,
): Errno | null {
  if (addr % PAGE !== 0) return 'EINVAL';
  const oldPages = Math.ceil(oldLength / PAGE);
  const newPages = Math.ceil(newLength / PAGE);
  if (newPages === 0) return 'EINVAL';
  const start = addr / PAGE;
  const t = mm.vmas;
  const i = findVma(t, start);
  const found = i < t.n && vmaStart(t, i) <= start;
  if (!profile.base2008) {
    if (oldPages === 0) return 'EINVAL';
    if (!found) return 'EFAULT';
  }
  if (newPages <= oldPages) {
    unmapRange(profile, mm, start + newPages, start + oldPages);
    return null;
  }
  if (!found || oldPages > vmaEnd(t, i) - start) return 'EFAULT';
  const f = vmaFlags(t, i);
  if ((f & VmaFlag.SPECIAL) !== 0) return 'EFAULT';
  const delta = newPages - oldPages;
  if ((f & L) !== 0 && !task.capIpcLock) {
    // 2.6.28 compares bytes (locked_vm << PAGE_SHIFT + delta > rlim_cur); modern mlock_future_ok() pages.
    const over = profile.base2008
      ? mm.lockedVm * PAGE + delta * PAGE < 0 || mm.lockedVm * PAGE + delta * PAGE > task.limits.memlockCur
      : lockWouldExceed(task, mm.lockedVm + delta);
    if (over) return 'EAGAIN';
  }
  const end = start + newPages;
  if (vmaEnd(t, i) !== start + oldPages || end > TASK_SIZE_PAGES || (i + 1 < t.n && vmaStart(t, i + 1) < end)) {
    return 'ENOMEM';
  }
  setVmaEnd(t, i, end);
  mm.totalVm += delta;
  if ((f & L) !== 0) mm.lockedVm += delta;
  mergeAround(t, i, i + 1);
  return null;
}

/** madvise(MADV_DONTFORK / MADV_DOFORK): set or clear VM_DONTCOPY; ENOMEM if part of the range is unmapped. */
export function sysMadvise(mm: Mm, addr: number, length: number, advice: MadviceName): Errno | null {
  if (addr % PAGE !== 0) return 'EINVAL';
  const pages = Math.ceil(length / PAGE);
  if (length > 0 && pages === 0) return 'EINVAL';
  if (pages === 0) return null;
  const start = addr / PAGE;
  const end = start + pages;
  if (end > TASK_SIZE_PAGES) return 'ENOMEM';
  const t = mm.vmas;
  const set = advice === 'MADV_DONTFORK';
  let cursor = start;
  let unmapped = false;
  let k = findVma(t, start);
  const first = Math.max(k - 1, 0);
  while (k < t.n && vmaStart(t, k) < end) {
    if (vmaStart(t, k) > cursor) unmapped = true;
    const f = vmaFlags(t, k);
    if (((f & VmaFlag.DONTCOPY) !== 0) !== set) {
      if (vmaStart(t, k) < start) k = splitAt(t, start);
      if (vmaEnd(t, k) > end) splitAt(t, end);
      setVmaFlags(t, k, set ? f | VmaFlag.DONTCOPY : f & ~VmaFlag.DONTCOPY);
    }
    cursor = vmaEnd(t, k);
    k++;
  }
  if (cursor < end) unmapped = true;
  mergeAround(t, first, Math.min(k + 1, t.n));
  return unmapped ? 'ENOMEM' : null;
}

/** The main stack: the highest growsdown VMA. */
export function stackIndex(t: VmaTable): number {
  for (let i = t.n - 1; i >= 0; i--) if ((vmaFlags(t, i) & VmaFlag.GROWSDOWN) !== 0) return i;
  return -1;
}

/**
 * Stack growth by `pages` (expand_stack → acct_stack_growth). A locked stack is limit-checked;
 * any failure is a fault the process dies of (SIGSEGV).
 */
export function growStack(task: Task, mm: Mm, pages: number): boolean {
  const t = mm.vmas;
  const i = stackIndex(t);
  if (i < 0) return false;
  if (pages === 0) return true;
  const newStart = vmaStart(t, i) - pages;
  if (vmaEnd(t, i) - newStart > STACK_LIMIT_PAGES) return false;
  if (i > 0 && vmaEnd(t, i - 1) > newStart) return false;
  const f = vmaFlags(t, i);
  if ((f & L) !== 0 && lockWouldExceed(task, mm.lockedVm + pages)) return false;
  setVmaStart(t, i, newStart);
  mm.totalVm += pages;
  if ((f & L) !== 0) mm.lockedVm += pages;
  return true;
}
