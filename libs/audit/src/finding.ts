/**
 * What the audit reports. A finding is itself a fact (stored and published as an event by the
 * projector), so its fields are plain JSON.
 */
export const FINDING_CODES = [
  /** an mm's locked_vm exceeds RLIMIT_MEMLOCK of a task using it that lacks CAP_IPC_LOCK */
  'LOCKED_OVER_LIMIT',
  /** the host's sampled counter differs from the projected locked_vm / total_vm */
  'ACCOUNTING_DRIFT',
  /** the host reports a result the model does not predict (a kernel bug, or a profile mismatch) */
  'RESULT_DIVERGENCE',
  /** locked_vm went below zero and wrapped (B7) */
  'LOCKED_VM_UNDERFLOW',
  /** events missing from a host's stream; state after it is uncertain until a sample agrees */
  'SEQUENCE_GAP',
  /** an event seen twice (ignored, counted) */
  'DUPLICATE_EVENT',
  /** a host's locked memory above a share of its RAM */
  'HOST_LOCKED_OVER_SHARE',
] as const;
export type FindingCode = (typeof FINDING_CODES)[number];

export interface Finding {
  code: FindingCode;
  hostId: string;
  bootId: string;
  /** the process concerned, or null for a host-wide finding */
  pid: number | null;
  /** the event at which it was found */
  seq: number;
  /** one sentence a person can act on */
  message: string;
  details?: Record<string, unknown>;
}

export function isFindingCode(value: string): value is FindingCode {
  return (FINDING_CODES as readonly string[]).includes(value);
}
