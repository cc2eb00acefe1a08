/**
 * The pipeline across services, as `lockline up` runs it: a real nats-server (least-privilege users),
 * the admin setup, and host-sim → NATS JetStream → ingest → SQLite → projector as REAL child
 * processes (services/<name>/dist/main.js; build first with `npx tsc -b`). Each test has its own
 * server, store and host-sim state, and kills every process it started, also when it fails.
 *
 * The oracles: what host-sim got acked (its resume state's counts, regenerated from the seed — the
 * simulation is deterministic), cross-checked with what LOCKLINE_EVENTS holds; the store read back;
 * a from-scratch fold of the store (FleetProjection); the projector's answers over NATS as the api
 * user; the findings and dead-letter streams read as admin.
 */
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import { EVENTS_STREAM, FINDINGS_STREAM, ingestConsumerName, partitionOf } from '@lockline/bus';
import { hostStreamName } from '@lockline/events';
import {
  finishAndCompare,
  keyOf,
  serviceProblems,
  sleep,
  startPipeline,
  startServices,
  waitFor,
  waitPublished,
  waitStored,
  type Pipeline,
  type PipelineOptions,
} from './support/pipeline.js';

let pipeline: Pipeline | undefined;

async function open(options: PipelineOptions): Promise<Pipeline> {
  pipeline = await startPipeline(options);
  return pipeline;
}

afterEach(async (ctx: TestContext) => {
  const p = pipeline;
  pipeline = undefined;
  if (p === undefined) return;
  if (ctx.task.result?.state === 'fail') console.error(`services of the failed test "${ctx.task.name}":\n${serviceProblems(p)}`);
  await p.close(); // SIGKILLs every service still running, stops nats-server, removes the folder
});

describe('the pipeline as real processes on a real nats-server', () => {
  it('delivers every event of 4 hosts exactly once and in order, over 2 partitions with an ingest and a projector copy each; the projection equals a from-scratch replay', async () => {
    const p = await open({ hosts: 4, partitions: 2 });
    // both partitions have hosts (host-002, host-004 → 0; host-001, host-003 → 1)
    expect(new Set(p.hostIds.map((h) => partitionOf(h, 2)))).toEqual(new Set([0, 1]));
    const ingest = [await p.ingest({ LOCKLINE_PARTITIONS_MINE: '0' }), await p.ingest({ LOCKLINE_PARTITIONS_MINE: '1' })];
    const projectors = [await p.projector({ LOCKLINE_PARTITIONS_MINE: '0' }), await p.projector({ LOCKLINE_PARTITIONS_MINE: '1' })];
    for (const s of [...ingest, ...projectors]) await s.waitHealthy();

    const hostSim = await p.hostSim({ LOCKLINE_RATE: '0' });
    const { published, stored } = await finishAndCompare(p, hostSim, { atLeast: 40_000, timeoutMs: 30_000 });
    expect(published.events.size).toBeGreaterThanOrEqual(40_000);

    // one stream per host boot, seqs 1…n with no hole
    expect(stored.streams).toBe(p.hostIds.length);
    expect([...stored.holes.keys()]).toEqual([]);
    // each ingest copy stored exactly its own partition's hosts' events
    for (const [k, copy] of ingest.entries()) {
      const mine = [...published.events.values()].filter((e) => partitionOf(e.hostId, 2) === k).length;
      expect(await copy.metric('lockline_ingest_events_appended_total'), `ingest copy for partition ${k}`).toBe(mine);
    }
    expect(await p.deadLetters()).toEqual([]);
    for (const s of [...ingest, ...projectors]) expect(s.running, `${s.name} still running`).toBe(true);
  }, 60_000);

  it('SIGKILL of ingest mid-stream, with batches in hand, three times, then a restart: nothing lost, nothing stored twice', async () => {
    // A short ack-wait (`lockline up` keeps the 30 s default) so that the batches a killed copy held
    // unacked come back within the test's time.
    const p = await open({ hosts: 3, ackWaitMs: 2000 });
    const started = await startServices(p, { hostSim: { LOCKLINE_RATE: '10000' } });
    const { hostSim } = started;
    let ingest = started.ingest;
    const jsm = await p.admin.jetstreamManager();

    const kills: Array<{ stored: number; ackPending: number; hostSimRunning: boolean }> = [];
    for (let k = 0; k < 3; k++) {
      // A backlog (ingest paused for a second while host-sim goes on: more batches than the
      // consumer's max_ack_pending), and ingest working through it: it dies in the middle of
      // appends, with batches delivered and not yet acked.
      await waitStored(p, (await p.storedCount()) + 2000, 20_000, [ingest, hostSim]);
      ingest.signal('SIGSTOP');
      await sleep(1000);
      const before = await p.storedCount();
      ingest.signal('SIGCONT');
      await waitStored(p, before + 300, 20_000, [ingest, hostSim]);
      const { num_ack_pending: ackPending } = await jsm.consumers.info(EVENTS_STREAM, ingestConsumerName(0));
      await ingest.kill(); // SIGKILL: no stop, no ack, no nak
      kills.push({ stored: await p.storedCount(), ackPending, hostSimRunning: hostSim.running });
      ingest = await p.ingest();
      await ingest.waitHealthy();
    }
    const { published } = await finishAndCompare(p, hostSim, { atLeast: 50_000, timeoutMs: 30_000 });
    // each copy died mid-stream, holding batches it had not acked, while host-sim published
    for (const k of kills) {
      expect(k.hostSimRunning).toBe(true);
      expect(k.stored).toBeLessThan(published.events.size);
      expect(k.ackPending).toBeGreaterThan(0);
    }
  }, 60_000);

  it('SIGKILL of host-sim mid-stream, then a restart from its resume state: no event lost, none stored twice', async () => {
    const p = await open({ hosts: 3 });
    let { hostSim } = await startServices(p, { hostSim: { LOCKLINE_RATE: '10000' } });
    for (const after of [5000, 15_000]) {
      await waitPublished(hostSim, after, 20_000);
      await hostSim.kill(); // its resume state lags its acks: the restart publishes some batches again
      hostSim = await p.hostSim({ LOCKLINE_RATE: '10000' });
    }
    await finishAndCompare(p, hostSim, { atLeast: 10_000, timeoutMs: 20_000 });
  }, 60_000);

  it('SIGKILL of the projector mid-stream and again while it rebuilds, then a restart: it converges to the from-scratch hash and publishes no finding twice', async () => {
    // kernel bugs make the fold find RESULT_DIVERGENCE and ACCOUNTING_DRIFT: findings to publish
    const p = await open({ hosts: 3, faults: 'kernelBugResult=0.002,kernelBugCounter=0.02' });
    const started = await startServices(p, { projector: { LOCKLINE_SUMMARY_INTERVAL_MS: '200' }, hostSim: { LOCKLINE_RATE: '10000' } });
    const { ingest, hostSim } = started;
    let projector = started.projector;
    const jsm = await p.admin.jetstreamManager();
    const findingsNow = async (): Promise<number> => (await jsm.streams.info(FINDINGS_STREAM)).state.messages;

    // mid-stream: it has folded and published findings, and more events keep coming
    await waitStored(p, 12_000, 20_000, [ingest, hostSim]);
    await waitFor('the projector to publish findings', async () => (await findingsNow()) > 0, 10_000);
    expect(await projector.metric('lockline_projector_events_folded_total')).toBeGreaterThan(0);
    await projector.kill();
    const findingsAtFirstKill = await findingsNow();

    // during the rebuild: it reads the store from the start again, re-finding what it had published
    projector = await p.projector({ LOCKLINE_SUMMARY_INTERVAL_MS: '200' });
    await waitFor('the restarted projector to fold some events', async () => {
      try {
        return (await projector.metric('lockline_projector_events_folded_total')) > 0;
      } catch {
        return false;
      }
    }, 10_000, undefined, 20);
    await projector.kill();

    projector = await p.projector({ LOCKLINE_SUMMARY_INTERVAL_MS: '200' });
    await projector.waitHealthy();
    const { findings } = await finishAndCompare(p, hostSim, { atLeast: 40_000, timeoutMs: 30_000 });
    expect(findings).toBeGreaterThan(findingsAtFirstKill);
  }, 60_000);

  // A projector killed after publishing findings and restarted once JetStream's duplicate window
  // (2 minutes; 1 s here to keep the test short) has passed: its host summaries (written every
  // LOCKLINE_SUMMARY_INTERVAL_MS; 60 s here, so none before the kill) cover none of its findings,
  // and the Msg-Id window no longer dedupes them. The findings stream itself (the last finding of
  // each host, with its store position) tells the new run what is already out.
  it('a projector killed before its summaries and restarted after the duplicate window publishes no finding twice', async () => {
    const p = await open({ hosts: 3, faults: 'kernelBugResult=0.002,kernelBugCounter=0.02', duplicateWindowMs: 1000 });
    const started = await startServices(p, { projector: { LOCKLINE_SUMMARY_INTERVAL_MS: '60000' }, hostSim: { LOCKLINE_RATE: '10000' } });
    const { ingest, hostSim } = started;
    let projector = started.projector;
    const jsm = await p.admin.jetstreamManager();
    await waitStored(p, 8000, 20_000, [ingest, hostSim]);
    await waitFor('the projector to publish findings', async () => (await jsm.streams.info(FINDINGS_STREAM)).state.messages > 0, 10_000);
    await projector.kill();
    await sleep(1500); // past the duplicate window
    projector = await p.projector();
    await projector.waitHealthy();
    await finishAndCompare(p, hostSim, { atLeast: 25_000, timeoutMs: 30_000 }); // its last check: every finding once
  }, 60_000);

  it('a nats-server restart under load, graceful and then by SIGKILL, loses nothing host-sim got an ack for', async () => {
    const p = await open({ hosts: 3, ackWaitMs: 2000 });
    // A short publish timeout: host-sim resends (same Msg-Id) sooner after the server comes back.
    const { ingest, projector, hostSim } = await startServices(p, { hostSim: { LOCKLINE_RATE: '10000', LOCKLINE_PUBLISH_TIMEOUT_MS: '1000' } });

    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      await waitStored(p, (await p.storedCount()) + 5000, 20_000, [ingest, hostSim]);
      const publishedBefore = await hostSim.metric('lockline_host_sim_events_published_total');
      await p.server.restart({ signal }); // same port, same JetStream store
      // the pipeline goes on: host-sim gets acks again and ingest stores them
      await waitPublished(hostSim, publishedBefore + 8000, 30_000);
      await waitStored(p, publishedBefore + 5000, 30_000, [ingest, hostSim]);
    }
    await finishAndCompare(p, hostSim);
    for (const s of [ingest, projector]) expect(s.running, `${s.name} survived the restarts`).toBe(true);
  }, 90_000);

  it("the simulator's duplicated, reordered and corrupt events end up deduplicated, in order and dead-lettered", async () => {
    const p = await open({ hosts: 3, faults: 'duplicate=0.02,reorder=0.02,corrupt=0.01' });
    const { ingest, hostSim } = await startServices(p, { ingest: { LOCKLINE_GAP_HOLD_MS: '300' }, hostSim: { LOCKLINE_RATE: '0' } });
    // deduplicated and ordered: each valid event once, every stream in seq order; the projection
    // has the same hash as a from-scratch fold, and the findings are published once
    const { published, stored } = await finishAndCompare(p, hostSim, { atLeast: 30_000, timeoutMs: 30_000 });

    const records = [...published.records.values()].flat();
    const faults = { duplicate: 0, reorder: 0, corrupt: 0 };
    for (const r of records) if (r.fault === 'duplicate' || r.fault === 'reorder' || r.fault === 'corrupt') faults[r.fault]++;
    // the faults did happen, in the numbers the rates give
    expect(faults.duplicate).toBeGreaterThan(100);
    expect(faults.reorder).toBeGreaterThan(100);
    expect(faults.corrupt).toBeGreaterThan(50);
    expect(published.corrupt.length).toBe(faults.corrupt);

    // the only holes are the corrupt events' seqs (a corrupt last event leaves no hole behind it)
    const expectedHoles = new Map<string, number[]>();
    const lastSeq = new Map<string, number>();
    for (const e of published.events.values()) {
      const stream = hostStreamName(e.hostId, e.bootId);
      lastSeq.set(stream, Math.max(lastSeq.get(stream) ?? 0, e.seq));
    }
    for (const r of published.corrupt) {
      const stream = hostStreamName(r.hostId, r.bootId);
      if (r.seq < (lastSeq.get(stream) ?? 0)) expectedHoles.set(stream, [...(expectedHoles.get(stream) ?? []), r.seq].sort((a, b) => a - b));
    }
    expect(Object.fromEntries(stored.holes)).toEqual(Object.fromEntries(expectedHoles));

    // dead-lettered: every corrupt payload, once, with its host and a reason; nothing else
    const letters = await p.deadLetters();
    const byPayload = new Map<string, number>();
    for (const l of letters) byPayload.set(l.payload ?? '', (byPayload.get(l.payload ?? '') ?? 0) + 1);
    const notDeadLettered = published.corrupt.filter((r) => {
      const n = byPayload.get(r.payload) ?? 0;
      if (n > 0) byPayload.set(r.payload, n - 1);
      return n === 0;
    });
    expect(notDeadLettered.map(keyOf), 'corrupt events missing from the DLQ').toEqual([]);
    expect([...byPayload].filter(([, n]) => n > 0).map(([payload]) => payload.slice(0, 200)), 'dead letters for events that were not corrupt').toEqual([]);
    expect(letters.length).toBe(published.corrupt.length);
    const hostOf = new Map(published.corrupt.map((r) => [r.payload, r.hostId]));
    expect(letters.filter((l) => l.hostId !== hostOf.get(l.payload ?? '') || !/invalid event/.test(l.reason))).toEqual([]);
    expect(await ingest.metric('lockline_ingest_events_dead_lettered_total')).toBe(published.corrupt.length);

    // the projection: no duplicate seen, the holes as gaps
    for (const hostId of p.hostIds) {
      const reply = await p.askState(hostId);
      if (!reply.ok) throw new Error(`${hostId}: ${reply.error.message}`);
      const holes = expectedHoles.get(hostStreamName(hostId, reply.data.bootId)) ?? [];
      const gapSeqs = reply.data.gaps.flatMap(([from, to]) => Array.from({ length: to - from + 1 }, (_, i) => from + i));
      expect({ hostId, duplicates: reply.data.duplicates, gaps: gapSeqs }).toEqual({ hostId, duplicates: 0, gaps: holes });
    }
  }, 60_000);

  it('a stalled projector (SIGSTOP) does not make ingest lose data or grow its memory; once resumed it catches up to the same hash', async () => {
    const p = await open({ hosts: 3 });
    const { ingest, projector, hostSim } = await startServices(p, { hostSim: { LOCKLINE_RATE: '20000' } });
    // ingest warmed up (its heap grown to its working size) before the projector stalls
    await waitStored(p, 50_000, 20_000, [ingest, hostSim]);

    projector.signal('SIGSTOP');
    // stopped: it reads nothing, answers nothing (the kernel takes a moment to stop every thread)
    await waitFor('the projector to be stopped (T in /proc)', async () => /^T/.test(await projector.procState()), 2000);
    const samples: Array<{ rss: number; stored: number; published: number }> = [];
    for (let i = 0; i < 20; i++) {
      samples.push({ rss: await ingest.rssMiB(), stored: await p.storedCount(), published: await hostSim.metric('lockline_host_sim_events_published_total') });
      await sleep(250);
    }
    const first = samples[0]!;
    const last = samples[samples.length - 1]!;
    // ingest kept storing what host-sim published (~100,000 events while the projector was stopped)
    expect(last.stored - first.stored).toBeGreaterThan(50_000);
    expect(last.stored - first.stored).toBeGreaterThan((last.published - first.published) * 0.8);
    // and its memory stayed bounded: holding those events (~1 KB each as objects) would add ~100 MB
    const rss = samples.map((s) => s.rss);
    const third = Math.floor(rss.length / 3);
    expect(Math.max(...rss)).toBeLessThan(300);
    expect(Math.max(...rss.slice(-third)) - Math.max(...rss.slice(0, third))).toBeLessThan(48);

    projector.signal('SIGCONT');
    await finishAndCompare(p, hostSim, { atLeast: last.published + 5000, timeoutMs: 20_000 });
    expect(await ingest.rssMiB()).toBeLessThan(300);
  }, 60_000);
});
