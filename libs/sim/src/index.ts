// Simulated hosts: the kernel model run by workloads or a scenario, reported as events.
export { createSimHost, scenarioHost, type ScenarioHostOptions, type SimFault, type SimHost, type SimHostOptions, type SimRecord, type SimStats } from './simHost.js';
export { createFleet, fleetHostId, simulateFleet, type Fleet, type FleetOptions } from './fleet.js';
export type { SimProcess } from './machine.js';

// Faults.
export { DEFAULT_FAULT_RATES, FAULT_NAMES, NO_FAULTS, checkFaults, parseFaults, type FaultName, type Faults } from './faults.js';
export { CORRUPTION_KINDS, corruptPayload, type CorruptionKind } from './corrupt.js';
export { InvalidFaultSpecError, InvalidSimOptionError } from './errors.js';

// Workloads, and how to write one.
export { WORKLOADS, defaultMix, parseWorkloadMix } from './workloads/mix.js';
export { WORKLOAD_KINDS, type RootProcess, type Workload, type WorkloadKind } from './workloads/workload.js';
export { buildFarm, type BuildFarmOptions } from './workloads/buildFarm.js';
export { rtDaemon, type RtDaemonOptions } from './workloads/rtDaemon.js';
export { database, type DatabaseOptions } from './workloads/database.js';
export { secretsAgent, type SecretsAgentOptions } from './workloads/secretsAgent.js';
export { leaky, type LeakyOptions } from './workloads/leaky.js';
export { churn, type ChurnOptions } from './workloads/churn.js';
export type { Call, ChildExit, Outcome, PlainCall, ProcessRun, Script, Self } from './script.js';
export { PROGRAMS, type Program } from './programs.js';

// Determinism: seeds, the clock, ids.
export { Random, seedOf, type Seed } from './random.js';
export { DEFAULT_EPOCH_MS, epochMs, isoTime } from './clock.js';
export { randomBootId, uuidV7 } from './ids.js';
export { DEFAULT_PID_MAX, PidAllocator, RESERVED_PIDS } from './pids.js';
