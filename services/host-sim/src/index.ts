// @lockline/host-sim: simulated hosts publishing their events to JetStream (DESIGN.md, "The flow").
// `build(config, deps)` is the service; `main.ts` runs it as a process.
export { loadConfig, type HostSimConfig, type ProfileName } from './config.js';
export { build, batchEventsFor, type HostPositionStats, type HostSim, type HostSimDeps, type HostSimStats } from './hostSim.js';
export { HostStream, ResumeMismatch, type Batch } from './hostStream.js';
export { ResumeState, ResumeStateError, STATE_FILE, type HostPosition, type SimulationIdentity } from './resumeState.js';
export { TokenBucket } from './tokenBucket.js';
