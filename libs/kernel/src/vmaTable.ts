/**
 * An mm's VMAs, sorted by address, packed four numbers to a VMA in one array of doubles:
 * [startPage, endPage, flags, lockTag]. Page numbers of a 64-bit address space fit a double exactly.
 * `lockTag` is the caller's opaque name for the operation that locked the VMA (0 when unlocked): the
 * projection passes event seqs, so lock provenance survives splits, merges and fork.
 *
 * Why packed: a host holds thousands of processes and some of them thousands of mappings. Objects
 * per VMA cost ~100 bytes each and scatter over the heap; four doubles cost 32 bytes, lookups are a
 * binary search, and a split or insert moves one run of numbers.
 *
 * Small tables are plain arrays of doubles, large ones Float64Arrays. The storage is the same (8-byte
 * doubles), but a typed array brings a JSTypedArray and a JSArrayBuffer (~180 bytes of heap) and,
 * off the heap, its backing store and bookkeeping (~250 bytes more of RSS, measured): more than the
 * nine VMAs of a typical process cost themselves. A large table pays that gladly for memmove: a
 * split in a 1,000-VMA table moves thousands of numbers, which copyWithin does ~10× faster on a
 * typed array than a loop does on an array (and Array.prototype.copyWithin, generic, ~250× slower).
 * Tables are made by `slots` only, so the arrays are all HOLEY_DOUBLE_ELEMENTS.
 */

/** VMA flag bits (ours, not the kernel's numeric values). */
export const VmaFlag = {
  READ: 1,
  WRITE: 2,
  EXEC: 4,
  /** VM_LOCKED */
  LOCKED: 8,
  /** VM_LOCKONFAULT (linux-modern only) */
  LOCKONFAULT: 16,
  /** VM_IO|VM_PFNMAP|VM_DONTEXPAND|…: never locked by mlock, never counted (vdso, vvar, device maps) */
  SPECIAL: 32,
  /** VM_GROWSDOWN: the stack */
  GROWSDOWN: 64,
  /** VM_DONTCOPY (MADV_DONTFORK): not copied into a fork child */
  DONTCOPY: 128,
  SHARED: 256,
  /** VM_DROPPABLE (linux-modern MAP_DROPPABLE): vma_supports_mlock() is false */
  DROPPABLE: 512,
} as const;

export const LOCK_MASK = VmaFlag.LOCKED | VmaFlag.LOCKONFAULT;
export const PROT_MASK = VmaFlag.READ | VmaFlag.WRITE | VmaFlag.EXEC;
/** A VMA that mlock_fixup() leaves alone. */
export const UNLOCKABLE = VmaFlag.SPECIAL | VmaFlag.DROPPABLE;

const F = 4;

export interface VmaTable {
  /** capacity × 4 numbers (its length is the capacity); VMAs [0, n) are in use */
  d: number[] | Float64Array;
  n: number;
}

/** Tables of more numbers than this (64 VMAs) are Float64Arrays. */
const LARGE = 64 * F;
/** Zeros as doubles: slices of it are exact-size HOLEY_DOUBLE_ELEMENTS arrays, made in one allocation. */
const ZEROS: readonly number[] = new Array<number>(LARGE).fill(0.5).fill(0);

/** `length` numbers for a table (see the header). */
function slots(length: number): number[] | Float64Array {
  return length <= LARGE ? ZEROS.slice(0, length) : new Float64Array(length);
}

/** Copy the first `count` numbers of `from` into `to`. */
function copyInto(to: number[] | Float64Array, from: number[] | Float64Array, count: number): void {
  if (to instanceof Float64Array && from instanceof Float64Array) to.set(from.subarray(0, count));
  else for (let k = 0; k < count; k++) to[k] = from[k]!;
}

/** Move numbers [from, end) to start at `to` (overlapping ranges allowed), as copyWithin. */
function move(d: number[] | Float64Array, to: number, from: number, end: number): void {
  if (d instanceof Float64Array) d.copyWithin(to, from, end);
  else if (to < from) for (let k = from; k < end; k++) d[to + k - from] = d[k]!;
  else if (to > from) for (let k = end - 1; k >= from; k--) d[to + k - from] = d[k]!;
}

export function createVmaTable(capacity = 8): VmaTable {
  return { d: slots(Math.max(capacity, 4) * F), n: 0 };
}

export function cloneVmaTable(t: VmaTable): VmaTable {
  // Some room to grow (a child usually maps a little after fork or exec) without regrowing at once.
  const capacity = Math.max(t.n + Math.max(4, t.n >> 3), 4);
  const d = slots(capacity * F);
  copyInto(d, t.d, t.n * F);
  return { d, n: t.n };
}

export const vmaStart = (t: VmaTable, i: number): number => t.d[i * F]!;
export const vmaEnd = (t: VmaTable, i: number): number => t.d[i * F + 1]!;
export const vmaFlags = (t: VmaTable, i: number): number => t.d[i * F + 2]!;
export const vmaPages = (t: VmaTable, i: number): number => t.d[i * F + 1]! - t.d[i * F]!;
export const vmaTag = (t: VmaTable, i: number): number => t.d[i * F + 3]!;

export function setVmaFlags(t: VmaTable, i: number, flags: number): void {
  t.d[i * F + 2] = flags;
}
export function setVmaTag(t: VmaTable, i: number, tag: number): void {
  t.d[i * F + 3] = tag;
}
export function setVmaStart(t: VmaTable, i: number, page: number): void {
  t.d[i * F] = page;
}
export function setVmaEnd(t: VmaTable, i: number, page: number): void {
  t.d[i * F + 1] = page;
}

/** Index of the first VMA whose end is above `page` (find_vma): n when there is none. */
export function findVma(t: VmaTable, page: number): number {
  const d = t.d;
  let lo = 0;
  let hi = t.n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (d[mid * F + 1]! <= page) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the VMA containing `page`, or -1 (vma_lookup). */
export function vmaAt(t: VmaTable, page: number): number {
  const i = findVma(t, page);
  return i < t.n && vmaStart(t, i) <= page ? i : -1;
}

function grow(t: VmaTable, extra: number): void {
  const need = (t.n + extra) * F;
  if (need <= t.d.length) return;
  // Grow by half: most mms stay small, and a doubling would leave much of each table unused.
  const next = slots(Math.max(need, Math.ceil((t.d.length / F) * 1.5) * F));
  copyInto(next, t.d, t.n * F);
  t.d = next;
}

/** Insert a VMA at index i (the caller keeps the order). */
export function insertVma(t: VmaTable, i: number, start: number, end: number, flags: number, tag = 0): void {
  grow(t, 1);
  const d = t.d;
  if (i < t.n) move(d, (i + 1) * F, i * F, t.n * F);
  d[i * F] = start;
  d[i * F + 1] = end;
  d[i * F + 2] = flags;
  d[i * F + 3] = tag;
  t.n++;
}

/** Copy VMA `from` over VMA `to` (compaction). */
export function moveVma(t: VmaTable, to: number, from: number): void {
  if (to !== from) move(t.d, to * F, from * F, from * F + F);
}

/** Remove VMAs [i, j). */
export function removeVmas(t: VmaTable, i: number, j: number): void {
  if (j <= i) return;
  move(t.d, i * F, j * F, t.n * F);
  t.n -= j - i;
}

/**
 * Make `page` a VMA boundary (split_vma) if it falls strictly inside a VMA.
 * Returns the index of the first VMA starting at or above `page`.
 */
export function splitAt(t: VmaTable, page: number): number {
  const i = findVma(t, page);
  if (i >= t.n) return i;
  const s = vmaStart(t, i);
  if (s >= page) return i;
  const e = vmaEnd(t, i);
  setVmaEnd(t, i, page);
  insertVma(t, i + 1, page, e, vmaFlags(t, i), vmaTag(t, i));
  return i + 1;
}

/**
 * VMAs that may be merged (vma_merge): adjacent, same flags, neither special nor a stack — and,
 * beyond the kernel, locked by the same operation, so provenance is never merged away.
 */
function mergeable(t: VmaTable, a: number, b: number): boolean {
  const fa = vmaFlags(t, a);
  return (
    vmaEnd(t, a) === vmaStart(t, b) &&
    fa === vmaFlags(t, b) &&
    (fa & (VmaFlag.SPECIAL | VmaFlag.GROWSDOWN)) === 0 &&
    vmaTag(t, a) === vmaTag(t, b)
  );
}

/**
 * Merge compatible neighbours among VMAs [i - 1, j] after a change to [i, j).
 * Returns how many VMAs disappeared, so a caller walking the table can adjust its index.
 */
export function mergeAround(t: VmaTable, i: number, j: number): number {
  const lo = Math.max(i - 1, 0);
  const hi = Math.min(j, t.n - 1);
  let w = lo;
  let removed = 0;
  const d = t.d;
  for (let r = lo + 1; r <= hi; r++) {
    if (mergeable(t, w, r)) {
      setVmaEnd(t, w, vmaEnd(t, r));
      removed++;
    } else {
      w++;
      if (w !== r) {
        // element copies, as move() does
        const a = w * F;
        const b = r * F;
        d[a] = d[b]!;
        d[a + 1] = d[b + 1]!;
        d[a + 2] = d[b + 2]!;
        d[a + 3] = d[b + 3]!;
      }
    }
  }
  if (removed > 0) {
    move(d, (hi + 1 - removed) * F, (hi + 1) * F, t.n * F);
    t.n -= removed;
  }
  return removed;
}

/** The highest gap of `pages` pages below `ceiling` and at or above `floor` (top-down search); -1 if none. */
export function findGapTopDown(t: VmaTable, pages: number, floor: number, ceiling: number): number {
  let top = ceiling;
  let i = findVma(t, ceiling - 1);
  if (i < t.n && vmaStart(t, i) < ceiling) top = vmaStart(t, i);
  for (i--; i >= 0 && top - floor >= pages; i--) {
    if (top - vmaEnd(t, i) >= pages) return top - pages;
    top = vmaStart(t, i);
  }
  return top - floor >= pages ? top - pages : -1;
}

/** True when no VMA overlaps [start, end). */
export function rangeIsFree(t: VmaTable, start: number, end: number): boolean {
  const i = findVma(t, start);
  return i >= t.n || vmaStart(t, i) >= end;
}
