import { isValidId } from '@lockline/events';
import { decodeJson, encodeJson, truncateUtf8 } from './codec.js';
import { InvalidPayload, PublishRejected, translateError } from './errors.js';
import { deadLetterSubject } from './names.js';
import type { JetStreamPublisher, PublishResult } from './publish.js';

/**
 * Dead letters: input ingest could not use, kept with the reason on `lockline.v1.dlq.<hostId>` (or
 * `lockline.v1.dlq.~unknown` when no host can be told) in the LOCKLINE_DLQ stream. Writing one never
 * depends on the input being sane: the raw line is stored as text, truncated to 64 KiB.
 */

/** The most bytes of the offending input a dead letter keeps. */
export const DEAD_LETTER_PAYLOAD_MAX_BYTES = 64 * 1024;

export interface DeadLetterInput {
  /** Why it was refused, in words (e.g. formatProblems(parseEvent(line).problems)). */
  reason: string;
  /** The offending input (one JSONL line, or the whole payload when it could not be split). */
  line?: string;
  /** The subject the input arrived on. */
  subject: string;
  /** Its stream sequence, when it came from a stream. */
  seq?: number;
  /** The line's index within its batch, when it was one line of a batch. */
  lineIndex?: number;
  /** When it was received; now by default. */
  receivedAt?: Date;
  /**
   * A `Nats-Msg-Id`, so that dead-lettering the same input again (a redelivered batch) stores it
   * once. By default `dlq.<subject>.<seq>.<lineIndex>` when seq is given, none otherwise.
   */
  msgId?: string;
}

/** What a dead letter holds (the JSON payload on the DLQ subject). */
export interface DeadLetter {
  readonly reason: string;
  /** The host it was for, or null when none could be told. */
  readonly hostId: string | null;
  /** The raw input, truncated to DEAD_LETTER_PAYLOAD_MAX_BYTES; null when there was none. */
  readonly payload: string | null;
  readonly payloadTruncated: boolean;
  /** The raw input's full size in UTF-8 bytes. */
  readonly payloadBytes: number;
  readonly receivedAt: string;
  readonly sourceSubject: string;
  readonly sourceSeq: number | null;
  readonly lineIndex: number | null;
}

/** Builds the dead letter (pure apart from the default clock). */
export function deadLetterOf(hostId: string | null, input: DeadLetterInput): DeadLetter {
  const cut = input.line === undefined ? undefined : truncateUtf8(input.line, DEAD_LETTER_PAYLOAD_MAX_BYTES);
  return {
    reason: truncateUtf8(input.reason, 8 * 1024).text,
    hostId: hostId !== null && isValidId(hostId) ? hostId : null,
    payload: cut?.text ?? null,
    payloadTruncated: cut?.truncated ?? false,
    payloadBytes: cut?.bytes ?? 0,
    receivedAt: (input.receivedAt ?? new Date()).toISOString(),
    sourceSubject: input.subject,
    sourceSeq: input.seq ?? null,
    lineIndex: input.lineIndex ?? null,
  };
}

/**
 * Publishes a dead letter for `hostId` (null, or an id unfit for a subject, goes to `~unknown`) and
 * waits for the DLQ stream's ack.
 */
export async function publishDeadLetter(js: JetStreamPublisher, hostId: string | null, input: DeadLetterInput, options: { timeoutMs?: number } = {}): Promise<PublishResult> {
  const letter = deadLetterOf(hostId, input);
  const subject = deadLetterSubject(letter.hostId);
  const msgId = input.msgId ?? (input.seq === undefined ? undefined : `dlq.${input.subject}.${input.seq}.${input.lineIndex ?? 'all'}`);
  try {
    const ack = await js.publish(subject, encodeJson(letter), { timeout: options.timeoutMs ?? 5000, ...(msgId === undefined ? {} : { msgID: msgId }) });
    return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
  } catch (error) {
    const translated = translateError(error, `dead letter to ${subject}`, subject);
    const apiError = (error as { api_error?: { err_code?: number; description?: string } } | null)?.api_error;
    if (translated.code === 'BUS_ERROR' && apiError !== undefined) throw new PublishRejected(subject, apiError.description ?? translated.message, apiError.err_code, { cause: error });
    throw translated;
  }
}

/** Reads a dead letter back (e.g. from fetchMessages on the DLQ stream). Throws InvalidPayload for anything else. */
export function parseDeadLetter(data: Uint8Array): DeadLetter {
  const value = decodeJson(data);
  if (typeof value !== 'object' || value === null || typeof (value as { reason?: unknown }).reason !== 'string' || typeof (value as { sourceSubject?: unknown }).sourceSubject !== 'string') {
    throw new InvalidPayload('not a dead letter: expected an object with "reason" and "sourceSubject"');
  }
  return value as DeadLetter;
}
