import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EVENTS_STREAM, PermissionDenied, batchIdOf, consume, decodeLines, ensureIngestConsumers, ingestConsumerName, parsePartitionedSubject } from '@lockline/bus';
import { serveMetrics } from '@lockline/runtime';
import type { SimRecord } from '@lockline/sim';
import { afterEach, describe, expect, it } from 'vitest';
import type { HostSimConfig } from './config.js';
import type { HostSim } from './hostSim.js';
import { ResumeStateError, STATE_FILE, type HostPosition } from './resumeState.js';
import { envelope, linesByHost, simulated, sleep, startHarness, storedBatches, until, type Harness, type StoredBatch } from './testing/harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.cleanup();
  harness = undefined;
});
async function setup(options: { hosts?: readonly string[] } = {}): Promise<Harness> {
  harness = await startHarness(options);
  return harness;
}

/** Runs a build until `events` are acked (or `ms` pass), then stops it cleanly. */
async function runFor(h: Harness, config: HostSimConfig, until_: { events?: number; ms?: number }): Promise<HostSim> {
  const { sim } = await h.build(config);
  await sim.start();
  if (until_.events !== undefined) await until(() => sim.stats.published + sim.stats.deduplicated >= until_.events!, 20_000, `${until_.events} events acked`);
  if (until_.ms !== undefined) await sleep(until_.ms);
  await sim.stop();
  return sim;
}

/** The hosts' saved positions ({} before the first write). */
async function savedState(h: Harness): Promise<Record<string, HostPosition>> {
  const text = await readFile(join(h.stateDir, STATE_FILE), 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '{"hosts":{}}';
    throw error;
  });
  return (JSON.parse(text) as { hosts: Record<string, HostPosition> }).hosts;
}

/**
 * The stream holds, for every host, exactly what the same simulation generates, each event once:
 * every line equal to the simulator's payload, ids unique, seqs 1, 2, 3 … in order across messages,
 * and each message's Msg-Id the batch id of its first event.
 */
function expectExactlyTheSimulation(config: HostSimConfig, batches: readonly StoredBatch[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [hostId, lines] of linesByHost(batches)) {
    expect(lines).toEqual(simulated(config, hostId, lines.length).map((r) => r.payload));
    const events = lines.map(envelope);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1)); // no faults: one boot, contiguous
    expect(events.every((e) => e.hostId === hostId && e.bootId === events[0]!.bootId)).toBe(true);
    counts.set(hostId, lines.length);
  }
  const ids = batches.flatMap((b) => b.lines.map((line) => envelope(line).id));
  expect(new Set(ids).size).toBe(ids.length);
  for (const b of batches) {
    const first = envelope(b.lines[0]!);
    expect(b.msgId).toBe(batchIdOf(b.hostId, first.bootId, first.seq));
    expect(b.lines.length).toBeLessThanOrEqual(config.batchMaxEvents);
  }
  return counts;
}

describe('host-sim', () => {
  it('publishes N hosts in batches: every event stored once, in order, exactly as the simulator makes it', async () => {
    const h = await setup();
    const config = h.config({ LOCKLINE_HOSTS: '4', LOCKLINE_BATCH_MAX_EVENTS: '50', LOCKLINE_SEED: 'one' });
    const sim = await runFor(h, config, { events: 20_000 });
    const batches = await storedBatches(h.admin);
    const counts = expectExactlyTheSimulation(config, batches);
    expect([...counts.keys()].sort()).toEqual(['host-001', 'host-002', 'host-003', 'host-004']);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    expect(sim.stats).toMatchObject({ hosts: 4, published: total, generated: total, deduplicated: 0, batches: batches.length, inFlight: 0, batchEvents: 50 });
    expect(batches.every((b) => b.lines.length === 50)).toBe(true); // count cuts, a stop included
    // the saved state is where each host's stream ends
    const state = await savedState(h);
    for (const [hostId, n] of counts) expect(state[hostId]).toMatchObject({ lastAckedSeq: n, recordsAcked: n });
  });

  it('continues at the next seq after stop() and a start with the same state folder: no gap, no reuse', async () => {
    const h = await setup();
    const config = h.config({ LOCKLINE_HOSTS: '3', LOCKLINE_BATCH_MAX_EVENTS: '40' });
    const first = await runFor(h, config, { events: 3000 });
    const atStop = new Map(first.stats.positions.map((p) => [p.hostId, p.lastAckedSeq]));
    const second = await runFor(h, config, { events: 3000 });
    expect(second.stats.skipped).toBe(first.stats.published);
    expect(second.stats.deduplicated).toBe(0); // nothing sent twice after a clean stop

    const batches = await storedBatches(h.admin);
    const counts = expectExactlyTheSimulation(config, batches);
    for (const [hostId, n] of counts) expect(n).toBe(second.stats.positions.find((p) => p.hostId === hostId)?.lastAckedSeq);
    // the second run's first batch of each host starts right after the first run's last acked seq
    const secondRun = batches.filter((b) => b.streamSeq > first.stats.batches);
    for (const [hostId, last] of atStop) expect(envelope(secondRun.find((b) => b.hostId === hostId)!.lines[0]!).seq).toBe(last + 1);
  });

  it('after a hard abort (the state lagging the acks), a restart loses nothing and JetStream drops the re-sent batches', async () => {
    const h = await setup();
    const config = h.config({ LOCKLINE_HOSTS: '4', LOCKLINE_RATE: '20000', LOCKLINE_STATE_SAVE_MS: '400' });
    const { sim: crashed, nc } = await h.build(config);
    await crashed.start();
    await sleep(600); // one state write at ~400 ms, then 200 ms of acks it does not have
    const ackedAtCrash = crashed.stats;
    await crashed.abort();
    await nc.close(); // the dead process's publishes die with its connection
    const state = await savedState(h);
    const lag = ackedAtCrash.positions.reduce((n, p) => n + p.recordsAcked - (state[p.hostId]?.recordsAcked ?? 0), 0);
    expect(lag).toBeGreaterThan(0);

    const beforeRestart = (await storedBatches(h.admin)).length;
    const restarted = await runFor(h, config, { ms: 800 });
    expect(restarted.stats.duplicateBatches).toBeGreaterThan(0); // the lag was published again…
    expect(restarted.stats.deduplicated).toBeGreaterThanOrEqual(lag);
    const batches = await storedBatches(h.admin);
    expect(batches.length).toBe(beforeRestart + restarted.stats.batches); // …and not stored twice
    expectExactlyTheSimulation(config, batches); // no gap, no event twice
  });

  it('after a hard abort and a restart that cuts batches differently, only events stored before the crash are stored again', async () => {
    const h = await setup();
    const config = h.config({ LOCKLINE_HOSTS: '3', LOCKLINE_RATE: '15000', LOCKLINE_STATE_SAVE_MS: '400' });
    const { sim: crashed, nc } = await h.build(config);
    await crashed.start();
    await sleep(600);
    await crashed.abort();
    await nc.close();
    const storedBeforeRestart = new Set((await storedBatches(h.admin)).flatMap((b) => b.lines));

    // Another batch size: the re-sent batches get other ids, so JetStream stores them again.
    const recut = h.config({ LOCKLINE_HOSTS: '3', LOCKLINE_RATE: '15000', LOCKLINE_BATCH_MAX_MS: '3' });
    expect(recut.batchMaxMs).not.toBe(config.batchMaxMs);
    await runFor(h, recut, { ms: 600 });
    const batches = await storedBatches(h.admin);
    const seen = new Set<string>();
    const repeated: string[] = [];
    for (const line of batches.flatMap((b) => b.lines)) {
      if (seen.has(line)) repeated.push(line);
      seen.add(line);
    }
    expect(repeated.length).toBeGreaterThan(0);
    expect(repeated.every((line) => storedBeforeRestart.has(line))).toBe(true);
    // Deduplicated by (host, boot, seq) — what ingest does — the stream is the simulation, gap-free.
    for (const [hostId, lines] of linesByHost(batches)) {
      const bySeq = new Map(lines.map((line) => [envelope(line).seq, line]));
      const n = Math.max(...bySeq.keys());
      expect(bySeq.size).toBe(n);
      expect([...bySeq.entries()].sort(([a], [b]) => a - b).map(([, line]) => line)).toEqual(simulated(config, hostId, n).map((r) => r.payload));
    }
  });

  it('keeps every host in order and loses nothing across a nats-server restart (retries with the same Msg-Id)', async () => {
    const h = await setup();
    const config = h.config({ LOCKLINE_HOSTS: '4', LOCKLINE_RATE: '20000', LOCKLINE_PUBLISH_TIMEOUT_MS: '500' });
    const { sim } = await h.build(config);
    await sim.start();
    await until(() => sim.stats.published >= 5000);
    await h.server.restart();
    const atRestart = sim.stats.published;
    await until(() => sim.stats.published >= atRestart + 5000, 20_000, 'publishing after the restart');
    await sim.stop();
    expect(sim.stats.retries).toBeGreaterThan(0);
    const batches = await storedBatches(h.admin);
    expectExactlyTheSimulation(config, batches); // in order per host, each event once, no gap
    // a batch stored just before the restart whose ack was lost comes back as a duplicate on retry
    const stored = batches.reduce((n, b) => n + b.lines.length, 0);
    expect(stored).toBeGreaterThanOrEqual(sim.stats.published);
    expect(stored).toBeLessThanOrEqual(sim.stats.published + sim.stats.deduplicated);
  });

  it('holds its events while LOCKLINE_EVENTS is full and goes on, losing nothing, once ingest makes room', async () => {
    const h = await setup();
    const jsm = await h.admin.jetstreamManager();
    await jsm.streams.update(EVENTS_STREAM, { ...(await jsm.streams.info(EVENTS_STREAM)).config, max_bytes: 64 * 1024 });
    await ensureIngestConsumers(jsm, 4);
    const config = h.config({ LOCKLINE_HOSTS: '3', LOCKLINE_BATCH_MAX_EVENTS: '20' });
    const { sim } = await h.build(config);
    let failed: Error | undefined;
    void sim.failed.then((error) => (failed = error));
    await sim.start();
    await until(() => sim.stats.retries > 0, 20_000, 'a publish refused for want of room');
    const stalledAt = sim.stats.published;
    await sleep(500);
    expect(sim.stats.published - stalledAt).toBeLessThan(200); // held: at most the batches that fitted meanwhile
    expect(failed).toBeUndefined();

    // "ingest": take and ack every batch (a work queue frees its room), keeping what it read.
    const taken: StoredBatch[] = [];
    const subs = await Promise.all([0, 1, 2, 3].map((p) => consume(h.admin.jetstream(), { stream: EVENTS_STREAM, durable: ingestConsumerName(p) })));
    const loops = subs.map(async (sub) => {
      for await (const m of sub) {
        taken.push({ streamSeq: m.streamSeq, hostId: parsePartitionedSubject(m.subject)!.hostId, msgId: m.batchId, lines: decodeLines(m.data) });
        await m.ackAndConfirm();
      }
    });
    await until(() => sim.stats.published >= stalledAt + 2000, 30_000, 'publishing to go on');
    await sim.stop();
    await until(() => taken.reduce((n, b) => n + b.lines.length, 0) === sim.stats.published, 10_000, 'every acked batch taken');
    await Promise.all(subs.map((sub) => sub.stop()));
    await Promise.all(loops);
    expect(failed).toBeUndefined();
    taken.sort((a, b) => a.streamSeq - b.streamSeq);
    const counts = expectExactlyTheSimulation(config, taken);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(sim.stats.published);
    expect((await jsm.streams.info(EVENTS_STREAM)).state.messages).toBe(0);
  }, 60_000);

  it('refuses to resume a state written for another seed, and leaves that state as it was', async () => {
    const h = await setup();
    await runFor(h, h.config({ LOCKLINE_HOSTS: '2', LOCKLINE_SEED: 'a' }), { events: 500 });
    const before = await readFile(join(h.stateDir, STATE_FILE), 'utf8');
    const { sim } = await h.build(h.config({ LOCKLINE_HOSTS: '2', LOCKLINE_SEED: 'b' }));
    await expect(sim.start()).rejects.toThrow(ResumeStateError);
    await expect(sim.start()).rejects.toThrow(/written for seed "a".*this run simulates seed "b"/);
    expect(sim.ready).toBe(false);
    await sim.stop();
    expect(await readFile(join(h.stateDir, STATE_FILE), 'utf8')).toBe(before);
  });

  it('with faults (reboots, duplicates, reorders, drops, corrupt payloads) publishes exactly what the simulator hands out, across a restart', async () => {
    const h = await setup();
    const env = { LOCKLINE_HOSTS: '3', LOCKLINE_BATCH_MAX_EVENTS: '20', LOCKLINE_FAULTS: 'reboot=0.003,duplicate=0.02,reorder=0.02,drop=0.01,corrupt=0.01' };
    const config = h.config(env);
    await runFor(h, config, { events: 4000 });
    await runFor(h, h.config(env), { events: 4000 });
    const batches = await storedBatches(h.admin);
    expect(new Set(batches.map((b) => b.msgId)).size).toBe(batches.length);
    const records = new Map<string, SimRecord[]>();
    for (const [hostId, lines] of linesByHost(batches)) {
      const own = simulated(config, hostId, lines.length);
      expect(lines).toEqual(own.map((r) => r.payload));
      expect(new Set(own.map((r) => r.bootId)).size).toBeGreaterThan(1);
      records.set(hostId, own);
    }
    const at = new Map<string, number>();
    for (const b of batches) {
      const from = at.get(b.hostId) ?? 0;
      const own = records.get(b.hostId)!.slice(from, from + b.lines.length);
      at.set(b.hostId, from + b.lines.length);
      expect(new Set(own.map((r) => r.bootId)).size).toBe(1); // a batch never spans a reboot
      expect(b.msgId).toBe(batchIdOf(b.hostId, own[0]!.bootId, own[0]!.seq));
    }
  });

  it("publishes as a host's own user (host_<id>) for that host, and fails cleanly for another", async () => {
    const h = await setup({ hosts: ['solo-1'] });
    const credential = h.server.credentials['host_solo-1']!;
    const own = h.config({ LOCKLINE_HOSTS: '1', LOCKLINE_HOST_IDS: 'solo-1', LOCKLINE_NATS_USER: credential.user, LOCKLINE_NATS_PASSWORD: credential.password });
    const { sim } = await h.build(own, credential.user);
    await sim.start();
    await until(() => sim.stats.published >= 1000);
    await sim.stop();
    const batches = await storedBatches(h.admin);
    expect(new Set(batches.map((b) => b.hostId))).toEqual(new Set(['solo-1']));
    expectExactlyTheSimulation(own, batches);

    // The server, not only the config check, keeps a host's user to its own subject.
    const other = h.config({ LOCKLINE_HOSTS: '1', LOCKLINE_HOST_IDS: 'solo-2' });
    const { sim: wrong } = await h.build(other, credential.user);
    await wrong.start();
    const error = await wrong.failed;
    expect(error).toBeInstanceOf(PermissionDenied);
    expect(wrong.ready).toBe(false);
    await wrong.stop();
    expect(wrong.stats.published).toBe(0);
  });

  it('keeps to LOCKLINE_RATE within 20 %', async () => {
    const h = await setup();
    const config = h.config({ LOCKLINE_HOSTS: '3', LOCKLINE_RATE: '3000' });
    const sim = await runFor(h, config, { ms: 2000 });
    expect(sim.stats.batchEvents).toBe(5); // 1000/s a host × 5 ms
    expect(sim.stats.eventsPerSecond).toBeGreaterThan(3000 * 0.8);
    expect(sim.stats.eventsPerSecond).toBeLessThan(3000 * 1.2);
  });

  it('serves its metrics and readiness, and measures full-speed throughput with batches of 200', async () => {
    const h = await setup();
    const config = h.config({ LOCKLINE_HOSTS: '8', LOCKLINE_BATCH_MAX_EVENTS: '200', LOCKLINE_RATE: '0' });
    const { sim, registry } = await h.build(config);
    const metrics = await serveMetrics(registry, 0, () => sim.ready);
    try {
      const health = (): Promise<number> => fetch(`http://127.0.0.1:${metrics.port}/healthz`).then((r) => r.status);
      expect(await health()).toBe(503);
      await sim.start();
      expect(await health()).toBe(200);
      await sleep(3000);
      const text = await (await fetch(`http://127.0.0.1:${metrics.port}/metrics`)).text();
      for (const name of [
        'lockline_host_sim_events_generated_total',
        'lockline_host_sim_events_published_total',
        'lockline_host_sim_batches_published_total{result="stored"',
        'lockline_host_sim_publish_seconds_bucket',
        'lockline_host_sim_publishes_in_flight',
        'lockline_host_sim_publish_retries_total',
        'lockline_host_sim_events_per_second',
      ]) {
        expect(text).toContain(name);
      }
      await sim.stop();
      expect(await health()).toBe(503);
    } finally {
      await metrics.close();
    }
    const { eventsPerSecond, published, batches } = sim.stats;
    console.log(`host-sim throughput: ${Math.round(eventsPerSecond)} events/s (${published} events in ${batches} batches of ≤ 200, 8 hosts, RATE=0)`);
    expect(eventsPerSecond).toBeGreaterThan(10_000);
    expect(sim.stats.inFlight).toBe(0);
  });
});
