/**
 * Benchmark of the event store (@lockline/eventstore): `npm run bench -- store`
 * (scripts/bench.mjs builds the workspace first, so the compiled dist/ is what is measured).
 *
 * The workload: 1,000,000 `syscall.*` events (~290-byte JSON envelopes built with buildEvent) from
 * 100 hosts, appended as batches of 100–500 events of one host, hosts interleaved at random (seeded),
 * each batch with the expected revision of its host's stream. Printed:
 *
 *   (a) SQLite append rate, one append at a time, at synchronous=NORMAL (the default) and FULL;
 *   (b) both again with every host's next batch in flight at once (what ingest does with many
 *       hosts): appends made in the same tick share a transaction, so they share its fsync too;
 *   (c) NORMAL without the (stream, revision) index, to show what the index costs at append;
 *   (d) replay: read everything with readAll pages and touch every event's data (decoded), with
 *       pages of 1,000 and 10,000; reading one host's stream with and without the index;
 *   (e) the same appends and replay with Emmett's SQLite event store (@event-driven-io/emmett-sqlite
 *       0.38.5 on node-sqlite3), a store a user might pick instead — or the reason it could not run.
 *
 * (a) and (c) run ROUNDS times, interleaved, and the median is printed with every round's figure:
 * the machine is shared, and the CPU time other processes used during each measurement is printed
 * too, so a noisy figure can be told from a slow one. One run takes about 1.5–2 minutes.
 *
 * Options: --events=N (default 1,000,000), --emmett-events=N (default and at most: the same), --only=a,b,c,d,e.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, fdatasyncSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import Database from 'better-sqlite3';
import { buildEvent, hostStreamName, type EventBody, type HostEvent } from '@lockline/events';
import { readAllPages, type EventStore, type NewEvent } from '@lockline/eventstore';
import { openSqliteEventStore, type SqliteEventStoreOptions } from '@lockline/eventstore/sqlite';
import { fmt, mulberry32, otherLoad, parseArgs, positiveInt, say } from './support.js';

// ---------------------------------------------------------------------------------------------
// Settings

const { args, unknown } = parseArgs(['events', 'emmett-events', 'only']);
const EVENTS = Number(args.get('events') ?? 1_000_000);
const EMMETT_EVENTS = Math.min(EVENTS, Number(args.get('emmett-events') ?? EVENTS));
const ONLY = new Set((args.get('only') ?? 'a,b,c,d,e').split(','));
if (
  !positiveInt(EVENTS) ||
  !positiveInt(EMMETT_EVENTS) ||
  [...ONLY].some((p) => !['a', 'b', 'c', 'd', 'e'].includes(p)) ||
  unknown.length > 0
) {
  console.error('usage: npm run bench -- store [--events=N] [--emmett-events=N] [--only=a,b,c,d,e]');
  process.exit(2);
}
const HOSTS = 100;
const MIN_BATCH = 100;
const MAX_BATCH = 500;
const READ_PAGE = 1000;
const AIM_APPEND = 150_000;
const AIM_REPLAY = 500_000;

// ---------------------------------------------------------------------------------------------
// The workload (seeded with mulberry32: the same batches every run)

interface Batch {
  readonly host: number;
  readonly stream: string;
  /** The revision of the host's last event before this batch (-1: none). */
  readonly expected: number;
  readonly events: readonly HostEvent[];
}

const PAGE = 4096;

function body(rnd: () => number, pid: number, child: number): EventBody {
  const addr = 0x7f0000000000 + Math.floor(rnd() * 0x100000) * PAGE;
  const length = (1 + Math.floor(rnd() * 64)) * PAGE;
  const r = rnd();
  if (r < 0.3) return { type: 'syscall.mlock', data: { pid, addr, length, result: { errno: rnd() < 0.1 ? 'ENOMEM' : null } } };
  if (r < 0.5) return { type: 'syscall.munlock', data: { pid, addr, length, result: { errno: null } } };
  if (r < 0.7) {
    return { type: 'syscall.mmap', data: { pid, length, prot: 'rw-', flags: ['MAP_PRIVATE', 'MAP_ANONYMOUS'], result: { errno: null, addr } } };
  }
  if (r < 0.8) return { type: 'syscall.munmap', data: { pid, addr, length, result: { errno: null } } };
  if (r < 0.9) return { type: 'syscall.fork', data: { pid, child, result: { errno: null } } };
  return { type: 'syscall.mlockall', data: { pid, flags: ['MCL_CURRENT', 'MCL_FUTURE', 'MCL_INHERIT'], result: { errno: null } } };
}

function workload(total: number): Batch[] {
  const rnd = mulberry32(20081113);
  const hostIds = Array.from({ length: HOSTS }, (_, i) => `bench-${String(i).padStart(3, '0')}`);
  const bootId = 'b7e0c1d25f3a4e8b9c6d0a1b2c3d4e5f';
  const seq = new Array<number>(HOSTS).fill(0);
  const batches: Batch[] = [];
  const time = Date.UTC(2025, 0, 31, 12);
  let made = 0;
  while (made < total) {
    const host = Math.floor(rnd() * HOSTS);
    const size = Math.min(total - made, MIN_BATCH + Math.floor(rnd() * (MAX_BATCH - MIN_BATCH + 1)));
    const hostId = hostIds[host] as string;
    const expected = (seq[host] as number) - 1;
    const events: HostEvent[] = [];
    for (let k = 0; k < size; k++) {
      const s = ((seq[host] as number) += 1);
      const pid = 300 + Math.floor(rnd() * 2000);
      events.push(buildEvent({ id: randomUUID(), hostId, bootId, seq: s, time: new Date(time + s * 1000).toISOString() }, body(rnd, pid, pid + 1 + Math.floor(rnd() * 100))));
    }
    batches.push({ host, stream: hostStreamName(hostId, bootId), expected, events });
    made += size;
  }
  return batches;
}

// ---------------------------------------------------------------------------------------------
// Measuring

interface Measured {
  readonly seconds: number;
  /** CPU seconds other processes used meanwhile (NaN off Linux, where /proc/stat does not tell). */
  readonly others: number;
}

async function measure(work: () => Promise<void>): Promise<Measured> {
  globalThis.gc?.();
  const load = otherLoad();
  const t0 = performance.now();
  await work();
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, others: (load() ?? NaN) * seconds };
}

const rate = (events: number, m: Measured): string => `${fmt(events / m.seconds).padStart(9)} events/s  (${m.seconds.toFixed(2)} s; ${m.others.toFixed(1)} CPU-s outside this process)`;
const mb = (path: string): string => `${(statSync(path).size / 1e6).toFixed(0)} MB`;

function toNewEvents(batch: Batch): NewEvent[] {
  return batch.events.map((e) => ({ id: e.id, type: e.type, data: e }));
}

/** One append at a time, in workload order. */
async function appendSequential(store: EventStore, batches: readonly Batch[]): Promise<void> {
  for (const b of batches) await store.append(b.stream, toNewEvents(b), b.expected < 0 ? 'no_stream' : b.expected);
}

/** Every host appends its own batches in order; all hosts at once. */
async function appendConcurrent(store: EventStore, batches: readonly Batch[]): Promise<void> {
  const perHost = new Map<number, Batch[]>();
  for (const b of batches) perHost.set(b.host, [...(perHost.get(b.host) ?? []), b]);
  await Promise.all(
    [...perHost.values()].map(async (own) => {
      for (const b of own) await store.append(b.stream, toNewEvents(b), b.expected < 0 ? 'no_stream' : b.expected);
    }),
  );
}

/** Replay: every event, its data decoded and read (as a projection would). */
async function replay(store: EventStore, pageSize: number): Promise<number> {
  let n = 0;
  let check = 0;
  for await (const page of readAllPages(store, { pageSize })) {
    for (const e of page) {
      check += (e.data as HostEvent).seq;
      n++;
    }
  }
  if (check <= 0) throw new Error('replay read no data');
  return n;
}

// ---------------------------------------------------------------------------------------------
// Main

const dir = mkdtempSync(join(tmpdir(), 'lockline-bench-store-'));
const verdict = (value: number, aim: number): string => (value >= aim ? `meets the aim of ≥ ${fmt(aim)}/s` : `BELOW the aim of ${fmt(aim)}/s`);
const median = <T extends Measured>(xs: readonly T[]): T => [...xs].sort((x, y) => x.seconds - y.seconds)[Math.floor(xs.length / 2)] as T;
const ROUNDS = 3;
/** The figures, printed as one `RESULT {json}` line at the end (docs/benchmarks.md). */
const result: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, events: EVENTS, hosts: HOSTS };
const perSecond = (events: number, m: Measured): number => Math.round(events / m.seconds);

/** What an fsync costs here: synchronous=FULL pays one per transaction. */
function fsyncMicros(bytes: number): number {
  const path = join(dir, 'fsync-probe');
  const fd = openSync(path, 'w');
  const buffer = Buffer.alloc(bytes, 1);
  const t = performance.now();
  for (let i = 0; i < 200; i++) {
    writeSync(fd, buffer);
    fdatasyncSync(fd);
  }
  const micros = ((performance.now() - t) * 1000) / 200;
  closeSync(fd);
  rmSync(path);
  return micros;
}

try {
  say(`Event store benchmark — ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.version}, files in ${dir}`);
  const t0 = performance.now();
  const batches = workload(EVENTS);
  const sampleBatches = batches.slice(0, 20);
  const bytes = sampleBatches.flatMap((b) => b.events).reduce((n, e) => n + JSON.stringify(e).length, 0) / sampleBatches.reduce((n, b) => n + b.events.length, 0);
  say(`workload: ${fmt(EVENTS)} events, ${HOSTS} hosts, ${batches.length} batches of ${MIN_BATCH}–${MAX_BATCH}, ~${Math.round(bytes)} B per envelope (built in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  say(`  e.g. ${JSON.stringify(batches[0]?.events[0])}`);
  say(`fsync here: ${fsyncMicros(4096).toFixed(0)} µs after a 4 KB write, ${fsyncMicros(100_000).toFixed(0)} µs after 100 KB (one batch)`);
  say();

  const normalPath = join(dir, 'normal.db');
  const noIndexPath = join(dir, 'noindex.db');

  /** Appends the workload to a new file; keeps the file only if `keep`. */
  const appendOnce = async (file: string, options: SqliteEventStoreOptions, how: 'sequential' | 'concurrent', dropIndex: boolean, keep: boolean): Promise<Measured & { size: string }> => {
    const path = join(dir, file);
    rmSync(path, { force: true });
    const store = await openSqliteEventStore(path, options);
    if (dropIndex) {
      const raw = new Database(path);
      raw.exec('DROP INDEX batches_by_stream');
      raw.close();
    }
    const m = await measure(() => (how === 'sequential' ? appendSequential(store, batches) : appendConcurrent(store, batches)));
    await store.close();
    const size = mb(path);
    if (!keep) rmSync(path, { force: true });
    return { ...m, size };
  };
  const line = (key: string, label: string, runs: readonly (Measured & { size: string })[]): void => {
    const m = median(runs);
    result[key] = { eventsPerSecond: perSecond(EVENTS, m), rounds: runs.map((r) => perSecond(EVENTS, r)), cpuSecondsOutside: Number(m.others.toFixed(1)) };
    const spread = runs.length > 1 ? `  [${runs.map((r) => fmt(EVENTS / r.seconds)).join(', ')}]` : '';
    say(`  ${label.padEnd(46)} ${rate(EVENTS, m)}  file ${m.size}${spread}`);
  };

  let normalRate: number | undefined;
  if (ONLY.has('a') || ONLY.has('c')) {
    say(`SQLite (@lockline/eventstore/sqlite): append, one append at a time — median of ${ROUNDS} interleaved rounds [each round]`);
    const runs: Record<'normal' | 'full' | 'noindex', (Measured & { size: string })[]> = { normal: [], full: [], noindex: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const last = r === ROUNDS - 1;
      if (ONLY.has('a')) {
        runs.normal.push(await appendOnce('normal.db', { synchronous: 'NORMAL' }, 'sequential', false, last));
        runs.full.push(await appendOnce('full.db', { synchronous: 'FULL' }, 'sequential', false, false));
      }
      if (ONLY.has('c')) runs.noindex.push(await appendOnce('noindex.db', { synchronous: 'NORMAL' }, 'sequential', true, last));
    }
    if (ONLY.has('a')) {
      line('appendNormal', 'synchronous=NORMAL (the default)', runs.normal);
      line('appendFull', 'synchronous=FULL', runs.full);
      normalRate = EVENTS / median(runs.normal).seconds;
    }
    if (ONLY.has('c')) line('appendNormalNoIndex', 'NORMAL without the (stream, revision) index', runs.noindex);
    if (normalRate !== undefined) say(`  → append at NORMAL: ${verdict(normalRate, AIM_APPEND)}`);
    say();
  }
  if (ONLY.has('b')) {
    say(`SQLite: append with every host's next batch in flight (${HOSTS} appends at once; one transaction per tick)`);
    line('appendFullInFlight', 'synchronous=FULL', [await appendOnce('full-concurrent.db', { synchronous: 'FULL' }, 'concurrent', false, false)]);
    line('appendNormalInFlight', 'synchronous=NORMAL', [await appendOnce('normal-concurrent.db', { synchronous: 'NORMAL' }, 'concurrent', false, false)]);
    say();
  }

  let emmettFile: EmmettFile | undefined;
  if (ONLY.has('e')) {
    say(`Emmett (@event-driven-io/emmett-sqlite 0.38.5 on node-sqlite3): append the same ${fmt(EMMETT_EVENTS)} events, once`);
    emmettFile = await emmettAppend(batches, EMMETT_EVENTS, dir).catch((error: unknown) => {
      const reason = error instanceof Error ? error.message : String(error);
      say(`  not measured: ${reason}`);
      result['emmett'] = { notMeasured: reason };
      return undefined;
    });
    say();
  }

  if (ONLY.has('d') && !existsSync(normalPath)) await appendOnce('normal.db', { synchronous: 'NORMAL' }, 'sequential', false, true);
  // A projection process does not hold a million events of workload: let them go before replaying.
  const host = batches[0]?.stream as string;
  batches.length = 0;
  globalThis.gc?.();

  if (ONLY.has('d') || emmettFile !== undefined) say(`Replay: read everything in pages, every event's data decoded and read (median of ${ROUNDS} for ours)`);
  if (ONLY.has('d')) {
    const store = await openSqliteEventStore(normalPath);
    let replayRate = 0;
    for (const pageSize of [1000, 10_000]) {
      let n = 0;
      const rounds: Measured[] = [];
      for (let i = 0; i < ROUNDS; i++) rounds.push(await measure(async () => void (n = await replay(store, pageSize))));
      if (n !== EVENTS) throw new Error(`replay read ${n} events, expected ${EVENTS}`);
      const m = median(rounds);
      if (pageSize === 1000) replayRate = n / m.seconds;
      result[`replayPagesOf${pageSize}`] = { eventsPerSecond: perSecond(n, m), rounds: rounds.map((r) => perSecond(n, r)), cpuSecondsOutside: Number(m.others.toFixed(1)) };
      say(`  ${`SQLite: readAll pages of ${fmt(pageSize)}${pageSize === 1000 ? ' (the default)' : ''}`.padEnd(46)} ${rate(n, m)}`);
    }
    say(`  → replay: ${verdict(replayRate, AIM_REPLAY)}`);
    const streamMs = async (key: string, s: EventStore): Promise<string> => {
      let count = 0;
      const m = await measure(async () => {
        for (let i = 0; i < 20; i++) count = (await s.readStream(host)).length;
      });
      result[key] = { ms: Number(((m.seconds / 20) * 1000).toFixed(1)), events: count };
      return `${((m.seconds / 20) * 1000).toFixed(1)} ms for ${fmt(count)} events`;
    };
    say(`  ${'SQLite: one host stream, with the index'.padEnd(46)} ${await streamMs('readStream', store)}`);
    await store.close();
    if (existsSync(noIndexPath)) {
      const noIndex = await openSqliteEventStore(noIndexPath);
      say(`  ${'SQLite: one host stream, table scan (no index)'.padEnd(46)} ${await streamMs('readStreamNoIndex', noIndex)}`);
      await noIndex.close();
    }
  }
  if (emmettFile !== undefined) await emmettReplay(emmettFile).catch((error: unknown) => say(`  Emmett replay not measured: ${error instanceof Error ? error.message : String(error)}`));
  result['seconds'] = Number(((performance.now() - t0) / 1000).toFixed(1));
  say(`done in ${result['seconds'] as number} s`);
  say(`RESULT ${JSON.stringify(result)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// Emmett

/**
 * Emmett's API, as its 0.38.5 package exports it (dist/index.d.ts): `getSQLiteEventStore({ fileName })`
 * with `appendToStream(streamName, events, { expectedStreamVersion })`, where a stream version counts
 * events (0n: no stream); reading everything in order is `readMessagesBatch(connection, { after,
 * batchSize })` on a `sqliteConnection({ fileName })`, what its consumers use. One row per event, the
 * data JSON-encoded per row; its connection runs at SQLite's default synchronous=FULL.
 */
type EmmettApi = typeof import('@event-driven-io/emmett-sqlite');
interface EmmettFile {
  readonly api: EmmettApi;
  readonly fileName: string;
  readonly events: number;
}

async function emmettAppend(all: readonly Batch[], total: number, where: string): Promise<EmmettFile> {
  let api: EmmettApi;
  try {
    api = await import('@event-driven-io/emmett-sqlite');
  } catch (error) {
    throw new Error(`@event-driven-io/emmett-sqlite could not be loaded: ${error instanceof Error ? error.message : String(error)}`);
  }
  const batches: Batch[] = [];
  let n = 0;
  for (const b of all) {
    if (n >= total) break;
    batches.push(b);
    n += b.events.length;
  }
  const fileName = join(where, 'emmett.db');
  const store = api.getSQLiteEventStore({ fileName });
  // Emmett logs every failed transaction with console.log: count those lines instead of printing them.
  let logged = 0;
  const log = console.log;
  console.log = () => void logged++;
  let retried = 0;
  let appended: Measured;
  try {
    appended = await measure(async () => {
      for (const b of batches) {
        const events = b.events.map((e) => ({ type: e.type, data: e as unknown as Record<string, unknown> }));
        // Its transaction sometimes fails to commit with SQLITE_BUSY ("SQL statements in progress")
        // and is rolled back: retrying with the same expected version is what its user would do.
        for (let attempt = 1; ; attempt++) {
          try {
            await store.appendToStream(b.stream, events, { expectedStreamVersion: BigInt(b.expected + 1) });
            break;
          } catch (error) {
            if (attempt === 5 || !/SQLITE_BUSY/.test(String(error))) throw error;
            retried++;
          }
        }
      }
    });
  } finally {
    console.log = log;
  }
  say(`  ${'one append at a time (FULL, its default)'.padEnd(46)} ${rate(n, appended)}  file ${mb(fileName)}`);
  result['emmett'] = { events: n, appendEventsPerSecond: perSecond(n, appended), cpuSecondsOutside: Number(appended.others.toFixed(1)), busyRetries: retried };
  if (retried > 0 || logged > 0) {
    say(`    ${retried} of ${batches.length} appends failed with "SQLITE_BUSY: cannot commit transaction - SQL statements in progress" and were retried (${logged} error lines it logged were suppressed)`);
  }
  return { api, fileName, events: n };
}

async function emmettReplay({ api, fileName, events: n }: EmmettFile): Promise<void> {
  const connection = api.sqliteConnection({ fileName });
  try {
    let read = 0;
    const replayed = await measure(async () => {
      let after = 0n;
      let check = 0;
      for (;;) {
        const page = await api.readMessagesBatch(connection, { after, batchSize: READ_PAGE });
        for (const m of page.messages) {
          check += (m.data as unknown as HostEvent).seq;
          read++;
        }
        if (page.messages.length < READ_PAGE) break;
        after = page.currentGlobalPosition;
      }
      if (check <= 0) throw new Error('Emmett replay read no data');
    });
    if (read !== n) throw new Error(`Emmett replay read ${read} events, expected ${n}`);
    say(`  ${`Emmett: readMessagesBatch pages of ${fmt(READ_PAGE)}`.padEnd(46)} ${rate(read, replayed)}`);
    result['emmett'] = { ...(result['emmett'] as object), replayEventsPerSecond: perSecond(read, replayed) };
  } finally {
    connection.close();
  }
}
