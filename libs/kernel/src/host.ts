import { killThreadGroup, layoutImage, sysExec, sysFork, sysSetrlimit } from './processOps.js';
import { growStack, sysBrk, sysMadvise, sysMmap, sysMremap, sysMunmap } from './mapOps.js';
import { sysMlock, sysMlock2, sysMlockall, sysMunlock, sysMunlockall } from './lockOps.js';
import type { HostState, Task } from './state.js';
import { createHostState } from './state.js';
import type { InitialProcess, Op, OpResult, ProfileName } from './types.js';
import { PAGE } from './limits.js';

/** The default RLIMIT_MEMLOCK of a scenario process: 64 pages (spec section C). */
export const DEFAULT_RLIMIT_MEMLOCK = 64 * PAGE;

const OK: OpResult = Object.freeze({ errno: null }) as OpResult;
const ESRCH: OpResult = Object.freeze({ errno: 'ESRCH' }) as OpResult;
const NO_MM: OpResult = Object.freeze({ errno: 'EINVAL', note: 'a kernel thread has no mm' }) as OpResult;

const result = (errno: OpResult['errno']): OpResult => (errno === null ? OK : { errno });

/**
 * A host with its starting processes, each laid out as if it had just exec'd with no inherited
 * state (or from its explicit mappings).
 */
export function createHost(profile: ProfileName, processes: readonly InitialProcess[]): HostState {
  const state = createHostState(profile);
  for (const p of processes) addProcess(state, p);
  return state;
}

/** Add a starting process (the host's process table). Throws on a pid already alive. */
export function addProcess(state: HostState, p: InitialProcess): Task {
  if (state.tasks.get(p.pid)?.alive) throw new Error(`pid ${p.pid} is already in use`);
  const rl = p.rlimitMemlock ?? { cur: DEFAULT_RLIMIT_MEMLOCK, max: DEFAULT_RLIMIT_MEMLOCK };
  const task: Task = {
    pid: p.pid,
    ppid: p.ppid ?? 0,
    tgid: p.pid,
    mm: null,
    capIpcLock: p.capIpcLock ?? false,
    capSysResource: p.capSysResource ?? false,
    limits: { memlockCur: rl.cur, memlockMax: rl.max, threads: null },
    alive: true,
  };
  if (!p.kernelThread) {
    const image = p.image ?? { format: 'elf', argPages: 1, textPages: 4, dataPages: 2, bssPages: 0, vdsoPages: 1 };
    task.mm = layoutImage(state, task, image, 0, 0).mm;
  }
  state.tasks.set(p.pid, task);
  return task;
}

/**
 * Apply one operation to the host, as the acting process's system call. Changes `state` in place
 * (use cloneHostState to keep an earlier one) and returns what the caller observed.
 */
export function applyOp(state: HostState, op: Op, tag = 0): OpResult {
  const task = state.tasks.get(op.pid);
  if (op.op === 'check') return OK;
  if (!task || !task.alive) return ESRCH;
  const profile = state.profile;
  switch (op.op) {
    case 'fork':
      return sysFork(state, task, op.child, 'fork', tag);
    case 'vfork':
      return sysFork(state, task, op.child, 'vfork', tag);
    case 'clone':
      return sysFork(state, task, op.child, op.shareVm ? 'thread' : 'fork', tag);
    case 'exec':
      return sysExec(state, task, op.image, tag);
    case 'exit':
      killThreadGroup(task, undefined);
      return OK;
    case 'setrlimit':
      return result(sysSetrlimit(state, task, op.cur, op.max));
    case 'capset':
      if (op.capIpcLock !== undefined) task.capIpcLock = op.capIpcLock;
      if (op.capSysResource !== undefined) task.capSysResource = op.capSysResource;
      return OK;
    default:
  }
  const mm = task.mm;
  if (!mm) return NO_MM;
  switch (op.op) {
    case 'mmap':
      return sysMmap(profile, task, mm, op.addr, op.length, op.prot, op.flags, tag);
    case 'munmap':
      return result(sysMunmap(profile, mm, op.addr, op.length));
    case 'brk':
      return sysBrk(profile, task, mm, op.addr, op.increment, tag);
    case 'mlock':
      return result(sysMlock(profile, task, mm, op.addr, op.length, tag));
    case 'mlock2':
      return result(sysMlock2(profile, task, mm, op.addr, op.length, op.flags, tag));
    case 'munlock':
      return result(sysMunlock(profile, mm, op.addr, op.length));
    case 'mlockall':
      return result(sysMlockall(profile, task, mm, op.flags, tag));
    case 'munlockall':
      return result(sysMunlockall(profile, mm));
    case 'madvise':
      return result(sysMadvise(mm, op.addr, op.length, op.advice));
    case 'mremap':
      return result(sysMremap(profile, task, mm, op.addr, op.oldLength, op.newLength));
    case 'growstack':
      if (growStack(task, mm, Math.ceil(op.length / PAGE))) return OK;
      killThreadGroup(task, 'SIGSEGV');
      return { errno: null, signal: 'SIGSEGV' };
    default: {
      const _exhaustive: never = op;
      throw new Error(`unknown operation ${JSON.stringify(_exhaustive)}`);
    }
  }
}

/**
 * Forget a dead process (release_task): a long-running host would otherwise keep every dead
 * process's last state. Returns false when the pid is unknown or still alive.
 */
export function reapTask(state: HostState, pid: number): boolean {
  const t = state.tasks.get(pid);
  if (!t || t.alive) return false;
  state.tasks.delete(pid);
  return true;
}
