/**
 * SIGKILL of each service (ingest, projector, host-sim) at seeded random moments, again and again,
 * sometimes a second time while the copy is still starting (the projector rebuilding from the store,
 * ingest taking its redelivered batches), on one nats-server.
 */
import { sleep, startPipeline, startServices, waitStored, type Service } from '../e2e/support/pipeline.js';
import { faultTest, finishAndAudit, metricOr0, waitProgress } from './support/harness.js';

const DEDUPLICATED_METRIC = 'lockline_host_sim_events_deduplicated_total';

type Victim = 'ingest' | 'projector' | 'host-sim';

const PHASE_MS = 30_000;
const KILLS_EACH = 3;

export function serviceKills(): void {
  faultTest('service-sigkill', 'SIGKILL of each service at random moments, repeatedly', 120_000, async (run) => {
    // kernel bugs in the simulation give the projector findings to publish (exactly once, across kills)
    const p = await startPipeline({ hosts: 3, ackWaitMs: 2000, seed: String(run.faultSeed), faults: 'kernelBugResult=0.002,kernelBugCounter=0.02' });
    run.pipeline = p;
    run.defer(() => p.close());
    const env = {
      // a short publish timeout: host-sim resends sooner; ingest's short ack-wait brings a killed copy's batches back soon
      hostSim: { LOCKLINE_RATE: '4000', LOCKLINE_PUBLISH_TIMEOUT_MS: '1000' },
      projector: { LOCKLINE_SUMMARY_INTERVAL_MS: '500' },
      ingest: { LOCKLINE_GAP_HOLD_MS: '500' },
    };
    const live: Record<Victim, Service> = await startServices(p, env).then((s) => ({ ingest: s.ingest, projector: s.projector, 'host-sim': s.hostSim }));
    await waitStored(p, 3000, 30_000, Object.values(live));

    // Each service KILLS_EACH times, in a seeded order, then more at random while time is left.
    const schedule: Victim[] = [];
    for (let i = 0; i < KILLS_EACH; i++) schedule.push('ingest', 'projector', 'host-sim');
    for (let i = schedule.length - 1; i > 0; i--) {
      const j = run.prng.int(0, i);
      [schedule[i], schedule[j]] = [schedule[j]!, schedule[i]!];
    }
    const kills: Record<Victim, number> = { ingest: 0, projector: 0, 'host-sim': 0 };
    let whileStarting = 0;
    const start = (victim: Victim): Promise<Service> =>
      victim === 'ingest' ? p.ingest(env.ingest) : victim === 'projector' ? p.projector(env.projector) : p.hostSim(env.hostSim);
    const end = performance.now() + PHASE_MS;
    const most = schedule.length + 6; // the schedule, then a few more while time is left
    let deduplicated = 0;
    for (let k = 0; k < most && !run.cleaningUp && (schedule.length > 0 || performance.now() < end); k++) {
      const victim = schedule.shift() ?? run.prng.pick(['ingest', 'projector', 'host-sim'] as const);
      await sleep(run.prng.int(200, 2500));
      if (victim === 'host-sim') deduplicated += await metricOr0(live['host-sim'], DEDUPLICATED_METRIC);
      await live[victim].kill();
      kills[victim]++;
      await sleep(run.prng.int(0, 800));
      live[victim] = await start(victim);
      // A quarter of the time, kill the new copy again while it starts (a rebuild, a resume, redeliveries).
      if (run.prng.next() < 0.25) {
        await sleep(run.prng.int(50, 600));
        await live[victim].kill();
        kills[victim]++;
        whileStarting++;
        live[victim] = await start(victim);
      }
      const restartedAt = performance.now();
      if (victim === 'projector') {
        // ready means caught up with the store: the rebuild done
        await live.projector.waitHealthy(30_000);
        run.recovered('projector restarted → ready (rebuilt, caught up)', performance.now() - restartedAt);
      } else {
        await waitProgress(p, () => live['host-sim'], 30_000, `the restart of ${victim}`);
        run.recovered(`${victim} restarted → acks and stored events move again`, performance.now() - restartedAt);
      }
    }
    const total = kills.ingest + kills.projector + kills['host-sim'];
    run.fault = `${total} SIGKILLs over ${Math.round(run.elapsedMs / 1000)} s (ingest ${kills.ingest}, projector ${kills.projector}, host-sim ${kills['host-sim']}; ${whileStarting} of them while the copy was still starting), each followed by a restart 0–0.8 s later; host-sim at 4,000 events/s over 3 hosts with simulated kernel bugs (findings), one nats-server, ingest ack-wait 2 s.`;
    await live.projector.waitHealthy(30_000);
    deduplicated += await metricOr0(live['host-sim'], DEDUPLICATED_METRIC);
    const ledger = await finishAndAudit(run, p, live['host-sim']);
    run.note(`host-sim's resume state lags its acks, so after each of its kills it sent acked batches again: JetStream answered at least ${Math.round(deduplicated).toLocaleString('en-US')} events' batches as duplicates (Msg-Id window), and ${(ledger.publishedLines - ledger.published).toLocaleString('en-US')} event lines reached the bus twice (ingest's seq check dropped them).`);
    for (const s of [live.ingest, live.projector]) if (!s.running) throw new Error(`${s.name} is not running at the end`);
  });
}
