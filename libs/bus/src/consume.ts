import type { ConsumerMessages, JetStreamClient, JsMsg } from 'nats';
import { decodeLines } from './codec.js';
import { translateError } from './errors.js';
import { parsePartitionedSubject } from './names.js';

/**
 * Reading a durable pull consumer, with nats.js kept behind a small interface: the rest of Lockline
 * sees BusMessage and BusSubscription only, so moving to the v3 `@nats-io/*` clients touches this file.
 *
 * Order: first deliveries come in stream order (per partition, that is per-host publish order). A
 * message that is not acked in time, or is nak'ed, comes again later — after messages that followed
 * it. Ingest keeps per-host order anyway by appending with the expected revision and nak'ing a batch
 * that arrives early.
 */

export interface BusMessage {
  /** The stored subject: `lockline.v1.pevents.<partition>.<hostId>` for events, the publish subject otherwise. */
  readonly subject: string;
  /** The host the subject names (events, DLQ and findings subjects), if any. */
  readonly hostId: string | undefined;
  /** The partition of an events message, if any. */
  readonly partition: number | undefined;
  /** The message's sequence in its stream. */
  readonly streamSeq: number;
  /** 1 on first delivery, 2 on the first redelivery … */
  readonly deliveryCount: number;
  /** The batch id it was published with (`Nats-Msg-Id`), if any. */
  readonly batchId: string | undefined;
  /** Messages after this one that the consumer has not delivered yet (a backlog gauge). */
  readonly pending: number;
  readonly data: Uint8Array;
  /** The payload's JSONL lines, in order (see decodeLines); decoded on first call. */
  lines(): readonly string[];
  /** Done with it: the server will not deliver it again. */
  ack(): void;
  /** Ack, and wait until the server confirms it recorded the ack. */
  ackAndConfirm(timeoutMs?: number): Promise<void>;
  /** Not now: deliver it again after `delayMs` (at once when omitted). */
  nak(delayMs?: number): void;
  /** Never deliver it again (e.g. after dead-lettering it). */
  term(reason?: string): void;
  /** Still working on it: restarts the ack-wait clock. */
  working(): void;
}

export interface BusSubscription extends AsyncIterable<BusMessage> {
  /**
   * Stops asking for messages. Messages already received are still yielded to the iterating loop,
   * which then ends; resolves when it has. Unacked messages are redelivered after ack-wait.
   */
  stop(): Promise<void>;
}

export interface ConsumeOptions {
  /** The stream, e.g. EVENTS_STREAM. */
  stream: string;
  /** The durable consumer, e.g. ingestConsumerName(k). It must exist (ensureIngestConsumers). */
  durable: string;
  /** Messages to keep buffered ahead of the loop. Default 64. */
  maxMessages?: number;
  /** How long one pull request waits on the server. Default 30 000 ms (nats.js's own). */
  expiresMs?: number;
  /** Informational events from the client (missed heartbeats, consumer deleted …); libraries stay silent. */
  onEvent?: (event: { type: string; data: unknown }) => void;
}

const MSG_ID = 'Nats-Msg-Id';

function hostIdOf(subject: string): { hostId: string | undefined; partition: number | undefined } {
  const parsed = parsePartitionedSubject(subject);
  if (parsed !== undefined) return parsed;
  // lockline.v1.dlq.<hostId>, lockline.v1.findings.<hostId>: the last token, unless it is not a host.
  const last = subject.slice(subject.lastIndexOf('.') + 1);
  return { hostId: /^[A-Za-z0-9_-]{1,64}$/.test(last) && subject.startsWith('lockline.v1.') ? last : undefined, partition: undefined };
}

/** Wraps a nats.js JsMsg. */
export function toBusMessage(msg: JsMsg): BusMessage {
  const { hostId, partition } = hostIdOf(msg.subject);
  let lines: readonly string[] | undefined;
  // ack/nak/term publish on the connection: a closed one throws, and that error is ours to translate.
  const reply = (what: string, send: () => void): void => {
    try {
      send();
    } catch (error) {
      throw translateError(error, `${what} of ${msg.info.stream} seq ${msg.seq}`);
    }
  };
  return {
    subject: msg.subject,
    hostId,
    partition,
    streamSeq: msg.seq,
    deliveryCount: msg.info.deliveryCount,
    batchId: msg.headers?.get(MSG_ID) || undefined,
    pending: msg.info.pending,
    data: msg.data,
    lines: () => (lines ??= decodeLines(msg.data)),
    ack: () => reply('ack', () => msg.ack()),
    ackAndConfirm: async (timeoutMs = 5000) => {
      try {
        const confirmed = await msg.ackAck({ timeout: timeoutMs });
        if (!confirmed) throw new Error('the server did not confirm the ack');
      } catch (error) {
        throw translateError(error, `ack of ${msg.info.stream} seq ${msg.seq}`);
      }
    },
    nak: (delayMs?: number) => reply('nak', () => msg.nak(delayMs)),
    term: (reason?: string) => reply('term', () => msg.term(reason)),
    working: () => reply('working', () => msg.working()),
  };
}

/**
 * Reads a durable pull consumer continuously: `for await (const m of sub) { …; m.ack(); }`.
 * Throws NotFound when the stream or consumer does not exist.
 */
export async function consume(js: JetStreamClient, options: ConsumeOptions): Promise<BusSubscription> {
  const what = `consumer ${options.durable} on ${options.stream}`;
  let messages: ConsumerMessages;
  try {
    const consumer = await js.consumers.get(options.stream, options.durable);
    messages = await consumer.consume({ max_messages: options.maxMessages ?? 64, ...(options.expiresMs === undefined ? {} : { expires: options.expiresMs }) });
  } catch (error) {
    throw translateError(error, what);
  }
  if (options.onEvent !== undefined) {
    const onEvent = options.onEvent;
    void (async () => {
      for await (const status of await messages.status()) onEvent({ type: String(status.type), data: status.data });
    })().catch(() => undefined);
  }
  let done: Promise<void> | undefined;
  /** A loop is iterating right now (nats.js finishes closing only inside an iterating loop). */
  let iterating = false;
  return {
    async *[Symbol.asyncIterator]() {
      iterating = true;
      try {
        for await (const msg of messages) yield toBusMessage(msg);
      } catch (error) {
        throw translateError(error, what);
      } finally {
        iterating = false;
      }
    },
    stop: () => {
      if (done !== undefined) return done;
      if (!iterating) {
        // No loop (never started, or it left with break/return/throw): nats.js queues its final step
        // for a loop that will never come, so waiting for close() would hang. stop() unsubscribes at
        // once; nothing more can be delivered.
        messages.stop();
        done = Promise.resolve();
        return done;
      }
      done = messages.close().then((result) => {
        if (result instanceof Error) throw translateError(result, what);
      });
      return done;
    },
  };
}

export interface FetchOptions {
  stream: string;
  durable: string;
  /** At most this many messages. Default 64. */
  maxMessages?: number;
  /** Return what arrived after this long (at least 1000 ms, nats.js's minimum). Default 1000. */
  expiresMs?: number;
}

/** One pull: up to maxMessages messages, in order, or fewer when expiresMs passes first. */
export async function fetchMessages(js: JetStreamClient, options: FetchOptions): Promise<BusMessage[]> {
  const what = `consumer ${options.durable} on ${options.stream}`;
  try {
    const consumer = await js.consumers.get(options.stream, options.durable);
    const batch = await consumer.fetch({ max_messages: options.maxMessages ?? 64, expires: Math.max(options.expiresMs ?? 1000, 1000) });
    const out: BusMessage[] = [];
    for await (const msg of batch) out.push(toBusMessage(msg));
    return out;
  } catch (error) {
    throw translateError(error, what);
  }
}
