// @lockline/ingest: JetStream host batches → validated, deduplicated, per-host-ordered appends to the
// event store; invalid input to the dead-letter stream. `main.ts` runs it as a process.
export { LOG_LEVELS, SERVICE, loadConfig, type IngestConfig, type PartitionsMine } from './config.js';
export { IngestStartError, build, type Ingest, type IngestDeps, type IngestOptions, type IngestStats } from './ingest.js';
export type { DeadLetterKind } from './metrics.js';
