import { PAGE } from './limits.js';
import { protString } from './mapOps.js';
import type { ProcessReport } from './scenarioTypes.js';
import type { Mm, Task } from './state.js';
import { DEF_LOCKED, DEF_LOCKONFAULT, MCL_INHERIT_BIT, MCL_RECURSIVE_BIT } from './state.js';
import type { MclFlagName, VmFlagName } from './types.js';
import { VmaFlag, vmaEnd, vmaFlags, vmaStart } from './vmaTable.js';

const TWO_64 = 2n ** 64n;

/** locked_vm as the kernel's unsigned long shows it: a number, or a decimal string once it wrapped. */
export function lockedVmValue(lockedVm: number): number | string {
  return lockedVm < 0 ? (TWO_64 + BigInt(lockedVm)).toString() : lockedVm;
}

export function vmFlagNames(bits: number): VmFlagName[] {
  const names: VmFlagName[] = [];
  if (bits & DEF_LOCKED) names.push('VM_LOCKED');
  if (bits & DEF_LOCKONFAULT) names.push('VM_LOCKONFAULT');
  return names;
}

export function mclInheritNames(value: number): MclFlagName[] {
  const names: MclFlagName[] = [];
  if (value & MCL_INHERIT_BIT) names.push('MCL_INHERIT');
  if (value & MCL_RECURSIVE_BIT) names.push('MCL_RECURSIVE');
  return names;
}

const hex = (page: number): string => '0x' + (page * PAGE).toString(16);
const limit = (v: number): number | 'unlimited' => (v === Number.POSITIVE_INFINITY ? 'unlimited' : v);

function vmaReports(mm: Mm): ProcessReport['vmas'] {
  const t = mm.vmas;
  const out: ProcessReport['vmas'] = [];
  for (let i = 0; i < t.n; i++) {
    const f = vmaFlags(t, i);
    const v: ProcessReport['vmas'][number] = {
      start: hex(vmaStart(t, i)),
      end: hex(vmaEnd(t, i)),
      prot: protString(f),
      lockFlags: vmFlagNames(f),
      special: (f & VmaFlag.SPECIAL) !== 0,
    };
    if (f & VmaFlag.GROWSDOWN) v.growsDown = true;
    if (f & VmaFlag.DONTCOPY) v.dontFork = true;
    out.push(v);
  }
  return out;
}

/** A process as `lockline model run` prints it; a dead one as it was when it died. */
export function processReport(task: Task, withVmas = true): ProcessReport {
  const mm = task.mm;
  const report: ProcessReport = {
    alive: task.alive,
    mm: mm ? String(mm.id) : null,
    lockedVmPages: mm ? lockedVmValue(mm.lockedVm) : 0,
    totalVmPages: mm ? mm.totalVm : 0,
    defFlags: mm ? vmFlagNames(mm.defFlags) : [],
    mclInherit: mm ? mclInheritNames(mm.mclInherit) : [],
    capIpcLock: task.capIpcLock,
    capSysResource: task.capSysResource,
    rlimitMemlock: { cur: limit(task.limits.memlockCur), max: limit(task.limits.memlockMax) },
    ppid: task.ppid,
    vmas: mm && withVmas ? vmaReports(mm) : [],
  };
  if (task.killedBy) report.killedBy = task.killedBy;
  return report;
}
