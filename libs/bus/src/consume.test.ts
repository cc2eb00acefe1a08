import { connect, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consume, fetchMessages, type BusMessage } from './consume.js';
import { NotFound } from './errors.js';
import { EVENTS_STREAM, ingestConsumerName } from './names.js';
import { partitionOf } from './partition.js';
import { batchIdOf, publishBatch } from './publish.js';
import { ensureConsumer, ensureStreams, ingestConsumerSpec } from './streams.js';
import { startNatsServer, type NatsServer } from './testing/index.js';

let server: NatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  js = nc.jetstream();
  jsm = await nc.jetstreamManager();
  await ensureStreams(jsm, { partitions: 2 });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

/** 'done' when `promise` settles within `ms`, 'hung' otherwise. */
function within(promise: Promise<unknown>, ms: number): Promise<'done' | 'hung'> {
  return Promise.race([promise.then(() => 'done' as const), new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), ms))]);
}

/** A host that lands in `partition` of 2. */
function hostIn(partition: number, salt: string): string {
  for (let i = 0; ; i++) if (partitionOf(`${salt}${i}`, 2) === partition) return `${salt}${i}`;
}

describe('consume', () => {
  it('yields a partition in order, redelivers after nak and after ack wait, stops cleanly', async () => {
    await ensureConsumer(jsm, ingestConsumerSpec(0, { ackWaitMs: 1000 }));
    const host = hostIn(0, 'c');
    const other = hostIn(1, 'c');
    await publishBatch(js, other, ['{"other":true}'], { batchId: 'other-1' }); // partition 1: never seen here
    for (let i = 1; i <= 10; i++) await publishBatch(js, host, [`{"seq":${2 * i - 1}}`, `{"seq":${2 * i}}`], { batchId: batchIdOf(host, 'boot', 2 * i - 1) });

    const sub = await consume(js, { stream: EVENTS_STREAM, durable: ingestConsumerName(0), maxMessages: 16 });
    const firstDeliveries: BusMessage[] = [];
    const redeliveries: Array<{ batchId: string | undefined; deliveryCount: number; at: number }> = [];
    const start = Date.now();
    for await (const m of sub) {
      if (m.deliveryCount === 1) {
        firstDeliveries.push(m);
        if (m.batchId === batchIdOf(host, 'boot', 5)) continue; // not acked: comes back after ack wait
        if (m.batchId === batchIdOf(host, 'boot', 9)) {
          m.nak(200);
          continue;
        }
        m.ack();
      } else {
        redeliveries.push({ batchId: m.batchId, deliveryCount: m.deliveryCount, at: Date.now() - start });
        await m.ackAndConfirm();
        if (redeliveries.length === 2) void sub.stop();
      }
    }

    expect(firstDeliveries.map((m) => m.batchId)).toEqual(Array.from({ length: 10 }, (_, i) => batchIdOf(host, 'boot', 2 * i + 1)));
    expect(firstDeliveries.every((m) => m.hostId === host && m.partition === 0 && m.subject === `lockline.v1.pevents.0.${host}`)).toBe(true);
    expect(firstDeliveries[0]?.lines()).toEqual(['{"seq":1}', '{"seq":2}']);
    expect(firstDeliveries.map((m) => m.streamSeq)).toEqual([...firstDeliveries.map((m) => m.streamSeq)].sort((a, b) => a - b));
    // The nak'ed batch comes back first (200 ms), the unacked one after the 1 s ack wait.
    expect(redeliveries.map((r) => [r.batchId, r.deliveryCount])).toEqual([
      [batchIdOf(host, 'boot', 9), 2],
      [batchIdOf(host, 'boot', 5), 2],
    ]);
    expect(redeliveries[1]?.at).toBeGreaterThanOrEqual(900);

    const info = await jsm.consumers.info(EVENTS_STREAM, ingestConsumerName(0));
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
  });

  it('term() stops redelivery; fetchMessages pulls a bounded batch', async () => {
    await ensureConsumer(jsm, ingestConsumerSpec(1, { ackWaitMs: 1000 }));
    const host = hostIn(1, 't');
    for (let i = 1; i <= 3; i++) await publishBatch(js, host, [`{"i":${i}}`], { batchId: `t${i}` });
    const batch = await fetchMessages(js, { stream: EVENTS_STREAM, durable: ingestConsumerName(1), maxMessages: 10, expiresMs: 1000 });
    // other-1 from the first test, then t1..t3.
    expect(batch.map((m) => m.batchId)).toEqual(['other-1', 't1', 't2', 't3']);
    for (const m of batch) m.term('test');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await fetchMessages(js, { stream: EVENTS_STREAM, durable: ingestConsumerName(1), maxMessages: 10, expiresMs: 1000 })).toEqual([]);
  });

  it('stop() resolves after a loop left with break, and when no loop ever ran; the unacked message comes again', async () => {
    await ensureConsumer(jsm, ingestConsumerSpec(1, { ackWaitMs: 1000 }));
    const host = hostIn(1, 'b');
    await publishBatch(js, host, ['{"b":1}'], { batchId: 'b1' });
    await publishBatch(js, host, ['{"b":2}'], { batchId: 'b2' });
    const sub = await consume(js, { stream: EVENTS_STREAM, durable: ingestConsumerName(1) });
    let seen: string | undefined;
    for await (const m of sub) {
      seen = m.batchId;
      m.ack();
      break;
    }
    expect(seen).toBe('b1');
    await expect(within(sub.stop(), 3000)).resolves.toBe('done');

    const idle = await consume(js, { stream: EVENTS_STREAM, durable: ingestConsumerName(1) });
    await expect(within(idle.stop(), 3000)).resolves.toBe('done');
    // b2 was buffered by the first subscription, never acked: it is delivered again (maybe more than
    // once inside this fetch, as the 1 s ack wait runs out).
    const again = await fetchMessages(js, { stream: EVENTS_STREAM, durable: ingestConsumerName(1), maxMessages: 10, expiresMs: 2500 });
    expect(new Set(again.map((m) => m.batchId))).toEqual(new Set(['b2']));
    for (const m of again) m.ack();
  });

  it('reports a missing consumer as NotFound', async () => {
    await expect(consume(js, { stream: EVENTS_STREAM, durable: 'nope' })).rejects.toThrow(NotFound);
    await expect(fetchMessages(js, { stream: 'NOPE', durable: 'nope' })).rejects.toThrow(NotFound);
  });
});
