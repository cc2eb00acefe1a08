export * from './types.js';
export type * from './scenarioTypes.js';
