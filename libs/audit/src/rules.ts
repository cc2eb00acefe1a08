import type { Mm, Task } from '@lockline/kernel';
import { memlockLimitPages } from '@lockline/kernel';

/**
 * LOCKED_OVER_LIMIT's test for one task: it uses an mm whose locked_vm exceeds its RLIMIT_MEMLOCK
 * and it lacks CAP_IPC_LOCK — reached without any failed call through inheritance across fork
 * (B5) or by lowering the limit. A wrapped locked_vm is LOCKED_VM_UNDERFLOW's business, not this.
 */
export function isOverLimit(task: Task): boolean {
  const mm = task.mm;
  if (!task.alive || !mm || task.capIpcLock || mm.lockedVm < 0) return false;
  return mm.lockedVm > memlockLimitPages(task);
}

/** The host rule: locked pages above `share` of the host's RAM. */
export function isOverHostShare(lockedPages: number, ramPages: number, share: number): boolean {
  return ramPages > 0 && lockedPages > share * ramPages;
}

/** Does the host's sample disagree with the projection? (a wrapped value compares as the kernel shows it) */
export function countersDiffer(mm: Mm, sampledLocked: number | string, sampledTotal: number): boolean {
  const projected = mm.lockedVm < 0 ? (2n ** 64n + BigInt(mm.lockedVm)).toString() : mm.lockedVm;
  return String(projected) !== String(sampledLocked) || mm.totalVm !== sampledTotal;
}
