import type { Mm } from './state.js';
import { UNLOCKABLE, VmaFlag, vmaEnd, vmaFlags, vmaStart } from './vmaTable.js';

/** Σ pages of VMAs that are VM_LOCKED and lockable: what locked_vm should be when accounting is exact. */
export function lockedPagesOfLockableVmas(mm: Mm): number {
  const t = mm.vmas;
  let sum = 0;
  for (let i = 0; i < t.n; i++) {
    const f = vmaFlags(t, i);
    if ((f & VmaFlag.LOCKED) !== 0 && (f & UNLOCKABLE) === 0) sum += vmaEnd(t, i) - vmaStart(t, i);
  }
  return sum;
}
