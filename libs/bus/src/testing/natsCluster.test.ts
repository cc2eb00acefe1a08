import { connect, headers, type JetStreamClient, type NatsConnection } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { natsAuthOptions } from '../authOptions.js';
import { fetchMessages } from '../consume.js';
import { DLQ_STREAM, EVENTS_STREAM, FINDINGS_STREAM, HOSTS_BUCKET_STREAM, ingestConsumerName } from '../names.js';
import { partitionOf } from '../partition.js';
import { ensureHostsBucket, ensureIngestConsumers, ensureStreams } from '../streams.js';
import { startNatsCluster, type NatsCluster } from './natsCluster.js';

/**
 * A real three-node cluster on loopback (three nats-server processes): what deploy/ runs as three
 * containers or pods, and what a replicated stream needs to survive the loss of a node.
 */

let cluster: NatsCluster | undefined;
const connections: NatsConnection[] = [];

afterEach(async () => {
  await Promise.all(connections.splice(0).map((nc) => nc.close().catch(() => undefined)));
  await cluster?.stop();
  cluster = undefined;
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Publishes with a Msg-Id until JetStream acks it: while a stream re-elects its leader a publish can
 * time out or find no responder; the same Msg-Id makes the retry harmless (a duplicate is acked as such).
 */
async function publishAcked(js: JetStreamClient, subject: string, id: string, deadline: number): Promise<{ seq: number; duplicate: boolean; attempts: number }> {
  for (let attempts = 1; ; attempts++) {
    try {
      const ack = await js.publish(subject, new TextEncoder().encode(id), { msgID: id, timeout: 2000 });
      return { seq: ack.seq, duplicate: ack.duplicate, attempts };
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`publish ${id} not acked in time`, { cause: error });
      await sleep(100);
    }
  }
}

describe('startNatsCluster', () => {
  it('forms a three-node JetStream cluster; an R3 stream keeps every acked message and takes new ones after its leader is killed', async () => {
    cluster = await startNatsCluster();
    expect(cluster.nodes).toHaveLength(3);
    expect(new Set(cluster.nodes.map((n) => n.serverName)).size).toBe(3);
    for (const node of cluster.nodes) {
      const varz = (await (await fetch(`${node.monitorUrl}/varz`)).json()) as { host: string; cluster?: { name?: string; urls?: string[] } };
      expect(varz.host).toBe('127.0.0.1');
      expect(varz.cluster?.name).toBe('lockline-test');
    }

    const nc = await connect({ servers: [...cluster.urls], maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    connections.push(nc);
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'R3TEST', subjects: ['r3.>'], num_replicas: 3 });
    const js = nc.jetstream();
    const deadline = Date.now() + 30_000;
    for (let i = 0; i < 20; i++) {
      const ack = await publishAcked(js, `r3.${i % 4}`, `before-${i}`, deadline);
      expect(ack).toMatchObject({ seq: i + 1, duplicate: false });
    }
    const info = await jsm.streams.info('R3TEST');
    expect(info.config.num_replicas).toBe(3);
    const leader = info.cluster?.leader;
    expect(leader).toBeDefined();
    expect(info.cluster?.replicas?.map((r) => r.name).sort()).toEqual(cluster.nodes.map((n) => n.serverName).filter((n) => n !== leader).sort());

    // Kill the stream's leader outright: the other two hold a quorum and elect a new one.
    await cluster.node(leader!).kill('SIGKILL');
    const after: Array<{ seq: number; duplicate: boolean }> = [];
    for (let i = 0; i < 20; i++) after.push(await publishAcked(js, `r3.${i % 4}`, `after-${i}`, deadline));
    // Every one acked, stored once, in order after the first twenty (a retried publish whose first
    // try was stored comes back as a duplicate of that same sequence).
    expect(after.map((a) => a.seq)).toEqual(Array.from({ length: 20 }, (_, i) => 21 + i));
    const now = await jsm.streams.info('R3TEST');
    expect(now.state.messages).toBe(40);
    expect(now.cluster?.leader).toBeDefined();
    expect(now.cluster?.leader).not.toBe(leader);
    const survivors = await cluster.waitForMetaLeader();
    expect(survivors).not.toBe(leader);

    // The killed node comes back with its store and catches up.
    await cluster.node(leader!).start();
    await cluster.waitForMetaLeader();
    const caughtUp = Date.now() + 20_000;
    for (;;) {
      const replicas = (await jsm.streams.info('R3TEST')).cluster?.replicas ?? [];
      const back = replicas.find((r) => r.name === leader);
      if (back?.current === true && (back.lag ?? 0) === 0) break; // lag is left out when 0
      if (Date.now() > caughtUp) throw new Error(`${leader} did not catch up: ${JSON.stringify(replicas)}`);
      await sleep(100);
    }
  });

  it("takes Lockline's own setup as R3 (what deploy/'s setup job runs), with users, route auth and sync_interval: always", async () => {
    cluster = await startNatsCluster({ auth: { hosts: ['web-1'] }, syncAlways: true });
    const admin = cluster.credentials.admin;
    expect(admin).toBeDefined();
    const nc = await connect({ servers: [...cluster.urls], ...natsAuthOptions(admin!) });
    connections.push(nc);
    const jsm = await nc.jetstreamManager();
    await ensureStreams(jsm, { partitions: 2, replicas: 3 });
    await ensureIngestConsumers(jsm, 2);
    await ensureHostsBucket(jsm, { replicas: 3 });
    for (const name of [EVENTS_STREAM, DLQ_STREAM, FINDINGS_STREAM, HOSTS_BUCKET_STREAM]) {
      const info = await jsm.streams.info(name);
      expect(info.config.num_replicas, name).toBe(3);
      expect(info.cluster?.replicas, name).toHaveLength(2);
    }
    // Running it again changes nothing (a second setup job, a restarted one).
    expect((await ensureStreams(jsm, { partitions: 2, replicas: 3 })).map((r) => r.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);

    // A host's own user publishes on its own subject, through any node; anonymous clients are refused.
    const host = cluster.credentials['host_web-1'];
    const hostNc = await connect({ servers: cluster.nodes[2]!.url, ...natsAuthOptions(host!) });
    connections.push(hostNc);
    const h = headers();
    h.set('Nats-Msg-Id', 'web-1.boot.1');
    const ack = await hostNc.jetstream().publish('lockline.v1.events.web-1', new TextEncoder().encode('{}\n'), { headers: h });
    expect(ack.stream).toBe(EVENTS_STREAM);
    // The ingest user takes it from its partition's consumer through another node, within its permissions.
    const ingestNc = await connect({ servers: cluster.nodes[1]!.url, ...natsAuthOptions(cluster.credentials.ingest!) });
    connections.push(ingestNc);
    const [batch] = await fetchMessages(ingestNc.jetstream(), { stream: EVENTS_STREAM, durable: ingestConsumerName(partitionOf('web-1', 2)), maxMessages: 1 });
    expect(batch?.hostId).toBe('web-1');
    batch!.ack();
    await expect(connect({ servers: cluster.nodes[0]!.url, reconnect: false })).rejects.toThrow(/Authorization/i);
    // Every node routes to the other two, authenticated with the route user of its file.
    for (const node of cluster.nodes) {
      const routez = (await (await fetch(`${node.monitorUrl}/routez`)).json()) as { num_routes: number };
      expect(routez.num_routes, node.serverName).toBeGreaterThanOrEqual(2);
    }
  });
});
