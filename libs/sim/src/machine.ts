import type { HostState, ProfileName } from '@lockline/kernel';
import type { EventBody } from '@lockline/events';

/**
 * What a simulated host's kernel side produces: the facts it reports, in order, without envelopes.
 * Two kinds: a host running workloads (workloadMachine.ts) and a host stepping through a scenario
 * (scenarioMachine.ts). The envelope, the clock, ids and faults are the host's (simHost.ts).
 */
export interface Machine {
  readonly profile: ProfileName;
  /** The host's own kernel model. Changes as the machine runs; read it, don't change it. */
  readonly state: HostState;
  /** The next fact: host.booted and process.table first; undefined when there is nothing more (a scenario's end). */
  next(): EventBody | undefined;
  /** The live processes the machine knows (threads included). */
  processes(): SimProcess[];
}

export interface SimProcess {
  pid: number;
  ppid: number;
  /** The program it runs (the kernel's comm), when known. */
  comm?: string;
  /** The workload it belongs to; absent for the host's own processes (init, sshd…) and scenario processes. */
  workload?: string;
  /** A thread made by clone(shareVm): same mm and limits as its thread group leader. */
  thread: boolean;
}
