import { readFile, stat } from 'node:fs/promises';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsAuthOptions } from './authOptions.js';
import { encodeJson } from './codec.js';
import { consume } from './consume.js';
import { PermissionDenied, translateError } from './errors.js';
import { publishDeadLetter } from './dlq.js';
import { openHostSummaries } from './hostSummaries.js';
import { DLQ_STREAM, EVENTS_STREAM, FINDINGS_STREAM, HOSTS_BUCKET, hostUser, ingestConsumerName, querySubject, queryWildcard } from './names.js';
import { partitionOf } from './partition.js';
import { batchIdOf, publishBatch } from './publish.js';
import { ensureHostsBucket, ensureIngestConsumers, ensureStreams, readPartitions } from './streams.js';
import { checkNatsConfig, readStoredMessages, startNatsServer, type NatsServer } from './testing/index.js';

let server: NatsServer;
const open: NatsConnection[] = [];

async function as(user: string, options: { withInboxPrefix?: boolean } = {}): Promise<NatsConnection> {
  const credential = server.credentials[user];
  if (credential === undefined) throw new Error(`no credentials for ${user}`);
  const auth = natsAuthOptions(credential);
  const nc = await connect({ servers: server.url, ...(options.withInboxPrefix === false ? { user: auth.user, pass: auth.pass } : auth) });
  open.push(nc);
  return nc;
}

beforeAll(async () => {
  server = await startNatsServer({ auth: { hosts: ['web-1', 'db-2'] } });
  const admin = await as('admin');
  const jsm = await admin.jetstreamManager();
  await ensureStreams(jsm, { partitions: 2 });
  await ensureIngestConsumers(jsm, 2);
  await ensureHostsBucket(jsm);
});
afterAll(async () => {
  for (const nc of open) await nc.close();
  await server?.stop();
});

describe('the generated nats-server configuration', () => {
  it('is accepted by nats-server -t, readable only by its owner, with no anonymous user', async () => {
    const check = await checkNatsConfig(server.configPath);
    expect(check.output).toMatch(/valid/);
    expect(check.ok).toBe(true);
    expect((await stat(server.configPath)).mode & 0o777).toBe(0o600);
    const text = await readFile(server.configPath, 'utf8');
    expect(text).not.toMatch(/no_auth_user/);
    expect(Object.keys(server.credentials).sort()).toEqual(['admin', 'api', 'host_db-2', 'host_web-1', 'hostsim', 'ingest', 'projector']);
  });

  it('refuses anonymous connections and wrong passwords', async () => {
    const anonymous = await connect({ servers: server.url, reconnect: false }).catch((e: unknown) => e);
    expect(translateError(anonymous, 'connect')).toBeInstanceOf(PermissionDenied);
    expect((anonymous as { code?: string }).code).toBe('AUTHORIZATION_VIOLATION');
    const wrong = await connect({ servers: server.url, user: 'ingest', pass: 'guess', reconnect: false }).catch((e: unknown) => e);
    expect((wrong as { code?: string }).code).toBe('AUTHORIZATION_VIOLATION');
  });
});

describe('a host', () => {
  it('publishes on its own subject and gets its JetStream ack', async () => {
    const nc = await as(hostUser('web-1'));
    const ack = await publishBatch(nc.jetstream(), 'web-1', ['{"seq":1}'], { batchId: batchIdOf('web-1', 'b1', 1) });
    expect(ack).toMatchObject({ stream: EVENTS_STREAM, duplicate: false });
  });

  it("is refused by the server on another host's subject, and nothing is stored", async () => {
    const nc = await as(hostUser('web-1'));
    const error = await publishBatch(nc.jetstream(), 'db-2', ['{"seq":1}'], { batchId: batchIdOf('db-2', 'b1', 1) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermissionDenied);
    expect(error).toMatchObject({ code: 'PERMISSION_DENIED', operation: 'publish', subject: 'lockline.v1.events.db-2' });
    // The connection is still usable for its own subject.
    await publishBatch(nc.jetstream(), 'web-1', ['{"seq":2}'], { batchId: batchIdOf('web-1', 'b1', 2) });
    const admin = await as('admin');
    const subjects = (await readStoredMessages(admin.jetstream(), EVENTS_STREAM)).map((m) => m.subject);
    expect(subjects.every((s) => s.endsWith('.web-1'))).toBe(true);
  });

  it('gets no ack without its own inbox prefix (it may not subscribe to _INBOX.>)', async () => {
    const nc = await as(hostUser('web-1'), { withInboxPrefix: false });
    const error = await publishBatch(nc.jetstream(), 'web-1', ['{"seq":3}'], { batchId: batchIdOf('web-1', 'b1', 3), timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermissionDenied);
    expect(error).toMatchObject({ operation: 'subscribe' });
  });

  it("can neither read other hosts' events nor use the JetStream API", async () => {
    const nc = await as(hostUser('web-1'));
    const refused = new Promise<unknown>((resolve) => nc.subscribe('lockline.v1.events.db-2', { callback: (err) => resolve(err) }));
    expect(translateError(await refused, 'subscribe')).toMatchObject({ code: 'PERMISSION_DENIED', operation: 'subscribe' });
    const api = await nc.jetstreamManager().catch((e: unknown) => e);
    expect(translateError(api, 'jetstream manager')).toMatchObject({ code: 'PERMISSION_DENIED', operation: 'publish', subject: '$JS.API.INFO' });
  });
});

describe('service users', () => {
  it('hostsim publishes for every host', async () => {
    const js = (await as('hostsim')).jetstream();
    for (const hostId of ['web-1', 'db-2']) await publishBatch(js, hostId, ['{"seq":1}'], { batchId: batchIdOf(hostId, 'sim', 1) });
  });

  it('ingest reads and acks its partitions, manages its consumers, dead-letters — and publishes no events', async () => {
    const nc = await as('ingest');
    const js = nc.jetstream();
    const jsm = await nc.jetstreamManager();
    expect(await readPartitions(jsm)).toBe(2);
    expect((await ensureIngestConsumers(jsm, 2, { maxAckPending: 100 })).map((r) => r.action)).toEqual(['updated', 'updated']);
    const partition = partitionOf('db-2', 2);
    const sub = await consume(js, { stream: EVENTS_STREAM, durable: ingestConsumerName(partition) });
    for await (const m of sub) {
      expect(m.hostId).toBe('db-2');
      await m.ackAndConfirm();
      await publishDeadLetter(js, m.hostId ?? null, { reason: 'test', line: m.lines()[0] ?? '', subject: m.subject, seq: m.streamSeq });
      void sub.stop();
    }
    await expect(publishBatch(js, 'db-2', ['{}'], { batchId: 'x' })).rejects.toThrow(PermissionDenied);
    await expect((await openHostSummaries(js)).get('web-1')).rejects.toThrow(PermissionDenied);
    const admin = await as('admin');
    expect((await readStoredMessages(admin.jetstream(), DLQ_STREAM)).map((m) => m.subject)).toEqual(['lockline.v1.dlq.db-2']);
  });

  it('projector answers queries, writes summaries and findings; api asks and reads — and the projector publishes no events (the api only replays dead letters: below)', async () => {
    const projector = await as('projector');
    const summaries = await openHostSummaries(projector.jetstream());
    await summaries.put('web-1', { lockedPages: 7 });
    await expect(projector.jetstream().publish('lockline.v1.findings.web-1', encodeJson({ type: 'LOCKED_OVER_LIMIT' }))).resolves.toMatchObject({ duplicate: false });
    const responder = projector.subscribe(queryWildcard(0), {
      callback: (_err, msg) => msg.respond(encodeJson({ verb: msg.subject.split('.').pop(), ok: true })),
    });
    await projector.flush();

    const api = await as('api');
    const reply = await api.request(querySubject(0, 'state'), encodeJson({ hostId: 'web-1' }), { timeout: 2000 });
    expect(JSON.parse(new TextDecoder().decode(reply.data))).toEqual({ verb: 'state', ok: true });
    const read = await openHostSummaries(api.jetstream());
    expect(await read.get('web-1')).toMatchObject({ summary: { lockedPages: 7 } });
    expect(await read.hostIds()).toEqual(['web-1']);
    await expect(read.put('web-1', {})).rejects.toThrow(PermissionDenied);
    await expect(publishBatch(projector.jetstream(), 'web-1', ['{}'], { batchId: 'z' })).rejects.toThrow(PermissionDenied);
    responder.unsubscribe();
  });
});

describe('the api user', () => {
  it('reads the findings stream with its own ordered consumer, dead letters one by one, and watches host summaries', async () => {
    const api = await as('api');
    const js = api.jetstream();
    const findings = await js.consumers.get(FINDINGS_STREAM, {});
    const first = await findings.next({ expires: 2000 });
    expect(first?.subject).toBe('lockline.v1.findings.web-1');
    const jsm = await api.jetstreamManager();
    expect((await jsm.streams.getMessage(DLQ_STREAM, { seq: 1 })).subject).toBe('lockline.v1.dlq.db-2');
    const watch = await (await js.views.kv(HOSTS_BUCKET, { bindOnly: true })).watch();
    for await (const e of watch) {
      expect(e.key).toBe('web-1');
      break;
    }
    watch.stop();
  });

  it('replays a dead letter on an events subject — and may not publish findings, read events or dead letters by consumer, or change a stream', async () => {
    const api = await as('api');
    const js = api.jetstream();
    await expect(publishBatch(js, 'web-1', ['{"replayed":true}'], { batchId: 'replay.LOCKLINE_DLQ.1' })).resolves.toMatchObject({ stream: EVENTS_STREAM });
    await expect(js.publish('lockline.v1.findings.web-1', encodeJson({ code: 'FAKE' }))).rejects.toMatchObject({ code: 'PERMISSIONS_VIOLATION' });
    await expect(consume(js, { stream: EVENTS_STREAM, durable: ingestConsumerName(0) }).then(async (sub) => { for await (const _ of sub) break; })).rejects.toThrow();
    const jsm = await api.jetstreamManager();
    await expect(jsm.consumers.add(DLQ_STREAM, { name: 'api-peek', ack_policy: 'none' as never })).rejects.toMatchObject({ code: 'PERMISSIONS_VIOLATION' });
    await expect(jsm.streams.purge(FINDINGS_STREAM)).rejects.toMatchObject({ code: 'PERMISSIONS_VIOLATION' });
    await expect(jsm.streams.delete(DLQ_STREAM)).rejects.toMatchObject({ code: 'PERMISSIONS_VIOLATION' });
  });
});
