/**
 * A projector that falls far behind: stopped (SIGSTOP) while host-sim publishes and ingest stores on
 * for tens of seconds, then resumed under the same load. The store is its buffer: ingest must not
 * slow down or lose anything, and the projector must catch up to what a replay gives.
 */
import { sleep, startPipeline, startServices, waitFor, waitStored } from '../e2e/support/pipeline.js';
import { faultTest, finishAndAudit, metricOr0 } from './support/harness.js';

const HOSTS = 4;
const FOLDED = 'lockline_projector_events_folded_total';
const LAG = 'lockline_projector_lag_events';

export function projectorBehind(): void {
  faultTest('projector-far-behind', 'A projector that falls far behind (stopped for tens of seconds under load), then catches up', 120_000, async (run) => {
    const p = await startPipeline({ hosts: HOSTS, seed: String(run.faultSeed), faults: 'kernelBugResult=0.002,kernelBugCounter=0.02' });
    run.pipeline = p;
    run.defer(() => p.close());
    const { ingest, projector, hostSim } = await startServices(p, { projector: { LOCKLINE_SUMMARY_INTERVAL_MS: '500' }, hostSim: { LOCKLINE_RATE: '5000' } });
    await waitStored(p, 5000, 30_000, [ingest, hostSim]);
    await projector.waitHealthy(30_000);

    const stopMs = run.prng.int(20_000, 30_000);
    const foldedAtStop = await metricOr0(projector, FOLDED);
    const storedAtStop = await p.storedCount();
    projector.signal('SIGSTOP');
    await sleep(stopMs);
    const storedAtResume = await p.storedCount();
    const behind = storedAtResume - foldedAtStop;
    const resumedAt = performance.now();
    projector.signal('SIGCONT');
    let maxLag = 0;
    // Caught up: it has folded at least what the store held when it was resumed (new events keep coming).
    await waitFor(
      `the projector to fold the ${behind} events it is behind`,
      async () => {
        maxLag = Math.max(maxLag, await metricOr0(projector, LAG));
        return (await metricOr0(projector, FOLDED)) >= storedAtResume;
      },
      60_000,
      () => projector.logs().slice(-2000),
      100,
    );
    const catchUpMs = performance.now() - resumedAt;
    run.recovered('projector resumed → folded everything stored before the resume', catchUpMs);
    await projector.waitHealthy(30_000);
    run.recovered('projector resumed → ready (caught up with the live store)', performance.now() - resumedAt);
    const storedMeanwhile = storedAtResume - storedAtStop;
    run.fault = `The projector SIGSTOPped for ${(stopMs / 1000).toFixed(1)} s while host-sim published 5,000 events/s over ${HOSTS} hosts (with simulated kernel bugs, for findings) and ingest stored ${storedMeanwhile.toLocaleString('en-US')} events meanwhile; the projector was then ${behind.toLocaleString('en-US')} events behind the store and was resumed under the same load.`;
    run.note(`ingest stored ${Math.round((storedMeanwhile * 1000) / stopMs).toLocaleString('en-US')} events/s while the projector was stopped; the projector caught up at ${Math.round((behind * 1000) / catchUpMs).toLocaleString('en-US')} events/s net of the live load (its highest lag seen: ${Math.round(maxLag).toLocaleString('en-US')} events).`);
    if (storedMeanwhile < (stopMs / 1000) * 2000) throw new Error(`ingest stored only ${storedMeanwhile} events in ${stopMs} ms while the projector was stopped`);
    await finishAndAudit(run, p, hostSim);
    for (const s of [ingest, projector]) if (!s.running) throw new Error(`${s.name} is not running at the end`);
  });
}
