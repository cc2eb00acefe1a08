/**
 * The JetStream store's disk fills up: nats-server's store folder is a small tmpfs (32 MiB), a file
 * fills it to the last MiB while host-sim publishes, stays a few seconds, and is removed. Needs root
 * (mount); skipped with the reason otherwise.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNatsServer } from '@lockline/bus/testing';
import { fleetHostId } from '@lockline/sim';
import { sleep, startPipeline, startServices, waitFor, waitStored } from '../e2e/support/pipeline.js';
import { PUBLISHED_METRIC, faultTest, finishAndAudit, formatLabelled, labelledMetric, metricOr0, skipFault, waitProgress } from './support/harness.js';

const HOSTS = 3;
const TMPFS_MIB = 32;
const LEFT_FREE = 1024 * 1024;
const FAILURES = 'lockline_host_sim_publish_failures_total';

function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

const sum = (values: ReadonlyMap<string, number>): number => [...values.values()].reduce((a, b) => a + b, 0);

export function diskFull(): void {
  faultTest('disk-full', "The JetStream store's disk fills up (a 32 MiB tmpfs), then is freed", 120_000, async (run) => {
    const hostIds = Array.from({ length: HOSTS }, (_, i) => fleetHostId('host-', i));
    const server = await startNatsServer({ auth: { hosts: hostIds } });
    run.defer(() => server.stop());
    // The store folder becomes a tmpfs while the server is down (it holds nothing yet).
    await server.kill('SIGTERM');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_MIB}m,mode=0700`, 'lockline-faults', server.storeDir], { stdio: 'pipe' });
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
      skipFault(`cannot mount a tmpfs for the JetStream store (${stderr || (error as Error).message}); mounting needs root (CAP_SYS_ADMIN)`);
    }
    run.defer(async () => {
      await server.kill('SIGKILL');
      try {
        execFileSync('umount', [server.storeDir], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', server.storeDir], { stdio: 'pipe' });
      }
    });
    await server.restart();
    const p = await startPipeline({ hosts: HOSTS, nats: server, ackWaitMs: 2000, seed: String(run.faultSeed) });
    run.pipeline = p;
    run.defer(() => p.close());
    const { ingest, projector, hostSim } = await startServices(p, { hostSim: { LOCKLINE_RATE: '4000', LOCKLINE_PUBLISH_TIMEOUT_MS: '1000' } });
    await waitStored(p, 3000, 30_000, [ingest, hostSim]);

    // Fill the disk to its last MiB.
    const filler = join(server.storeDir, 'filler');
    const before = freeBytes(server.storeDir);
    writeFileSync(filler, Buffer.alloc(Math.max(0, before - LEFT_FREE)));
    const filledAt = performance.now();
    // Full: nats-server cannot write, and host-sim's acks stop (its publisher retries the batches in
    // flight with their Msg-Ids; it reports a failure only past its 60 s retry budget).
    let acked = -1;
    let stillSince = performance.now();
    await waitFor(
      'nats-server to run out of disk and host-sim\'s acks to stop',
      async () => {
        const now = await metricOr0(hostSim, PUBLISHED_METRIC);
        if (now !== acked) {
          acked = now;
          stillSince = performance.now();
        }
        return /no space left on device/.test(server.logs()) && performance.now() - stillSince >= 2000;
      },
      45_000,
      () => server.logs().slice(-2000),
      100,
    );
    const fullAfter = stillSince - filledAt;
    const holdMs = run.prng.int(3000, 6000);
    const ackedAtFull = await metricOr0(hostSim, PUBLISHED_METRIC);
    await sleep(holdMs);
    const ackedWhileFull = (await metricOr0(hostSim, PUBLISHED_METRIC)) - ackedAtFull;
    const enospc = (server.logs().match(/no space left on device/g) ?? []).length;
    const disabled = /JetStream out of .*resources, will be DISABLED/.test(server.logs());
    const stuck = await metricOr0(hostSim, 'lockline_host_sim_publishes_in_flight');

    rmSync(filler);
    run.recovered('filler removed → acks and stored events move again', await waitProgress(p, () => hostSim, 45_000, 'removing the filler'));
    const failuresByCode = await labelledMetric(hostSim, FAILURES);
    const retries = await metricOr0(hostSim, 'lockline_host_sim_publish_retries_total');
    run.fault = `nats-server's store folder on a ${TMPFS_MIB} MiB tmpfs; once ${HOSTS} hosts were publishing (host-sim, 4,000 events/s), a file took all but 1 MiB of its ${(before / 2 ** 20).toFixed(1)} MiB free; acks stopped ${(fullAfter / 1000).toFixed(1)} s later; the disk stayed full ${(holdMs / 1000).toFixed(1)} s more, then the file was removed.`;
    const how = sum(failuresByCode) === 0
      ? `nats-server left the publishes it could not store unanswered (not StreamFull: the stream's max_bytes was far from reached, the disk was full); host-sim's publisher sent each again with its Msg-Id until one was acked (${Math.round(stuck)} batches were waiting when the disk was freed, ${Math.round(retries).toLocaleString('en-US')} resends in all), within its 60 s retry budget, so host-sim counted no failure`
      : `host-sim's failed publishes past its publisher's retries, by code: ${formatLabelled(failuresByCode)} (each held and sent again)`;
    run.note(`while the disk was full: ${Math.round(ackedWhileFull).toLocaleString('en-US')} events acked; nats-server logged "no space left on device" ${enospc} times and ${disabled ? 'DISABLED JetStream' : 'kept JetStream enabled'}; ${how}.`);
    run.note(`ingest and the projector ${ingest.running && projector.running ? 'ran on throughout' : `did not all survive: ingest ${ingest.running ? 'running' : 'exited'}, projector ${projector.running ? 'running' : 'exited'}`}; nothing was restarted: freeing the disk was enough.`);
    await finishAndAudit(run, p, hostSim);
  });
}
