import { AckPolicy, ReplayPolicy, RetentionPolicy, connect, type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamMismatch } from './errors.js';
import { DLQ_STREAM, EVENTS_STREAM, FINDINGS_STREAM, HOSTS_BUCKET_STREAM } from './names.js';
import { openHostSummaries } from './hostSummaries.js';
import { batchIdOf, publishBatch } from './publish.js';
import { ensureConsumer, ensureHostsBucket, ensureIngestConsumers, ensureStreams, ingestConsumerSpec, readPartitions } from './streams.js';
import { consume } from './consume.js';
import { startNatsServer, type NatsServer } from './testing/index.js';

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await nc.jetstreamManager();
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const actions = (results: ReadonlyArray<{ resource: string; action: string }>): Record<string, string> => Object.fromEntries(results.map((r) => [r.resource, r.action]));

describe('ensureStreams', () => {
  it('creates, then changes nothing, then updates what differs — keeping the messages', async () => {
    expect(actions(await ensureStreams(jsm, { partitions: 4 }))).toEqual({
      [`stream ${EVENTS_STREAM}`]: 'created',
      [`stream ${DLQ_STREAM}`]: 'created',
      [`stream ${FINDINGS_STREAM}`]: 'created',
    });
    expect(new Set(Object.values(actions(await ensureStreams(jsm, { partitions: 4 }))))).toEqual(new Set(['unchanged']));

    await publishBatch(nc.jetstream(), 'h1', ['{"n":1}'], { batchId: batchIdOf('h1', 'b1', 1) });

    const updated = await ensureStreams(jsm, { partitions: 4, maxBytes: 8 * 1024 * 1024, duplicateWindowMs: 60_000 });
    expect(new Set(updated.map((r) => r.action))).toEqual(new Set(['updated']));
    expect(updated[0]?.changes.join('\n')).toMatch(/max_bytes: 1073741824 → 8388608/);
    const info = await jsm.streams.info(EVENTS_STREAM);
    expect(info.config.max_bytes).toBe(8 * 1024 * 1024);
    expect(info.config.duplicate_window).toBe(60_000_000_000);
    expect(info.config.discard).toBe('new');
    expect(info.state.messages).toBe(1);
    expect(new Set(Object.values(actions(await ensureStreams(jsm, { partitions: 4, maxBytes: 8 * 1024 * 1024, duplicateWindowMs: 60_000 }))))).toEqual(new Set(['unchanged']));
  });

  it('refuses to re-partition unless told to', async () => {
    await expect(ensureStreams(jsm, { partitions: 5, maxBytes: 8 * 1024 * 1024, duplicateWindowMs: 60_000 })).rejects.toThrow(StreamMismatch);
    await expect(ensureStreams(jsm, { partitions: 5 })).rejects.toThrow(/has 4 partition\(s\), not 5/);
    expect(await readPartitions(jsm)).toBe(4);
    await ensureStreams(jsm, { partitions: 5, allowRepartition: true, maxBytes: 8 * 1024 * 1024, duplicateWindowMs: 60_000 });
    expect(await readPartitions(jsm)).toBe(5);
  });

  it('reports a change JetStream cannot make as StreamMismatch with the server reason', async () => {
    const error = await ensureStreams(jsm, { partitions: 5, storage: 'memory', allowRepartition: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StreamMismatch);
    expect((error as StreamMismatch).code).toBe('STREAM_MISMATCH');
    expect((error as StreamMismatch).message).toMatch(/storage/);
  });
});

describe('LOCKLINE_EVENTS retention', () => {
  it('is a work queue: a batch is gone once ingest acks it; keepAckedEvents keeps it', async () => {
    const own = await startNatsServer();
    const c = await connect({ servers: own.url });
    try {
      const m = await c.jetstreamManager();
      expect((await ensureStreams(m, { partitions: 1 }))[0]?.action).toBe('created');
      expect((await m.streams.info(EVENTS_STREAM)).config).toMatchObject({ retention: RetentionPolicy.Workqueue, max_bytes: 2 ** 30, discard: 'new' });
      await ensureIngestConsumers(m, 1);
      await publishBatch(c.jetstream(), 'h1', ['{"n":1}'], { batchId: batchIdOf('h1', 'b1', 1) });
      expect((await m.streams.info(EVENTS_STREAM)).state.messages).toBe(1);
      const sub = await consume(c.jetstream(), { stream: EVENTS_STREAM, durable: 'ingest-p0' });
      for await (const message of sub) {
        await message.ackAndConfirm();
        break;
      }
      await sub.stop();
      expect((await m.streams.info(EVENTS_STREAM)).state).toMatchObject({ messages: 0, last_seq: 1 });

      // JetStream cannot switch a stream to or from a work queue: the mismatch says what to do.
      const error = await ensureStreams(m, { partitions: 1, keepAckedEvents: true }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StreamMismatch);
      expect((error as Error).message).toMatch(/retention is workqueue, not limits.*delete the stream/);

      await m.streams.delete(EVENTS_STREAM);
      await ensureStreams(m, { partitions: 1, keepAckedEvents: true });
      expect((await m.streams.info(EVENTS_STREAM)).config.retention).toBe(RetentionPolicy.Limits);
    } finally {
      await c.close();
      await own.stop();
    }
  });
});

describe('ensureConsumer', () => {
  it('creates the ingest consumers once, and updates ack wait / max ack pending', async () => {
    const created = await ensureIngestConsumers(jsm, 3, { ackWaitMs: 10_000 });
    expect(created.map((r) => r.action)).toEqual(['created', 'created', 'created']);
    expect((await ensureIngestConsumers(jsm, 3, { ackWaitMs: 10_000 })).map((r) => r.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);

    const info = await jsm.consumers.info(EVENTS_STREAM, 'ingest-p1');
    expect(info.config).toMatchObject({ durable_name: 'ingest-p1', filter_subject: 'lockline.v1.pevents.1.*', ack_policy: 'explicit', ack_wait: 10_000_000_000, max_ack_pending: 256 });

    const updated = await ensureConsumer(jsm, ingestConsumerSpec(1, { ackWaitMs: 20_000, maxAckPending: 32 }));
    expect(updated.action).toBe('updated');
    expect((await jsm.consumers.info(EVENTS_STREAM, 'ingest-p1')).config).toMatchObject({ ack_wait: 20_000_000_000, max_ack_pending: 32 });
  });

  it('refuses to turn a consumer with another ack policy into ours', async () => {
    // (a work queue accepts only explicit acks delivering all, so the foreign consumer differs in its replay policy)
    await jsm.consumers.add(EVENTS_STREAM, { durable_name: 'ingest-p4', ack_policy: AckPolicy.Explicit, replay_policy: ReplayPolicy.Original, filter_subject: 'lockline.v1.pevents.4.*' });
    await expect(ensureConsumer(jsm, ingestConsumerSpec(4))).rejects.toThrow(/replay_policy/);
  });
});

describe('ensureHostsBucket', () => {
  it('creates the bucket, keeps it, updates history; summaries round-trip', async () => {
    expect((await ensureHostsBucket(jsm)).action).toBe('created');
    expect((await ensureHostsBucket(jsm)).action).toBe('unchanged');
    const summaries = await openHostSummaries(nc.jetstream());
    const revision = await summaries.put('web-1', { lockedPages: 12 });
    expect(await summaries.get('web-1')).toMatchObject({ summary: { lockedPages: 12 }, revision });
    expect(await summaries.get('nobody')).toBeUndefined();
    await summaries.put('db-2', { lockedPages: 0 });
    expect(await summaries.hostIds()).toEqual(['db-2', 'web-1']);

    const updated = await ensureHostsBucket(jsm, { history: 5 });
    expect(updated.action).toBe('updated');
    expect((await jsm.streams.info(HOSTS_BUCKET_STREAM)).config.max_msgs_per_subject).toBe(5);
    expect(await summaries.get('web-1')).toMatchObject({ summary: { lockedPages: 12 } });
  });
});
