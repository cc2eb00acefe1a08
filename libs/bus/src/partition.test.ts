import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeLines } from './codec.js';
import { EVENTS_STREAM, parsePartitionedSubject } from './names.js';
import { eventsSubjectTransform, fnv1a32, partitionOf, partitionsOfTransform } from './partition.js';
import { ensureStreams, readPartitions } from './streams.js';
import { readStoredMessages, startNatsServer, type NatsServer } from './testing/index.js';

describe('fnv1a32 and partitionOf', () => {
  it('matches the FNV-1a 32-bit reference values', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    // Non-ASCII hashes the UTF-8 bytes, like the server.
    expect(fnv1a32('é')).toBe(fnv1a32('\u00e9'));
  });

  it('is stable and in range', () => {
    for (const n of [1, 2, 7, 16, 1024]) {
      for (let i = 0; i < 200; i++) {
        const p = partitionOf(`host-${i}`, n);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThan(n);
        expect(partitionOf(`host-${i}`, n)).toBe(p);
      }
    }
    expect(partitionOf('anything', 1)).toBe(0);
    expect(() => partitionOf('h', 0)).toThrow(/partition count/);
    expect(() => partitionOf('a.b', 4)).toThrow(/hostId/);
  });

  it('reads back the partition count of its own transform only', () => {
    expect(partitionsOfTransform(eventsSubjectTransform(12))).toBe(12);
    expect(partitionsOfTransform({ src: 'lockline.v1.events.*', dest: 'lockline.v1.pevents.{{wildcard(1)}}' })).toBeUndefined();
    expect(partitionsOfTransform(undefined)).toBeUndefined();
  });
});

describe('the server routes every host to partitionOf(hostId, N)', () => {
  let server: NatsServer;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  const hostIds = (prefix: string, count: number): string[] =>
    Array.from({ length: count }, (_, i) => (i % 3 === 0 ? `${prefix}${i}` : i % 3 === 1 ? `${prefix}-node-${i * 7919}` : `_${prefix}_${(i * 2654435761) % 1e9}`));

  async function publishAndCheck(partitions: number, hosts: string[]): Promise<void> {
    const js = nc.jetstream();
    const before = (await (await nc.jetstreamManager()).streams.info(EVENTS_STREAM)).state.last_seq;
    await Promise.all(hosts.map((hostId, i) => js.publish(`lockline.v1.events.${hostId}`, encodeLines([`{"i":${i}}`]))));
    const stored = (await readStoredMessages(js, EVENTS_STREAM)).filter((m) => m.seq > before);
    expect(stored).toHaveLength(hosts.length);
    const seen = new Set<number>();
    for (const message of stored) {
      const parsed = parsePartitionedSubject(message.subject);
      expect(parsed, message.subject).toBeDefined();
      expect(parsed?.partition, parsed?.hostId).toBe(partitionOf(parsed?.hostId ?? '', partitions));
      seen.add(parsed?.partition ?? -1);
    }
    expect(seen.size).toBe(partitions); // every partition gets hosts
  }

  it('with 1, 7 and 16 partitions', async () => {
    const jsm = await nc.jetstreamManager();
    await ensureStreams(jsm, { partitions: 1 });
    await publishAndCheck(1, hostIds('a', 50));
    await ensureStreams(jsm, { partitions: 7, allowRepartition: true });
    expect(await readPartitions(jsm)).toBe(7);
    await publishAndCheck(7, hostIds('b', 700));
    await ensureStreams(jsm, { partitions: 16, allowRepartition: true });
    await publishAndCheck(16, hostIds('c', 1000));
  });
});
