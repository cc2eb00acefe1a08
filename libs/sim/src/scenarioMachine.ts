import { DEFAULT_RLIMIT_MEMLOCK, applyOp, createHost, type HostState, type ImageLayout, type ProfileName, type Scenario } from '@lockline/kernel';
import { initialProcessFromTableEntry, rlimitToWire, syscallEventBody, type EventBody, type ProcessTableEntry, type SyscallOp } from '@lockline/events';
import { sampleCounters } from './counters.js';
import { FactQueue, type MachineHostOptions } from './factQueue.js';
import type { Machine, SimProcess } from './machine.js';

/** The image the kernel model gives a scenario process that names none (addProcess's default). */
export const DEFAULT_SCENARIO_IMAGE: ImageLayout = Object.freeze({ format: 'elf', argPages: 1, textPages: 4, dataPages: 2, bssPages: 0, vdsoPages: 1 });

/**
 * A host driven by a scenario file instead of workloads: host.booted, process.table with the
 * scenario's processes (images as given), then one syscall event per step (`check` steps are not
 * facts and are skipped), each with the result the model returned. An `exit` step is a
 * process.exited; a step whose result is a signal is followed by the process.exited it causes.
 */
export class ScenarioMachine implements Machine {
  readonly profile: ProfileName;
  readonly state: HostState;
  private readonly facts: FactQueue;
  private next_ = 0;

  constructor(
    private readonly scenario: Scenario,
    options: MachineHostOptions,
  ) {
    this.profile = options.profile;
    const entries = scenario.processes.map((p): ProcessTableEntry => {
      const rl = p.rlimitMemlock ?? { cur: DEFAULT_RLIMIT_MEMLOCK, max: DEFAULT_RLIMIT_MEMLOCK };
      const entry: ProcessTableEntry = {
        pid: p.pid,
        ppid: p.ppid ?? 0,
        capIpcLock: p.capIpcLock ?? false,
        capSysResource: p.capSysResource ?? false,
        rlimitMemlock: { cur: rlimitToWire(rl.cur), max: rlimitToWire(rl.max) },
      };
      if (p.kernelThread === true) entry.kernelThread = true;
      else entry.image = p.image ?? { ...DEFAULT_SCENARIO_IMAGE };
      return entry;
    });
    this.state = createHost(options.profile, entries.map(initialProcessFromTableEntry));
    this.facts = new FactQueue(options, entries);
  }

  next(): EventBody | undefined {
    return this.facts.next(() => this.step(), () => this.counters(), this.next_ < this.scenario.steps.length);
  }

  processes(): SimProcess[] {
    const out: SimProcess[] = [];
    for (const [pid, task] of this.state.tasks) if (task.alive) out.push({ pid, ppid: task.ppid, thread: task.tgid !== pid });
    return out.sort((a, b) => a.pid - b.pid);
  }

  private counters(): EventBody {
    return sampleCounters(this.state, [...this.state.tasks.keys()].sort((a, b) => a - b));
  }

  private step(): void {
    const steps = this.scenario.steps;
    while (this.next_ < steps.length) {
      const step = steps[this.next_++]!;
      // The step without its `expect`: the fact is what happened, not what the author expected.
      const { expect: _expect, ...op } = step;
      if (op.op === 'check') continue;
      if (op.op === 'exit') {
        applyOp(this.state, op);
        this.facts.push({ type: 'process.exited', data: { pid: op.pid, code: 0 } });
        return;
      }
      const result = applyOp(this.state, op);
      this.facts.push(syscallEventBody(op as SyscallOp, result));
      if (result.signal !== undefined) {
        const task = this.state.tasks.get(op.pid);
        this.facts.push({ type: 'process.exited', data: { pid: task?.tgid ?? op.pid, signal: result.signal } });
      }
      return;
    }
  }
}
