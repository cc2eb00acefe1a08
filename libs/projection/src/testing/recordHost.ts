import type { HostEvent, ProcessTableEntry, SyscallOp } from '@lockline/events';
import { buildEvent, rlimitToWire, syscallEventBody } from '@lockline/events';
import type { InitialProcess, Op, OpResult, ProfileName } from '@lockline/kernel';
import { DEFAULT_RLIMIT_MEMLOCK, applyOp, createHost, lockedVmValue, processReport } from '@lockline/kernel';

export interface RecordOptions {
  hostId?: string;
  bootId?: string;
  ramPages?: number;
  /** emit counters.sampled of every live process after every N operations (0: never) */
  sampleEvery?: number;
  /** lie about results: called with each op and the true result, returns what to report */
  report?: (op: Op, result: OpResult, index: number) => OpResult;
}

/** A deterministic lowercase UUID for the nth event. */
export const eventId = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

/**
 * A host that really runs `ops` on the model of `profile` and reports them as events, the way a
 * simulated host does: host.booted, process.table, one syscall event per op (exit as
 * process.exited, check skipped), counters samples on request. Returns the events and the host's
 * own final state.
 */
export function recordHost(profile: ProfileName, processes: InitialProcess[], ops: Op[], options: RecordOptions = {}) {
  const hostId = options.hostId ?? 'h1';
  const bootId = options.bootId ?? 'b1';
  const host = createHost(profile, processes);
  const events: HostEvent[] = [];
  let seq = 0;
  const push = (body: Parameters<typeof buildEvent>[1]): void => {
    seq++;
    events.push(buildEvent({ id: eventId(seq), hostId, bootId, seq, time: new Date(Date.UTC(2026, 0, 1) + seq).toISOString() }, body));
  };
  push({ type: 'host.booted', data: { profile, ramPages: options.ramPages ?? 262144, pageSize: 4096 } });
  const table: ProcessTableEntry[] = processes.map((p) => {
    const rl = p.rlimitMemlock ?? { cur: DEFAULT_RLIMIT_MEMLOCK, max: DEFAULT_RLIMIT_MEMLOCK };
    const e: ProcessTableEntry = {
      pid: p.pid,
      ppid: p.ppid ?? 0,
      capIpcLock: p.capIpcLock ?? false,
      capSysResource: p.capSysResource ?? false,
      rlimitMemlock: { cur: rlimitToWire(rl.cur), max: rlimitToWire(rl.max) },
    };
    if (p.kernelThread) e.kernelThread = true;
    else e.image = p.image ?? { format: 'elf', argPages: 1, textPages: 4, dataPages: 2, bssPages: 0, vdsoPages: 1 };
    return e;
  });
  push({ type: 'process.table', data: { processes: table } });
  ops.forEach((op, i) => {
    if (op.op === 'check') return;
    const result = applyOp(host, op, seq + 1);
    if (op.op === 'exit') {
      if (result.errno === null) push({ type: 'process.exited', data: { pid: op.pid, code: 0 } });
    } else {
      const reported = options.report ? options.report(op, result, i) : result;
      push(syscallEventBody(op as SyscallOp, reported));
    }
    if (options.sampleEvery && (i + 1) % options.sampleEvery === 0) {
      const samples = [...host.tasks.values()]
        .filter((t) => t.alive && t.mm)
        .map((t) => ({ pid: t.pid, lockedVmPages: lockedVmValue(t.mm!.lockedVm), totalVmPages: t.mm!.totalVm }));
      push({ type: 'counters.sampled', data: { samples } });
    }
  });
  return { events, host, report: (pid: number) => processReport(host.tasks.get(pid)!) };
}
