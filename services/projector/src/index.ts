// @lockline/projector: build(config, deps) for main.ts and the tests; the reply and summary shapes
// for whoever asks the projector (the API speaks them over NATS, it never imports this package).
export { build, QUERY_QUEUE, type Projector, type ProjectorDeps, type ProjectorStatus } from './projector.js';
export { loadConfig, parsePartitionsMine, type ProjectorConfig } from './config.js';
export { answerQuery, MAX_EVENTS_LIMIT, queryRequestSchema, QueryError, type EventsPage, type HostState, type QueryContext, type QueryErrorCode, type QueryReply, type QueryRequest, type RebuiltHost, type StateAtDiff } from './queries.js';
export type { HostSummary } from './hostSummary.js';
export { BOOTS_KEPT } from './hostEntry.js';
