/**
 * The bus as a three-node JetStream cluster on loopback (startNatsCluster, Lockline's users), every
 * stream and the hosts bucket R3, the services given every node's URL: a node SIGKILLed and
 * restarted every few seconds; all three killed at once; a majority paused with SIGSTOP (to the
 * others it looks like a partition) and resumed.
 *
 * Besides the ledger, a StallWatch keeps the stretches in which host-sim got no ack and ingest
 * stored nothing: the outage as the pipeline's users see it.
 */
import { EVENTS_STREAM, ingestConsumerName } from '@lockline/bus';
import { startNatsCluster, type NatsCluster, type NatsClusterMember } from '@lockline/bus/testing';
import { fleetHostId } from '@lockline/sim';
import { sleep, startPipeline, startServices, waitFor, waitStored, type Pipeline, type Service } from '../e2e/support/pipeline.js';
import {
  FaultRun,
  PUBLISHED_METRIC,
  StallWatch,
  faultTest,
  finishAndAudit,
  formatLabelled,
  labelledMetric,
  metricOr0,
  traced,
  waitAcks,
  type Stalls,
} from './support/harness.js';

const HOSTS = 3;
const RATE = 3000;

interface ClusterRig {
  cluster: NatsCluster;
  p: Pipeline;
  ingest: Service;
  projector: Service;
  hostSim: Service;
}

/**
 * startNatsCluster, tried again when two of its free ports came out the same (it asks the OS for
 * each port in turn, and a port just released may be handed out twice).
 */
async function startCluster(hostIds: readonly string[]): Promise<NatsCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsCluster({ auth: { hosts: hostIds } });
    } catch (error) {
      if (attempt >= 3 || !/share a port/.test((error as Error).message)) throw error;
    }
  }
}

async function startClusterRig(run: FaultRun): Promise<ClusterRig> {
  const hostIds = Array.from({ length: HOSTS }, (_, i) => fleetHostId('host-', i));
  const cluster = await startCluster(hostIds);
  run.defer(() => cluster.stop());
  // kernel bugs in the simulation: findings for the projector to publish (on an R3 stream) exactly once
  const p = await startPipeline({ hosts: HOSTS, nats: cluster, ackWaitMs: 2000, seed: String(run.faultSeed), faults: 'kernelBugResult=0.002,kernelBugCounter=0.02' });
  run.pipeline = p;
  run.defer(() => p.close());
  const { ingest, projector, hostSim } = await startServices(p, { hostSim: { LOCKLINE_RATE: String(RATE), LOCKLINE_PUBLISH_TIMEOUT_MS: '1000' } });
  await waitStored(p, 3000, 30_000, [ingest, hostSim]);
  return { cluster, p, ingest, projector, hostSim };
}

/** LOCKLINE_EVENTS's leader and replicas as the cluster reports them (undefined while it cannot say). */
async function eventsStreamCluster(p: Pipeline): Promise<{ leader: string | undefined; healthy: boolean; detail: string }> {
  try {
    const jsm = await p.admin.jetstreamManager({ timeout: 2000 });
    const info = await jsm.streams.info(EVENTS_STREAM);
    const replicas = info.cluster?.replicas ?? [];
    const leader = info.cluster?.leader;
    // A replica under steady load is a few operations behind most of the time: "caught up" is
    // online, heard from lately, and within a second's worth of batches.
    const healthy = leader !== undefined && replicas.length === 2 && replicas.every((r) => !r.offline && (r.current || (r.lag ?? Infinity) < 500));
    return {
      leader,
      healthy,
      detail: `leader ${leader ?? 'none'} (last seq ${info.state.last_seq}), replicas ${replicas.map((r) => `${r.name}${r.current ? '' : ` (behind by ${r.lag ?? '?'})`}${r.offline ? ' (offline)' : ''}`).join(', ')}`,
    };
  } catch (error) {
    return { leader: undefined, healthy: false, detail: (error as Error).message };
  }
}

/** Waits until the events stream has a leader and both other replicas are online and caught up. */
async function waitStreamCaughtUp(p: Pipeline, timeoutMs: number): Promise<void> {
  let detail = '';
  await waitFor(
    'LOCKLINE_EVENTS to have a leader and two caught-up replicas',
    async () => {
      const state = await eventsStreamCluster(p);
      detail = state.detail;
      return state.healthy;
    },
    timeoutMs,
    () => detail,
    100,
  );
}

/** One line of what the pipeline is doing, for traced() (LOCKLINE_FAULT_TRACE=1). */
async function pipelineState(p: Pipeline, hostSim: Service, ingest: Service): Promise<string> {
  const stream = await eventsStreamCluster(p);
  let consumer: string;
  try {
    const jsm = await p.admin.jetstreamManager({ timeout: 2000 });
    const c = await jsm.consumers.info(EVENTS_STREAM, ingestConsumerName(0));
    consumer = `ingest-p0: pending ${c.num_pending}, ack pending ${c.num_ack_pending}, pulls waiting ${c.num_waiting}, leader ${c.cluster?.leader ?? 'none'}`;
  } catch (error) {
    consumer = `ingest-p0: ${(error as Error).message}`;
  }
  return `acked ${await metricOr0(hostSim, PUBLISHED_METRIC)}, in flight ${await metricOr0(hostSim, 'lockline_host_sim_publishes_in_flight')}; stored ${await p.storedCount()}, ingest appended ${await metricOr0(ingest, 'lockline_ingest_events_appended_total')}; ${stream.detail}; ${consumer}`;
}

function signalNode(node: NatsClusterMember, signal: 'SIGSTOP' | 'SIGCONT'): void {
  if (node.pid !== undefined && node.running) process.kill(node.pid, signal);
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** What the StallWatch saw, and host-sim's retries, as notes. */
async function stallNotes(run: FaultRun, stalls: Stalls, hostSim: Service): Promise<void> {
  run.note(
    `longest stretch without a new ack to host-sim: ${secs(stalls.maxAckStallMs)}${stalls.ackStalls.length > 0 ? ` (stretches ≥ 2 s: ${stalls.ackStalls.map(secs).join(', ')})` : ''}; host-sim resent ${Math.round(await metricOr0(hostSim, 'lockline_host_sim_publish_retries_total')).toLocaleString('en-US')} batches (same Msg-Id); publishes failed past its publisher's retries: ${formatLabelled(await labelledMetric(hostSim, 'lockline_host_sim_publish_failures_total'))}.`,
  );
  run.note(
    `longest stretch in which ingest stored nothing: ${secs(stalls.maxStoreStallMs)}${stalls.storeStalls.length > 0 ? ` (stretches ≥ 2 s: ${stalls.storeStalls.map(secs).join(', ')})` : ''}${stalls.maxSampleGapMs > 1000 ? `; the watch itself went ${secs(stalls.maxSampleGapMs)} without a sample once, so a shorter stall may have gone unseen` : ''}.`,
  );
  if (stalls.maxStoreStallMs >= 20_000) {
    run.note(
      "ingest's long stalls come after the events consumer's leader moved: its pull request died with the old leader, and nats.js's consume() (expires 30 s, idle heartbeat 15 s) asks again only after two missed heartbeats. The stream holds the batches meanwhile, so nothing is lost; a shorter `expires` in ingest's consume (libs/bus consume's expiresMs) would shorten the stall.",
    );
  }
}

export function clusterFaults(): void {
  faultTest('cluster-node-restarts', 'SIGKILL and restart of a node of a three-node NATS cluster every few seconds', 150_000, async (run) => {
    const { cluster, p, ingest, projector, hostSim } = await startClusterRig(run);
    const watch = new StallWatch(p, () => hostSim);
    const phaseEnd = performance.now() + 20_000;
    let kills = 0;
    let leaders = 0;
    while (performance.now() < phaseEnd && !run.cleaningUp) {
      await sleep(run.prng.int(1000, 3000));
      // Half the time the events stream's leader (a re-election), otherwise any node.
      const { leader } = await eventsStreamCluster(p);
      const victim = leader !== undefined && run.prng.next() < 0.5 ? cluster.node(leader) : run.prng.pick(cluster.nodes);
      if (victim.serverName === leader) leaders++;
      await victim.kill('SIGKILL');
      kills++;
      const killedAt = performance.now();
      // Two of three nodes are up: publishing should go on.
      run.recovered('node SIGKILLed → host-sim acked again (2 of 3 nodes up)', await waitAcks(hostSim, 30_000, `SIGKILL of ${victim.serverName}`));
      await sleep(Math.max(0, run.prng.int(1000, 3000) - (performance.now() - killedAt)));
      const startedAt = performance.now();
      await victim.start();
      await traced('node restarted', waitStreamCaughtUp(p, 45_000), () => pipelineState(p, hostSim, ingest));
      run.recovered('node restarted → its LOCKLINE_EVENTS replica caught up', performance.now() - startedAt);
    }
    run.note("a SIGKILLed LOCKLINE_EVENTS leader costs an election: no publish is acked until the two others have chosen a new leader, and host-sim's resends (1 s timeout, back-off to 2 s) add to that; a follower's loss costs nothing.");
    run.fault = `${kills} SIGKILLs of one node (${leaders} of them LOCKLINE_EVENTS's leader), one every 1–3 s once the cluster was whole again, each node down 1–3 s then restarted on its own store; host-sim at ${RATE.toLocaleString('en-US')} events/s over ${HOSTS} hosts (with simulated kernel bugs, for findings), every stream R3, the services given all three URLs.`;
    await stallNotes(run, await watch.stop(), hostSim);
    await finishAndAudit(run, p, hostSim);
    for (const s of [ingest, projector]) if (!s.running) throw new Error(`${s.name} exited during the node restarts:\n${s.logs().slice(-3000)}`);
  });

  faultTest('cluster-all-nodes-killed', 'All three NATS nodes SIGKILLed at once, then restarted', 150_000, async (run) => {
    const { cluster, p, ingest, projector, hostSim } = await startClusterRig(run);
    const watch = new StallWatch(p, () => hostSim);
    await waitStored(p, (await p.storedCount()) + run.prng.int(2000, 8000), 30_000, [ingest, hostSim]);
    await Promise.all(cluster.nodes.map((n) => n.kill('SIGKILL')));
    const down = run.prng.int(1000, 3000);
    await sleep(down);
    const restartedAt = performance.now();
    await Promise.all(cluster.nodes.map((n) => n.start()));
    await cluster.waitForMetaLeader(30_000);
    run.recovered('all nodes restarted → a JetStream meta leader', performance.now() - restartedAt);
    await waitAcks(hostSim, 45_000, 'the restart of every node');
    run.recovered('all nodes restarted → host-sim acked again', performance.now() - restartedAt);
    const stored = await p.storedCount();
    await traced('all nodes restarted', waitStored(p, stored + 1, 75_000, [ingest, hostSim]), () => pipelineState(p, hostSim, ingest));
    run.recovered('all nodes restarted → ingest stored again', performance.now() - restartedAt);
    run.fault = `Every node SIGKILLed at the same moment, down ${secs(down)}, then all restarted on their stores (nats-server's default sync_interval: what a SIGKILLed server wrote is still in the page cache; a power cut is another matter, see docs/deploy.md); host-sim at ${RATE.toLocaleString('en-US')} events/s over ${HOSTS} hosts (with simulated kernel bugs, for findings), every stream R3.`;
    await stallNotes(run, await watch.stop(), hostSim);
    await finishAndAudit(run, p, hostSim);
    for (const s of [ingest, projector]) if (!s.running) throw new Error(`${s.name} exited while the cluster was down:\n${s.logs().slice(-3000)}`);
  });

  faultTest('cluster-majority-paused', 'SIGSTOP of two of three NATS nodes (a partition leaving a minority), then SIGCONT', 150_000, async (run) => {
    const { cluster, p, ingest, projector, hostSim } = await startClusterRig(run);
    const watch = new StallWatch(p, () => hostSim);
    const rounds = 2;
    const pauses: string[] = [];
    for (let round = 0; round < rounds && !run.cleaningUp; round++) {
      await waitStored(p, (await p.storedCount()) + run.prng.int(2000, 6000), 75_000, [ingest, hostSim]);
      await waitStreamCaughtUp(p, 30_000);
      const { leader } = await eventsStreamCluster(p);
      // The first round pauses the events stream's leader and one follower, the second both followers
      // (the leader runs on, alone: it must not take a write it cannot replicate).
      const others = cluster.nodes.filter((n) => n.serverName !== leader);
      const paused = round === 0 && leader !== undefined ? [cluster.node(leader), run.prng.pick(others)] : others.slice(0, 2);
      const pauseMs = run.prng.int(3000, 6000);
      for (const n of paused) signalNode(n, 'SIGSTOP');
      const pausedAt = performance.now();
      // Acks of publishes the majority had taken just before the pause may still arrive: count from a second in.
      await sleep(1000);
      const ackedAfter1s = await metricOr0(hostSim, PUBLISHED_METRIC);
      await sleep(Math.max(0, pauseMs - (performance.now() - pausedAt)));
      const ackedDuring = (await metricOr0(hostSim, PUBLISHED_METRIC)) - ackedAfter1s;
      pauses.push(`${paused.map((n) => (n.serverName === leader ? `${n.serverName} (the events stream's leader)` : n.serverName)).join(' + ')} for ${secs(pauseMs)}, ${Math.round(ackedDuring).toLocaleString('en-US')} events acked from its second second on`);
      const resumedAt = performance.now();
      for (const n of paused) signalNode(n, 'SIGCONT');
      run.recovered('majority resumed → host-sim acked again', await waitAcks(hostSim, 45_000, 'SIGCONT of the paused nodes'));
      await traced('majority resumed', waitStreamCaughtUp(p, 45_000), () => pipelineState(p, hostSim, ingest));
      run.recovered("majority resumed → LOCKLINE_EVENTS's replicas caught up", performance.now() - resumedAt);
    }
    run.fault = `${rounds} pauses of a majority with SIGSTOP: ${pauses.join('; ')}; then SIGCONT. Host-sim at ${RATE.toLocaleString('en-US')} events/s over ${HOSTS} hosts, every stream R3. A stopped node keeps its sockets open, so the others see silence, not a closed connection, as in a partition.`;
    await stallNotes(run, await watch.stop(), hostSim);
    await finishAndAudit(run, p, hostSim);
    for (const s of [ingest, projector]) if (!s.running) throw new Error(`${s.name} exited during the pause:\n${s.logs().slice(-3000)}`);
  });
}
