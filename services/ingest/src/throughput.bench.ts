/**
 * Ingest throughput, end to end: hosts publish JSONL batches (as the hostsim user, from a child
 * process, as real hosts are) to a real nats-server; one ingest
 * copy consumes them into a real SQLite file. Reports events/s from the first publish until the
 * last event is stored, and the rate of ingest alone draining a backlog.
 *
 *   node --conditions=lockline-source --import tsx services/ingest/src/throughput.bench.ts [events] [hosts] [batch] [sync]
 *
 * defaults: 200000 events, 10 hosts, 100 events a batch, sync normal (or "full": fsync every commit).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Publisher, batchIdOf, ensureIngestConsumers, ensureStreams, natsAuthOptions } from '@lockline/bus';
import { startNatsServer } from '@lockline/bus/testing';
import type { EventStore } from '@lockline/eventstore';
import { openEventStore } from '@lockline/eventstore';
import { openSqliteEventStore } from '@lockline/eventstore/sqlite';
import { createRegistry } from '@lockline/runtime';
import { connect } from 'nats';
import { pino } from 'pino';
import { build } from './ingest.js';
import { lines } from './testing/fixture.js';

interface PublishJob {
  url: string;
  credential: { user: string; password: string; inboxPrefix: string };
  hosts: number;
  perHost: number;
  batch: number;
}

async function publishAll(job: PublishJob): Promise<void> {
  const nc = await connect({ servers: job.url, ...natsAuthOptions(job.credential) });
  const publisher = new Publisher(nc.jetstream(), { maxInFlight: 256 });
  const hostIds = Array.from({ length: job.hosts }, (_, i) => `bench-${i}`);
  // Each host's batches in order (one in flight per host, as a host's own publisher would), hosts in parallel.
  await Promise.all(
    hostIds.map(async (hostId) => {
      for (let first = 1; first <= job.perHost; first += job.batch) {
        const seqs = Array.from({ length: Math.min(job.batch, job.perHost - first + 1) }, (_, i) => first + i);
        await publisher.publish(hostId, lines(hostId, 'boot1', seqs), { batchId: batchIdOf(hostId, 'boot1', first) });
      }
    }),
  );
  await nc.close();
}

if (process.argv[2] === '--publish') {
  await publishAll(JSON.parse(process.argv[3] ?? '{}') as PublishJob);
} else {
  const [eventsArg, hostsArg, batchArg, syncArg] = process.argv.slice(2);
  const hosts = Number(hostsArg ?? 10);
  const batch = Number(batchArg ?? 100);
  const perHost = Math.ceil(Number(eventsArg ?? 200_000) / hosts);
  const total = perHost * hosts;
  const sync = syncArg === 'full' ? 'FULL' : 'NORMAL';

  const server = await startNatsServer({ auth: { hosts: [] }, maxFile: 4 * 1024 * 1024 * 1024 });
  const dir = await mkdtemp(join(tmpdir(), 'lockline-ingest-bench-'));
  const admin = await connect({ servers: server.url, ...natsAuthOptions(server.credentials.admin!) });
  const publishWith = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const job: PublishJob = { url: server.url, credential: server.credentials.hostsim!, hosts, perHost, batch };
      const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--publish', JSON.stringify(job)], { stdio: 'inherit' });
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the publisher exited with ${code}`))));
    });

  const run = async (label: string, mode: 'concurrent' | 'backlog', round: number): Promise<void> => {
    const jsm = await admin.jetstreamManager();
    await jsm.streams.delete('LOCKLINE_EVENTS').catch(() => undefined);
    await ensureStreams(jsm, { partitions: 1 });
    await ensureIngestConsumers(jsm, 1);
    const path = join(dir, `events-${round}.db`);
    const store: EventStore = sync === 'FULL' ? await openSqliteEventStore(path, { synchronous: 'FULL' }) : await openEventStore(`sqlite:${path}`);
    const nc = await connect({ servers: server.url, ...natsAuthOptions(server.credentials.ingest!) });
    const ingest = build({ partitionsMine: 'all', gapHoldMs: 2000, fetchMaxMessages: 256, storeRetryMs: 1000 }, { nc, store, log: pino({ level: 'warn' }), registry: createRegistry('ingest') });
    let started = performance.now();
    if (mode === 'backlog') {
      await publishWith();
      started = performance.now();
      await ingest.start();
    } else {
      await ingest.start();
      started = performance.now();
      await publishWith();
    }
    const published = performance.now();
    while (ingest.stats.appended < total) await new Promise((resolve) => setTimeout(resolve, 5));
    const seconds = (performance.now() - started) / 1000;
    const { stats } = ingest;
    await ingest.stop();
    await nc.close();
    await store.close();
    const rate = Math.round(total / seconds);
    console.log(
      `${label}: ${total.toLocaleString('en-US')} events (${hosts} hosts, ${batch}/batch, sqlite ${sync}) in ${seconds.toFixed(2)} s = ${rate.toLocaleString('en-US')} events/s` +
        (mode === 'concurrent' ? ` (publishing took ${((published - started) / 1000).toFixed(2)} s)` : '') +
        `; ${stats.messages} batches, dup ${stats.duplicates}, gaps ${stats.gaps}`,
    );
  };

  try {
    await run('end to end (publisher and ingest at once)', 'concurrent', 1);
    await run('ingest alone, draining a backlog', 'backlog', 2);
    await run('end to end again (warm)', 'concurrent', 3);
  } finally {
    await admin.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
