import type { Task } from './state.js';

export const PAGE_SHIFT = 12;
export const PAGE = 4096;
/** x86-64 TASK_SIZE (0x7ffffffff000) in pages */
export const TASK_SIZE_PAGES = 0x7ffffffff;
/** 2^64 bytes in pages: address arithmetic wraps here */
export const ADDRESS_SPACE_PAGES = 2 ** 52;

/** lim = ⌊RLIMIT_MEMLOCK.rlim_cur / PAGE_SIZE⌋ */
export function memlockLimitPages(task: Task): number {
  const cur = task.limits.memlockCur;
  return cur === Number.POSITIVE_INFINITY ? cur : Math.floor(cur / PAGE);
}

/** can_do_mlock(): the capability, or a non-zero limit in BYTES (7 bytes passes, yet lim is 0). */
export function canDoMlock(task: Task): boolean {
  return task.capIpcLock || task.limits.memlockCur !== 0;
}

/**
 * "pages > lim", compared the way the kernel's unsigned long compares: a locked_vm that wrapped
 * below zero (held negative here) is a huge number, so it exceeds every finite limit.
 */
export function overMemlockLimit(task: Task, pages: number): boolean {
  return pages < 0 || pages > memlockLimitPages(task);
}

/**
 * The same test where the capability bypasses it (mlock, mmap, brk, stack growth, mremap): true
 * when the operation must fail.
 */
export function lockWouldExceed(task: Task, pages: number): boolean {
  return !task.capIpcLock && overMemlockLimit(task, pages);
}

export interface Span {
  startPage: number;
  /** PAGE_ALIGN(len + offset) in pages, modulo 2^64 bytes as size_t arithmetic is */
  pages: number;
}

/** The rounding of mlock/munlock: start = addr & PAGE_MASK, len = PAGE_ALIGN(len + (addr & ~PAGE_MASK)). */
export function lockSpan(addr: number, length: number): Span {
  const offset = addr % PAGE;
  const startPage = (addr - offset) / PAGE;
  const raw = length + offset + (PAGE - 1);
  if (raw <= Number.MAX_SAFE_INTEGER) return { startPage, pages: Math.floor(raw / PAGE) };
  const wrapped = (BigInt(length) + BigInt(offset) + BigInt(PAGE - 1)) % 2n ** 64n;
  return { startPage, pages: Number(wrapped >> 12n) };
}

/** `end < start` after size_t wrap-around (the EINVAL test of do_mlock / apply_vma_lock_flags). */
export function spanWraps(span: Span): boolean {
  return span.pages > 0 && span.startPage + span.pages >= ADDRESS_SPACE_PAGES;
}

/** PAGE_ALIGN(len) in pages, or -1 when it overflows or exceeds TASK_SIZE. */
export function pagesOfLength(length: number): number {
  const pages = Math.ceil(length / PAGE);
  return pages > TASK_SIZE_PAGES ? -1 : pages;
}
