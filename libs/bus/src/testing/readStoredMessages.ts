import { RetentionPolicy, type JetStreamClient, type JetStreamManager } from 'nats';
import { jetStreamErrorCode } from '../errors.js';

/** A message as a stream holds it. */
export interface StoredMessage {
  readonly seq: number;
  readonly subject: string;
  /** Its `Nats-Msg-Id`, if any. */
  readonly msgId: string | undefined;
  readonly data: Uint8Array;
}

const NO_MESSAGE_FOUND = 10037;

/** A work queue refuses a second consumer on the same subjects: read it message by message instead. */
async function readBySeq(jsm: JetStreamManager, stream: string, first: number, last: number): Promise<StoredMessage[]> {
  const out: StoredMessage[] = [];
  for (let seq = first; seq <= last; seq++) {
    try {
      const m = await jsm.streams.getMessage(stream, { seq });
      out.push({ seq: m.seq, subject: m.subject, msgId: m.header.get('Nats-Msg-Id') || undefined, data: m.data });
    } catch (error) {
      // acked (removed) or deleted since the info call
      if (jetStreamErrorCode(error) !== NO_MESSAGE_FOUND) throw error;
    }
  }
  return out;
}

/**
 * Every message `stream` holds right now, in order, through an ordered consumer (no durable state
 * left behind), or message by message for a work-queue stream. For tests and inspection; the user
 * needs stream-info and consumer-create (or message-get) rights.
 */
export async function readStoredMessages(js: JetStreamClient, stream: string, options: { timeoutMs?: number } = {}): Promise<StoredMessage[]> {
  const jsm = await js.jetstreamManager();
  const { state, config } = await jsm.streams.info(stream);
  if (state.messages === 0) return [];
  if (config.retention === RetentionPolicy.Workqueue) return readBySeq(jsm, stream, state.first_seq, state.last_seq);
  const consumer = await js.consumers.get(stream);
  const messages = await consumer.consume({ max_messages: 1000 });
  const out: StoredMessage[] = [];
  const timer = setTimeout(() => void messages.close(), options.timeoutMs ?? 20_000);
  try {
    for await (const m of messages) {
      out.push({ seq: m.seq, subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id') || undefined, data: m.data });
      if (m.seq >= state.last_seq) break;
    }
  } finally {
    clearTimeout(timer);
    await messages.close();
  }
  return out;
}
