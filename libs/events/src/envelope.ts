import * as z from 'zod';
import { describeValue } from './problems.js';

/**
 * The envelope every event carries (DESIGN.md, "Events are facts"). `id` is stable across retries
 * (JetStream dedupes on it); `seq` counts 1, 2, 3 … per host boot with no gaps, so a gap is
 * detectable; a task is identified by hostId/bootId/pid plus the seq of the event that created it.
 */

/**
 * hostId and bootId appear as NATS subject tokens and in stream names: no dots, spaces or wildcards
 * (`*`, `>`), nothing a subject or a file name would have to escape.
 */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/**
 * A boot id has no "-": the stream name `host-<hostId>-<bootId>` then splits unambiguously at its
 * last "-" (host "a-b" boot "c" and host "a" boot "b-c" would otherwise share `host-a-b-c`, letting
 * one host write into another's stream). A UUID boot id is written without its dashes.
 */
export const BOOT_ID_PATTERN = /^[A-Za-z0-9_]{1,64}$/;

export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

export const hostIdSchema = z.string().regex(ID_PATTERN, {
  error: (issue) => `expected a host id of 1 to 64 letters, digits, "_" or "-", got ${describeValue(issue.input)}`,
});
export const bootIdSchema = z.string().regex(BOOT_ID_PATTERN, {
  error: (issue) => `expected a boot id of 1 to 64 letters, digits or "_" (no "-"; write a UUID without dashes), got ${describeValue(issue.input)}`,
});

/**
 * A UUID in its canonical lowercase text form (any version; UUIDv7 keeps store indexes ordered).
 * One spelling per id, so that dedupe by id cannot be defeated by letter case.
 */
export const EVENT_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const eventIdSchema = z.string().regex(EVENT_ID_PATTERN, {
  error: (issue) => `expected a lowercase UUID like "0190f5c4-7a1e-7cc2-9b1a-3f5d2e8a4b10", got ${describeValue(issue.input)}`,
});

export const seqSchema = z.number().int().min(1);

/** ISO-8601 with a zone: "2025-01-31T12:00:00.000Z" or "…+01:00". Time comes from the host. */
export const timeSchema = z.iso.datetime({ offset: true });

/** The envelope fields other than `type`, `schemaVersion` and `data`, which each event type fixes. */
export const envelopeShape = {
  id: eventIdSchema,
  hostId: hostIdSchema,
  bootId: bootIdSchema,
  seq: seqSchema,
  time: timeSchema,
};

/** Just the envelope (unknown keys stripped): enough to route or dead-letter an event whose data is invalid. */
export const envelopeFieldsSchema = z.object(envelopeShape);
export type EnvelopeFields = z.output<typeof envelopeFieldsSchema>;
