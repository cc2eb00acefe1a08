import type { Errno, Signal } from '@lockline/kernel';
import type { SyscallOp } from '@lockline/events';
import type { Program } from './programs.js';
import type { Random } from './random.js';

/**
 * How a workload describes a process: a script, a generator that yields the calls the process makes
 * and receives what each returned. The host fills in pids (its own allocator picks every child's),
 * applies each call to its kernel model and reports it as an event; the script only decides what to
 * do next. A process's scripts run interleaved with every other process's, in a seeded order.
 */

type WithoutPid<T> = T extends unknown ? Omit<T, 'pid'> : never;

/** A system call carried out as is (the host adds the acting pid). */
export type PlainCall = WithoutPid<Exclude<SyscallOp, { op: 'fork' | 'vfork' | 'clone' | 'exec' }>>;

export type Call =
  | PlainCall
  /**
   * fork/vfork: the child runs `run`. `job: true` marks new work (a build job, a cron job, a restart):
   * the host delays it while it is at its process limit, which keeps process counts bounded.
   * A vfork parent waits until its child has exec'd or exited, as the kernel makes it.
   */
  | { op: 'fork' | 'vfork'; run: Script; job?: boolean }
  /** clone(CLONE_VM|CLONE_THREAD…): a thread sharing the caller's mm and limits. */
  | { op: 'thread'; run: Script }
  | { op: 'exec'; program: Program }
  /** exit_group(code): the whole thread group ends. */
  | { op: 'exit'; code: number }
  /** wait(): no event; returns a child that exited, blocking until one does (nothing if it has none). */
  | { op: 'wait' };

export interface ChildExit {
  pid: number;
  code?: number;
  signal?: Signal;
}

/** What a call returned: the kernel model's result, plus the child's pid (fork) or a reaped child (wait). */
export interface Outcome {
  errno: Errno | null;
  signal?: Signal;
  addr?: number;
  brk?: number;
  child?: number;
  exited?: ChildExit;
}

/** What a running script knows about itself. */
export interface Self {
  readonly pid: number;
  /** The host's workload stream (shared by all its processes, consumed in the seeded schedule order). */
  readonly rng: Random;
}

export type ProcessRun = Generator<Call, void, Outcome>;
export type Script = (self: Self) => ProcessRun;
