import { BOOT_ID_PATTERN, ID_PATTERN } from './envelope.js';
import { describeValue } from './problems.js';

/**
 * NATS subjects and event-store stream names. One subject per host, so NATS permissions can let a
 * host publish only on its own subject; `v1` is the subject layout's version, not an event schema's.
 */

export const SUBJECT_ROOT = 'lockline.v1';

/** Every host's events / dead letters / findings. `*` matches exactly one subject token. */
export const EVENTS_WILDCARD = `${SUBJECT_ROOT}.events.*`;
export const DLQ_WILDCARD = `${SUBJECT_ROOT}.dlq.*`;
export const FINDINGS_WILDCARD = `${SUBJECT_ROOT}.findings.*`;

/** A hostId or bootId that cannot be used in a subject or stream name. */
export class InvalidIdError extends Error {
  readonly code = 'INVALID_ID';
  constructor(
    readonly field: 'hostId' | 'bootId',
    readonly value: unknown,
  ) {
    super(`invalid ${field}: expected 1 to 64 letters, digits, "_"${field === 'hostId' ? ' or "-"' : ''}, got ${describeValue(value)}`);
    this.name = 'InvalidIdError';
  }
}

function checked(field: 'hostId' | 'bootId', value: string): string {
  // Callers may come from plain JS or a cast: check the runtime type too.
  const pattern = field === 'hostId' ? ID_PATTERN : BOOT_ID_PATTERN;
  if (typeof value !== 'string' || !pattern.test(value)) throw new InvalidIdError(field, value);
  return value;
}

/** `lockline.v1.events.<hostId>`: where a host publishes its events. */
export function eventsSubject(hostId: string): string {
  return `${SUBJECT_ROOT}.events.${checked('hostId', hostId)}`;
}

/** `lockline.v1.dlq.<hostId>`: where ingest puts a host's invalid events, with the reason. */
export function dlqSubject(hostId: string): string {
  return `${SUBJECT_ROOT}.dlq.${checked('hostId', hostId)}`;
}

/** `lockline.v1.findings.<hostId>`: the audit's findings about a host. */
export function findingsSubject(hostId: string): string {
  return `${SUBJECT_ROOT}.findings.${checked('hostId', hostId)}`;
}

const EVENTS_PREFIX = `${SUBJECT_ROOT}.events.`;

/**
 * The hostId an events subject belongs to, or undefined for any other subject. Ingest compares it
 * with the envelope's hostId: a host may publish only its own events.
 */
export function hostIdFromEventsSubject(subject: string): string | undefined {
  if (!subject.startsWith(EVENTS_PREFIX)) return undefined;
  const hostId = subject.slice(EVENTS_PREFIX.length);
  return ID_PATTERN.test(hostId) ? hostId : undefined;
}

/**
 * `host-<hostId>-<bootId>`: the event-store stream of one host boot.
 *
 * A boot id has no "-", so the name splits at its last "-": no two (hostId, bootId) pairs share a
 * stream (see BOOT_ID_PATTERN).
 */
export function hostStreamName(hostId: string, bootId: string): string {
  return `host-${checked('hostId', hostId)}-${checked('bootId', bootId)}`;
}
