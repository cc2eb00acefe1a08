import type { Errno, InitialProcess, MclFlagName, Op, ProfileName, RlimitMemlock, Signal, VmFlagName } from './types.js';

/**
 * A scenario, typed: what `spec/scenario-format.md` describes once parsed (hex strings turned into
 * numbers, "unlimited" into RLIM_INFINITY). Parsing the file is libs/events' job; running it is ours.
 */
export interface Expectation {
  errno?: Errno | null;
  signal?: Signal | null;
  /** A number, or a decimal string for a value the kernel wrapped below zero. */
  lockedVmPages?: number | string;
  totalVmPages?: number;
  defFlags?: VmFlagName[];
  mclInherit?: MclFlagName[];
  alive?: boolean;
}

export type ScenarioStep = Op & { expect?: Expectation };

export interface Scenario {
  name: string;
  profile: ProfileName;
  pageSize?: 4096;
  description?: string;
  processes: InitialProcess[];
  steps: ScenarioStep[];
}

/** A process as `lockline model run` reports it (spec/scenario-format.md, "The output"). */
export interface ProcessReport {
  alive: boolean;
  mm: string | null;
  lockedVmPages: number | string;
  totalVmPages: number;
  defFlags: VmFlagName[];
  mclInherit: MclFlagName[];
  capIpcLock: boolean;
  capSysResource: boolean;
  rlimitMemlock: { cur: number | 'unlimited'; max: number | 'unlimited' };
  ppid: number;
  killedBy?: Signal;
  vmas: Array<{
    start: string;
    end: string;
    prot: string;
    lockFlags: VmFlagName[];
    special: boolean;
    growsDown?: boolean;
    dontFork?: boolean;
  }>;
}

export interface StepReport {
  i: number;
  op: Op['op'];
  pid: number;
  errno: Errno | null;
  signal?: Signal;
  addr?: string;
  brk?: string;
  note?: string;
  /** with the `trace` option: the acting process's counters after the step */
  lockedVmPages?: number | string;
  totalVmPages?: number;
}

export interface FailedExpectation {
  step: number;
  field: keyof Expectation;
  expected: unknown;
  actual: unknown;
}

export interface RunReport {
  name: string;
  profile: ProfileName;
  ok: boolean;
  steps: StepReport[];
  failedExpectations: FailedExpectation[];
  processes: Record<string, ProcessReport>;
}

export type { RlimitMemlock };
