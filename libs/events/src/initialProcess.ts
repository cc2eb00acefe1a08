import type { InitialProcess } from '@lockline/kernel';
import type { ProcessTableEntry } from './events.js';
import { copyImage, rlimitFromWire } from './vocabulary.js';

/** A `process.table` entry as the model's starting process ("unlimited" becomes RLIM_INFINITY). */
export function initialProcessFromTableEntry(entry: ProcessTableEntry): InitialProcess {
  const process: InitialProcess = {
    pid: entry.pid,
    ppid: entry.ppid,
    capIpcLock: entry.capIpcLock,
    capSysResource: entry.capSysResource,
    rlimitMemlock: { cur: rlimitFromWire(entry.rlimitMemlock.cur), max: rlimitFromWire(entry.rlimitMemlock.max) },
  };
  if (entry.kernelThread !== undefined) process.kernelThread = entry.kernelThread;
  if (entry.image !== undefined) process.image = copyImage(entry.image);
  return process;
}
