import { connect, type JetStreamClient, type NatsConnection } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeLines } from './codec.js';
import { BusUnavailable, InvalidBatch, PublishRejected, StreamFull } from './errors.js';
import { EVENTS_STREAM } from './names.js';
import { Publisher, batchIdOf, publishBatch, type JetStreamPublisher, type PublisherResult } from './publish.js';
import { ensureStreams } from './streams.js';
import { readStoredMessages, startNatsServer, type NatsServer } from './testing/index.js';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function setup(options: { syncAlways?: boolean } = {}): Promise<{ server: NatsServer; nc: NatsConnection; js: JetStreamClient }> {
  const server = await startNatsServer(options);
  cleanup.push(() => server.stop());
  const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 50, pingInterval: 1000 });
  cleanup.push(() => nc.close());
  await ensureStreams(await nc.jetstreamManager(), { partitions: 4 });
  return { server, nc, js: nc.jetstream() };
}

describe('batchIdOf', () => {
  it('is <hostId>.<bootId>.<firstSeq> and checks its parts', () => {
    expect(batchIdOf('web-1', 'b0a1', 17)).toBe('web-1.b0a1.17');
    expect(() => batchIdOf('web.1', 'b', 1)).toThrow(/hostId/);
    expect(() => batchIdOf('web-1', 'b-1', 1)).toThrow(/bootId/);
    expect(() => batchIdOf('web-1', 'b', 0)).toThrow(InvalidBatch);
  });
});

describe('publishBatch', () => {
  it('stores a batch as one JSONL message and drops a retry with the same id', async () => {
    const { js } = await setup();
    const lines = ['{"seq":1}', '{"seq":2}', '{"seq":3}'];
    const batchId = batchIdOf('h1', 'boot1', 1);
    const first = await publishBatch(js, 'h1', lines, { batchId });
    expect(first).toMatchObject({ stream: EVENTS_STREAM, duplicate: false });
    const retry = await publishBatch(js, 'h1', lines, { batchId });
    expect(retry).toEqual({ stream: EVENTS_STREAM, seq: first.seq, duplicate: true });
    const next = await publishBatch(js, 'h1', ['{"seq":4}'], { batchId: batchIdOf('h1', 'boot1', 4) });
    expect(next.duplicate).toBe(false);

    const stored = await readStoredMessages(js, EVENTS_STREAM);
    expect(stored.map((m) => m.msgId)).toEqual(['h1.boot1.1', 'h1.boot1.4']);
    expect(decodeLines(stored[0]?.data ?? new Uint8Array())).toEqual(lines);
  });

  it('translates JetStream refusals', async () => {
    const { nc, js } = await setup();
    await (await nc.jetstreamManager()).streams.update(EVENTS_STREAM, { max_msg_size: 64 });
    await expect(publishBatch(js, 'h1', ['x'.repeat(100)], { batchId: 'big' })).rejects.toThrow(PublishRejected);
    await (await nc.jetstreamManager()).streams.delete(EVENTS_STREAM);
    await expect(publishBatch(js, 'h1', ['{}'], { batchId: 'nostream' })).rejects.toThrow(BusUnavailable);
  });

  it('says a full stream is full (ingest behind), not that JetStream is down; the Publisher does not spin on it', async () => {
    const { nc, js } = await setup();
    await (await nc.jetstreamManager()).streams.update(EVENTS_STREAM, { max_bytes: 4096 });
    const line = JSON.stringify({ pad: 'x'.repeat(1000) });
    let error: unknown;
    for (let seq = 1; seq <= 10 && error === undefined; seq++) {
      error = await publishBatch(js, 'h1', [line], { batchId: batchIdOf('h1', 'b1', seq) }).then(() => undefined, (e: unknown) => e);
    }
    expect(error).toBeInstanceOf(StreamFull);
    expect((error as StreamFull).code).toBe('STREAM_FULL');
    expect((error as Error).message).toMatch(/maximum bytes exceeded.*ingest is behind or not running/);

    const publisher = new Publisher(js, { retryForMs: 30_000 });
    const started = Date.now();
    await expect(publisher.publish('h1', [line], { batchId: batchIdOf('h1', 'b1', 99) })).rejects.toThrow(StreamFull);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(publisher.retries).toBe(0);
  });
});

describe('Publisher', () => {
  /** A JetStream client that counts publishes awaiting their ack. */
  function counting(js: JetStreamClient): { client: JetStreamPublisher; maxSeen: () => number } {
    let now = 0;
    let max = 0;
    return {
      client: {
        publish: async (...args) => {
          max = Math.max(max, ++now);
          try {
            return await js.publish(...args);
          } finally {
            now--;
          }
        },
      },
      maxSeen: () => max,
    };
  }

  async function publishUnderRestart(js: JetStreamClient, restart: () => Promise<void>): Promise<void> {
    const total = 3000;
    const { client, maxSeen } = counting(js);
    const publisher = new Publisher(client, { maxInFlight: 64, timeoutMs: 1000, retryForMs: 60_000 });
    let acked = 0;
    let restarted: Promise<void> | undefined;
    let ackedAtRestart = -1;
    const publishes: Array<Promise<PublisherResult>> = [];
    for (let i = 0; i < total; i++) {
      const hostId = `h${i % 25}`;
      const firstSeq = Math.floor(i / 25) * 5 + 1;
      const lines = Array.from({ length: 5 }, (_, k) => JSON.stringify({ hostId, seq: firstSeq + k, pad: 'x'.repeat(100) }));
      publishes.push(
        publisher.publish(hostId, lines, { batchId: batchIdOf(hostId, 'boot1', firstSeq) }).then((result) => {
          if (++acked === total / 3) {
            ackedAtRestart = acked;
            restarted = restart();
          }
          return result;
        }),
      );
    }
    const settled = await Promise.allSettled(publishes);
    await restarted;
    const failures = settled.filter((s) => s.status === 'rejected');
    expect(failures.map((f) => String((f as PromiseRejectedResult).reason))).toEqual([]);
    expect(ackedAtRestart).toBe(total / 3);
    expect(maxSeen()).toBeLessThanOrEqual(64);
    expect(publisher.inFlight).toBe(0);
    expect(publisher.retries).toBeGreaterThan(0); // the restart really hit publishes in flight

    // Every acknowledged batch is stored, exactly once, at the sequence its ack named.
    const results = settled.map((s) => (s as PromiseFulfilledResult<PublisherResult>).value);
    const stored = await readStoredMessages(js, EVENTS_STREAM);
    const byId = new Map<string, number>();
    for (const m of stored) byId.set(m.msgId ?? '', (byId.get(m.msgId ?? '') ?? 0) + 1);
    expect(stored).toHaveLength(total);
    expect([...byId.values()].every((n) => n === 1)).toBe(true);
    const seqToId = new Map(stored.map((m) => [m.seq, m.msgId]));
    results.forEach((result, i) => {
      const hostId = `h${i % 25}`;
      expect(seqToId.get(result.seq)).toBe(batchIdOf(hostId, 'boot1', Math.floor(i / 25) * 5 + 1));
    });
  }

  it('bounds in-flight publishes and loses no acknowledged batch across a graceful server restart', async () => {
    const { server, js } = await setup();
    await publishUnderRestart(js, () => server.restart());
  }, 90_000);

  it('loses no acknowledged batch when the server is SIGKILLed mid-stream (sync_interval: always)', async () => {
    const { server, js } = await setup({ syncAlways: true });
    await publishUnderRestart(js, () => server.restart({ signal: 'SIGKILL' }));
  }, 90_000);

  it('flush() waits for everything in flight', async () => {
    const { js } = await setup();
    const publisher = new Publisher(js, { maxInFlight: 4 });
    const all = Array.from({ length: 20 }, (_, i) => publisher.publish('h1', [`{"i":${i}}`], { batchId: `f${i}` }));
    await publisher.flush();
    expect(publisher.inFlight).toBe(0);
    expect((await Promise.all(all)).every((r) => !r.duplicate)).toBe(true);
  });
});
