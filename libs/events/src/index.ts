// Problems: what parsers report instead of throwing.
export { formatPath, formatProblems, type Problem } from './problems.js';

// Scenario files (spec/scenario-format.md).
export { parseScenario, type ParseScenarioResult } from './scenario.js';
export { parseByteValue, type ByteValueOptions, type ByteValueResult } from './byteValue.js';

// Events: envelope, the union of every fact a host reports, versions and upcasting.
export {
  EVENT_ID_PATTERN,
  ID_PATTERN,
  bootIdSchema,
  envelopeFieldsSchema,
  eventIdSchema,
  hostIdSchema,
  isValidId,
  type EnvelopeFields,
} from './envelope.js';
export {
  EVENT_DATA_SCHEMAS,
  EVENT_SCHEMA_VERSION,
  EVENT_TYPES,
  SYSCALL_OP_NAMES,
  buildEvent,
  hostEventSchema,
  isEventType,
  isSyscallEvent,
  type EventBody,
  type EventData,
  type EventOf,
  type EventType,
  type HostEvent,
  type ProcessTableEntry,
  type SyscallEvent,
  type SyscallEventType,
  type SyscallOpName,
  type SyscallResult,
} from './events.js';
export { parseEvent, parseEventLine, type ParseEventLineResult, type ParseEventOptions, type ParseEventResult } from './parseEvent.js';
export {
  BUILT_IN_UPCASTERS,
  DuplicateUpcasterError,
  createUpcasterRegistry,
  upcast,
  type RawEvent,
  type UpcastResult,
  type Upcaster,
  type UpcasterRegistry,
} from './upcast.js';
export { rlimitFromWire, rlimitToWire, type RlimitValue } from './vocabulary.js';

// Between model operations and syscall events.
export {
  opFromSyscallEvent,
  opResultFromSyscallEvent,
  syscallEventBody,
  type ExecDetails,
  type SyscallEventBody,
  type SyscallOp,
} from './syscallOp.js';

export { initialProcessFromTableEntry } from './initialProcess.js';

// NATS subjects and event-store stream names.
export {
  DLQ_WILDCARD,
  EVENTS_WILDCARD,
  FINDINGS_WILDCARD,
  InvalidIdError,
  SUBJECT_ROOT,
  dlqSubject,
  eventsSubject,
  findingsSubject,
  hostIdFromEventsSubject,
  hostStreamName,
} from './names.js';
