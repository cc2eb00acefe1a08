export { recordHost, eventId } from './recordHost.js';
export type { RecordOptions } from './recordHost.js';
