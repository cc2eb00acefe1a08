import type { Program } from '../programs.js';
import type { Script } from '../script.js';

export const WORKLOAD_KINDS = ['buildFarm', 'rtDaemon', 'database', 'secretsAgent', 'leaky', 'churn'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/** A process a workload starts the host with (it appears in `process.table`, already running `program`). */
export interface RootProcess {
  readonly program: Program;
  readonly capIpcLock?: boolean;
  readonly capSysResource?: boolean;
  /** RLIMIT_MEMLOCK in bytes (RLIM_INFINITY for unlimited); the host's default when absent. */
  readonly rlimitMemlock?: { readonly cur: number; readonly max: number };
  readonly run: Script;
}

/**
 * One kind of activity on a host: the processes it starts with, and their scripts. `weight` is its
 * share of the host's steps: each step the host picks a workload by weight, then one of that
 * workload's runnable processes.
 */
export interface Workload {
  readonly kind: WorkloadKind;
  readonly weight: number;
  /** A short description for logs and reports, e.g. "buildFarm(-j16)". */
  readonly label: string;
  roots(): RootProcess[];
}
