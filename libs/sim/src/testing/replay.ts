import { applyOp, createHost, lockedVmValue, type HostState, type ProfileName } from '@lockline/kernel';
import {
  initialProcessFromTableEntry,
  isSyscallEvent,
  opFromSyscallEvent,
  syscallEventBody,
  type HostEvent,
  type SyscallResult,
} from '@lockline/events';
import type { SimRecord } from '../simHost.js';

/**
 * Test helpers: fold a simulated host's events through a fresh kernel model, the way the projection
 * does, and compare what the host reported with what the model predicts. Pure, like the rest of
 * libs/sim; a real fold with findings lives in libs/projection.
 */

export interface ResultMismatch {
  seq: number;
  type: string;
  reported: SyscallResult;
  replayed: SyscallResult;
}

export interface CounterMismatch {
  seq: number;
  pid: number;
  reported: { lockedVmPages: number | string; totalVmPages: number };
  replayed: { lockedVmPages: number | string; totalVmPages: number } | null;
}

export interface ReplayResult {
  profile: ProfileName | null;
  /** The model after the last event; null when process.table never came. */
  state: HostState | null;
  /** Syscall events replayed. */
  replayed: number;
  resultMismatches: ResultMismatch[];
  counterMismatches: CounterMismatch[];
}

const sameResult = (a: SyscallResult, b: SyscallResult): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Replay one boot's events, in seq order: host.booted gives the profile, process.table the starting
 * processes, each syscall is applied with `opFromSyscallEvent` and its reported result compared with
 * the model's, each process.exited applies `exit`, each counters.sampled is compared with the model.
 */
export function replayBoot(events: readonly HostEvent[]): ReplayResult {
  const out: ReplayResult = { profile: null, state: null, replayed: 0, resultMismatches: [], counterMismatches: [] };
  for (const event of events) {
    if (event.type === 'host.booted') {
      out.profile = event.data.profile;
      continue;
    }
    if (event.type === 'process.table') {
      if (out.profile === null) throw new Error(`seq ${event.seq}: process.table before host.booted`);
      out.state = createHost(out.profile, event.data.processes.map(initialProcessFromTableEntry));
      continue;
    }
    const state = out.state;
    if (state === null) throw new Error(`seq ${event.seq}: ${event.type} before process.table`);
    if (isSyscallEvent(event)) {
      const op = opFromSyscallEvent(event);
      const replayed = syscallEventBody(op, applyOp(state, op)).data.result;
      out.replayed++;
      if (!sameResult(event.data.result, replayed)) out.resultMismatches.push({ seq: event.seq, type: event.type, reported: event.data.result, replayed });
    } else if (event.type === 'process.exited') {
      applyOp(state, { op: 'exit', pid: event.data.pid });
    } else if (event.type === 'counters.sampled') {
      for (const sample of event.data.samples) {
        const mm = state.tasks.get(sample.pid)?.mm ?? null;
        const replayed = mm === null ? null : { lockedVmPages: lockedVmValue(mm.lockedVm), totalVmPages: mm.totalVm };
        if (replayed === null || String(replayed.lockedVmPages) !== String(sample.lockedVmPages) || replayed.totalVmPages !== sample.totalVmPages) {
          out.counterMismatches.push({ seq: event.seq, pid: sample.pid, reported: { lockedVmPages: sample.lockedVmPages, totalVmPages: sample.totalVmPages }, replayed });
        }
      }
    }
  }
  return out;
}

/** The valid events of each boot, deduplicated by id and sorted by seq (what a store would hold). */
export function eventsByBoot(records: Iterable<SimRecord>): Map<string, HostEvent[]> {
  const boots = new Map<string, HostEvent[]>();
  const seen = new Set<string>();
  for (const r of records) {
    if (r.event === undefined || seen.has(r.event.id)) continue;
    seen.add(r.event.id);
    const key = `${r.hostId}/${r.bootId}`;
    let list = boots.get(key);
    if (list === undefined) boots.set(key, (list = []));
    list.push(r.event);
  }
  for (const list of boots.values()) list.sort((a, b) => a.seq - b.seq);
  return boots;
}
