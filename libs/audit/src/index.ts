export { FINDING_CODES, isFindingCode } from './finding.js';
export type { Finding, FindingCode } from './finding.js';
export { isOverLimit, isOverHostShare, countersDiffer } from './rules.js';
export { pagesText, limitText } from './format.js';
