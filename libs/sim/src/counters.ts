import { lockedVmValue, type HostState } from '@lockline/kernel';
import type { EventBody } from '@lockline/events';

/**
 * `counters.sampled`: the host's own VmLck/VmSize-like counters of each live process with an mm,
 * as its kernel keeps them (locked_vm as the model reports it: a number, or the wrapped decimal
 * string). Threads are left out: they share their leader's mm.
 */
export function sampleCounters(state: HostState, pids: readonly number[]): EventBody {
  const samples: Array<{ pid: number; lockedVmPages: number | string; totalVmPages: number }> = [];
  for (const pid of pids) {
    const task = state.tasks.get(pid);
    if (!task?.alive || task.mm === null || task.tgid !== pid) continue;
    samples.push({ pid, lockedVmPages: lockedVmValue(task.mm.lockedVm), totalVmPages: task.mm.totalVm });
  }
  return { type: 'counters.sampled', data: { samples } };
}
