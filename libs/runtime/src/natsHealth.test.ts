import { healthSubject, inboxPrefixOf, microServiceName, natsAuthOptions } from '@lockline/bus';
import { startNatsServer, type NatsServer } from '@lockline/bus/testing';
import { JSONCodec, RequestStrategy, connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveNatsHealth } from './natsHealth.js';

let server: NatsServer;
const open: NatsConnection[] = [];
beforeAll(async () => {
  server = await startNatsServer({ auth: { hosts: ['web-1'] } });
});
afterAll(async () => {
  for (const nc of open) await nc.close();
  await server?.stop();
});

async function as(user: string): Promise<NatsConnection> {
  const credential = server.credentials[user];
  if (credential === undefined) throw new Error(`no user ${user}`);
  const nc = await connect({ servers: server.url, ...natsAuthOptions(credential), inboxPrefix: inboxPrefixOf(user) });
  open.push(nc);
  return nc;
}

/** Every answer; none (nats.js: "503", no responders) is an empty list. */
async function collect<T>(asking: Promise<AsyncIterable<T>>): Promise<T[]> {
  const out: T[] = [];
  try {
    for await (const x of await asking) out.push(x);
  } catch (error) {
    if ((error as { code?: unknown }).code !== '503') throw error;
  }
  return out;
}

describe('serveNatsHealth, as the least-privileged service users', () => {
  it('every copy answers $SRV.PING/INFO/STATS with its readiness, and one answers the health subject', async () => {
    let ready = false;
    const copies = await Promise.all(
      ['0', '1'].map(async (partition) =>
        serveNatsHealth(await as('ingest'), {
          name: microServiceName('ingest'),
          version: '0.1.0',
          description: 'test ingest',
          subject: healthSubject('ingest'),
          metadata: { partitions: partition },
          ready: () => ready,
          status: () => ({ partition }),
        }),
      ),
    );
    const admin = await as('admin');
    const client = admin.services.client({ strategy: RequestStrategy.Timer, maxWait: 400 });
    const pings = await collect(client.ping(microServiceName('ingest')));
    expect(pings.map((p) => p.id).sort()).toEqual(copies.map((c) => c.id).sort());
    const infos = await collect(client.info(microServiceName('ingest')));
    expect(infos.map((i) => i.metadata?.partitions).sort()).toEqual(['0', '1']);

    const readiness = async (): Promise<unknown[]> => (await collect(client.stats(microServiceName('ingest')))).map((s) => s.endpoints?.[0]?.data);
    expect(await readiness()).toEqual(expect.arrayContaining([{ ready: false, partition: '0' }, { ready: false, partition: '1' }]));
    ready = true;
    expect(await readiness()).toEqual(expect.arrayContaining([{ ready: true, partition: '0' }, { ready: true, partition: '1' }]));

    // One copy answers the health subject.
    const reply = JSONCodec().decode((await admin.request(healthSubject('ingest'), undefined, { timeout: 1000 })).data);
    expect(reply).toMatchObject({ ready: true });

    for (const c of copies) await c.stop();
    expect(await collect(client.ping(microServiceName('ingest')))).toEqual([]);
  });

  it("a service may not answer under another service's name", async () => {
    const hostsim = await as('hostsim');
    const errors: string[] = [];
    void (async () => {
      for await (const s of hostsim.status()) if (s.type === 'error') errors.push(String(s.data));
    })();
    const health = await serveNatsHealth(hostsim, { name: microServiceName('projector'), version: '0.1.0', description: 'impostor', subject: healthSubject('projector'), ready: () => true });
    await hostsim.flush();
    await new Promise((r) => setTimeout(r, 200));
    const admin = await as('admin');
    expect(await collect(admin.services.client({ strategy: RequestStrategy.Timer, maxWait: 500 }).ping(microServiceName('projector')))).toEqual([]);
    expect(errors.join('\n')).toMatch(/PERMISSIONS_VIOLATION|permissions violation/i);
    await health.stop();
  });
});
