// The port: what every adapter implements. Adapters are subpath exports (./sqlite, ./esdb, ./memory)
// and openEventStore imports the one a URL names; nothing here imports a driver.
export type * from './port.js';
export { ExpectedRevisionConflict, InvalidStoreFile, InvalidStoreUrl, StoreUnavailable } from './errors.js';
export { openEventStore } from './open.js';
export { readAllPages, readStreamPages } from './pages.js';
export { HOST_EVENTS_MAX_SCAN, appendHostEvents, bootsOf, readHostEvents, readHostInStoreOrder, type HostEventsPage, type HostEventsRequest } from './hostEvents.js';
