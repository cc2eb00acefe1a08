export * from './given.js';
export { opArb, start as startPropertyHost, BASE as PROPERTY_WINDOW_BASE } from './arbitraries.js';
