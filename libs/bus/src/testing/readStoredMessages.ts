import type { JetStreamClient } from 'nats';

/** A message as a stream holds it. */
export interface StoredMessage {
  readonly seq: number;
  readonly subject: string;
  /** Its `Nats-Msg-Id`, if any. */
  readonly msgId: string | undefined;
  readonly data: Uint8Array;
}

/**
 * Every message `stream` holds right now, in order, through an ordered consumer (no durable state
 * left behind). For tests and inspection; the user needs stream-info and consumer-create rights.
 */
export async function readStoredMessages(js: JetStreamClient, stream: string, options: { timeoutMs?: number } = {}): Promise<StoredMessage[]> {
  const jsm = await js.jetstreamManager();
  const { state } = await jsm.streams.info(stream);
  if (state.messages === 0) return [];
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
