import { connect, type JetStreamClient, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEAD_LETTER_PAYLOAD_MAX_BYTES, parseDeadLetter, publishDeadLetter } from './dlq.js';
import { DLQ_STREAM } from './names.js';
import { ensureStreams } from './streams.js';
import { readStoredMessages, startNatsServer, type NatsServer } from './testing/index.js';

let server: NatsServer;
let nc: NatsConnection;
let js: JetStreamClient;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  js = nc.jetstream();
  await ensureStreams(await nc.jetstreamManager(), { partitions: 1 });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe('publishDeadLetter', () => {
  it('stores the reason, the raw line and where it came from, once per source line', async () => {
    const receivedAt = new Date('2025-01-31T12:00:00.000Z');
    const input = { reason: 'data.flags[0]: unknown flag "MCL_BOGUS"', line: '{"type":"mlockall","data":{"flags":["MCL_BOGUS"]}}', subject: 'lockline.v1.pevents.0.web-1', seq: 12, lineIndex: 3, receivedAt };
    const first = await publishDeadLetter(js, 'web-1', input);
    expect(first).toMatchObject({ stream: DLQ_STREAM, duplicate: false });
    expect((await publishDeadLetter(js, 'web-1', input)).duplicate).toBe(true); // a redelivered batch dead-letters its line again

    await publishDeadLetter(js, null, { reason: 'not JSON', line: '\u0000garbage', subject: 'lockline.v1.pevents.0.~', receivedAt });
    await publishDeadLetter(js, 'bad.host', { reason: 'subject names no host', subject: 'lockline.v1.events.bad', receivedAt });
    await publishDeadLetter(js, 'web-1', { reason: 'too big', line: `"${'€'.repeat(100_000)}"`, subject: 'lockline.v1.pevents.0.web-1', seq: 13, receivedAt });

    const stored = await readStoredMessages(js, DLQ_STREAM);
    expect(stored.map((m) => m.subject)).toEqual(['lockline.v1.dlq.web-1', 'lockline.v1.dlq.~unknown', 'lockline.v1.dlq.~unknown', 'lockline.v1.dlq.web-1']);
    const [letter, unknown, badHost, big] = stored.map((m) => parseDeadLetter(m.data));
    expect(letter).toEqual({
      reason: input.reason,
      hostId: 'web-1',
      payload: input.line,
      payloadTruncated: false,
      payloadBytes: input.line.length,
      receivedAt: '2025-01-31T12:00:00.000Z',
      sourceSubject: 'lockline.v1.pevents.0.web-1',
      sourceSeq: 12,
      lineIndex: 3,
    });
    expect(unknown).toMatchObject({ hostId: null, payload: '\u0000garbage', sourceSeq: null });
    expect(badHost).toMatchObject({ hostId: null, payload: null, reason: 'subject names no host' });
    expect(big?.payloadTruncated).toBe(true);
    expect(big?.payloadBytes).toBe(300_002);
    expect(new TextEncoder().encode(big?.payload ?? '').length).toBeLessThanOrEqual(DEAD_LETTER_PAYLOAD_MAX_BYTES);
    expect(big?.payload?.endsWith('€')).toBe(true);
  });

  it('parseDeadLetter refuses anything else', () => {
    expect(() => parseDeadLetter(new TextEncoder().encode('{"x":1}'))).toThrow(/not a dead letter/);
  });
});
