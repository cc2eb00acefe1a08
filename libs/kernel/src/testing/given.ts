import { applyOp, createHost } from '../host.js';
import { processReport } from '../report.js';
import type { ProcessReport } from '../scenarioTypes.js';
import type { HostState } from '../state.js';
import type { Errno, ImageLayout, InitialProcess, Op, OpResult, ProfileName, Signal } from '../types.js';

/** IMG28 of spec section C: a static ELF whose exec yields stack 1+extra, text 4, data 2, vdso 1 (special). */
export const IMG28: ImageLayout = { format: 'elf', argPages: 1, textPages: 4, dataPages: 2, bssPages: 0, vdsoPages: 1 };
export const PAGE = 4096;
export const pages = (n: number): number => n * PAGE;

export interface Then {
  errno?: Errno | null;
  signal?: Signal | null;
  /** the process to look at (default: the acting pid of the last `when`) */
  pid?: number;
  lockedVmPages?: number | string;
  totalVmPages?: number;
  defFlags?: ProcessReport['defFlags'];
  mclInherit?: ProcessReport['mclInherit'];
  alive?: boolean;
}

export interface Given {
  readonly state: HostState;
  /** Apply operations that must all succeed (setup). */
  and(...ops: Op[]): Given;
  /** Apply the operation under test. */
  when(op: Op): When;
  /** Look at a process without acting. */
  process(pid: number): ProcessReport;
}

export interface When {
  readonly result: OpResult;
  readonly state: HostState;
  then(expected: Then): When;
  /** Continue with another operation on the same host. */
  when(op: Op): When;
}

function describe(op: Op): string {
  return JSON.stringify(op);
}

/** given(profile, processes…).and(setup…).when(op).then({ errno, lockedVmPages, … }) */
export function given(profile: ProfileName, ...processes: InitialProcess[]): Given {
  const state = createHost(profile, processes.length ? processes : [{ pid: 1, image: IMG28 }]);
  const g: Given = {
    state,
    and(...ops) {
      for (const op of ops) {
        const r = applyOp(state, op);
        if (r.errno !== null || r.signal) {
          throw new Error(`setup step ${describe(op)} failed under ${profile}: ${r.errno ?? r.signal}${r.note ? ` (${r.note})` : ''}`);
        }
      }
      return g;
    },
    when: (op) => makeWhen(state, profile, op),
    process(pid) {
      const t = state.tasks.get(pid);
      if (!t) throw new Error(`no process ${pid}`);
      return processReport(t);
    },
  };
  return g;
}

function makeWhen(state: HostState, profile: ProfileName, op: Op): When {
  const result = applyOp(state, op);
  const w: When = {
    result,
    state,
    then(expected) {
      const problems: string[] = [];
      if (expected.errno !== undefined && expected.errno !== result.errno) {
        problems.push(`errno: expected ${expected.errno}, got ${result.errno}`);
      }
      if (expected.signal !== undefined && expected.signal !== (result.signal ?? null)) {
        problems.push(`signal: expected ${expected.signal}, got ${result.signal ?? null}`);
      }
      const pid = expected.pid ?? op.pid;
      const task = state.tasks.get(pid);
      const p = task ? processReport(task, false) : undefined;
      const cmp = (field: keyof Then, actual: unknown): void => {
        const exp = expected[field];
        if (exp === undefined) return;
        const same = Array.isArray(exp) ? JSON.stringify([...exp].sort()) === JSON.stringify([...(actual as string[])].sort()) : String(exp) === String(actual);
        if (!same) problems.push(`pid ${pid} ${field}: expected ${JSON.stringify(exp)}, got ${JSON.stringify(actual)}`);
      };
      cmp('lockedVmPages', p?.lockedVmPages);
      cmp('totalVmPages', p?.totalVmPages);
      cmp('defFlags', p?.defFlags ?? []);
      cmp('mclInherit', p?.mclInherit ?? []);
      cmp('alive', p?.alive ?? false);
      if (problems.length) throw new Error(`${profile}: after ${describe(op)}:\n  ${problems.join('\n  ')}`);
      return w;
    },
    when: (next) => makeWhen(state, profile, next),
  };
  return w;
}
