import { applyOp, createHost, type HostState, type OpResult, type ProfileName, type Signal } from '@lockline/kernel';
import {
  initialProcessFromTableEntry,
  rlimitToWire,
  syscallEventBody,
  type EventBody,
  type ExecDetails,
  type ProcessTableEntry,
  type SyscallOp,
} from '@lockline/events';
import { sampleCounters } from './counters.js';
import { FactQueue, type MachineHostOptions } from './factQueue.js';
import type { Machine, SimProcess } from './machine.js';
import { PidAllocator } from './pids.js';
import { PROGRAMS, type Program } from './programs.js';
import type { Random } from './random.js';
import type { Call, ChildExit, Outcome, ProcessRun, Self } from './script.js';
import type { RootProcess, Workload } from './workloads/workload.js';

export interface WorkloadMachineOptions extends MachineHostOptions {
  readonly workloads: readonly Workload[];
  /** Soft cap on live tasks: new jobs wait while the host is at it. */
  readonly maxProcesses: number;
  readonly pidMax: number;
  /** The host's workload stream: scheduling and every script's choices. */
  readonly rng: Random;
  /** Keep dead tasks in the model (as `lockline model run` does) instead of dropping them when their pid is freed. */
  readonly keepDeadTasks: boolean;
}

/** A runnable group: one workload's processes that can take a step now. */
interface Slot {
  readonly workload: Workload;
  readonly runnable: Proc[];
  /** The process that ran last: it keeps the CPU for a while (a time slice) more often than not. */
  current: Proc | null;
}

/** A live task as the simulator sees it: the kernel model holds its memory; this holds its script. */
interface Proc {
  readonly pid: number;
  ppid: number;
  comm: string;
  /** The process that forked it (the creating thread for a thread). Orphans keep a dead parent. */
  readonly parent: Proc | null;
  readonly slot: Slot | null;
  readonly run: ProcessRun | null;
  /** A call the host has not carried out yet (a job waiting for room under the process cap). */
  pending: Call | null;
  /** What the next resumption of `run` receives. */
  resume: Outcome;
  /** Index in slot.runnable, -1 when blocked or idle. */
  runIndex: number;
  alive: boolean;
  thread: boolean;
  /** The thread group, leader first; shared by its members. */
  group: Proc[];
  liveChildren: number;
  /** Children that exited and were not waited for. */
  readonly exited: ChildExit[];
  /** Blocked in wait(). */
  waiting: boolean;
  /** Blocked in vfork() until its child execs or exits. */
  inVfork: boolean;
  /** For a vfork child: the parent to release at exec or exit. */
  vforkParent: Proc | null;
}

/**
 * RLIMIT_MEMLOCK of a simulated host's processes unless a workload sets its own: 64 KiB, 2.6.28's
 * MLOCK_LIMIT (kernels since 5.16 default to 8 MiB, but distributions and systemd set their own).
 */
export const HOST_RLIMIT_MEMLOCK = 64 * 1024;

const OK: Outcome = Object.freeze({ errno: null }) as Outcome;
/** Exit notices a parent keeps for a later wait(); a parent that never waits doesn't grow without bound. */
const MAX_UNREAPED = 64;
/** Steps without any event (waits, deferred jobs) before a step gives up and samples counters instead. */
const MAX_SILENT_STEPS = 512;
/** The chance that a workload's last process runs again: runs of calls by one process, as time slices give. */
const STAY_ON_CPU = 0.6;

/**
 * A host running workloads: boots with init, kthreadd, a few daemons and each workload's root
 * processes, then, step by step, picks a workload by weight and one of its runnable processes,
 * carries out that process's next call on the kernel model and reports it.
 */
export class WorkloadMachine implements Machine {
  readonly profile: ProfileName;
  readonly state: HostState;
  private readonly rng: Random;
  private readonly slots: Slot[];
  private readonly procs = new Map<number, Proc>();
  private readonly pids: PidAllocator;
  private readonly facts: FactQueue;
  private readonly maxProcesses: number;
  private readonly keepDeadTasks: boolean;

  constructor(options: WorkloadMachineOptions) {
    this.profile = options.profile;
    this.rng = options.rng;
    this.maxProcesses = options.maxProcesses;
    this.keepDeadTasks = options.keepDeadTasks;
    this.slots = options.workloads.map((workload) => ({ workload, runnable: [], current: null }));
    // Daemons started at boot get pids in the low hundreds, after the kernel threads.
    const start = options.pidMax > 2048 ? this.rng.between(300, 900) : 2;
    this.pids = new PidAllocator(options.pidMax, start);

    const entries: ProcessTableEntry[] = [];
    const starts: Array<{ entry: ProcessTableEntry; slot: Slot | null; root: RootProcess | null }> = [];
    const add = (pid: number, ppid: number, program: Program, root: RootProcess | null, slot: Slot | null): void => {
      const rl = root?.rlimitMemlock ?? { cur: HOST_RLIMIT_MEMLOCK, max: HOST_RLIMIT_MEMLOCK };
      const entry: ProcessTableEntry = {
        pid,
        ppid,
        capIpcLock: root?.capIpcLock ?? pid === 1,
        capSysResource: root?.capSysResource ?? pid === 1,
        rlimitMemlock: { cur: rlimitToWire(rl.cur), max: rlimitToWire(rl.max) },
        comm: program.comm,
        image: { ...program.image },
      };
      entries.push(entry);
      starts.push({ entry, slot, root });
    };
    this.pids.claim(1);
    add(1, 0, PROGRAMS.init, null, null);
    this.pids.claim(2);
    entries.push({
      pid: 2,
      ppid: 0,
      capIpcLock: true,
      capSysResource: true,
      rlimitMemlock: { cur: HOST_RLIMIT_MEMLOCK, max: HOST_RLIMIT_MEMLOCK },
      kernelThread: true,
      comm: 'kthreadd',
    });
    add(this.allocPid(), 1, PROGRAMS.journald, null, null);
    const sshd = this.allocPid();
    add(sshd, 1, PROGRAMS.sshd, null, null);
    // an admin's login shell, idle
    add(this.allocPid(), sshd, PROGRAMS.bash, null, null);
    for (const slot of this.slots) {
      for (const root of slot.workload.roots()) add(this.allocPid(), 1, root.program, root, slot);
    }
    this.state = createHost(options.profile, entries.map(initialProcessFromTableEntry));

    this.facts = new FactQueue(options, entries);

    const byPid = new Map<number, Proc>();
    this.newProc(2, 'kthreadd', null, null, null, false);
    for (const { entry, slot, root } of starts) {
      const parent = byPid.get(entry.ppid) ?? null;
      const proc = this.newProc(entry.pid, entry.comm ?? '', parent, slot, root?.run ?? null, false);
      if (parent) parent.liveChildren++;
      byPid.set(entry.pid, proc);
    }
  }

  next(): EventBody | undefined {
    return this.facts.next(() => this.step(), () => this.counters());
  }

  processes(): SimProcess[] {
    const out: SimProcess[] = [];
    for (const p of this.procs.values()) {
      const info: SimProcess = { pid: p.pid, ppid: p.ppid, comm: p.comm, thread: p.thread };
      if (p.slot) info.workload = p.slot.workload.kind;
      out.push(info);
    }
    return out.sort((a, b) => a.pid - b.pid);
  }

  private counters(): EventBody {
    const pids: number[] = [];
    for (const p of this.procs.values()) if (!p.thread) pids.push(p.pid);
    pids.sort((a, b) => a - b);
    return sampleCounters(this.state, pids);
  }

  private allocPid(): number {
    const pid = this.pids.alloc();
    if (pid < 0) throw new Error(`no free pid below pid_max ${this.pids.pidMax}`);
    return pid;
  }

  private newProc(pid: number, comm: string, parent: Proc | null, slot: Slot | null, script: ((self: Self) => ProcessRun) | null, thread: boolean): Proc {
    const proc: Proc = {
      pid,
      ppid: parent?.pid ?? (pid <= 2 ? 0 : 1),
      comm,
      parent,
      slot,
      run: script ? script({ pid, rng: this.rng }) : null,
      pending: null,
      resume: OK,
      runIndex: -1,
      alive: true,
      thread,
      group: [],
      liveChildren: 0,
      exited: [],
      waiting: false,
      inVfork: false,
      vforkParent: null,
    };
    if (thread && parent) {
      proc.group = parent.group;
      proc.group.push(proc);
      proc.ppid = parent.ppid;
    } else {
      proc.group = [proc];
    }
    this.procs.set(pid, proc);
    this.wake(proc);
    return proc;
  }

  private wake(proc: Proc): void {
    if (proc.runIndex >= 0 || !proc.slot || !proc.run || !proc.alive) return;
    proc.runIndex = proc.slot.runnable.length;
    proc.slot.runnable.push(proc);
  }

  private block(proc: Proc): void {
    const slot = proc.slot;
    if (proc.runIndex < 0 || !slot) return;
    const last = slot.runnable.pop()!;
    if (last !== proc) {
      slot.runnable[proc.runIndex] = last;
      last.runIndex = proc.runIndex;
    }
    proc.runIndex = -1;
  }

  private pickSlot(): Slot | undefined {
    let total = 0;
    for (const s of this.slots) if (s.runnable.length > 0) total += s.workload.weight;
    if (total === 0) return undefined;
    let x = this.rng.float() * total;
    let chosen: Slot | undefined;
    for (const s of this.slots) {
      if (s.runnable.length === 0) continue;
      chosen = s;
      x -= s.workload.weight;
      if (x < 0) break;
    }
    return chosen;
  }

  /** Run processes until one makes a call that is a fact; an idle host samples its counters instead. */
  private step(): void {
    for (let attempt = 0; attempt < MAX_SILENT_STEPS; attempt++) {
      const slot = this.pickSlot();
      if (slot === undefined) break;
      const current = slot.current;
      const proc = current !== null && current.runIndex >= 0 && this.rng.chance(STAY_ON_CPU) ? current : slot.runnable[this.rng.int(slot.runnable.length)]!;
      slot.current = proc;
      let call = proc.pending;
      proc.pending = null;
      if (call === null) {
        const it = proc.run!.next(proc.resume);
        if (it.done === true) {
          if (proc.thread) {
            // A thread has no exit of its own here (exit is exit_group): it idles until its group ends.
            this.block(proc);
            continue;
          }
          call = { op: 'exit', code: 0 };
        } else {
          call = it.value;
        }
      }
      // Late in a silent stretch every job is let through, so a host at its cap can't stall.
      if (this.carryOut(proc, call, attempt > MAX_SILENT_STEPS / 2)) return;
    }
    this.facts.push(this.counters());
  }

  private report(op: SyscallOp, result: OpResult, exec?: ExecDetails): void {
    this.facts.push(syscallEventBody(op, result, exec));
  }

  /** Carry out one call; true when it was a fact (an event is queued). */
  private carryOut(proc: Proc, call: Call, force: boolean): boolean {
    const pid = proc.pid;
    switch (call.op) {
      case 'wait': {
        const notice = proc.exited.shift();
        if (notice !== undefined) proc.resume = { errno: null, exited: notice };
        else if (proc.liveChildren > 0) {
          proc.waiting = true;
          this.block(proc);
        } else proc.resume = OK;
        return false;
      }
      case 'fork':
      case 'vfork':
      case 'thread': {
        const isJob = call.op !== 'thread' && call.job === true;
        if (isJob && !force && this.pids.live >= this.maxProcesses) {
          proc.pending = call;
          return false;
        }
        const child = this.pids.alloc();
        if (child < 0) {
          proc.pending = call;
          return false;
        }
        const op: SyscallOp = call.op === 'thread' ? { op: 'clone', pid, child, shareVm: true } : { op: call.op, pid, child };
        const result = applyOp(this.state, op);
        this.report(op, result);
        if (result.errno !== null) {
          this.pids.free(child);
          proc.resume = result;
          return true;
        }
        const kid = this.newProc(child, proc.comm, proc, proc.slot, call.run, call.op === 'thread');
        if (call.op !== 'thread') proc.liveChildren++;
        proc.resume = { ...result, child };
        if (call.op === 'vfork') {
          kid.vforkParent = proc;
          proc.inVfork = true;
          this.block(proc);
        }
        return true;
      }
      case 'exec': {
        if (proc.thread) throw new Error(`pid ${pid}: the simulator's threads do not exec`);
        const op: SyscallOp = { op: 'exec', pid, image: call.program.image };
        const result = applyOp(this.state, op);
        this.report(op, result, { comm: call.program.comm, path: call.program.path });
        proc.comm = call.program.comm;
        // de_thread(): the other threads of the group are gone.
        for (const member of [...proc.group]) if (member !== proc) this.retire(member, undefined);
        proc.group = [proc];
        this.releaseVfork(proc);
        if (result.signal !== undefined) this.killed(proc, result.signal);
        else proc.resume = result;
        return true;
      }
      case 'exit': {
        applyOp(this.state, { op: 'exit', pid });
        this.facts.push({ type: 'process.exited', data: { pid, code: call.code } });
        this.endGroup(proc, { pid, code: call.code });
        return true;
      }
      default: {
        const op = { ...call, pid } as SyscallOp;
        const result = applyOp(this.state, op);
        this.report(op, result);
        if (result.signal !== undefined) this.killed(proc, result.signal);
        else proc.resume = result;
        return true;
      }
    }
  }

  /** The model killed the caller's thread group: report the process's end, retire every thread. */
  private killed(proc: Proc, signal: Signal): void {
    const leader = proc.group.find((p) => !p.thread) ?? proc;
    this.facts.push({ type: 'process.exited', data: { pid: leader.pid, signal } });
    this.endGroup(proc, { pid: leader.pid, signal });
  }

  private endGroup(proc: Proc, notice: ChildExit): void {
    for (const member of [...proc.group]) this.retire(member, member.thread ? undefined : notice);
  }

  private releaseVfork(child: Proc): void {
    const parent = child.vforkParent;
    if (parent === null) return;
    child.vforkParent = null;
    if (parent.alive && parent.inVfork) {
      parent.inVfork = false;
      this.wake(parent);
    }
  }

  /** A task is gone (the model says so): free its pid, tell its parent, release a vfork parent. */
  private retire(proc: Proc, notice: ChildExit | undefined): void {
    if (!proc.alive) return;
    this.block(proc);
    proc.alive = false;
    proc.waiting = false;
    proc.pending = null;
    this.procs.delete(proc.pid);
    this.pids.free(proc.pid);
    // Reaped: the kernel frees the task. The model keeps dead tasks for its reports; a long-running
    // host drops them so that its memory stays bounded (a task a replay keeps is dead there too).
    if (!this.keepDeadTasks) this.state.tasks.delete(proc.pid);
    this.releaseVfork(proc);
    const parent = proc.parent;
    if (proc.thread || parent === null || !parent.alive) return;
    parent.liveChildren--;
    // Only threads die without a notice (de_thread); a process always has one.
    const exit: ChildExit = notice ?? { pid: proc.pid, signal: 'SIGKILL' };
    if (parent.waiting) {
      parent.waiting = false;
      parent.resume = { errno: null, exited: exit };
      this.wake(parent);
    } else if (parent.exited.length < MAX_UNREAPED) {
      parent.exited.push(exit);
    }
  }
}
