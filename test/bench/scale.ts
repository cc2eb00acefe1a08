/**
 * Benchmark of Lockline at fleet size: `npm run bench -- scale` (scripts/bench.mjs builds the
 * workspace first, so the services' compiled dist/ is what runs). Issue 6: a thousand simulated hosts
 * holding a million live processes between them — memory per live process, projection lag and API
 * latency at that size.
 *
 * The fleet. HOSTS simulated hosts (libs/sim, seed 1, linux-2008-patch, no faults), each running the
 * default workload mix a simulated host draws from its seed (build farm, real-time daemon, database,
 * secrets agent, leaky service, cron churn: they fork, exec, map, lock and exit) and, on top, what a
 * server that has been up for a while runs: about PROCESSES tasks — system daemons, an nginx with its
 * workers, a pool of php-fpm or python workers, postgres backends, ssh sessions, and a JVM whose
 * threads (~15% of the tasks) are started one by one after boot. The long-lived processes were running
 * before the agent started, so they come in the host's `process.table` (one event of ~170 KB per host)
 * with their exec'd images (6 VMAs each: stack, text, data, bss, ld.so, vDSO), and from then on map
 * and unmap scratch buffers and grow and shrink their heaps. The simulator's soft process cap is raised
 * to 2,048 (the default 256 would hold every job back) and counters are sampled once every 1,000
 * events (every 50, as by default, a 1,000-process host would send a ~50 KB sample every 50 events).
 *
 * Why not services/host-sim: its environment cannot describe such a mix (it runs the default mix
 * only, ~26 live tasks a host: 26,000 for the fleet). The bench's own child process does what host-sim
 * does with the hosts given to it: host-sim's HostStream cuts each host into batches, the bus Publisher
 * (the hostsim NATS user) sends them, one batch in flight per host, 64 publishes in flight at most,
 * a full stream waited out and retried as host-sim does; paced by host-sim's TokenBucket.
 *
 * The run. A real nats-server with the configuration `lockline up` writes (a user per service and per
 * host), then services/{projector,ingest,api}/dist/main.js as child processes with the environment
 * `up` gives them (SQLite store, log level warn; the API's rate limit lifted). Then:
 *
 *   1. fill: the hosts publish as fast as the pipeline takes them (batches of 200 events) until the
 *      API's fleet totals — the projector's host summaries — count TARGET live tasks (or
 *      FILL_TIMEOUT passes);
 *   2. the hosts slow to RATE events/s in all (each host's share, cut into batches of BATCH_MS worth
 *      of its events, as host-sim cuts them when paced), and the backlog drains;
 *   3. lag, SECONDS: for PROBE_HOSTS hosts, every batch published (seen on a core NATS subscription
 *      to the host's subject: when nats-server took it in) against `state` answers from the projector
 *      (NATS requests as the api user, every PROBE_MS per host): publish → queryable is the time until
 *      the first answer whose seq reached the batch's last event. Also sampled every second: the
 *      projector's lag gauge (events stored, not folded yet) and the JetStream backlog (batches
 *      ingest has not stored yet). CPU of every process from /proc;
 *   4. API latency: GET /v1/fleet, /v1/hosts/:id and /v1/hosts/:id/tree, one route after the other,
 *      REQUEST_RATE requests/s evenly spaced (a tenth of it for trees: each is every process of a
 *      host, ~280 KB) for API_SECONDS each, open loop (a request's latency counts from when it was
 *      due), the host of each request taken in turn from the whole fleet — so the projector answers
 *      for a different host every time, as it would for many users. The lag probes keep running:
 *      lag under API load is reported too;
 *   5. memory at size: the projector (started with --expose-gc and a two-line preload of this bench's,
 *      not part of the service) runs two full GCs on SIGUSR2 and prints process.memoryUsage();
 *      (heapUsed + arrayBuffers after the fleet) − (the same before it, at start) over the live tasks
 *      the fleet totals count. RSS of every process from /proc as well (RSS includes what the heap
 *      figure leaves out: free space in V8's pages, malloc'd memory).
 *   6. fold (--only=…,fold): the SQLite store the run produced is folded again in this process into
 *      a FleetProjection (read + fold, trusted, as a projector rebuilding at start does), and its
 *      memory is broken down by part as the replay benchmark does: parts dropped one at a time, each
 *      followed by a full GC.
 *
 * Aims (the issue): under 1 KiB per live process, lag under one second.
 *
 * Options: --hosts=N (default 1,000), --processes=N (tasks per host the mix aims at, on average,
 * default 1,050), --target=N (live tasks that end the fill; default 1,000 a host), --rate=N
 * (events/s in all after the fill, default 10,000), --batch-ms=N (default 250), --seconds=N (the lag
 * window, default 30), --request-rate=N (default 100), --api-seconds=N (per route, default 10), --probe-hosts=N
 * (default 4), --probe-ms=N (default 50), --fill-timeout=N (s, default 900), --summary-ms=N (the
 * projector's LOCKLINE_SUMMARY_INTERVAL_MS, default 1,000 as its own), --only=pipeline,fold.
 * About 4–5 minutes with the defaults on this machine (the fold section ~30 s of it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { connect, type Msg, type NatsConnection } from 'nats';
import {
  BusError,
  EVENTS_STREAM,
  Publisher,
  StreamFull,
  encodeJson,
  ensureHostsBucket,
  ensureIngestConsumers,
  ensureStreams,
  ingestConsumerName,
  natsAuthOptions,
  partitionOf,
  querySubject,
} from '@lockline/bus';
import type { NatsCredential } from '@lockline/bus/config';
import { freePort, startNatsServer, type NatsServer } from '@lockline/bus/testing';
import { eventsSubject, type HostEvent } from '@lockline/events';
import { readAllPages } from '@lockline/eventstore';
import { openSqliteEventStore } from '@lockline/eventstore/sqlite';
import { HostStream, TokenBucket, type Batch } from '@lockline/host-sim';
import type { Mm } from '@lockline/kernel';
import { FleetProjection } from '@lockline/projection';
import { Random, createSimHost, defaultMix, fleetHostId, parseFaults, type ProcessRun, type Program, type RootProcess, type Self, type SimHost, type Workload } from '@lockline/sim';
import { fmt, latencyStats, machineBusyMs, now, parseArgs, percentile, positiveInt, processCpuMs, row, say, scrape, verdict, type LatencyStats } from './support.js';

// ---------------------------------------------------------------------------------------------
// Settings

const SELF = fileURLToPath(import.meta.url);
const REPO = resolve(dirname(SELF), '../..');
const KNOWN = ['hosts', 'processes', 'target', 'rate', 'batch-ms', 'seconds', 'request-rate', 'api-seconds', 'probe-hosts', 'probe-ms', 'fill-timeout', 'summary-ms', 'only', 'role'];
const { args, unknown } = parseArgs(KNOWN);
const ROLE = args.get('role');
const HOSTS = Number(args.get('hosts') ?? 1000);
const PROCESSES = Number(args.get('processes') ?? 1050);
/** The fill ends at a million live tasks for 1,000 hosts (the mix aims a little higher: JVM threads come late). */
const TARGET = Number(args.get('target') ?? HOSTS * 1000);
const RATE = Number(args.get('rate') ?? 10_000);
const BATCH_MS = Number(args.get('batch-ms') ?? 250);
const SECONDS = Number(args.get('seconds') ?? 30);
const REQUEST_RATE = Number(args.get('request-rate') ?? 100);
const API_SECONDS = Number(args.get('api-seconds') ?? 10);
const PROBE_HOSTS = Number(args.get('probe-hosts') ?? 4);
const PROBE_MS = Number(args.get('probe-ms') ?? 50);
const FILL_TIMEOUT_S = Number(args.get('fill-timeout') ?? 900);
/** The projector's LOCKLINE_SUMMARY_INTERVAL_MS (its default: 1,000). */
const SUMMARY_MS = Number(args.get('summary-ms') ?? 1000);
const ONLY = new Set((args.get('only') ?? 'pipeline,fold').split(','));
if (
  ROLE === undefined &&
  (!(positiveInt(HOSTS) && HOSTS <= 10_000) ||
    !(positiveInt(PROCESSES) && PROCESSES >= 100 && PROCESSES <= 20_000) ||
    !positiveInt(TARGET) ||
    !positiveInt(RATE) ||
    !positiveInt(BATCH_MS) ||
    !positiveInt(SECONDS) ||
    !positiveInt(REQUEST_RATE) ||
    !positiveInt(API_SECONDS) ||
    !(positiveInt(PROBE_HOSTS) && PROBE_HOSTS <= HOSTS) ||
    !positiveInt(PROBE_MS) ||
    !positiveInt(FILL_TIMEOUT_S) ||
    !(positiveInt(SUMMARY_MS) && SUMMARY_MS >= 50) ||
    [...ONLY].some((p) => !['pipeline', 'fold'].includes(p)) ||
    !ONLY.has('pipeline') ||
    unknown.length > 0)
) {
  console.error(
    'usage: npm run bench -- scale [--hosts=N] [--processes=N] [--target=N] [--rate=N] [--batch-ms=N] [--seconds=N] [--request-rate=N] [--api-seconds=N] [--probe-hosts=N] [--probe-ms=N] [--fill-timeout=S] [--summary-ms=N] [--only=pipeline[,fold]]',
  );
  process.exit(2);
}

const SEED = '1';
const PROFILE = 'linux-2008-patch';
/** The simulator's soft cap on live tasks a host (default 256): above the long-lived population. */
const MAX_PROCESSES = 2048;
/** A counters.sampled every this many events (the simulator's default, 50, is for ~30-task hosts). */
const COUNTER_SAMPLE_EVERY = 1000;
/** host-sim's defaults: BATCH_MAX_EVENTS, LOCKLINE_MAX_IN_FLIGHT, LOCKLINE_PUBLISH_TIMEOUT_MS. */
const BATCH_MAX_EVENTS = 200;
const PUBLISH_MAX_IN_FLIGHT = 64;
const PUBLISH_TIMEOUT_MS = 5000;
/** `lockline up`'s JetStream limits and server name. */
const NATS_MAX_MEMORY = 256 * 2 ** 20;
const NATS_MAX_FILE = 8 * 2 ** 30;
const NATS_SERVER_NAME = 'lockline-local';
const TOKEN = 'bench-viewer-token-0123456789abcdef';

const AIM_BYTES_PER_PROCESS = 1024;
const AIM_LAG_MS = 1000;

const DRAIN_TIMEOUT_MS = 300_000;
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
const MEMORY_MARK = 'LOCKLINE_BENCH_MEMORY ';

// ---------------------------------------------------------------------------------------------
// The fleet's mix: the default workloads, and what a server that has been up for a while runs

const KiB = 1024;
const MiB = 1024 * KiB;

/** An executable as libs/sim lays its programs out: ELF, ld.so as interpreter, vDSO + vvar. */
function program(path: string, textPages: number, dataPages: number, bssPages: number): Program {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return { comm: name.slice(0, 15), path, image: { format: 'elf', argPages: 1, textPages, dataPages, bssPages, vdsoPages: 2, interpPages: 40 } };
}

const SERVER_PROGRAMS = {
  nginx: program('/usr/sbin/nginx', 330, 20, 10),
  phpFpm: program('/usr/sbin/php-fpm8.2', 1200, 90, 25),
  python: program('/usr/bin/python3.11', 1100, 200, 30),
  postgres: program('/usr/lib/postgresql/15/bin/postgres', 2100, 60, 70),
  java: program('/usr/lib/jvm/java-17-openjdk-amd64/bin/java', 4, 1, 1),
  sshd: program('/usr/sbin/sshd', 220, 12, 4),
  bash: program('/bin/bash', 280, 12, 10),
  daemons: [
    program('/usr/sbin/rsyslogd', 180, 8, 4),
    program('/usr/bin/dbus-daemon', 70, 4, 2),
    program('/usr/sbin/chronyd', 90, 6, 2),
    program('/lib/systemd/systemd-logind', 70, 6, 2),
    program('/lib/systemd/systemd-udevd', 60, 6, 2),
    program('/usr/bin/containerd', 9000, 400, 60),
    program('/usr/bin/containerd-shim-runc-v2', 2300, 120, 30),
    program('/usr/local/bin/node_exporter', 4200, 300, 40),
    program('/sbin/agetty', 12, 1, 1),
    program('/usr/sbin/cron', 16, 2, 1),
  ],
} as const;

const ANON = ['MAP_PRIVATE', 'MAP_ANONYMOUS'] as const;

/** A long-lived server process: a scratch buffer mapped and unmapped, the heap grown and given back. */
function* serve(self: Self): ProcessRun {
  let heap = 0;
  let scratch: { addr: number; length: number } | null = null;
  for (;;) {
    if (scratch !== null) {
      yield { op: 'munmap', addr: scratch.addr, length: scratch.length };
      scratch = null;
    } else if (self.rng.chance(0.5)) {
      const length = self.rng.pick([64 * KiB, 256 * KiB, 1 * MiB]);
      const m = yield { op: 'mmap', length, prot: 'rw-', flags: [...ANON] };
      if (m.errno === null && m.addr !== undefined) scratch = { addr: m.addr, length };
    } else {
      const increment = heap > 0 && self.rng.chance(0.5) ? -heap : 64 * KiB;
      const r = yield { op: 'brk', increment };
      if (r.errno === null) heap += increment;
    }
  }
}

/** A JVM thread parked on a futex, as most of them are: it makes no call (its script ends; it idles). */
function* parked(): ProcessRun {}

/**
 * The long-lived processes of a host, from the process table (each serving, see `serve`): `workers`
 * of them in a pool of php-fpm or python workers and postgres backends (3 : 2), plus ~70 daemons,
 * nginx processes and ssh sessions.
 */
function servers(rng: Random, workers: number): Workload {
  const roots: RootProcess[] = [];
  const add = (p: Program, n: number): void => {
    for (let i = 0; i < n; i++) roots.push({ program: p, run: serve });
  };
  for (const d of SERVER_PROGRAMS.daemons) add(d, rng.between(1, 6));
  add(SERVER_PROGRAMS.nginx, 1 + rng.between(8, 32));
  for (let i = rng.between(2, 10); i > 0; i--) {
    add(SERVER_PROGRAMS.sshd, 1);
    add(SERVER_PROGRAMS.bash, 1);
  }
  const pool = Math.round(workers * 0.6);
  add(rng.chance(0.5) ? SERVER_PROGRAMS.phpFpm : SERVER_PROGRAMS.python, pool);
  add(SERVER_PROGRAMS.postgres, workers - pool);
  return { kind: 'churn', weight: 3, label: `servers(${roots.length} processes)`, roots: () => roots };
}

/** A JVM: maps its code cache and heap reservation, then starts its threads (a stack and a clone each). */
function jvm(threads: number): Workload {
  function* main(self: Self): ProcessRun {
    yield { op: 'mmap', length: 20 * MiB, prot: 'r-x', flags: [...ANON] };
    yield { op: 'mmap', length: 512 * MiB, prot: 'rw-', flags: [...ANON] };
    yield { op: 'mmap', length: 48 * MiB, prot: 'rwx', flags: [...ANON] };
    for (let t = 0; t < threads; t++) {
      yield { op: 'mmap', length: 1 * MiB, prot: 'rw-', flags: [...ANON] };
      yield { op: 'thread', run: parked };
    }
    yield* serve(self);
  }
  return { kind: 'rtDaemon', weight: 2, label: `jvm(${threads} threads)`, roots: () => [{ program: SERVER_PROGRAMS.java, run: main }] };
}

/**
 * A host of the scale fleet: its default mix (as any simulated host draws it: ~30 live tasks), the
 * servers and a JVM — `processes` tasks on average, ±25% from host to host, 15% of them JVM threads.
 */
function scaleHost(hostId: string, processes: number): SimHost {
  const rng = Random.of(SEED, hostId, 'scale-mix');
  const tasks = Math.round(processes * (0.75 + 0.5 * rng.float()));
  const threads = Math.round(tasks * 0.15);
  // ~30 of the default mix, ~70 daemons, nginx and ssh sessions, the JVM itself
  const workers = Math.max(0, tasks - threads - 101);
  const workloads = [...defaultMix(rng), servers(rng, workers), jvm(threads)];
  return createSimHost({ hostId, seed: SEED, profile: PROFILE, faults: parseFaults(''), workloads, maxProcesses: MAX_PROCESSES, counterSampleEvery: COUNTER_SAMPLE_EVERY });
}

// ---------------------------------------------------------------------------------------------
// Measuring helpers

/** Wall-clock ms since the epoch with sub-ms precision, comparable across the bench's processes. */
const mb = (bytes: number): string => `${fmt(bytes / 2 ** 20)} MiB`;

/** Resident set size of a process, bytes (/proc/<pid>/status VmRSS); null when gone. */
function rssBytes(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

interface CpuSnapshot {
  readonly t: number;
  readonly machine: number | null;
  readonly procs: ReadonlyMap<string, number | null>;
}
function cpuSnapshot(pids: ReadonlyMap<string, number | undefined>): CpuSnapshot {
  const procs = new Map<string, number | null>();
  for (const [name, pid] of pids) procs.set(name, processCpuMs(pid));
  const own = process.cpuUsage();
  procs.set('bench', (own.user + own.system) / 1000);
  return { t: performance.now(), machine: machineBusyMs(), procs };
}
/** Cores' worth of CPU each process used between two snapshots, and what the rest of the machine used. */
function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): Record<string, number | null> {
  const ms = b.t - a.t;
  const out: Record<string, number | null> = {};
  let ours = 0;
  for (const [name, v0] of a.procs) {
    const v1 = b.procs.get(name);
    const used = v0 === null || v1 === null || v1 === undefined ? null : v1 - v0;
    out[name] = used === null ? null : Number((used / ms).toFixed(3));
    ours += used ?? 0;
  }
  out.others = a.machine === null || b.machine === null ? null : Number((Math.max(0, b.machine - a.machine - ours) / ms).toFixed(3));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The hosts' child process (`--role=hosts`): the fleet, cut and published as host-sim does. Driven by
// JSON lines on stdin ({cmd: fill | pace | stop}); answers and a progress line a second on stdout.

interface HostsJob {
  readonly url: string;
  readonly credential: NatsCredential;
  readonly hostIds: readonly string[];
  readonly processes: number;
}

function reply(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

async function hostsRole(job: HostsJob): Promise<void> {
  const nc = await connect({ servers: job.url, ...natsAuthOptions(job.credential) });
  const t0 = performance.now();
  const sims = job.hostIds.map((hostId) => scaleHost(hostId, job.processes));
  const streams = sims.map((sim) => new HostStream(sim));
  const publisher = new Publisher(nc.jetstream(), { maxInFlight: PUBLISH_MAX_IN_FLIGHT, timeoutMs: PUBLISH_TIMEOUT_MS });
  const counts = { generated: 0, published: 0, batches: 0, retries: 0, fullWaits: 0 };
  let batchEvents = BATCH_MAX_EVENTS;
  let bucket: TokenBucket | undefined;
  let running = false;
  let stopping = false;
  let failure: Error | undefined;

  const live = (): { live: number; threads: number } => {
    let n = 0;
    let threads = 0;
    for (const sim of sims) {
      for (const t of sim.kernel.tasks.values()) {
        if (!t.alive) continue;
        n++;
        if (t.tgid !== t.pid) threads++;
      }
    }
    return { live: n, threads };
  };

  /** One batch, sent again until JetStream takes it: timeouts and a full stream, as host-sim does. */
  async function publish(stream: HostStream, batch: Batch): Promise<void> {
    let pause = 250;
    for (;;) {
      try {
        const r = await publisher.publish(batch.hostId, batch.lines, { batchId: batch.batchId });
        counts.retries += r.attempts - 1;
        stream.ack(batch);
        counts.published += batch.lines.length;
        counts.batches++;
        return;
      } catch (error) {
        const code = error instanceof BusError ? error.code : 'UNKNOWN';
        if (!['PUBLISH_TIMEOUT', 'BUS_UNAVAILABLE', 'STREAM_FULL'].includes(code) || nc.isClosed()) {
          failure ??= error as Error;
          return;
        }
        counts.retries++;
        if (error instanceof StreamFull) {
          counts.fullWaits++;
          await sleep(pause);
          pause = Math.min(pause * 2, 2000);
        }
      }
    }
  }

  async function runHost(stream: HostStream): Promise<void> {
    let inFlight: Promise<void> = Promise.resolve();
    while (!stopping && failure === undefined) {
      const n = batchEvents;
      if (bucket !== undefined && !(await bucket.take(n))) {
        if (stopping) break;
        continue; // the bucket was replaced (a new rate)
      }
      if (stopping) break;
      const batch = stream.nextBatch(n);
      if (batch === undefined) break;
      counts.generated += batch.lines.length;
      await inFlight;
      inFlight = publish(stream, batch);
    }
    await inFlight;
  }

  const start = live();
  reply({ ready: true, createSeconds: (performance.now() - t0) / 1000, live: start.live, threads: start.threads });
  let loops: Array<Promise<void>> = [];
  // Counting the hosts' live tasks walks a million of them: every 10 s only.
  let counted = start;
  let ticks = 0;
  const progress = setInterval(() => {
    if (++ticks % 10 === 0) counted = live();
    reply({ progress: { t: now(), ...counts, ...counted, inFlight: publisher.inFlight, failure: failure?.message ?? null } });
  }, 1000);
  for await (const line of createInterface({ input: process.stdin })) {
    const cmd = JSON.parse(line) as { cmd: 'fill' | 'pace' | 'stop'; rate?: number; batchEvents?: number };
    if (cmd.cmd === 'fill' && !running) {
      running = true;
      loops = streams.map((s) => runHost(s));
      reply({ filling: true });
    } else if (cmd.cmd === 'pace') {
      const old = bucket;
      batchEvents = cmd.batchEvents ?? 1;
      // As host-sim: a bucket of the rate, holding a batch or 50 ms of events.
      bucket = new TokenBucket(cmd.rate!, Math.max(batchEvents, Math.ceil(cmd.rate! / 20)));
      old?.cancel();
      reply({ paced: true });
    } else {
      stopping = true;
      bucket?.cancel();
      await Promise.all(loops);
      await publisher.flush();
      clearInterval(progress);
      reply({ stopped: { ...counts, ...live(), failure: failure?.message ?? null } });
      break;
    }
  }
  await nc.close();
  process.exit(0);
}

/** A child process spoken to in JSON lines; progress lines go to `onProgress`, the rest are answers. */
class HostsChild {
  readonly proc: ChildProcess;
  readonly #lines: string[] = [];
  readonly #waiters: Array<(line: string) => void> = [];
  #exited = false;
  #tail = '';
  last: Progress | undefined;

  constructor(job: HostsJob) {
    // The hosts' own models hold a million tasks too (with their scripts): a larger heap than the default.
    const argv = ['--max-old-space-size=16384', ...process.execArgv, SELF, '--role=hosts'];
    this.proc = spawn(process.execPath, argv, { env: { ...process.env, LOCKLINE_BENCH_JOB: JSON.stringify(job) }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.once('exit', () => {
      this.#exited = true;
      for (const w of this.#waiters.splice(0)) w(JSON.stringify({ error: `the hosts' process exited: ${this.#tail}` }));
    });
    this.proc.stderr!.on('data', (d: Buffer) => (this.#tail = (this.#tail + d.toString()).slice(-4000)));
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      if (line.startsWith('{"progress"')) {
        this.last = (JSON.parse(line) as { progress: Progress }).progress;
        return;
      }
      const w = this.#waiters.shift();
      if (w) w(line);
      else this.#lines.push(line);
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  async next<T>(): Promise<T> {
    const line = this.#lines.shift() ?? (this.#exited ? JSON.stringify({ error: `the hosts' process is gone: ${this.#tail}` }) : await new Promise<string>((r) => this.#waiters.push(r)));
    const value = JSON.parse(line) as T & { error?: string };
    if (value.error !== undefined) throw new Error(value.error);
    return value;
  }

  send<T>(cmd: unknown): Promise<T> {
    this.proc.stdin!.write(`${JSON.stringify(cmd)}\n`);
    return this.next<T>();
  }

  kill(): void {
    if (!this.#exited) this.proc.kill('SIGKILL');
  }
}

interface Progress {
  t: number;
  generated: number;
  published: number;
  batches: number;
  retries: number;
  fullWaits: number;
  live: number;
  threads: number;
  inFlight: number;
  failure: string | null;
}

if (ROLE !== undefined) {
  if (ROLE !== 'hosts') process.exit(2);
  await hostsRole(JSON.parse(process.env.LOCKLINE_BENCH_JOB ?? '{}') as HostsJob);
}

// ---------------------------------------------------------------------------------------------
// The services

interface MemoryUsage {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** A service child process, as `lockline up` starts one (its stderr kept for errors and the memory probe). */
class Service {
  readonly proc: ChildProcess;
  #tail = '';
  #partial = '';
  readonly #memory: Array<(m: MemoryUsage) => void> = [];
  constructor(
    readonly name: string,
    nodeArgs: readonly string[],
    env: Record<string, string>,
  ) {
    const argv = [process.execPath, ...nodeArgs, join(REPO, 'services', name, 'dist/main.js')];
    const options = { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] as ['ignore', 'ignore', 'pipe'] };
    // With setpriv the kernel kills the service should this bench die first (the pid stays the service's).
    this.proc = SETPRIV ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', ...argv], options) : spawn(argv[0]!, argv.slice(1), options);
    this.proc.stderr!.on('data', (d: Buffer) => {
      const text = this.#partial + d.toString();
      const lines = text.split('\n');
      this.#partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith(MEMORY_MARK)) this.#memory.shift()?.(JSON.parse(line.slice(MEMORY_MARK.length)) as MemoryUsage);
        else this.#tail = (this.#tail + line + '\n').slice(-4000);
      }
    });
  }
  get pid(): number | undefined {
    return this.proc.pid;
  }
  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }
  get tail(): string {
    return this.#tail.trim();
  }
  /** Its memory after two full GCs (the bench's preload answers SIGUSR2). */
  memory(): Promise<MemoryUsage> {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`${this.name} did not report its memory within 120 s`)), 120_000);
      this.#memory.push((m) => {
        clearTimeout(timer);
        res(m);
      });
      this.proc.kill('SIGUSR2');
    });
  }
  async stop(): Promise<void> {
    if (!this.alive) return;
    const gone = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    await Promise.race([gone, sleep(30_000)]);
    if (this.alive) {
      this.proc.kill('SIGKILL');
      await gone;
    }
  }
}

/** Bench instrumentation preloaded into the projector (not part of the service). */
const MEMORY_PROBE = `// Written by test/bench/scale.ts: on SIGUSR2, two full GCs, then process.memoryUsage() on stderr.
process.on('SIGUSR2', () => {
  globalThis.gc();
  globalThis.gc();
  process.stderr.write(${JSON.stringify(MEMORY_MARK)} + JSON.stringify(process.memoryUsage()) + '\\n');
});
`;

async function waitFor(what: string, check: () => Promise<boolean>, ms: number, services: readonly Service[]): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    for (const s of services) if (!s.alive) throw new Error(`${s.name} exited:\n${s.tail}`);
    if (await check().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`${what}: not within ${ms / 1000} s\n${services.map((s) => `--- ${s.name}\n${s.tail}`).join('\n')}`);
}

interface FleetTotals {
  hosts: number;
  processes: number;
  /** the host summaries' age (lagMs), p50 / p99 / max */
  summaryAgeMs: { p50: number; p99: number; max: number } | null;
}
async function fleetTotals(api: string): Promise<FleetTotals> {
  const r = await fetch(`${api}/v1/fleet`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(10_000) });
  const body = (await r.json()) as { hosts: Array<{ lagMs?: number }>; totals: { hosts: number; processes: number } };
  const ages = body.hosts.map((h) => h.lagMs ?? 0).sort((a, b) => a - b);
  return {
    hosts: body.totals.hosts,
    processes: body.totals.processes,
    summaryAgeMs: ages.length ? { p50: percentile(ages, 50), p99: percentile(ages, 99), max: ages[ages.length - 1]! } : null,
  };
}

// ---------------------------------------------------------------------------------------------
// API latency: open loop, evenly spaced (as test/bench/api.ts), each request for the next host

interface ApiRun {
  route: string;
  requests: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  /** mean answer size, bytes */
  bytes: number;
  cpu: Record<string, number | null>;
}

async function paced(base: string, route: string, paths: (i: number) => string, seconds: number, rate: number): Promise<Omit<ApiRun, 'cpu'>> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const target = new URL(base);
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  let bytes = 0;
  let sent = 0;
  const total = seconds * rate;
  const start = performance.now();
  const pending = new Set<Promise<void>>();
  const one = (i: number, due: number): Promise<void> =>
    new Promise<void>((done) => {
      const req = request({ host: target.hostname, port: target.port, path: paths(i), agent, headers: { authorization: `Bearer ${TOKEN}` }, timeout: 60_000 }, (res) => {
        if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode > 299) non2xx++;
        res.on('data', (d: Buffer) => (bytes += d.length));
        res.on('end', () => {
          latencies.push(performance.now() - due);
          done();
        });
      });
      req.on('error', () => {
        errors++;
        done();
      });
      req.end();
    });
  await new Promise<void>((finished) => {
    const timer = setInterval(() => {
      const t = performance.now();
      while (sent < total && start + (sent * 1000) / rate <= t) {
        const p = one(sent, start + (sent * 1000) / rate);
        pending.add(p);
        void p.then(() => pending.delete(p));
        sent++;
      }
      if (sent >= total) {
        clearInterval(timer);
        finished();
      }
    }, 1);
  });
  await Promise.all(pending);
  agent.destroy();
  const elapsed = (performance.now() - start) / 1000;
  const s = latencyStats(latencies) ?? { n: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  return { route, requests: s.n, rps: s.n / elapsed, p50: s.p50, p90: s.p90, p99: s.p99, max: s.max, non2xx, errors, bytes: s.n ? bytes / s.n : 0 };
}

// ---------------------------------------------------------------------------------------------
// Lag probes: publishes seen on the host's subject, against the projector's `state` answers

interface Published {
  readonly t: number;
  readonly bootId: string;
  readonly lastSeq: number;
}
interface StateAnswer {
  readonly t: number;
  readonly bootId: string;
  readonly seq: number;
}

class LagProbe {
  readonly published = new Map<string, Published[]>();
  readonly answers = new Map<string, StateAnswer[]>();
  readonly rtts: number[] = [];
  errors = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #asking = new Set<string>();

  constructor(
    private readonly admin: NatsConnection,
    private readonly api: NatsConnection,
    readonly hostIds: readonly string[],
  ) {
    const decoder = new TextDecoder();
    for (const hostId of hostIds) {
      this.published.set(hostId, []);
      this.answers.set(hostId, []);
      // A core subscription sees each publish when nats-server takes it in (before JetStream stores it).
      admin.subscribe(eventsSubject(hostId), {
        callback: (err: unknown, m: Msg) => {
          if (err) return;
          const t = now();
          const d = m.data;
          const lastStart = d.lastIndexOf(10, d.length - 2) + 1;
          const last = JSON.parse(decoder.decode(d.subarray(lastStart, d[d.length - 1] === 10 ? d.length - 1 : d.length))) as { seq: number; bootId: string };
          this.published.get(hostId)!.push({ t, bootId: last.bootId, lastSeq: last.seq });
        },
      });
    }
  }

  start(): Promise<void> {
    this.#timer = setInterval(() => this.#ask(), PROBE_MS);
    return this.admin.flush();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }

  #ask(): void {
    for (const hostId of this.hostIds) {
      if (this.#asking.has(hostId)) continue;
      this.#asking.add(hostId);
      const sent = now();
      this.api
        .request(querySubject(partitionOf(hostId, 1), 'state'), encodeJson({ hostId }), { timeout: 5000 })
        .then((m) => {
          const t = now();
          const r = m.json<{ ok: boolean; data?: { seq: number; bootId: string } }>();
          if (r.ok && r.data) this.answers.get(hostId)!.push({ t, bootId: r.data.bootId, seq: r.data.seq });
          this.rtts.push(t - sent);
        })
        .catch(() => void this.errors++)
        .finally(() => this.#asking.delete(hostId));
    }
  }

  /** publish → queryable (ms) of the batches published in [from, to). */
  lags(from: number, to: number): { lags: number[]; unanswered: number } {
    const lags: number[] = [];
    let unanswered = 0;
    for (const hostId of this.hostIds) {
      const answers = this.answers.get(hostId)!;
      for (const p of this.published.get(hostId)!) {
        if (p.t < from || p.t >= to) continue;
        const a = answers.find((x) => x.t >= p.t && x.bootId === p.bootId && x.seq >= p.lastSeq);
        if (a === undefined) unanswered++;
        else lags.push(a.t - p.t);
      }
    }
    return { lags, unanswered };
  }
}

// ---------------------------------------------------------------------------------------------
// (fold) the store the run produced, folded again here, its memory broken down

function footprint(): number {
  const gc = globalThis.gc!;
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

interface FoldBreakdown {
  events: number;
  foldSeconds: number;
  boots: number;
  live: number;
  threads: number;
  kernelThreads: number;
  /** live tasks with an mm of their own (thread-group leaders, fork children) */
  ownMm: number;
  vmasPerMm: number;
  vmaCapacityPerMm: number;
  lineageRecords: number;
  lockCauses: number;
  findings: number;
  bytesPerLive: number;
  parts: Record<string, number>;
}

async function foldStore(dbPath: string): Promise<FoldBreakdown> {
  const base = footprint();
  const store = await openSqliteEventStore(dbPath);
  const fleet = new FleetProjection();
  let events = 0;
  const t0 = performance.now();
  try {
    for await (const page of readAllPages(store)) {
      for (let i = 0; i < page.length; i++) fleet.apply(page[i]!.data as HostEvent);
      events += page.length;
    }
  } finally {
    await store.close();
  }
  const foldSeconds = (performance.now() - t0) / 1000;
  const boots = [...fleet.boots.values()];
  let live = 0;
  let threads = 0;
  let kernelThreads = 0;
  let vmas = 0;
  let capacity = 0;
  let lineageRecords = 0;
  let lockCauses = 0;
  let findings = 0;
  const mms = new Set<Mm>();
  for (const p of boots) {
    lineageRecords += p.lineage.size;
    lockCauses += p.lockCauses.size;
    findings += p.findings.length;
    for (const t of p.host?.tasks.values() ?? []) {
      if (!t.alive) continue;
      live++;
      if (t.tgid !== t.pid) threads++;
      if (!t.mm) kernelThreads++;
      else if (!mms.has(t.mm)) {
        mms.add(t.mm);
        vmas += t.mm.vmas.n;
        capacity += t.mm.vmas.d.length / 4;
      }
    }
  }
  const ownMm = mms.size;
  mms.clear();
  let before = footprint();
  const total = before - base;
  const parts: Record<string, number> = {};
  const drop = (name: string, what: () => void): void => {
    what();
    const after = footprint();
    parts[name] = (before - after) / live;
    before = after;
  };
  drop('lock causes, findings, set-aside', () => {
    for (const p of boots) {
      p.lockCauses = new Map();
      p.findings = [];
      p.setAside = [];
    }
  });
  drop('lineage records (+ Map entries)', () => {
    for (const p of boots) p.lineage = new Map();
  });
  drop('mm + VMA table', () => {
    for (const p of boots) for (const t of p.host?.tasks.values() ?? []) t.mm = null;
  });
  drop('task + limits + task-table entry', () => {
    for (const p of boots) p.host = null;
  });
  parts['the rest (HostProjection objects, their maps, the fleet)'] = (before - base) / live;
  return {
    events,
    foldSeconds,
    boots: boots.length,
    live,
    threads,
    kernelThreads,
    ownMm,
    vmasPerMm: vmas / Math.max(1, ownMm),
    vmaCapacityPerMm: capacity / Math.max(1, ownMm),
    lineageRecords,
    lockCauses,
    findings,
    bytesPerLive: total / live,
    parts,
  };
}

// ---------------------------------------------------------------------------------------------
// The run

interface Sample {
  t: number;
  published: number;
  hostsLive: number;
  stored: number;
  folded: number;
  projectorLagEvents: number;
  backlog: number;
  fleetLive: number | null;
}

async function run(result: Record<string, unknown>): Promise<string> {
  const hostIds = Array.from({ length: HOSTS }, (_, i) => fleetHostId('host-', i));
  const probed = hostIds.filter((_, i) => i % Math.max(1, Math.floor(HOSTS / PROBE_HOSTS)) === 0).slice(0, PROBE_HOSTS);
  const data = mkdtempSync(join(tmpdir(), 'lockline-bench-scale-'));
  const dbPath = join(data, 'events.db');
  const probeFile = join(data, 'memory-probe.mjs');
  writeFileSync(probeFile, MEMORY_PROBE);
  const server: NatsServer = await startNatsServer({ auth: { hosts: hostIds }, maxMemory: NATS_MAX_MEMORY, maxFile: NATS_MAX_FILE, serverName: NATS_SERVER_NAME });
  const services: Service[] = [];
  const connections: NatsConnection[] = [];
  let hosts: HostsChild | undefined;
  try {
    const admin = await connect({ servers: server.url, ...natsAuthOptions(server.credentials.admin!) });
    connections.push(admin);
    const jsm = await admin.jetstreamManager();
    await ensureStreams(jsm, { partitions: 1 });
    await ensureIngestConsumers(jsm, 1);
    await ensureHostsBucket(jsm);

    // The environment `lockline up` gives each service (services/cli/src/commands/up.ts).
    const cred = (role: string): Record<string, string> => ({ LOCKLINE_NATS_USER: server.credentials[role]!.user, LOCKLINE_NATS_PASSWORD: server.credentials[role]!.password });
    const common = { LOCKLINE_NATS_URL: server.url, LOCKLINE_LOG_LEVEL: 'warn' };
    const storeUrl = `sqlite:${dbPath}`;
    const [projectorPort, ingestPort, apiPort] = [await freePort(), await freePort(), await freePort()] as [number, number, number];
    const projector = new Service('projector', ['--expose-gc', '--import', pathToFileURL(probeFile).href], {
      ...common,
      ...cred('projector'),
      LOCKLINE_STORE: storeUrl,
      LOCKLINE_PARTITIONS: '1',
      LOCKLINE_PARTITIONS_MINE: '0',
      LOCKLINE_PROFILE: PROFILE,
      LOCKLINE_SUMMARY_INTERVAL_MS: String(SUMMARY_MS),
      LOCKLINE_METRICS_PORT: String(projectorPort),
    });
    const ingest = new Service('ingest', [], { ...common, ...cred('ingest'), LOCKLINE_STORE: storeUrl, LOCKLINE_PARTITIONS_MINE: '0', LOCKLINE_METRICS_PORT: String(ingestPort) });
    const api = new Service('api', [], {
      ...common,
      ...cred('api'),
      LOCKLINE_STORE: storeUrl,
      LOCKLINE_PARTITIONS: '1',
      LOCKLINE_API_PORT: String(apiPort),
      LOCKLINE_API_TOKENS: `viewer:${TOKEN}`,
      LOCKLINE_API_RATE_LIMIT: '10000000',
    });
    services.push(projector, ingest, api);
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    await waitFor(
      'projector, ingest and api healthy',
      async () => (await fetch(`http://127.0.0.1:${projectorPort}/healthz`)).ok && (await fetch(`http://127.0.0.1:${ingestPort}/healthz`)).ok && (await fetch(`${apiUrl}/readyz`)).ok,
      60_000,
      services,
    );
    await sleep(1000);
    const memoryBefore = await projector.memory();

    // --- the hosts ---------------------------------------------------------------------------------
    say(`the fleet: ${fmt(HOSTS)} simulated hosts (seed ${SEED}, ${PROFILE}), each its default mix and ~${fmt(PROCESSES)} tasks of long-running servers; making them …`);
    hosts = new HostsChild({ url: server.url, credential: server.credentials.hostsim!, hostIds, processes: PROCESSES });
    const ready = await hosts.next<{ createSeconds: number; live: number; threads: number }>();
    say(`  made in ${ready.createSeconds.toFixed(1)} s: ${fmt(ready.live)} live tasks in the hosts' own models before the first event (their process tables)`);
    const pids = new Map<string, number | undefined>([
      ['nats-server', server.pid],
      ['ingest', ingest.pid],
      ['projector', projector.pid],
      ['api', api.pid],
      ['hosts', hosts.pid],
    ]);

    const samples: Sample[] = [];
    const sample = async (withFleet: boolean): Promise<Sample> => {
      const [im, pm, ci, fleet] = await Promise.all([
        scrape(ingestPort, ['lockline_ingest_events_appended_total'], 5000),
        scrape(projectorPort, ['lockline_projector_events_folded_total', 'lockline_projector_lag_events'], 5000),
        jsm.consumers.info(EVENTS_STREAM, ingestConsumerName(0)).catch(() => undefined),
        withFleet ? fleetTotals(apiUrl).catch(() => undefined) : Promise.resolve(undefined),
      ]);
      const p = hosts?.last;
      const s: Sample = {
        t: now(),
        published: p?.published ?? 0,
        hostsLive: p?.live ?? 0,
        stored: im?.lockline_ingest_events_appended_total ?? 0,
        folded: pm?.lockline_projector_events_folded_total ?? 0,
        projectorLagEvents: pm?.lockline_projector_lag_events ?? 0,
        backlog: ci === undefined ? 0 : ci.num_pending + ci.num_ack_pending,
        fleetLive: fleet?.processes ?? null,
      };
      samples.push(s);
      return s;
    };
    const checkAlive = (): void => {
      for (const s of services) if (!s.alive) throw new Error(`${s.name} died:\n${s.tail}`);
      if (hosts?.last?.failure) throw new Error(`the hosts' publishing failed: ${hosts.last.failure}`);
    };
    const line = (s: Sample, prev: Sample, t0: number): void => {
      const dt = (s.t - prev.t) / 1000;
      const per = (k: 'published' | 'stored' | 'folded'): string => fmt((s[k] - prev[k]) / dt);
      say(
        `  ${((s.t - t0) / 1000).toFixed(0).padStart(5)} s ${per('published').padStart(10)} ${per('stored').padStart(10)} ${per('folded').padStart(10)} ${fmt(s.backlog).padStart(10)} ${fmt(s.projectorLagEvents).padStart(11)} ${(s.fleetLive === null ? '' : fmt(s.fleetLive)).padStart(12)}`,
      );
    };
    const header = (): void => say(`  ${'time'.padStart(7)} ${'publ./s'.padStart(10)} ${'stored/s'.padStart(10)} ${'folded/s'.padStart(10)} ${'JS backlog'.padStart(10)} ${'proj. lag'.padStart(11)} ${'fleet live'.padStart(12)}`);

    // --- 1. fill ------------------------------------------------------------------------------------
    say(`1. fill: every host as fast as the pipeline takes it, until the fleet's summaries count ${fmt(TARGET)} live tasks`);
    header();
    const cpuFill0 = cpuSnapshot(pids);
    const tFill = now();
    await hosts.send({ cmd: 'fill' });
    let reached: Sample | undefined;
    let prevLine: Sample = { t: tFill, published: 0, hostsLive: 0, stored: 0, folded: 0, projectorLagEvents: 0, backlog: 0, fleetLive: null };
    for (let tick = 1; ; tick++) {
      await sleep(Math.max(0, tFill + tick * 1000 - now()));
      checkAlive();
      const s = await sample(tick % 2 === 0);
      if (tick % 10 === 0) {
        line(s, prevLine, tFill);
        prevLine = s;
      }
      if (s.fleetLive !== null && s.fleetLive >= TARGET) {
        reached = s;
        break;
      }
      if (now() - tFill > FILL_TIMEOUT_S * 1000) break;
    }
    const fillEnd = samples[samples.length - 1]!;
    const cpuFill = cpuBetween(cpuFill0, cpuSnapshot(pids));
    const fillSeconds = (fillEnd.t - tFill) / 1000;
    say(
      reached
        ? `  reached: ${fmt(reached.fleetLive!)} live tasks after ${fillSeconds.toFixed(0)} s, ${fmt(reached.published)} events published, ${fmt(reached.folded)} folded`
        : `  NOT reached within ${FILL_TIMEOUT_S} s: the fleet counts ${fmt(fillEnd.fleetLive ?? 0)} live tasks (the hosts' own models ${fmt(fillEnd.hostsLive)})`,
    );
    result.fill = {
      seconds: Number(fillSeconds.toFixed(1)),
      reached: reached !== undefined,
      fleetLive: fillEnd.fleetLive,
      hostsLive: fillEnd.hostsLive,
      published: fillEnd.published,
      stored: fillEnd.stored,
      folded: fillEnd.folded,
      eventsPerSec: Math.round(fillEnd.folded / fillSeconds),
      cpu: cpuFill,
    };

    // --- 2. paced, drained ---------------------------------------------------------------------------
    const batchEvents = Math.max(1, Math.min(BATCH_MAX_EVENTS, Math.round((RATE / HOSTS) * (BATCH_MS / 1000))));
    say(`2. paced: ${fmt(RATE)} events/s in all (${(RATE / HOSTS).toFixed(1)} a host, in batches of ${batchEvents}: ${BATCH_MS} ms of a host's events); waiting for the backlog to drain`);
    await hosts.send({ cmd: 'pace', rate: RATE, batchEvents });
    const tPace = now();
    let drained = false;
    let calm = 0;
    for (let tick = 1; now() - tPace < DRAIN_TIMEOUT_MS; tick++) {
      await sleep(Math.max(0, tPace + tick * 1000 - now()));
      checkAlive();
      const s = await sample(false);
      if (tick % 10 === 0) {
        line(s, prevLine, tFill);
        prevLine = s;
      }
      // Drained: ingest has all but a few batches a host, and the projector is within half a second of the store.
      calm = s.backlog <= HOSTS * 2 && s.projectorLagEvents <= RATE / 2 ? calm + 1 : 0;
      if (calm >= 5) {
        drained = true;
        break;
      }
    }
    const drainSeconds = (now() - tPace) / 1000;
    say(drained ? `  drained in ${drainSeconds.toFixed(0)} s` : `  NOT drained within ${DRAIN_TIMEOUT_MS / 1000} s: the pipeline does not keep up with ${fmt(RATE)} events/s at this size`);
    result.drain = { seconds: Number(drainSeconds.toFixed(1)), drained };

    // --- 3. lag -------------------------------------------------------------------------------------
    const apiNc = await connect({ servers: server.url, ...natsAuthOptions(server.credentials.api!) });
    connections.push(apiNc);
    const probe = new LagProbe(admin, apiNc, probed);
    await probe.start();
    await sleep(2000);
    say(`3. lag: ${SECONDS} s at ${fmt(RATE)} events/s; publish → queryable for ${probed.join(', ')} (state asked every ${PROBE_MS} ms each)`);
    const queryTime = async (): Promise<number> => (await scrape(projectorPort, ['lockline_projector_query_duration_seconds_sum'], 5000))?.lockline_projector_query_duration_seconds_sum ?? 0;
    const query0 = await queryTime();
    const tLag = now();
    const cpuLag0 = cpuSnapshot(pids);
    const lagSamples: Sample[] = [];
    for (let tick = 1; tick <= SECONDS; tick++) {
      await sleep(Math.max(0, tLag + tick * 1000 - now()));
      checkAlive();
      lagSamples.push(await sample(tick % 5 === 0));
    }
    const tLagEnd = now();
    const cpuLag = cpuBetween(cpuLag0, cpuSnapshot(pids));
    const probeCores = ((await queryTime()) - query0) / ((now() - tLag) / 1000);
    const pm = await scrape(projectorPort, ['lockline_projector_summaries_written_total'], 5000);
    const fleetAtLag = await fleetTotals(apiUrl);
    const rateOf = (k: 'published' | 'stored' | 'folded'): number => (lagSamples[lagSamples.length - 1]![k] - lagSamples[0]![k]) / ((lagSamples[lagSamples.length - 1]!.t - lagSamples[0]!.t) / 1000);

    // --- 4. API -------------------------------------------------------------------------------------
    // A tree is every process of a host with its explanation (~1,000 here, ~280 KB of JSON): a tenth of the rate.
    const routes: Array<{ route: string; rate: number; path: (i: number) => string }> = [
      { route: 'GET /v1/fleet', rate: REQUEST_RATE, path: () => '/v1/fleet' },
      { route: 'GET /v1/hosts/:id', rate: REQUEST_RATE, path: (i) => `/v1/hosts/${hostIds[i % HOSTS]}` },
      { route: 'GET /v1/hosts/:id/tree', rate: Math.max(1, Math.round(REQUEST_RATE / 10)), path: (i) => `/v1/hosts/${hostIds[(i * 7) % HOSTS]}/tree` },
    ];
    say(`4. API: ${routes.map((r) => `${r.route.slice(4)} ${r.rate}/s`).join(', ')}, ${API_SECONDS} s each, open loop, each request for the next host of the fleet`);
    const apiRuns: ApiRun[] = [];
    const apiWindows: Array<{ route: string; from: number; to: number }> = [];
    for (const r of routes) {
      const c0 = cpuSnapshot(pids);
      const t0 = now();
      const res = await paced(apiUrl, r.route, r.path, API_SECONDS, r.rate);
      apiRuns.push({ ...res, cpu: cpuBetween(c0, cpuSnapshot(pids)) });
      apiWindows.push({ route: r.route, from: t0, to: now() });
      checkAlive();
      await sleep(2000);
    }
    probe.stop();
    const apiLag = apiWindows.map((x, i) => ({ route: x.route, rate: routes[i]!.rate, lag: latencyStats(probe.lags(x.from, x.to).lags) }));

    // --- 5. memory at size --------------------------------------------------------------------------
    const fleetNow = await fleetTotals(apiUrl);
    const rss = Object.fromEntries([...pids].map(([name, pid]) => [name, rssBytes(pid)]));
    const memoryAfter = await projector.memory();
    const heapOf = (m: MemoryUsage): number => m.heapUsed + m.arrayBuffers;
    const perLive = (heapOf(memoryAfter) - heapOf(memoryBefore)) / fleetNow.processes;
    const rssPerLive = (memoryAfter.rss - memoryBefore.rss) / fleetNow.processes;

    // --- stop -----------------------------------------------------------------------------------------
    const stopped = await hosts.send<{ stopped: Progress }>({ cmd: 'stop' });
    for (const s of [...services].reverse()) await s.stop();
    const fileBytes = statSync(dbPath).size;

    // --- report -------------------------------------------------------------------------------------
    const lagAll = probe.lags(tLag, tLagEnd);
    const lag = latencyStats(lagAll.lags);
    const rtt = latencyStats([...probe.rtts]);
    say();
    say(`The fleet at size: ${fmt(fleetNow.hosts)} hosts, ${fmt(fleetNow.processes)} live tasks (the hosts' own models: ${fmt(stopped.stopped.live)}, ${fmt(stopped.stopped.threads)} of them threads); ${fmt(stopped.stopped.published)} events published in all, store file ${mb(fileBytes)}`);
    say();
    const w = [60, 22];
    say(row(['lag, paced (publish → queryable, ms)', `p50 / p90 / p99 / max`], w));
    const lagText = (s: LatencyStats | null): string => (s === null ? '–' : `${s.p50} / ${s.p90} / ${s.p99} / ${s.max}`);
    say(row([`  quiet (${fmt(lag?.n ?? 0)} batches${lagAll.unanswered ? `, ${lagAll.unanswered} never answered` : ''})`, lagText(lag)], w));
    for (const a of apiLag) say(row([`  during ${a.route} at ${a.rate}/s (${fmt(a.lag?.n ?? 0)} batches)`, lagText(a.lag)], w));
    say(
      `  while paced: published ${fmt(rateOf('published'))}/s, stored ${fmt(rateOf('stored'))}/s, folded ${fmt(rateOf('folded'))}/s; JetStream backlog ${fmt(Math.max(...lagSamples.map((s) => s.backlog)))} batches at most, ` +
        `the projector's lag gauge ${fmt(Math.max(...lagSamples.map((s) => s.projectorLagEvents)))} events at most; host summaries ${fleetAtLag.summaryAgeMs ? `${fmt(fleetAtLag.summaryAgeMs.p50)} / ${fmt(fleetAtLag.summaryAgeMs.p99)} ms old (p50 / p99)` : '?'}`,
    );
    say(
      `  a batch waits up to ${BATCH_MS} ms on its host before it is published (not counted above); state round trip p50 ${rtt?.p50 ?? '?'} / p99 ${rtt?.p99 ?? '?'} ms, ${probe.errors} failed; ` +
        `the projector's query-duration histogram summed ${probeCores.toFixed(3)} s per s meanwhile (time from a question to its answer, waits included)`,
    );
    say(`  CPU while paced (cores): ${Object.entries(cpuLag).map(([k, v]) => `${k} ${v?.toFixed(2) ?? '?'}`).join(', ')}`);
    say();
    const aw = [24, 7, 9, 9, 9, 9, 9, 8, 8, 12, 10];
    say(row(['API at size', 'asked', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'non-2xx', 'errors', 'KiB/answer', 'API cores'], aw));
    apiRuns.forEach((r, i) =>
      say(row([r.route, `${routes[i]!.rate}/s`, fmt(r.rps), String(r.p50), String(r.p90), String(r.p99), String(r.max), String(r.non2xx), String(r.errors), (r.bytes / 1024).toFixed(1), (r.cpu.api ?? 0).toFixed(2)], aw)),
    );
    say(`  the projector's cores during each: ${apiRuns.map((r) => `${r.route.split(' ')[1]} ${r.cpu.projector?.toFixed(2) ?? '?'}`).join(', ')}`);
    say();
    say(
      `memory: the projector's heapUsed + arrayBuffers after two full GCs, ${mb(heapOf(memoryBefore))} at start → ${mb(heapOf(memoryAfter))} holding the fleet: ` +
        `${fmt(perLive)} B per live task — ${verdict(perLive <= AIM_BYTES_PER_PROCESS)} (aim ≤ ${fmt(AIM_BYTES_PER_PROCESS)} B)`,
    );
    say(`  its RSS ${mb(memoryBefore.rss)} → ${mb(memoryAfter.rss)}: ${fmt(rssPerLive)} B per live task (V8's free page space and malloc'd memory included)`);
    say(`  RSS of each process at size: ${Object.entries(rss).map(([k, v]) => `${k} ${v === null ? '?' : mb(v)}`).join(', ')}`);
    say(`  ${loadNote(cpuLag.others ?? null)}`);
    say();

    result.atSize = { hosts: fleetNow.hosts, liveTasks: fleetNow.processes, hostsModelLive: stopped.stopped.live, hostsModelThreads: stopped.stopped.threads, published: stopped.stopped.published, storeFileBytes: fileBytes };
    result.lag = {
      batchEvents,
      batchMs: BATCH_MS,
      probed,
      quiet: lag,
      unanswered: lagAll.unanswered,
      duringApi: apiLag,
      stateRtt: rtt,
      probeErrors: probe.errors,
      projectorQuerySecondsPerSecond: Number(probeCores.toFixed(4)),
      ratesWhilePaced: { published: Math.round(rateOf('published')), stored: Math.round(rateOf('stored')), folded: Math.round(rateOf('folded')) },
      maxBacklogBatches: Math.max(...lagSamples.map((s) => s.backlog)),
      maxProjectorLagEvents: Math.max(...lagSamples.map((s) => s.projectorLagEvents)),
      summaryAgeMs: fleetAtLag.summaryAgeMs,
      summariesWritten: pm?.lockline_projector_summaries_written_total ?? null,
      cpu: cpuLag,
    };
    result.api = apiRuns.map((r, i) => ({ ...r, asked: routes[i]!.rate, rps: Math.round(r.rps), bytes: Math.round(r.bytes) }));
    result.memory = {
      method: "projector process: heapUsed + arrayBuffers after two full GCs (SIGUSR2 preload), at start and at size, over the fleet totals' live tasks",
      before: memoryBefore,
      after: memoryAfter,
      liveTasks: fleetNow.processes,
      bytesPerLiveTask: Math.round(perLive),
      rssBytesPerLiveTask: Math.round(rssPerLive),
      rssAtSize: rss,
    };
    return dbPath;
  } catch (error) {
    for (const s of services) if (s.tail) console.error(`--- ${s.name}\n${s.tail}`);
    throw error;
  } finally {
    hosts?.kill();
    for (const s of [...services].reverse()) await s.stop();
    for (const c of connections) await c.close().catch(() => undefined);
    await server.stop();
    if (!ONLY.has('fold')) rmSync(data, { recursive: true, force: true });
  }
}

/** What other processes used (cores), and a warning when that was enough to matter. */
function loadNote(cores: number | null): string {
  if (cores === null) return 'other processes: unknown off Linux';
  const note = `other processes used ${cores.toFixed(2)} cores during the lag window`;
  return cores > 0.1 ? `${note} — the machine was busy: the latencies are high, rerun when it is quiet` : note;
}

// ---------------------------------------------------------------------------------------------
// Main

const started = performance.now();
const result: Record<string, unknown> = {
  benchmark: 'scale',
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  aims: { bytesPerLiveProcess: AIM_BYTES_PER_PROCESS, lagMs: AIM_LAG_MS },
  hosts: HOSTS,
  processesPerHost: PROCESSES,
  target: TARGET,
  rate: RATE,
  summaryIntervalMs: SUMMARY_MS,
};
say(`Lockline scale benchmark — ${result.date as string}, node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg()[0]!.toFixed(2)}`);
say();
const dbPath = await run(result);
if (ONLY.has('fold')) {
  try {
    say(`(fold) the store this run produced, folded again in this process (read + fold, trusted, as at a projector's start), its memory by part`);
    const f = await foldStore(dbPath);
    say(
      `  ${fmt(f.events)} events folded in ${f.foldSeconds.toFixed(1)} s (${fmt(f.events / f.foldSeconds)}/s); ${fmt(f.boots)} boots, ${fmt(f.live)} live tasks: ${fmt(f.ownMm)} with an mm of their own ` +
        `(${f.vmasPerMm.toFixed(1)} VMAs each, table capacity ${f.vmaCapacityPerMm.toFixed(1)}), ${fmt(f.threads)} threads, ${fmt(f.kernelThreads)} kernel threads; ` +
        `${fmt(f.lineageRecords)} lineage records, ${fmt(f.lockCauses)} lock causes, ${fmt(f.findings)} findings`,
    );
    const w = [62, 10];
    say(row(['  bytes per live task, as dropping each part frees it', 'heap + AB'], w));
    for (const [name, b] of Object.entries(f.parts)) say(row([`    ${name}`, fmt(b)], w));
    say(row(['    total', fmt(f.bytesPerLive)], w));
    say(`  → ${fmt(f.bytesPerLive)} B per live task — ${verdict(f.bytesPerLive <= AIM_BYTES_PER_PROCESS)} (aim ≤ ${fmt(AIM_BYTES_PER_PROCESS)} B)`);
    result.fold = { ...f, foldSeconds: Number(f.foldSeconds.toFixed(1)), bytesPerLive: Math.round(f.bytesPerLive), parts: Object.fromEntries(Object.entries(f.parts).map(([k, v]) => [k, Math.round(v)])) };
  } finally {
    rmSync(dirname(dbPath), { recursive: true, force: true });
  }
  say();
}
const memory = result.memory as { bytesPerLiveTask: number } | undefined;
const lag = result.lag as { quiet: LatencyStats | null } | undefined;
if (memory) say(`memory per live task ≤ ${fmt(AIM_BYTES_PER_PROCESS)} B: ${fmt(memory.bytesPerLiveTask)} — ${verdict(memory.bytesPerLiveTask <= AIM_BYTES_PER_PROCESS)}`);
if (lag) say(`lag (publish → queryable) p99 < ${fmt(AIM_LAG_MS)} ms: ${lag.quiet?.p99 ?? '–'} — ${verdict(lag.quiet !== null && lag.quiet.p99 < AIM_LAG_MS)}`);
result.seconds = Number(((performance.now() - started) / 1000).toFixed(1));
say(`done in ${result.seconds as number} s`);
say(`RESULT ${JSON.stringify(result)}`);
process.exit(0);
