import { notFound } from './errors.js';
import type { Explanation, HostView, ProcessDetail, Tree, Vma } from './schemas.js';

/**
 * Shapes the API builds from what a backend answers; the same for the projector and an offline store.
 */

/** Keeps the processes holding locked memory, or only those over their limit (the projector's own rule). */
export function filterProcesses(view: HostView, only: 'locked' | 'over-limit' | undefined): HostView {
  if (only === undefined) return view;
  const keep =
    only === 'over-limit'
      ? (p: HostView['processes'][number]) => p.lockState === 'over-limit'
      : (p: HostView['processes'][number]) => p.lockState !== 'none' || (p.lockedVmPages !== 0 && p.lockedVmPages !== '0');
  return { ...view, processes: view.processes.filter(keep) };
}

/** The view with the mms more than one process uses (threads and vfork children share their parent's). */
export function treeOf(view: HostView): Tree {
  const byMm = new Map<string, number[]>();
  for (const p of view.processes) {
    if (p.mm === null || !p.alive) continue;
    const list = byMm.get(p.mm);
    if (list === undefined) byMm.set(p.mm, [p.pid]);
    else list.push(p.pid);
  }
  const sharedMms = [...byMm].filter(([, pids]) => pids.length > 1).map(([mm, pids]) => ({ mm, pids }));
  return { ...view, sharedMms };
}

/** One process of `view`, its mm and its explanation; 404 when the view has no such process. */
export function processDetailOf(view: HostView, pid: number, explanation: Explanation, vmas?: Vma[]): ProcessDetail {
  const process = view.processes.find((p) => p.pid === pid);
  if (process === undefined) throw notFound(`host ${view.hostId} boot ${view.bootId} has no process ${pid} at seq ${view.seq}`);
  const sharedWith = process.mm === null ? [] : view.processes.filter((p) => p.pid !== pid && p.alive && p.mm === process.mm).map((p) => p.pid);
  return {
    hostId: view.hostId,
    bootId: view.bootId,
    seq: view.seq,
    process,
    mm:
      process.mm === null
        ? null
        : {
            id: process.mm,
            defFlags: process.defFlags,
            mclInherit: process.mclInherit,
            lockedVmPages: process.lockedVmPages,
            totalVmPages: process.totalVmPages,
            vmaCount: process.vmaCount,
            sharedWith,
            lockedRanges: explanation.ranges,
            ...(vmas === undefined ? {} : { vmas }),
          },
    explain: explanation,
  };
}
