import type { HostState } from '@lockline/kernel';
import { vmaEnd, vmaFlags, vmaStart, vmaTag } from '@lockline/kernel';

/**
 * A hash of a host's state that depends only on the state, not on the order its maps were filled:
 * tasks are visited in pid order, every number of a task and its mm (VMAs, lock tags included) is
 * mixed into two independent 32-bit lanes. Rebuilding from the store must give the same hash as
 * the live projection.
 */
export function stateHash(host: HostState, extra: readonly number[] = []): string {
  let a = 0x811c9dc5;
  let b = 0x9e3779b9;
  const mix = (x: number): void => {
    // Split an integer-valued double (±2^53, ±Infinity) into two 32-bit words.
    let lo: number;
    let hi: number;
    if (!Number.isFinite(x)) {
      lo = x > 0 ? 0x7fffffff : 0x80000000;
      hi = 0x7ff00000;
    } else {
      lo = x % 4294967296 | 0;
      hi = Math.floor(x / 4294967296) | 0;
    }
    a = Math.imul(a ^ lo, 0x01000193);
    a = Math.imul(a ^ hi, 0x01000193);
    b = Math.imul(b ^ lo, 0x85ebca6b) ^ (b >>> 13);
    b = Math.imul(b ^ hi, 0xc2b2ae35) ^ (b >>> 16);
  };
  for (const x of extra) mix(x);
  const pids = [...host.tasks.keys()].sort((p, q) => p - q);
  // An mm is named by the lowest pid using it, not by its id: ids follow creation order.
  const mmName = new Map<object, number>();
  for (const pid of pids) {
    const mm = host.tasks.get(pid)!.mm;
    if (mm && !mmName.has(mm)) mmName.set(mm, pid);
  }
  for (const pid of pids) {
    const t = host.tasks.get(pid)!;
    mix(pid);
    mix(t.ppid);
    mix(t.tgid);
    mix(t.alive ? 1 : 0);
    mix(t.capIpcLock ? 1 : 0);
    mix(t.capSysResource ? 1 : 0);
    mix(t.limits.memlockCur);
    mix(t.limits.memlockMax);
    const mm = t.mm;
    if (!mm) {
      mix(-1);
      continue;
    }
    mix(mmName.get(mm)!);
    mix(mm.lockedVm);
    mix(mm.totalVm);
    mix(mm.defFlags);
    mix(mm.mclInherit);
    mix(mm.brk);
    mix(mm.defTag);
    mix(mm.mclTag);
    const v = mm.vmas;
    mix(v.n);
    for (let i = 0; i < v.n; i++) {
      mix(vmaStart(v, i));
      mix(vmaEnd(v, i));
      mix(vmaFlags(v, i));
      mix(vmaTag(v, i));
    }
  }
  const hex = (x: number): string => (x >>> 0).toString(16).padStart(8, '0');
  return hex(a) + hex(b);
}
