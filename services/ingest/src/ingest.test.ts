import { encodeText } from '@lockline/bus';
import { parseEvent } from '@lockline/events';
import { serveMetrics } from '@lockline/runtime';
import { RequestStrategy } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { IngestStartError } from './ingest.js';
import { ControlledStore, eventLine, hostIn, lines, range, seqsOf, startFixture, waitFor, type Fixture } from './testing/fixture.js';

/**
 * Ingest against a real nats-server (Lockline's least-privilege users: hosts publish as `hostsim`,
 * ingest runs as `ingest`, inspection as `admin`) and a real SQLite file. Each test has its own
 * server and store.
 */

const BOOT = 'boot1';
let fixture: Fixture | undefined;

async function setup(options: Parameters<typeof startFixture>[0] = {}): Promise<Fixture> {
  fixture = await startFixture(options);
  return fixture;
}

afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

/** Every stored stream of these hosts holds exactly seqs 1..n in order, at revisions 0..n-1. */
async function expectComplete(f: Fixture, expected: ReadonlyMap<string, number>, bootId = BOOT): Promise<void> {
  for (const [hostId, n] of expected) {
    const events = await f.readHost(hostId, bootId);
    expect(seqsOf(events), hostId).toEqual(range(1, n));
    expect(events.map((e) => e.revision), hostId).toEqual(range(0, n - 1));
    expect(new Set(events.map((e) => e.id)).size, hostId).toBe(n);
  }
}

describe('ingest', () => {
  it('stores every event of several hosts exactly once, in seq order per host boot, and acks every batch', async () => {
    const f = await setup({ partitions: 2 });
    const copy = await f.startIngest();
    const metrics = await serveMetrics(copy.registry, 0, () => copy.ingest.ready());
    try {
      expect((await fetch(`http://127.0.0.1:${metrics.port}/healthz`)).status).toBe(200);
      const hosts = ['web-1', 'web-2', 'db-1', 'db-2', 'build-1', 'build-2'];
      const perHost = 400;
      const batch = 25;
      // Hosts publish concurrently; each host's batches in order, as a host would.
      await Promise.all(
        hosts.map(async (hostId) => {
          for (let first = 1; first <= perHost; first += batch) await f.publish(hostId, BOOT, range(first, first + batch - 1));
        }),
      );
      // A reboot: the same host, a new boot, its own stream from seq 1 — in one batch with the old boot's last events.
      await f.publisher.publish('web-1', [...lines('web-1', BOOT, [401, 402]), ...lines('web-1', 'boot2', range(1, 5))], { batchId: 'web-1.reboot' });
      const total = hosts.length * perHost + 7;
      await waitFor('every event stored', () => copy.ingest.stats.appended === total);
      await expectComplete(f, new Map(hosts.map((h) => [h, h === 'web-1' ? 402 : perHost])));
      await expectComplete(f, new Map([['web-1', 5]]), 'boot2');
      expect(copy.ingest.partitions).toEqual([0, 1]);
      await waitFor('every batch acked', async () => {
        const infos = await Promise.all([0, 1].map((p) => f.consumerInfo(p)));
        return infos.every((i) => i.numAckPending === 0 && i.numPending === 0);
      });
      expect(copy.ingest.stats).toMatchObject({ appended: total, duplicates: 0, deadLettered: 0, gaps: 0, held: 0, naked: 0 });
      expect(copy.ingest.stats.acked).toBe(copy.ingest.stats.messages);
      const text = await copy.metricsText();
      expect(text).toContain(`lockline_ingest_events_appended_total{service="ingest"} ${total}`);
      expect(text).toMatch(/lockline_ingest_append_batch_events_count\{service="ingest"\} \d+/);
      expect(text).toMatch(/lockline_ingest_append_seconds_bucket/);
      expect(text).toMatch(/lockline_ingest_consumer_pending\{partition="[01]",service="ingest"\} 0/);
      // One append per host boot per round, never one per event: about a published batch (25) or more each.
      const appends = Number(/lockline_ingest_append_batch_events_count\{service="ingest"\} (\d+)/.exec(text)?.[1]);
      const appendedInThem = Number(/lockline_ingest_append_batch_events_sum\{service="ingest"\} (\d+)/.exec(text)?.[1]);
      expect(appendedInThem).toBe(total);
      expect(appendedInThem / appends).toBeGreaterThan(batch - 5);
      await copy.ingest.stop();
      expect((await fetch(`http://127.0.0.1:${metrics.port}/healthz`)).status).toBe(503);
    } finally {
      await metrics.close();
    }
  });

  it('stores a retried batch (same Msg-Id) and duplicated events once, also copies of events still waiting behind a gap', async () => {
    const f = await setup();
    const copy = await f.startIngest({ gapHoldMs: 5000 });
    expect((await f.publish('h1', BOOT, range(1, 10), 'batch-a')).duplicate).toBe(false);
    expect((await f.publish('h1', BOOT, range(1, 10), 'batch-a')).duplicate).toBe(true); // JetStream drops the retry
    await waitFor('1..10 stored', () => copy.ingest.stats.appended === 10);
    // The host re-sends a re-cut batch (5..15) and a batch holding one event twice.
    await f.publish('h1', BOOT, range(5, 15), 'batch-b');
    await f.publisher.publish('h1', lines('h1', BOOT, [16, 16, 17]), { batchId: 'batch-c' });
    await waitFor('1..17 stored', () => copy.ingest.stats.appended === 17);
    expect(copy.ingest.stats.duplicates).toBe(6 + 1);
    // 20..21 wait for 18..19; a copy of them arrives meanwhile: stored once, and its batch acked only then.
    await f.publish('h1', BOOT, [20, 21], 'batch-d');
    await f.publish('h1', BOOT, [20, 21], 'batch-d-again');
    await waitFor('20, 21 and their copies held', () => copy.ingest.stats.messages === 5);
    expect(copy.ingest.stats.held).toBe(2);
    expect((await f.consumerInfo(0)).numAckPending).toBe(2);
    await f.publish('h1', BOOT, [18, 19]);
    await waitFor('1..21 stored', () => copy.ingest.stats.appended === 21);
    await expectComplete(f, new Map([['h1', 21]]));
    expect(copy.ingest.stats).toMatchObject({ duplicates: 9, gaps: 0, held: 0, deadLettered: 0 });
    await waitFor('all acked', async () => (await f.consumerInfo(0)).numAckPending === 0);
  });

  it('dead-letters invalid lines and a payload claiming another host, with the reasons, and still stores the valid events of the batch', async () => {
    const f = await setup();
    const copy = await f.startIngest();
    const batch = [
      eventLine('h1', BOOT, 1),
      '{"this is": not json',
      eventLine('h1', BOOT, 2, { data: { pid: 1, flags: ['MCL_BOGUS'], result: { errno: null } }, type: 'syscall.mlockall' }),
      eventLine('h2', BOOT, 1),
      eventLine('h1', BOOT, 2),
    ];
    await f.publisher.publish('h1', batch, { batchId: 'mixed' });
    // An empty payload, published by hand (the Publisher refuses one).
    await f.admin.jetstream().publish('lockline.v1.events.h1', encodeText('\n\n'), { msgID: 'empty' });
    await f.publish('h1', BOOT, [3]);
    await waitFor('1..3 stored', () => copy.ingest.stats.appended === 3);
    await waitFor('4 dead letters', () => copy.ingest.stats.deadLettered === 4);
    await expectComplete(f, new Map([['h1', 3]]));
    expect(await f.readHost('h2', BOOT)).toEqual([]);

    const letters = await f.deadLetters();
    expect(letters.map((l) => [l.hostId, l.lineIndex, l.sourceSubject])).toEqual([
      ['h1', 1, 'lockline.v1.pevents.0.h1'],
      ['h1', 2, 'lockline.v1.pevents.0.h1'],
      ['h1', 3, 'lockline.v1.pevents.0.h1'],
      ['h1', null, 'lockline.v1.pevents.0.h1'],
    ]);
    expect(letters[0]?.reason).toMatch(/^invalid event: not valid JSON/);
    expect(letters[0]?.payload).toBe('{"this is": not json');
    expect(letters[1]?.reason).toMatch(/^invalid event: data\.flags\[0\]: .*MCL_BOGUS/);
    expect(letters[2]?.reason).toBe("claims host h2 on host h1's subject (lockline.v1.pevents.0.h1)");
    expect(letters[2]?.payload).toBe(eventLine('h2', BOOT, 1));
    expect(letters[3]?.reason).toBe('the batch holds no event line');
    const text = await copy.metricsText();
    expect(text).toContain('lockline_ingest_events_dead_lettered_total{reason="invalid",service="ingest"} 3');
    expect(text).toContain('lockline_ingest_events_dead_lettered_total{reason="wrong_host",service="ingest"} 1');
    await waitFor('all acked', async () => (await f.consumerInfo(0)).numAckPending === 0);
  });

  it('stores every event as parsed, whether its line is kept as it came or serialised again (keys in another order, a value the schema changed)', async () => {
    const f = await setup();
    const copy = await f.startIngest();
    const { data, ...envelope } = JSON.parse(eventLine('h1', BOOT, 2)) as Record<string, unknown>;
    const batch = [
      eventLine('h1', BOOT, 1),
      JSON.stringify({ data, ...envelope }),
      JSON.stringify(JSON.parse(eventLine('h1', BOOT, 3)), null, 1).replaceAll('\n', ''),
      eventLine('h1', BOOT, 4, { type: 'counters.sampled', data: { samples: [{ pid: 1, lockedVmPages: '27', totalVmPages: 28 }] } }),
    ];
    await f.publisher.publish('h1', batch, { batchId: 'shapes' });
    await waitFor('1..4 stored', () => copy.ingest.stats.appended === 4);
    const stored = await f.readHost('h1', BOOT);
    expect(stored.map((e) => JSON.stringify(e.data))).toEqual(
      batch.map((line) => {
        const parsed = parseEvent(line);
        if (!parsed.ok) throw new Error(`invalid test line: ${line}`);
        return JSON.stringify(parsed.event);
      }),
    );
    expect((stored[3]?.data as { data: { samples: Array<{ lockedVmPages: unknown }> } }).data.samples[0]?.lockedVmPages).toBe(27);
  });

  it('holds events behind a missing seq, fills the gap when it arrives in time, records it when the hold expires, and dead-letters a later arrival', async () => {
    const f = await setup();
    const holdMs = 400;
    const copy = await f.startIngest({ gapHoldMs: holdMs });
    await f.publish('h1', BOOT, range(1, 3));
    await waitFor('1..3 stored', () => copy.ingest.stats.appended === 3);

    // In time: 5 waits for 4, which comes 100 ms later.
    await f.publish('h1', BOOT, [5]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(copy.ingest.stats.held).toBe(1);
    await f.publish('h1', BOOT, [4]);
    await waitFor('1..5 stored', () => copy.ingest.stats.appended === 5);
    expect(copy.ingest.stats.gaps).toBe(0);

    // Too late: 8..10 wait for 6..7, which never come within the hold.
    const sent = Date.now();
    await f.publish('h1', BOOT, range(8, 10));
    await waitFor('8..10 held', () => copy.ingest.stats.held === 3);
    expect(await copy.metricsText()).toContain('lockline_ingest_events_held{service="ingest"} 3');
    await waitFor('8..10 stored', () => copy.ingest.stats.appended === 8, 5000);
    expect(Date.now() - sent).toBeGreaterThanOrEqual(holdMs);
    const stored = await f.readHost('h1', BOOT);
    expect(seqsOf(stored)).toEqual([1, 2, 3, 4, 5, 8, 9, 10]);
    expect(stored.map((e) => e.revision)).toEqual(range(0, 7)); // seq 8 at revision 5: the store shows the gap
    expect(copy.ingest.stats).toMatchObject({ gaps: 1, gapMissing: 2, held: 0 });
    expect(await copy.metricsText()).toContain('lockline_ingest_gaps_total{service="ingest"} 1');
    const gapLog = copy.records.find((r) => r.msg.startsWith('sequence gap recorded'));
    expect(gapLog).toMatchObject({ hostId: 'h1', bootId: BOOT, missingFrom: 6, missingTo: 7, level: 40 });
    expect(gapLog?.heldMs as number).toBeGreaterThanOrEqual(holdMs - 50);

    // 6 arrives after its gap was recorded: dead-lettered; the stream goes on at 11.
    await f.publish('h1', BOOT, [6]);
    await f.publish('h1', BOOT, [11]);
    await waitFor('11 stored', () => copy.ingest.stats.appended === 9);
    await waitFor('6 dead-lettered', () => copy.ingest.stats.deadLettered === 1);
    const [late] = await f.deadLetters();
    expect(late?.reason).toMatch(/^arrived after its gap was recorded: seq 6 of host-h1-boot1 was given up/);
    expect(late?.payload).toBe(eventLine('h1', BOOT, 6));
    expect(await copy.metricsText()).toContain('lockline_ingest_events_dead_lettered_total{reason="late",service="ingest"} 1');
    await copy.ingest.stop();

    // A new copy knows the gap from the store alone: 7 is late, 9 a duplicate, 12 follows.
    const next = await f.startIngest({ gapHoldMs: holdMs });
    await f.publish('h1', BOOT, [7, 9]);
    await f.publish('h1', BOOT, [12]);
    await waitFor('12 stored', () => next.ingest.stats.appended === 1);
    await waitFor('7 dead-lettered', () => next.ingest.stats.deadLettered === 1);
    expect(next.ingest.stats).toMatchObject({ duplicates: 1, gaps: 0 });
    expect(seqsOf(await f.readHost('h1', BOOT))).toEqual([1, 2, 3, 4, 5, 8, 9, 10, 11, 12]);
    expect((await f.deadLetters()).map((l) => l.payload)).toEqual([eventLine('h1', BOOT, 6), eventLine('h1', BOOT, 7)]);
  });

  it('two copies on different partitions together store everything, each only its own hosts, in per-host order', async () => {
    const f = await setup({ partitions: 2 });
    const a = await f.startIngest({ partitionsMine: [0] });
    const b = await f.startIngest({ partitionsMine: [1] });
    const hosts = [hostIn(0, 2, 'p', 0), hostIn(0, 2, 'p', 1), hostIn(1, 2, 'p', 0), hostIn(1, 2, 'p', 1), hostIn(1, 2, 'p', 2)];
    const perHost = 300;
    await Promise.all(
      hosts.map(async (hostId) => {
        for (let first = 1; first <= perHost; first += 20) await f.publish(hostId, BOOT, range(first, first + 19));
      }),
    );
    await waitFor('every event stored', () => a.ingest.stats.appended + b.ingest.stats.appended === hosts.length * perHost);
    expect(a.ingest.stats.appended).toBe(2 * perHost);
    expect(b.ingest.stats.appended).toBe(3 * perHost);
    expect(a.ingest.partitions).toEqual([0]);
    expect(b.ingest.partitions).toEqual([1]);
    await expectComplete(f, new Map(hosts.map((h) => [h, perHost])));
    expect(a.ingest.stats.conflicts + b.ingest.stats.conflicts).toBe(0);
  });

  it('overlapping copies (both on every partition) still store every event once and in order', async () => {
    const f = await setup();
    const a = await f.startIngest({ gapHoldMs: 1000 });
    const b = await f.startIngest({ gapHoldMs: 1000 });
    const hosts = ['o1', 'o2', 'o3'];
    await Promise.all(
      hosts.map(async (hostId) => {
        for (let first = 1; first <= 200; first += 10) await f.publish(hostId, BOOT, range(first, first + 9));
      }),
    );
    await waitFor('every event stored', async () => {
      const all = await Promise.all(hosts.map((h) => f.readHost(h, BOOT)));
      return all.every((events) => events.length === 200);
    });
    await expectComplete(f, new Map(hosts.map((h) => [h, 200])));
    expect(a.ingest.stats.gaps + b.ingest.stats.gaps).toBe(0);
    await waitFor('all acked', async () => (await f.consumerInfo(0)).numAckPending === 0);
  });

  it('after a hard stop (abort, like SIGKILL) a new copy loses and duplicates nothing: unacked batches come again, stored seqs are skipped', async () => {
    const ackWaitMs = 1500;
    const f = await setup({ consumer: { ackWaitMs } });
    const gated = { store: undefined as ControlledStore | undefined };
    const a = await f.startIngest({ gapHoldMs: 10_000, wrapStore: (s) => (gated.store = new ControlledStore(s)) });
    await f.publish('h1', BOOT, range(1, 10));
    await f.publish('h2', BOOT, range(1, 10));
    await waitFor('1..10 of both stored', () => a.ingest.stats.appended === 20);
    // h1 21..30 waits behind a gap (unacked); h2 11..20 is being appended when the process dies.
    await f.publish('h1', BOOT, range(21, 30));
    await waitFor('21..30 held', () => a.ingest.stats.held === 10);
    gated.store!.closeGate();
    await f.publish('h2', BOOT, range(11, 20));
    await gated.store!.waitAtGate();
    const dying = a.ingest.abort();
    gated.store!.openGate(); // the append commits, but no ack follows
    await dying;
    await a.nc.close();
    expect(a.ingest.stats.acked).toBe(2);
    expect(seqsOf(await f.readHost('h2', BOOT))).toEqual(range(1, 20));

    // The new copy gets fresh batches first; h1's 31..40 wait for 11..30, of which 21..30 come back
    // only after ack-wait — much later than the 300 ms hold. It must wait for them, not record a gap.
    const b = await f.startIngest({ gapHoldMs: 300 });
    await f.publish('h1', BOOT, range(31, 40));
    await f.publish('h1', BOOT, range(11, 20));
    await f.publish('h2', BOOT, range(21, 25));
    await waitFor('everything stored', () => b.ingest.stats.appended === 30 + 5, 10_000);
    await waitFor('redelivered h2 11..20 skipped', () => b.ingest.stats.duplicates === 10, 10_000);
    await expectComplete(
      f,
      new Map([
        ['h1', 40],
        ['h2', 25],
      ]),
    );
    expect(b.ingest.stats).toMatchObject({ gaps: 0, deadLettered: 0, held: 0 });
    await waitFor('all acked', async () => (await f.consumerInfo(0)).numAckPending === 0);
  });

  it('under load, through repeated hard stops and restarts, stores every event once and in order; a real gap is still recorded', async () => {
    const f = await setup({ partitions: 2, consumer: { ackWaitMs: 1000 } });
    const hosts = Array.from({ length: 10 }, (_, i) => `load-${i}`);
    const perHost = 2000;
    const copies = [await f.startIngest({ gapHoldMs: 500 })];
    const publishing = Promise.all(
      hosts.map(async (hostId) => {
        for (let first = 1; first <= perHost; first += 50) {
          if (hostId === 'load-0' && first === 1001) continue; // 1001..1050 are never sent
          await f.publish(hostId, BOOT, range(first, first + 49));
        }
      }),
    );
    for (let k = 0; k < 3; k++) {
      await new Promise((resolve) => setTimeout(resolve, 400));
      const dying = copies[copies.length - 1]!;
      await dying.ingest.abort();
      await dying.nc.close();
      copies.push(await f.startIngest({ gapHoldMs: 500 }));
    }
    await publishing;
    const total = hosts.length * perHost - 50;
    await waitFor('every event stored', async () => (await Promise.all(hosts.map((h) => f.readHost(h, BOOT)))).reduce((n, events) => n + events.length, 0) === total, 20_000);
    for (const hostId of hosts) {
      const expected = hostId === 'load-0' ? [...range(1, 1000), ...range(1051, perHost)] : range(1, perHost);
      expect(seqsOf(await f.readHost(hostId, BOOT)), hostId).toEqual(expected);
    }
    const gapLogs = copies.flatMap((c) => c.records.filter((r) => r.msg.startsWith('sequence gap recorded')));
    expect(gapLogs.length).toBeGreaterThanOrEqual(1);
    expect(gapLogs.every((r) => r.hostId === 'load-0' && r.missingFrom === 1001 && r.missingTo === 1050)).toBe(true);
    expect(await f.deadLetters()).toEqual([]);
  });

  it('stop() (the SIGTERM path) finishes the append in progress and acks it; batches waiting behind a gap are handed back at once', async () => {
    const f = await setup({ consumer: { ackWaitMs: 30_000 } });
    const gated = { store: undefined as ControlledStore | undefined };
    const a = await f.startIngest({ gapHoldMs: 10_000, wrapStore: (s) => (gated.store = new ControlledStore(s)) });
    await f.publish('h2', BOOT, range(5, 8)); // waits for 1..4
    await waitFor('h2 5..8 held', () => a.ingest.stats.held === 4);
    gated.store!.closeGate();
    await f.publish('h1', BOOT, range(1, 10));
    await gated.store!.waitAtGate();
    let stopped = false;
    const stopping = a.ingest.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(stopped).toBe(false); // waits for the append in progress
    expect(a.ingest.ready()).toBe(false);
    gated.store!.openGate();
    await stopping;
    expect(seqsOf(await f.readHost('h1', BOOT))).toEqual(range(1, 10));
    expect(a.ingest.stats).toMatchObject({ appended: 10, acked: 1, naked: 1 });
    // The server has the ack: nothing of h1 pending; h2's batch was nak'ed, not left to ack-wait (30 s).
    const b = await f.startIngest({ gapHoldMs: 10_000 });
    await f.publish('h2', BOOT, range(1, 4));
    await waitFor('h2 1..8 stored', () => b.ingest.stats.appended === 8, 5000);
    await expectComplete(
      f,
      new Map([
        ['h1', 10],
        ['h2', 8],
      ]),
    );
    expect(b.ingest.stats.duplicates).toBe(0);
    await waitFor('all acked', async () => (await f.consumerInfo(0)).numAckPending === 0);
  });

  it('on a store outage hands batches back with a delay and acks nothing, then stores them in order once the store is back', async () => {
    const f = await setup();
    const gated = { store: undefined as ControlledStore | undefined };
    const copy = await f.startIngest({ storeRetryMs: 100, wrapStore: (s) => (gated.store = new ControlledStore(s)) });
    gated.store!.down = true;
    await f.publish('h1', BOOT, range(1, 10));
    await f.publish('h1', BOOT, range(11, 20));
    await waitFor('two failures', () => copy.ingest.stats.storeFailures >= 2);
    expect(copy.ingest.stats.acked).toBe(0);
    expect(copy.ingest.stats.naked).toBeGreaterThanOrEqual(2);
    expect((await f.consumerInfo(0)).numAckPending).toBe(2);
    expect(copy.records.some((r) => r.msg.startsWith('event store append failed') && r.level === 50)).toBe(true);
    gated.store!.down = false;
    await waitFor('1..20 stored', () => copy.ingest.stats.appended === 20, 10_000);
    await expectComplete(f, new Map([['h1', 20]]));
    expect(copy.ingest.stats.gaps).toBe(0);
    await waitFor('all acked', async () => (await f.consumerInfo(0)).numAckPending === 0);
  });
});

describe('ingest start', () => {
  it('fails with a clear message when its consumer or the stream does not exist, or a partition is not the stream’s', async () => {
    const f = await setup({ partitions: 2, setup: 'streams' });
    await expect(f.startIngest()).rejects.toThrow(IngestStartError);
    await expect(f.startIngest()).rejects.toThrow(/^consumer ingest-p0 on LOCKLINE_EVENTS does not exist: the setup step \(`lockline up`/);
    await f.close();
    const g = await setup({ setup: 'none' });
    await expect(g.startIngest()).rejects.toThrow(/^stream LOCKLINE_EVENTS does not exist: the setup step/);
    await g.close();
    const h = await setup({ partitions: 2 });
    await expect(h.startIngest({ partitionsMine: [1, 3] })).rejects.toThrow(/LOCKLINE_PARTITIONS_MINE names partition 3, but LOCKLINE_EVENTS has 2 partition\(s\): 0 to 1/);
  });

  it('registers with the NATS services framework as lockline-ingest under the least-privilege config, and consumes as before', async () => {
    const f = await setup();
    const copy = await f.startIngest();
    const refusals: string[] = [];
    void (async () => {
      for await (const status of copy.nc.status()) if (status.type === 'error') refusals.push(String(status.data));
    })();
    const service = await copy.nc.services.add({ name: 'lockline-ingest', version: '0.1.0' });
    await copy.nc.flush();
    // The admin discovers it; the ingest user may answer for its own service name (servicePermissions).
    const answers: Array<{ name: string }> = [];
    for await (const answer of await f.admin.services.client({ strategy: RequestStrategy.Timer, maxWait: 500 }).ping('lockline-ingest')) answers.push(answer);
    expect(answers.map((a) => a.name)).toEqual(['lockline-ingest']);
    expect(refusals).toEqual([]);
    await service.stop();
    // The consuming itself is unaffected.
    await f.publish('h1', BOOT, [1]);
    await waitFor('1 stored', () => copy.ingest.stats.appended === 1);
  });
});
