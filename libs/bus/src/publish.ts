import { bootIdSchema, eventsSubject, InvalidIdError, isValidId } from '@lockline/events';
import type { JetStreamClient } from 'nats';
import { encodeLines } from './codec.js';
import { BusUnavailable, InvalidBatch, PublishRejected, PublishTimeout, StreamFull, isTransient, natsCode, streamFullReason, translateError } from './errors.js';

/**
 * Publishing host event batches. A batch is ONE JetStream message on `lockline.v1.events.<hostId>`
 * whose payload is JSONL (one event per line) and whose `Nats-Msg-Id` is the batch id. JetStream drops
 * a second message with the same id inside the stream's duplicate window, so a publish can be retried
 * after a timeout without storing the batch twice.
 */

/** The part of a JetStream client publishing needs (a nats.js `JetStreamClient` is one). */
export type JetStreamPublisher = Pick<JetStreamClient, 'publish'>;

/**
 * `<hostId>.<bootId>.<firstSeq>`: the id of the batch whose first event has `firstSeq` in that host
 * boot. The same events re-sent after a crash or timeout get the same id, so JetStream dedupes them —
 * as long as the batch is cut the same way (a retry must resend the same batch, not a re-cut one).
 */
export function batchIdOf(hostId: string, bootId: string, firstSeq: number): string {
  if (!isValidId(hostId)) throw new InvalidIdError('hostId', hostId);
  if (!bootIdSchema.safeParse(bootId).success) throw new InvalidIdError('bootId', bootId);
  if (!Number.isSafeInteger(firstSeq) || firstSeq < 1) throw new InvalidBatch(`firstSeq must be a positive integer, got ${String(firstSeq)}`);
  return `${hostId}.${bootId}.${firstSeq}`;
}

export interface PublishResult {
  /** The stream that stored it (LOCKLINE_EVENTS). */
  readonly stream: string;
  /** Its stream sequence — for a duplicate, the sequence of the copy stored first. */
  readonly seq: number;
  /** True when JetStream already had a message with this batch id: nothing new was stored. */
  readonly duplicate: boolean;
}

export interface PublishBatchOptions {
  /** The batch's `Nats-Msg-Id` (see batchIdOf). */
  batchId: string;
  /** How long to wait for the JetStream ack. Default 5000 ms. */
  timeoutMs?: number;
}

interface PreparedBatch {
  readonly subject: string;
  readonly payload: Uint8Array;
  readonly batchId: string;
}

function prepare(hostId: string, lines: readonly string[], batchId: string): PreparedBatch {
  if (typeof batchId !== 'string' || batchId.length === 0) throw new InvalidBatch('a batch needs a batchId (see batchIdOf)');
  return { subject: eventsSubject(hostId), payload: encodeLines(lines), batchId };
}

async function publishOnce(js: JetStreamPublisher, batch: PreparedBatch, timeoutMs: number): Promise<PublishResult> {
  const ack = await js.publish(batch.subject, batch.payload, { msgID: batch.batchId, timeout: timeoutMs });
  return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
}

function translatePublishError(error: unknown, batch: PreparedBatch, attempts: number): Error {
  const full = streamFullReason(error);
  if (full !== undefined) return new StreamFull(batch.subject, full, { cause: error });
  const code = natsCode(error);
  if (code === '503') {
    return new BusUnavailable(`no JetStream stream answered on ${batch.subject} after ${attempts} attempt(s): JetStream down or restarting, or LOCKLINE_EVENTS missing (ensureStreams)`, { cause: error });
  }
  if (isTransient(error)) return new PublishTimeout(batch.subject, batch.batchId, attempts, { cause: error });
  const translated = translateError(error, `publish to ${batch.subject}`, batch.subject);
  const apiError = (error as { api_error?: { err_code?: number; description?: string } } | null)?.api_error;
  if (translated.code === 'BUS_ERROR' && apiError !== undefined) {
    return new PublishRejected(batch.subject, apiError.description ?? translated.message, apiError.err_code, { cause: error });
  }
  return translated;
}

/**
 * Publishes one batch and waits for its ack, once: no retry. Throws PublishTimeout, BusUnavailable or
 * StreamFull (all safe to retry with the same batchId), PermissionDenied (this user may not publish for that host), PublishRejected
 * (JetStream refused it: no stream, stream full …), InvalidBatch, or InvalidIdError for a bad hostId.
 */
export async function publishBatch(js: JetStreamPublisher, hostId: string, lines: readonly string[], options: PublishBatchOptions): Promise<PublishResult> {
  const batch = prepare(hostId, lines, options.batchId);
  try {
    return await publishOnce(js, batch, options.timeoutMs ?? 5000);
  } catch (error) {
    throw translatePublishError(error, batch, 1);
  }
}

export interface PublisherOptions {
  /** Most publishes awaiting their ack at once; further publish() calls wait for a slot. Default 64. */
  maxInFlight?: number;
  /** Wait for one ack. Default 5000 ms. */
  timeoutMs?: number;
  /**
   * Keep retrying a publish that timed out (or found JetStream not answering, e.g. during a server
   * restart) for this long in total, always with the same batch id. Keep it well inside the stream's
   * duplicate window (2 minutes by default) or a late retry may be stored twice. Default 60 000 ms.
   */
  retryForMs?: number;
  /** First pause between attempts, doubled each time up to 2 s. Default 100 ms. */
  retryDelayMs?: number;
}

export interface PublisherResult extends PublishResult {
  /** How many times it was sent (1 = acked on the first try). */
  readonly attempts: number;
}

/**
 * Publishes batches with a bounded number in flight and retries timeouts with the same batch id.
 * A batch whose publish() resolved is stored exactly once; one whose publish() rejected with
 * PublishTimeout or BusUnavailable may or may not be stored, and publishing it again with the same
 * id is safe (within the stream's duplicate window). A full stream is not retried here: publish()
 * rejects at once with StreamFull (nothing stored), and the caller decides how long to wait.
 *
 * Per-host order: batches of one host are stored in the order their publishes reach the server. A
 * host that needs its batches stored in order should await each batch's publish() before sending the
 * next (several hosts still publish in parallel through one Publisher).
 */
export class Publisher {
  readonly #js: JetStreamPublisher;
  readonly #maxInFlight: number;
  readonly #timeoutMs: number;
  readonly #retryForMs: number;
  readonly #retryDelayMs: number;
  #inFlight = 0;
  #retries = 0;
  readonly #slotWaiters: Array<() => void> = [];
  readonly #idleWaiters: Array<() => void> = [];

  constructor(js: JetStreamPublisher, options: PublisherOptions = {}) {
    this.#js = js;
    this.#maxInFlight = options.maxInFlight ?? 64;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#retryForMs = options.retryForMs ?? 60_000;
    this.#retryDelayMs = options.retryDelayMs ?? 100;
    if (!Number.isInteger(this.#maxInFlight) || this.#maxInFlight < 1) throw new RangeError(`maxInFlight must be a positive integer, got ${String(options.maxInFlight)}`);
  }

  /** Publishes awaiting their ack right now (never more than maxInFlight). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Attempts beyond the first, over this Publisher's life. */
  get retries(): number {
    return this.#retries;
  }

  /** Publishes one batch (see publishBatch); resolves once JetStream acked it. */
  async publish(hostId: string, lines: readonly string[], options: { batchId: string }): Promise<PublisherResult> {
    const batch = prepare(hostId, lines, options.batchId);
    await this.#acquire();
    try {
      return await this.#publishWithRetry(batch);
    } finally {
      this.#release();
    }
  }

  /** Resolves when nothing is in flight (publishes started later are not waited for). */
  async flush(): Promise<void> {
    if (this.#inFlight === 0 && this.#slotWaiters.length === 0) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  async #publishWithRetry(batch: PreparedBatch): Promise<PublisherResult> {
    const deadline = Date.now() + this.#retryForMs;
    let delay = this.#retryDelayMs;
    for (let attempts = 1; ; attempts++) {
      try {
        const result = await publishOnce(this.#js, batch, this.#timeoutMs);
        return { ...result, attempts };
      } catch (error) {
        if (!isTransient(error) || Date.now() + delay >= deadline) throw translatePublishError(error, batch, attempts);
      }
      this.#retries++;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 2000);
    }
  }

  async #acquire(): Promise<void> {
    if (this.#inFlight < this.#maxInFlight) {
      this.#inFlight++;
      return;
    }
    // The releasing publish hands its slot over directly, so inFlight never exceeds the bound.
    await new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
  }

  #release(): void {
    const next = this.#slotWaiters.shift();
    if (next !== undefined) {
      next();
      return;
    }
    this.#inFlight--;
    if (this.#inFlight === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }
}
