import type { JetStreamClient } from 'nats';
import { jetStreamErrorCode, translateError } from './errors.js';

const NO_MESSAGE_FOUND = 10037;

/** The newest message a stream holds on one subject, with the headers it was published with. */
export interface LastMessage {
  readonly seq: number;
  readonly subject: string;
  /** Header values by name (the first value of each). */
  header(name: string): string | undefined;
  readonly data: Uint8Array;
}

/**
 * The last message `stream` holds on `subject`, or undefined when it holds none. One request
 * ($JS.API.STREAM.MSG.GET.<stream>), no consumer: what a service restarting needs to learn what it
 * had already published before it died.
 */
export async function lastMessageOn(js: JetStreamClient, stream: string, subject: string): Promise<LastMessage | undefined> {
  try {
    const jsm = await js.jetstreamManager(false); // no $JS.API.INFO round trip (nor its permission)
    const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    return { seq: m.seq, subject: m.subject, data: m.data, header: (name) => m.header.get(name) || undefined };
  } catch (error) {
    if (jetStreamErrorCode(error) === NO_MESSAGE_FOUND) return undefined;
    throw translateError(error, `last message of ${stream} on ${subject}`, subject);
  }
}
