/**
 * Benchmark of the whole pipeline against JetStream alone: `npm run bench -- pipeline`
 * (scripts/bench.mjs builds the workspace first, so the services' compiled dist/ is what runs).
 *
 * One run, on this machine, of:
 *
 *   (a) the limit: a real nats-server (startNatsServer, with the configuration `lockline up` writes:
 *       writeNatsConfig, its users and permissions, 256 MiB memory / 8 GiB file store), the streams
 *       and the ingest consumer made by ensureStreams / ensureIngestConsumers, and the very payloads
 *       the pipeline carries: the simulator's events of HOSTS hosts (seed 1, linux-2008-patch, no
 *       faults, as host-sim makes them), cut by host-sim's own HostStream into JSONL batches of 200
 *       events, one message each with its Msg-Id. Two child processes, as host-sim and ingest are:
 *       a publisher (the hostsim user, the bus Publisher, one batch in flight per host as host-sim
 *       sends them, batches generated before timing) and a consumer (the ingest user, the bus
 *       `consume` on the durable pull consumer ingest-p0, 256 buffered as ingest asks, every message
 *       acked with ackAndConfirm as ingest acks, nothing else done with it). Timed: publish alone
 *       (into an empty stream), consume alone (that backlog; again with plain acks, for
 *       information), and both at once into a fresh stream — THE LIMIT (b) is compared with, timed
 *       from the first publish to the last confirmed ack. ROUNDS rounds after an untimed one; medians.
 *   (b) the pipeline: nats-server (same configuration), ensureStreams / ensureIngestConsumers /
 *       ensureHostsBucket as the admin user, then services/projector, services/ingest and
 *       services/host-sim dist/main.js as child processes with the environment `lockline up` gives
 *       them (`up --hosts HOSTS --rate 0`: SQLite store, log level warn, each its own NATS user).
 *       Unlike `up`, host-sim starts once ingest and the projector answer /healthz, runs SECONDS
 *       seconds and is stopped (SIGTERM: it flushes its batches); ingest and the projector then
 *       drain what is left. Measured from outside:
 *        - stored: the store file, read-only, polled every 5 ms (the newest batch rows): events/s
 *          from the first event stored to the last;
 *        - queryable: the projector's /metrics every 100 ms (events folded, checkpoint): events/s
 *          from the first event folded to the last;
 *        - latency ingest → queryable: for every SAMPLE-th store position in the streams of
 *          PROBE_HOSTS hosts, the time from the store poll that first saw it to the first `state`
 *          reply (NATS request as the api user, every 10 ms per probed host) whose `position` (the
 *          store position of the host's last folded event) reached it; publish → queryable from the
 *          moment the bench received the batch holding that event on a core NATS subscription to the
 *          host's subject (admin user), i.e. when nats-server took in the publish;
 *        - CPU of every process from /proc/<pid>/stat while host-sim ran and during the drain.
 *       The ratio is (b)'s queryable rate over (a)'s concurrent figure.
 *
 *       The CPU each process spent per event (run + drain) shows what 2 cores can carry at most.
 *
 * Aims (the issue): ≥ 50,000 events/s end to end, ratio ≥ 0.5, ingest → queryable p99 < 250 ms.
 * About 50 s with the defaults (20 s of (a), host-sim's 20 s and the drain after it).
 *
 * Options: --seconds=N (host-sim's run in (b), default 20), --hosts=N (default 8), --rate=N
 * (host-sim's LOCKLINE_RATE, default 0: full speed), --limit-events=N (events of (a), default
 * 600,000), --rounds=N (of (a), default 3), --probe-hosts=N (default 2), --sample=N (default 100),
 * --only=a,b, --cpu-prof=ingest,projector,host-sim (diagnosis: run those services under
 * `node --cpu-prof` and print where their CPU went; the profiler slows them down).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import Database from 'better-sqlite3';
import { connect, type Msg, type NatsConnection } from 'nats';
import {
  EVENTS_STREAM,
  Publisher,
  consume,
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
import { freePort, natsServerBinary, startNatsServer, type NatsServer } from '@lockline/bus/testing';
import { eventsSubject, hostStreamName } from '@lockline/events';
import { HostStream, type Batch } from '@lockline/host-sim';
import { createSimHost, fleetHostId, parseFaults } from '@lockline/sim';
import { fmt, latencyStats, loadNote, machineBusyMs, median, now, parseArgs, percentile, positiveInt, processCpuMs, row, say, scrape, verdict } from './support.js';

// ---------------------------------------------------------------------------------------------
// Settings

const SELF = fileURLToPath(import.meta.url);
const REPO = resolve(dirname(SELF), '../..');
const { args, unknown } = parseArgs(['seconds', 'hosts', 'rate', 'limit-events', 'rounds', 'probe-hosts', 'sample', 'only', 'cpu-prof', 'role']);
const ROLE = args.get('role');
const SECONDS = Number(args.get('seconds') ?? 20);
const RATE = Number(args.get('rate') ?? 0);
const HOSTS = Number(args.get('hosts') ?? 8);
const LIMIT_EVENTS = Number(args.get('limit-events') ?? 600_000);
const ROUNDS = Number(args.get('rounds') ?? 3);
const PROBE_HOSTS = Number(args.get('probe-hosts') ?? 2);
const SAMPLE = Number(args.get('sample') ?? 100);
const ONLY = new Set((args.get('only') ?? 'a,b').split(','));
/** Services to run under `node --cpu-prof` in (b) (diagnosis: the profiler slows them down). */
const CPU_PROF = new Set((args.get('cpu-prof') ?? '').split(',').filter((x) => x !== ''));
if (
  ROLE === undefined &&
  (!(Number.isFinite(SECONDS) && SECONDS >= 1) ||
    !positiveInt(HOSTS) ||
    HOSTS > 999 ||
    !(Number.isSafeInteger(RATE) && RATE >= 0) ||
    !positiveInt(LIMIT_EVENTS) ||
    !positiveInt(ROUNDS) ||
    !positiveInt(PROBE_HOSTS) ||
    !positiveInt(SAMPLE) ||
    [...ONLY].some((p) => !['a', 'b'].includes(p)) ||
    [...CPU_PROF].some((p) => !['ingest', 'projector', 'host-sim'].includes(p)) ||
    unknown.length > 0)
) {
  console.error('usage: npm run bench -- pipeline [--seconds=N] [--hosts=N] [--rate=N] [--limit-events=N] [--rounds=N] [--probe-hosts=N] [--sample=N] [--only=a,b] [--cpu-prof=ingest,projector,host-sim]');
  process.exit(2);
}

/** What `lockline up` runs by default: host-sim's seed, profile and batch size (BATCH_MAX_EVENTS). */
const SEED = '1';
const PROFILE = 'linux-2008-patch';
const BATCH_EVENTS = 200;
/** host-sim's defaults: LOCKLINE_MAX_IN_FLIGHT, LOCKLINE_PUBLISH_TIMEOUT_MS. */
const PUBLISH_MAX_IN_FLIGHT = 64;
const PUBLISH_TIMEOUT_MS = 5000;
/** ingest's default LOCKLINE_FETCH_MAX_MESSAGES, its consume() buffer. */
const CONSUME_MAX_MESSAGES = 256;
/** `lockline up`'s JetStream limits and server name. */
const NATS_MAX_MEMORY = 256 * 2 ** 20;
const NATS_MAX_FILE = 8 * 2 ** 30;
const NATS_SERVER_NAME = 'lockline-local';

const AIM_EVENTS_PER_SEC = 50_000;
const AIM_RATIO = 0.5;
const AIM_P99_MS = 250;

const STORE_POLL_MS = 5;
const STATE_POLL_MS = 10;
const PROJECTOR_SCRAPE_MS = 100;
const DRAIN_TIMEOUT_MS = 90_000;

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
/** Where --cpu-prof writes the services' profiles (kept after the run). */
const PROFILE_DIR = join(tmpdir(), `lockline-bench-pipeline-cpu-prof-${process.pid}`);
const hostIdsOf = (n: number): string[] => Array.from({ length: n }, (_, i) => fleetHostId('host-', i));

// ---------------------------------------------------------------------------------------------
// Output and measuring helpers

const ms1 = (n: number): string => `${n.toFixed(1)} ms`;
interface CpuSnapshot {
  readonly t: number;
  readonly machine: number | null;
  readonly bench: number;
  readonly procs: ReadonlyMap<string, number | null>;
}

function cpuSnapshot(pids: ReadonlyMap<string, number | undefined>): CpuSnapshot {
  const procs = new Map<string, number | null>();
  for (const [name, pid] of pids) procs.set(name, processCpuMs(pid));
  const own = process.cpuUsage();
  return { t: performance.now(), machine: machineBusyMs(), bench: (own.user + own.system) / 1000, procs };
}

interface CpuUse {
  readonly seconds: number;
  /** cores' worth of CPU, by process name; `bench` is this process */
  readonly cores: Record<string, number | null>;
  /** every other process on the machine */
  readonly others: number | null;
  readonly machine: number | null;
}

function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): CpuUse {
  const ms = b.t - a.t;
  const cores: Record<string, number | null> = {};
  let ours = b.bench - a.bench;
  for (const [name, v0] of a.procs) {
    const v1 = b.procs.get(name);
    const used = v0 === null || v1 === null || v1 === undefined ? null : v1 - v0;
    cores[name] = used === null ? null : used / ms;
    ours += used ?? 0;
  }
  cores.bench = (b.bench - a.bench) / ms;
  const machine = a.machine === null || b.machine === null ? null : b.machine - a.machine;
  return { seconds: ms / 1000, cores, others: machine === null ? null : Math.max(0, machine - ours) / ms, machine: machine === null ? null : machine / ms };
}

// ---------------------------------------------------------------------------------------------
// (a)'s child processes: `--role=publisher` and `--role=consumer`, driven by JSON lines on stdin,
// answering with JSON lines on stdout.

interface RoleJob {
  readonly url: string;
  readonly credential: NatsCredential;
  readonly hostIds: readonly string[];
  readonly perHost: number;
}

function reply(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** The payloads host-sim would publish: each host's first `perHost` events (at least), cut by HostStream. */
function generateBatches(hostIds: readonly string[], perHost: number): Batch[][] {
  return hostIds.map((hostId) => {
    const stream = new HostStream(createSimHost({ hostId, seed: SEED, profile: PROFILE, faults: parseFaults('') }));
    const out: Batch[] = [];
    for (let n = 0; n < perHost; ) {
      const batch = stream.nextBatch(BATCH_EVENTS);
      if (batch === undefined) break;
      out.push(batch);
      n += batch.lines.length;
    }
    return out;
  });
}

async function publisherRole(job: RoleJob): Promise<void> {
  const nc = await connect({ servers: job.url, ...natsAuthOptions(job.credential) });
  const t0 = performance.now();
  const perHost = generateBatches(job.hostIds, job.perHost);
  const all = perHost.flat();
  const events = all.reduce((n, b) => n + b.lines.length, 0);
  const bytes = all.reduce((n, b) => n + b.lines.reduce((m, l) => m + l.length + 1, 0), 0);
  reply({ ready: true, events, messages: all.length, bytes, generateSeconds: (performance.now() - t0) / 1000 });
  for await (const line of createInterface({ input: process.stdin })) {
    const cmd = JSON.parse(line) as { cmd: string };
    if (cmd.cmd !== 'publish') break;
    const publisher = new Publisher(nc.jetstream(), { maxInFlight: PUBLISH_MAX_IN_FLIGHT, timeoutMs: PUBLISH_TIMEOUT_MS });
    const start = now();
    let duplicates = 0;
    // As host-sim: each host's batches in order, the next sent once the one before is acked; hosts in parallel.
    await Promise.all(
      perHost.map(async (batches) => {
        for (const b of batches) if ((await publisher.publish(b.hostId, b.lines, { batchId: b.batchId })).duplicate) duplicates++;
      }),
    );
    reply({ t0: start, t1: now(), retries: publisher.retries, duplicates });
  }
  await nc.close();
  process.exit(0);
}

async function consumerRole(job: RoleJob): Promise<void> {
  const nc = await connect({ servers: job.url, ...natsAuthOptions(job.credential) });
  reply({ ready: true });
  for await (const line of createInterface({ input: process.stdin })) {
    const cmd = JSON.parse(line) as { cmd: string; messages: number; confirm: boolean };
    if (cmd.cmd !== 'consume') break;
    const sub = await consume(nc.jetstream(), { stream: EVENTS_STREAM, durable: ingestConsumerName(0), maxMessages: CONSUME_MAX_MESSAGES });
    reply({ subscribed: true });
    const t0 = now();
    let first = 0;
    let n = 0;
    let bytes = 0;
    const acks = new Set<Promise<void>>();
    let stopping: Promise<void> | undefined;
    for await (const m of sub) {
      if (n === 0) first = now();
      n++;
      bytes += m.data.length;
      if (cmd.confirm) {
        // As ingest: acks confirmed by the server, many on their way at once.
        const p = m.ackAndConfirm();
        acks.add(p);
        void p.finally(() => acks.delete(p));
      } else m.ack();
      if (n === cmd.messages) stopping = sub.stop();
    }
    while (acks.size > 0) await Promise.all([...acks]);
    await nc.flush();
    const t1 = now();
    await Promise.race([stopping, sleep(2000)]);
    reply({ t0, first, t1, messages: n, bytes });
  }
  await nc.close();
  process.exit(0);
}

/** A child process of (a), spoken to in JSON lines. */
class RoleChild {
  readonly proc: ChildProcess;
  readonly #lines: string[] = [];
  readonly #waiters: Array<(line: string) => void> = [];
  #exited = false;

  constructor(role: 'publisher' | 'consumer', job: RoleJob) {
    this.proc = spawn(process.execPath, [...process.execArgv, SELF, `--role=${role}`], {
      env: { ...process.env, LOCKLINE_BENCH_JOB: JSON.stringify(job) },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.proc.once('exit', (code, signal) => {
      this.#exited = true;
      for (const w of this.#waiters.splice(0)) w(JSON.stringify({ error: `the ${role} exited (${signal ?? code})` }));
    });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      const w = this.#waiters.shift();
      if (w) w(line);
      else this.#lines.push(line);
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  async next<T>(): Promise<T> {
    const line = this.#lines.shift() ?? (this.#exited ? JSON.stringify({ error: 'the child is gone' }) : await new Promise<string>((r) => this.#waiters.push(r)));
    const value = JSON.parse(line) as T & { error?: string };
    if (value.error !== undefined) throw new Error(value.error);
    return value;
  }

  send<T>(cmd: unknown): Promise<T> {
    this.proc.stdin!.write(`${JSON.stringify(cmd)}\n`);
    return this.next<T>();
  }

  async end(): Promise<void> {
    if (this.#exited) return;
    const gone = new Promise((r) => this.proc.once('exit', r));
    this.proc.stdin!.end();
    await Promise.race([gone, sleep(5000)]);
    if (!this.#exited) this.proc.kill('SIGKILL');
  }
}

if (ROLE !== undefined) {
  const job = JSON.parse(process.env.LOCKLINE_BENCH_JOB ?? '{}') as RoleJob;
  if (ROLE === 'publisher') await publisherRole(job);
  else if (ROLE === 'consumer') await consumerRole(job);
  else process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Shared set-up

function startServer(hostIds: readonly string[]): Promise<NatsServer> {
  // writeNatsConfig with `lockline up`'s users (every service role, a user per host) and limits.
  return startNatsServer({ auth: { hosts: hostIds }, maxMemory: NATS_MAX_MEMORY, maxFile: NATS_MAX_FILE, serverName: NATS_SERVER_NAME });
}

async function natsVersion(): Promise<string> {
  const bin = await natsServerBinary();
  return await new Promise((res) => {
    const p = spawn(bin, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', () => res(out.trim().replace(/^nats-server:\s*/, '')));
    p.on('error', () => res('?'));
  });
}

// ---------------------------------------------------------------------------------------------
// (a) the limit

interface PublishReply {
  t0: number;
  t1: number;
  retries: number;
  duplicates: number;
}
interface ConsumeReply {
  t0: number;
  first: number;
  t1: number;
  messages: number;
  bytes: number;
}
interface Phase {
  readonly seconds: number;
  readonly eventsPerSec: number;
  readonly cpu: CpuUse;
}
type PhaseName = 'publish' | 'consumeConfirmed' | 'consumeAcked' | 'concurrent';
const PHASES: ReadonlyArray<{ name: PhaseName; label: string }> = [
  { name: 'publish', label: 'publish alone (1 batch in flight per host)' },
  { name: 'consumeConfirmed', label: 'consume alone, ackAndConfirm (as ingest)' },
  { name: 'consumeAcked', label: 'consume alone, plain ack (information)' },
  { name: 'concurrent', label: 'publish + consume at once: THE LIMIT' },
];

async function limit(): Promise<Record<string, unknown>> {
  const hostIds = hostIdsOf(HOSTS);
  const perHost = Math.ceil(LIMIT_EVENTS / HOSTS);
  const server = await startServer(hostIds);
  const admin = await connect({ servers: server.url, ...natsAuthOptions(server.credentials.admin!) });
  const jsm = await admin.jetstreamManager();
  const job = { url: server.url, hostIds, perHost };
  const publisher = new RoleChild('publisher', { ...job, credential: server.credentials.hostsim! });
  const consumer = new RoleChild('consumer', { ...job, credential: server.credentials.ingest! });
  try {
    const gen = await publisher.next<{ events: number; messages: number; bytes: number; generateSeconds: number }>();
    await consumer.next();
    say(
      `(a) the limit: JetStream alone, no processing — ${fmt(gen.events)} events of ${HOSTS} hosts in ${fmt(gen.messages)} messages ` +
        `(${(gen.bytes / gen.events).toFixed(0)} B per event, ${(gen.bytes / gen.messages / 1024).toFixed(1)} KiB per message; generated in ${gen.generateSeconds.toFixed(1)} s, untimed); ${ROUNDS} rounds after an untimed one`,
    );
    const pids = new Map([
      ['nats-server', server.pid],
      ['publisher', publisher.pid],
      ['consumer', consumer.pid],
    ]);
    // The publish and consume-alone phases read one stream twice (two consumers in turn): they keep
    // acked batches. The concurrent phase — the limit — runs on the pipeline's own work queue.
    const freshStream = async (keepAckedEvents: boolean): Promise<void> => {
      await jsm.streams.delete(EVENTS_STREAM).catch(() => undefined);
      await ensureStreams(jsm, { partitions: 1, keepAckedEvents });
      await ensureIngestConsumers(jsm, 1);
    };
    const freshConsumer = async (): Promise<void> => {
      await jsm.consumers.delete(EVENTS_STREAM, ingestConsumerName(0));
      await ensureIngestConsumers(jsm, 1);
    };
    const storedMessages = async (): Promise<number> => (await jsm.streams.info(EVENTS_STREAM)).state.messages;
    const consumeAll = async (confirm: boolean): Promise<ConsumeReply> => {
      await consumer.send({ cmd: 'consume', messages: gen.messages, confirm });
      const r = await consumer.next<ConsumeReply>();
      if (r.messages !== gen.messages) throw new Error(`consumed ${r.messages} messages, expected ${gen.messages}`);
      return r;
    };
    const phases: Record<PhaseName, Phase[]> = { publish: [], consumeConfirmed: [], consumeAcked: [], concurrent: [] };
    let warmUp = true;
    const record = (name: PhaseName, seconds: number, cpu: CpuUse): void => {
      if (!warmUp) phases[name].push({ seconds, eventsPerSec: gen.events / seconds, cpu });
    };
    // Round −1 is an untimed warm-up: the children's code is optimised (and the first round was
    // up to 40% slower without it).
    for (let round = -1; round < ROUNDS; round++) {
      warmUp = round < 0;
      await freshStream(true);
      let c0 = cpuSnapshot(pids);
      const p = await publisher.send<PublishReply>({ cmd: 'publish' });
      record('publish', (p.t1 - p.t0) / 1000, cpuBetween(c0, cpuSnapshot(pids)));
      const stored = await storedMessages();
      if (stored !== gen.messages || p.duplicates !== 0) throw new Error(`the stream holds ${stored} messages (${p.duplicates} duplicates), expected ${gen.messages}`);

      for (const confirm of [true, false]) {
        if (!confirm) await freshConsumer(); // a new consumer starts again from the first message
        c0 = cpuSnapshot(pids);
        const c = await consumeAll(confirm);
        record(confirm ? 'consumeConfirmed' : 'consumeAcked', (c.t1 - c.t0) / 1000, cpuBetween(c0, cpuSnapshot(pids)));
      }

      await freshStream(false);
      await consumer.send({ cmd: 'consume', messages: gen.messages, confirm: true }); // pulling, the stream empty
      c0 = cpuSnapshot(pids);
      const [pc, cc] = await Promise.all([publisher.send<PublishReply>({ cmd: 'publish' }), consumer.next<ConsumeReply>()]);
      record('concurrent', (cc.t1 - pc.t0) / 1000, cpuBetween(c0, cpuSnapshot(pids)));
      if (cc.messages !== gen.messages) throw new Error(`consumed ${cc.messages} messages, expected ${gen.messages}`);
    }

    const w = [46, 30, 5, 12, 10, 9, 11];
    say(row(['', 'events/s, median (rounds)', 'MB/s', 'nats-server', 'publisher', 'consumer', 'µs/event'], w));
    const out: Record<string, unknown> = {};
    for (const { name, label } of PHASES) {
      const ph = phases[name];
      const rate = median(ph.map((x) => x.eventsPerSec));
      const coresOf = (k: string): number => median(ph.map((x) => x.cpu.cores[k] ?? 0));
      // CPU of the three processes per event: cores × seconds / events, median over the rounds.
      const us = median(ph.map((x) => ((['nats-server', 'publisher', 'consumer'].reduce((sum, k) => sum + (x.cpu.cores[k] ?? 0), 0) * x.cpu.seconds) / gen.events) * 1e6));
      const rounds = ph.map((x) => `${Math.round(x.eventsPerSec / 1000)}k`).join(' ');
      say(
        row(
          [label, `${fmt(rate)} (${rounds})`, ((rate * gen.bytes) / gen.events / 1e6).toFixed(0), `${coresOf('nats-server').toFixed(2)} c`, `${coresOf('publisher').toFixed(2)} c`, `${coresOf('consumer').toFixed(2)} c`, us.toFixed(2)],
          w,
        ),
      );
      out[name] = {
        eventsPerSec: Math.round(rate),
        rounds: ph.map((x) => Math.round(x.eventsPerSec)),
        seconds: ph.map((x) => Number(x.seconds.toFixed(3))),
        cores: Object.fromEntries(['nats-server', 'publisher', 'consumer', 'bench'].map((k) => [k, Number(coresOf(k).toFixed(3))])),
        cpuUsPerEvent: Number(us.toFixed(3)),
        otherLoadCores: Number(median(ph.map((x) => x.cpu.others ?? 0)).toFixed(3)),
      };
    }
    const others = Object.values(phases).flatMap((ph) => ph.map((x) => x.cpu.others ?? 0));
    say(`  c = cores' worth of CPU (/proc/<pid>/stat, all threads), medians; µs/event = the three processes' CPU per event. ${loadNote(Math.max(...others))} (the most in any phase)`);
    say();
    return { events: gen.events, messages: gen.messages, bytesPerEvent: Number((gen.bytes / gen.events).toFixed(1)), generateSeconds: Number(gen.generateSeconds.toFixed(2)), ...out };
  } finally {
    await publisher.end();
    await consumer.end();
    await admin.close();
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// (b) the pipeline

/** A service child process, as `lockline up` starts one (its stderr kept for errors). */
class Service {
  readonly proc: ChildProcess;
  #tail = '';
  constructor(
    readonly name: string,
    main: string,
    env: Record<string, string>,
    profileDir?: string,
  ) {
    const argv = [process.execPath, ...(profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]), main];
    // With setpriv the kernel kills the service should this bench die first (the pid stays the service's).
    this.proc = SETPRIV ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', ...argv], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] }) : spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr?.on('data', (d: Buffer) => (this.#tail = (this.#tail + d.toString()).slice(-4000)));
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
  async stop(): Promise<void> {
    if (!this.alive) return;
    const gone = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    await Promise.race([gone, sleep(15_000)]);
    if (this.alive) {
      this.proc.kill('SIGKILL');
      await gone;
    }
  }
}

async function healthy(port: number, service: Service, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!service.alive) throw new Error(`${service.name} exited during start:\n${service.tail}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) })).ok) return;
    } catch {
      /* not up yet */
    }
    await sleep(50);
  }
  throw new Error(`${service.name} was not healthy within ${ms / 1000} s:\n${service.tail}`);
}

interface StoreRow {
  /** when the poll first saw it */
  readonly t: number;
  readonly position: number;
  readonly revision: number;
  readonly count: number;
}
interface StateReply {
  readonly sent: number;
  readonly t: number;
  /** store position of the host's last folded event (0: none yet) */
  readonly position: number;
}
interface Published {
  readonly t: number;
  readonly bootId: string;
  readonly firstSeq: number;
  readonly lastSeq: number;
}

function firstIndex<T>(xs: readonly T[], ok: (x: T) => boolean): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ok(xs[mid]!)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

async function pipeline(limitRate: number | undefined): Promise<Record<string, unknown>> {
  const hostIds = hostIdsOf(HOSTS);
  const probed = hostIds.filter((_, i) => i % Math.max(1, Math.floor(HOSTS / PROBE_HOSTS)) === 0).slice(0, PROBE_HOSTS);
  // The simulator is deterministic: a host's boot (hence its store stream) is known before it runs.
  const streamOfProbe = new Map(probed.map((hostId) => [hostStreamName(hostId, createSimHost({ hostId, seed: SEED, profile: PROFILE, faults: parseFaults('') }).bootId), hostId]));
  const data = mkdtempSync(join(tmpdir(), 'lockline-bench-pipeline-'));
  const dbPath = join(data, 'events.db');
  const storeUrl = `sqlite:${dbPath}`;
  const server = await startServer(hostIds);
  const services: Service[] = [];
  const connections: NatsConnection[] = [];
  const timers: Array<ReturnType<typeof setInterval>> = [];
  try {
    const admin = await connect({ servers: server.url, ...natsAuthOptions(server.credentials.admin!) });
    connections.push(admin);
    const jsm = await admin.jetstreamManager();
    await ensureStreams(jsm, { partitions: 1 });
    await ensureIngestConsumers(jsm, 1);
    await ensureHostsBucket(jsm);

    // The environment `lockline up` gives each service (services/cli/src/commands/up.ts).
    const credEnv = (role: string): Record<string, string> => ({ LOCKLINE_NATS_USER: server.credentials[role]!.user, LOCKLINE_NATS_PASSWORD: server.credentials[role]!.password });
    const common = { LOCKLINE_NATS_URL: server.url, LOCKLINE_LOG_LEVEL: 'warn' };
    const [projectorPort, ingestPort, hostSimPort] = [await freePort(), await freePort(), await freePort()] as [number, number, number];
    const main = (svc: string): string => join(REPO, 'services', svc, 'dist/main.js');
    const profileDir = (svc: string): string | undefined => (CPU_PROF.has(svc) ? join(PROFILE_DIR, svc) : undefined);
    const projector = new Service(
      'projector',
      main('projector'),
      {
        ...common,
      ...credEnv('projector'),
      LOCKLINE_STORE: storeUrl,
      LOCKLINE_PARTITIONS: '1',
      LOCKLINE_PARTITIONS_MINE: '0',
      LOCKLINE_PROFILE: PROFILE,
        LOCKLINE_METRICS_PORT: String(projectorPort),
      },
      profileDir('projector'),
    );
    const ingest = new Service(
      'ingest',
      main('ingest'),
      { ...common, ...credEnv('ingest'), LOCKLINE_STORE: storeUrl, LOCKLINE_PARTITIONS_MINE: '0', LOCKLINE_METRICS_PORT: String(ingestPort) },
      profileDir('ingest'),
    );
    services.push(projector, ingest);
    await Promise.all([healthy(ingestPort, ingest, 30_000), healthy(projectorPort, projector, 30_000)]);

    // --- observers (this process) ---------------------------------------------------------------
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    const newRows = db.prepare<[number], [number, number, number, number]>('SELECT position, stream_id, revision, count FROM batches WHERE position > ? ORDER BY position').raw();
    const streamNames = db.prepare<[], [number, string]>('SELECT id, name FROM streams').raw();
    const probeStreamIds = new Map<number, string>();
    const knownStreams = new Set<number>();
    let lastRow = 0;
    let head = 0;
    const heads: Array<{ t: number; head: number }> = [];
    const rows = new Map<string, StoreRow[]>(probed.map((h) => [h, []]));
    let storePolls = 0;
    let storePollMs = 0;
    const pollStore = (): void => {
      const t = now();
      const got = newRows.all(lastRow);
      storePolls++;
      for (const [position, streamId, revision, count] of got) {
        if (!knownStreams.has(streamId)) {
          for (const [id, name] of streamNames.all()) {
            knownStreams.add(id);
            const host = streamOfProbe.get(name);
            if (host !== undefined) probeStreamIds.set(id, host);
          }
        }
        const host = probeStreamIds.get(streamId);
        if (host !== undefined) rows.get(host)!.push({ t, position, revision, count });
        lastRow = position;
        head = position + count - 1;
      }
      if (got.length > 0) heads.push({ t, head });
      storePollMs += now() - t;
    };

    const api = await connect({ servers: server.url, ...natsAuthOptions(server.credentials.api!) });
    connections.push(api);
    const replies = new Map<string, StateReply[]>(probed.map((h) => [h, []]));
    const asking = new Set<string>();
    let queryErrors = 0;
    const probeState = (): void => {
      for (const hostId of probed) {
        if (asking.has(hostId)) continue;
        asking.add(hostId);
        const sent = now();
        api
          .request(querySubject(partitionOf(hostId, 1), 'state'), encodeJson({ hostId }), { timeout: 2000 })
          .then((m) => {
            const t = now();
            const r = m.json<{ ok: boolean; data?: { position: number } }>();
            replies.get(hostId)!.push({ sent, t, position: r.ok ? r.data!.position : 0 });
          })
          .catch(() => void queryErrors++)
          .finally(() => asking.delete(hostId));
      }
    };

    const published = new Map<string, Published[]>(probed.map((h) => [h, []]));
    const decoder = new TextDecoder();
    for (const hostId of probed) {
      // A core subscription sees each publish when nats-server takes it in (before JetStream stores it).
      admin.subscribe(eventsSubject(hostId), {
        callback: (err: unknown, m: Msg) => {
          if (err) return;
          const t = now();
          const id = m.headers?.get('Nats-Msg-Id') ?? '';
          const [, bootId = '', first = '0'] = id.split('.');
          const d = m.data;
          const lastStart = d.lastIndexOf(10, d.length - 2) + 1;
          const lastSeq = (JSON.parse(decoder.decode(d.subarray(lastStart, d.length - 1))) as { seq: number }).seq;
          published.get(hostId)!.push({ t, bootId, firstSeq: Number(first), lastSeq });
        },
      });
    }
    await admin.flush();

    const folded: Array<{ t: number; folded: number; checkpoint: number }> = [];
    let scraping = false;
    const scrapeProjector = (): void => {
      if (scraping) return;
      scraping = true;
      void scrape(projectorPort, ['lockline_projector_events_folded_total', 'lockline_projector_checkpoint_position'])
        .then((m) => {
          if (m) folded.push({ t: now(), folded: m.lockline_projector_events_folded_total ?? 0, checkpoint: m.lockline_projector_checkpoint_position ?? 0 });
        })
        .finally(() => (scraping = false));
    };

    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    loopDelay.enable();
    timers.push(setInterval(pollStore, STORE_POLL_MS), setInterval(probeState, STATE_POLL_MS), setInterval(scrapeProjector, PROJECTOR_SCRAPE_MS));

    // --- the run ----------------------------------------------------------------------------------
    const hostSim = new Service(
      'host-sim',
      main('host-sim'),
      {
        ...common,
      ...credEnv('hostsim'),
      LOCKLINE_HOSTS: String(HOSTS),
      LOCKLINE_SEED: SEED,
      LOCKLINE_PROFILE: PROFILE,
      LOCKLINE_FAULTS: '',
      LOCKLINE_RATE: String(RATE),
      LOCKLINE_STATE_DIR: join(data, 'host-sim'),
        LOCKLINE_METRICS_PORT: String(hostSimPort),
      },
      profileDir('host-sim'),
    );
    services.push(hostSim);
    const pids = new Map<string, number | undefined>([
      ['nats-server', server.pid],
      ['ingest', ingest.pid],
      ['projector', projector.pid],
      ['host-sim', hostSim.pid],
    ]);
    const cpuStart = cpuSnapshot(pids);
    const tStart = now();
    say(`(b) the pipeline: nats-server, ingest, projector, host-sim (${HOSTS} hosts, ${RATE === 0 ? 'full speed' : `${fmt(RATE)} events/s`}) for ${SECONDS} s, then the drain …`);
    const timeline: Array<{ t: number; published: number; stored: number; folded: number; backlog: number }> = [];
    const tick = async (): Promise<void> => {
      const [h, ci] = await Promise.all([scrape(hostSimPort, ['lockline_host_sim_events_published_total']), jsm.consumers.info(EVENTS_STREAM, ingestConsumerName(0)).catch(() => undefined)]);
      const last = timeline[timeline.length - 1];
      timeline.push({
        t: now(),
        published: h?.lockline_host_sim_events_published_total ?? last?.published ?? 0,
        stored: head,
        folded: folded[folded.length - 1]?.checkpoint ?? 0,
        backlog: ci === undefined ? 0 : ci.num_pending + ci.num_ack_pending,
      });
    };
    for (let s = 1; s <= SECONDS; s++) {
      await sleep(tStart + s * 1000 - now());
      await tick();
      if (!hostSim.alive || !ingest.alive || !projector.alive) throw new Error(`a service died: ${services.filter((x) => !x.alive).map((x) => `${x.name}: ${x.tail}`).join('\n')}`);
    }
    const cpuRun = cpuSnapshot(pids);
    const tStopAsked = now();
    await hostSim.stop();
    const tStop = now();
    const publishedEvents = timeline[timeline.length - 1]!.published;

    // --- the drain: until ingest has acked every batch and the projector has folded the store's head
    const drainUntil = Date.now() + DRAIN_TIMEOUT_MS;
    let drained = false;
    while (Date.now() < drainUntil) {
      await sleep(100);
      const ci = await jsm.consumers.info(EVENTS_STREAM, ingestConsumerName(0));
      const f = folded[folded.length - 1];
      if (ci.num_pending === 0 && ci.num_ack_pending === 0 && f !== undefined && f.checkpoint >= head && head > 0) {
        drained = true;
        break;
      }
      if (timeline.length === 0 || now() - timeline[timeline.length - 1]!.t >= 1000) await tick();
    }
    await sleep(2 * STATE_POLL_MS + 50); // the probes' last answers
    const cpuEnd = cpuSnapshot(pids);
    for (const t of timers.splice(0)) clearInterval(t);
    loopDelay.disable();
    pollStore();
    const [ingestM, projectorM, streamInfo] = await Promise.all([
      scrape(ingestPort, [
        'lockline_ingest_events_received_total',
        'lockline_ingest_events_appended_total',
        'lockline_ingest_events_duplicate_total',
        'lockline_ingest_events_dead_lettered_total',
        'lockline_ingest_gaps_total',
        'lockline_ingest_messages_received_total',
        'lockline_ingest_append_batch_events_sum',
        'lockline_ingest_append_batch_events_count',
      ]),
      scrape(projectorPort, [
        'lockline_projector_events_folded_total',
        'lockline_projector_findings_total',
        'lockline_projector_query_duration_seconds_sum',
        'lockline_projector_query_duration_seconds_count',
        'lockline_projector_batch_duration_seconds_sum',
        'lockline_projector_batch_duration_seconds_count',
      ]),
      jsm.streams.info(EVENTS_STREAM),
    ]);
    db.close();

    // --- figures ----------------------------------------------------------------------------------
    const firstStore = heads[0];
    const lastStore = heads[heads.length - 1];
    if (firstStore === undefined || lastStore === undefined) throw new Error('nothing was stored');
    const firstStoreEvents = firstStore.head;
    const storedRate = (lastStore.head - firstStoreEvents) / ((lastStore.t - firstStore.t) / 1000);
    const firstFold = folded.find((f) => f.folded > 0);
    const lastFold = folded.find((f) => f.checkpoint >= lastStore.head);
    const foldedRate = firstFold && lastFold && lastFold.t > firstFold.t ? (lastFold.folded - firstFold.folded) / ((lastFold.t - firstFold.t) / 1000) : 0;
    const at = (t: number, xs: ReadonlyArray<{ t: number; head: number }>): number => xs[firstIndex(xs, (x) => x.t > t) - 1]?.head ?? 0;
    // While host-sim ran, from its 2nd second (start-up excluded) to its stop.
    const w0 = tStart + 2000;
    const runStored = (at(tStopAsked, heads) - at(w0, heads)) / ((tStopAsked - w0) / 1000);
    const foldedAt = (t: number): number => folded[firstIndex(folded, (x) => x.t > t) - 1]?.checkpoint ?? 0;
    const runFolded = (foldedAt(tStopAsked) - foldedAt(w0)) / ((tStopAsked - w0) / 1000);
    const pubAt = (t: number): number => timeline[firstIndex(timeline, (x) => x.t > t) - 1]?.published ?? 0;
    const runPublished = (pubAt(tStopAsked) - pubAt(w0)) / ((tStopAsked - w0) / 1000);

    // Latency samples: every SAMPLE-th store position in the probed hosts' streams.
    const ingestToQuery: number[] = [];
    const publishToQuery: number[] = [];
    const publishToStored: number[] = [];
    let unanswered = 0;
    let sampledAppends = 0;
    const replyGaps: number[] = [];
    const rtts: number[] = [];
    for (const hostId of probed) {
      const rs = replies.get(hostId)!;
      for (let i = 1; i < rs.length; i++) replyGaps.push(rs[i]!.t - rs[i - 1]!.t);
      for (const r of rs) rtts.push(r.t - r.sent);
      const pubs = published.get(hostId)!;
      for (const r of rows.get(hostId)!) {
        if (Math.ceil(r.position / SAMPLE) * SAMPLE < r.position + r.count) sampledAppends++;
        for (let p = Math.ceil(r.position / SAMPLE) * SAMPLE; p < r.position + r.count; p += SAMPLE) {
          const q = rs[firstIndex(rs, (x) => x.position >= p)];
          if (q === undefined) {
            unanswered++;
            continue;
          }
          ingestToQuery.push(q.t - r.t);
          // Without faults a boot's seqs have no gap: seq = revision + 1.
          const seq = r.revision + (p - r.position) + 1;
          const pub = pubs[firstIndex(pubs, (x) => x.lastSeq >= seq)];
          if (pub !== undefined && pub.firstSeq <= seq) {
            publishToQuery.push(q.t - pub.t);
            publishToStored.push(r.t - pub.t);
          }
        }
      }
    }
    const lat = { ingestToQueryable: latencyStats(ingestToQuery), publishToQueryable: latencyStats(publishToQuery), publishToStored: latencyStats(publishToStored) };

    // --- print --------------------------------------------------------------------------------------
    const run = cpuBetween(cpuStart, cpuRun);
    const drain = cpuBetween(cpuRun, cpuEnd);
    const storedTotal = lastStore.head;
    const foldedTotal = projectorM?.lockline_projector_events_folded_total ?? 0;
    say(
      `  host-sim: ${fmt(publishedEvents)} events acked by JetStream when asked to stop after ${((tStopAsked - tStart) / 1000).toFixed(1)} s, ${fmt(ingestM?.lockline_ingest_events_received_total ?? 0)} with the batches it flushed ` +
        `(${fmt(streamInfo.state.messages)} messages, ${(streamInfo.state.bytes / 1e6).toFixed(0)} MB in the stream); it exited ${((tStop - tStopAsked) / 1000).toFixed(2)} s after SIGTERM; ` +
        `the drain took ${(Math.max(0, (lastFold?.t ?? now()) - tStop) / 1000).toFixed(1)} s more${drained ? '' : ' — NOT DRAINED within the timeout'}`,
    );
    say(
      `  ingest: ${fmt(ingestM?.lockline_ingest_events_appended_total ?? 0)} appended of ${fmt(ingestM?.lockline_ingest_events_received_total ?? 0)} received, ` +
        `${fmt(ingestM?.lockline_ingest_events_duplicate_total ?? 0)} duplicates, ${fmt(ingestM?.lockline_ingest_events_dead_lettered_total ?? 0)} dead letters, ${fmt(ingestM?.lockline_ingest_gaps_total ?? 0)} gaps; ` +
        `${fmt((ingestM?.lockline_ingest_append_batch_events_sum ?? 0) / Math.max(1, ingestM?.lockline_ingest_append_batch_events_count ?? 0))} events per append; ` +
        `projector: ${fmt(foldedTotal)} folded, ${fmt(projectorM?.lockline_projector_findings_total ?? 0)} findings`,
    );
    say();
    say('  time   published/s   stored/s   folded/s   JetStream backlog (batches)');
    // One line a second, or a line every few seconds for long runs.
    const step = Math.max(1, Math.ceil(timeline.length / 16));
    let prev = { t: tStart, published: 0, stored: 0, folded: 0 };
    timeline.forEach((x, i) => {
      if ((i + 1) % step !== 0 && i !== timeline.length - 1) return;
      const dt = (x.t - prev.t) / 1000;
      say(
        `  ${((x.t - tStart) / 1000).toFixed(0).padStart(4)} s ${fmt((x.published - prev.published) / dt).padStart(13)} ${fmt((x.stored - prev.stored) / dt).padStart(10)} ${fmt((x.folded - prev.folded) / dt).padStart(10)} ${fmt(x.backlog).padStart(12)}`,
      );
      prev = x;
    });
    say();
    const ratio = limitRate === undefined ? undefined : foldedRate / limitRate;
    const w = [58, 16];
    say(row(['', 'events/s'], w));
    say(row(['stored by ingest (first event stored → last)', fmt(storedRate)], w));
    say(row(['queryable: folded by the projector (first → last) — (b)', fmt(foldedRate)], w));
    say(row(['  while host-sim ran (2 s → stop): published', fmt(runPublished)], w));
    say(row(['  while host-sim ran: stored', fmt(runStored)], w));
    say(row(['  while host-sim ran: folded', fmt(runFolded)], w));
    if (ratio !== undefined) say(row([`ratio (b) / (a) the limit (${fmt(limitRate!)}/s)`, ratio.toFixed(2)], w));
    say();
    const lw = [44, 7, 9, 9, 9, 9];
    say(row(['latency (ms)', 'n', 'p50', 'p90', 'p99', 'max'], lw));
    const latRow = (label: string, s: ReturnType<typeof latencyStats>): void => {
      if (s === null) say(row([label, '0', '–', '–', '–', '–'], lw));
      else say(row([label, fmt(s.n), s.p50.toFixed(1), s.p90.toFixed(1), s.p99.toFixed(1), s.max.toFixed(1)], lw));
    };
    latRow('ingest → queryable (stored → state shows it)', lat.ingestToQueryable);
    latRow('publish → queryable', lat.publishToQueryable);
    latRow('publish → stored (information)', lat.publishToStored);
    rtts.sort((a, b) => a - b);
    replyGaps.sort((a, b) => a - b);
    const pollEvery = storePolls > 0 ? (cpuEnd.t - cpuStart.t) / storePolls : 0;
    say(
      `  samples: every ${SAMPLE}th store position in the streams of ${probed.join(', ')}, in ${fmt(sampledAppends)} appends (samples of one append share its times)${unanswered ? `; ${unanswered} never shown by a state reply: left out` : ''}. ` +
        `Store polled every ${pollEvery.toFixed(1)} ms on average (${(storePollMs / Math.max(1, storePolls)).toFixed(2)} ms a poll); state replies every ${replyGaps.length ? percentile(replyGaps, 50).toFixed(1) : '?'} ms per host (p50; p99 ${replyGaps.length ? percentile(replyGaps, 99).toFixed(1) : '?'}), ` +
        `round trip p50 ${rtts.length ? percentile(rtts, 50).toFixed(1) : '?'} / p99 ${rtts.length ? percentile(rtts, 99).toFixed(1) : '?'} ms, ${queryErrors} failed; this process's event-loop delay p50 ${(loopDelay.percentile(50) / 1e6).toFixed(1)} / p99 ${(loopDelay.percentile(99) / 1e6).toFixed(1)} ms.`,
    );
    say();
    // CPU per event over run + drain: what each process spends on one event stored and folded.
    const whole = cpuBetween(cpuStart, cpuEnd);
    const usPerEvent = (cores: number | null | undefined): number | null => (cores === null || cores === undefined ? null : (cores * whole.seconds * 1e6) / storedTotal);
    const cw = [24, 8, 8, 14];
    say(row(['CPU', 'run', 'drain', 'µs per event'], cw));
    const names = ['nats-server', 'ingest', 'projector', 'host-sim', 'bench'];
    const label: Record<string, string> = { bench: 'this bench (probes)' };
    const perEvent: Record<string, number | null> = {};
    const cores = (c: number | null | undefined): string => (c === null || c === undefined ? '–' : `${c.toFixed(2)} c`);
    for (const n of names) {
      // host-sim is gone by the end: its CPU until SIGTERM, over the events acked by then.
      perEvent[n] = n === 'host-sim' ? (run.cores[n] === null || run.cores[n] === undefined ? null : (run.cores[n] * run.seconds * 1e6) / publishedEvents) : usPerEvent(whole.cores[n]);
      say(row([label[n] ?? n, cores(run.cores[n]), drain.seconds > 0.2 ? cores(drain.cores[n]) : '–', perEvent[n]?.toFixed(1) ?? '–'], cw));
    }
    const pipelineUs = ['nats-server', 'ingest', 'projector', 'host-sim'].reduce((sum, n) => sum + (perEvent[n] ?? 0), 0);
    say(row(['other processes', `${run.others?.toFixed(2) ?? '?'} c`, drain.seconds > 0.2 ? `${drain.others?.toFixed(2) ?? '?'} c` : '–', ''], cw));
    say(row([`whole machine (of ${cpus().length})`, `${run.machine?.toFixed(2) ?? '?'} c`, drain.seconds > 0.2 ? `${drain.machine?.toFixed(2) ?? '?'} c` : '–', ''], cw));
    say(
      `  c = cores' worth of CPU (/proc/<pid>/stat, all threads). The four processes of the pipeline spend ${pipelineUs.toFixed(1)} µs of CPU per event: ` +
        `${cpus().length} cores could carry at most ~${fmt((cpus().length * 1e6) / pipelineUs)} events/s with this code, whatever the scheduling.`,
    );
    const queryCpu = (projectorM?.lockline_projector_query_duration_seconds_sum ?? 0) / ((cpuEnd.t - cpuStart.t) / 1000);
    const batchCpu = (projectorM?.lockline_projector_batch_duration_seconds_sum ?? 0) / ((cpuEnd.t - cpuStart.t) / 1000);
    say(
      `  run: ${run.seconds.toFixed(1)} s while host-sim ran; drain: ${drain.seconds.toFixed(1)} s after. The projector spent ${queryCpu.toFixed(3)} cores answering the ${fmt(projectorM?.lockline_projector_query_duration_seconds_count ?? 0)} probe queries ` +
        `and ${batchCpu.toFixed(2)} cores in its fold handler (lockline_projector_batch_duration_seconds).`,
    );
    say(`  ${loadNote(run.others)}`);
    say();
    const cpuOut = (u: CpuUse): Record<string, unknown> => ({
      seconds: Number(u.seconds.toFixed(2)),
      ...Object.fromEntries(Object.entries(u.cores).map(([k, v]) => [k, v === null ? null : Number(v.toFixed(3))])),
      others: u.others === null ? null : Number(u.others.toFixed(3)),
      machine: u.machine === null ? null : Number(u.machine.toFixed(3)),
    });
    return {
      seconds: SECONDS,
      hosts: HOSTS,
      probedHosts: probed,
      drained,
      published: publishedEvents,
      stored: storedTotal,
      folded: foldedTotal,
      storedEventsPerSec: Math.round(storedRate),
      queryableEventsPerSec: Math.round(foldedRate),
      whileRunning: { published: Math.round(runPublished), stored: Math.round(runStored), folded: Math.round(runFolded) },
      ratio: ratio === undefined ? null : Number(ratio.toFixed(3)),
      latencyMs: lat,
      probe: {
        storePollMs: Number(pollEvery.toFixed(2)),
        stateReplyGapP50Ms: replyGaps.length ? Number(percentile(replyGaps, 50).toFixed(2)) : null,
        stateRttP50Ms: rtts.length ? Number(percentile(rtts, 50).toFixed(2)) : null,
        stateRttP99Ms: rtts.length ? Number(percentile(rtts, 99).toFixed(2)) : null,
        queryErrors,
        eventLoopDelayP99Ms: Number((loopDelay.percentile(99) / 1e6).toFixed(2)),
        projectorQueryCores: Number(queryCpu.toFixed(4)),
      },
      ingest: ingestM ?? null,
      cpu: { run: cpuOut(run), drain: cpuOut(drain), usPerEvent: Object.fromEntries(Object.entries(perEvent).map(([k, v]) => [k, v === null ? null : Number(v.toFixed(2))])), pipelineUsPerEvent: Number(pipelineUs.toFixed(2)) },
      sampledAppends,
      otherLoadCores: run.others === null ? null : Number(run.others.toFixed(3)),
    };
  } finally {
    for (const t of timers) clearInterval(t);
    for (const s of [...services].reverse()) await s.stop();
    for (const c of connections) await c.close().catch(() => undefined);
    await server.stop();
    rmSync(data, { recursive: true, force: true });
  }
}

/** --cpu-prof: each profiled service's self time, by function and by package. */
function summarizeProfiles(): void {
  for (const svc of CPU_PROF) {
    const dir = join(PROFILE_DIR, svc);
    const file = existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith('.cpuprofile')) : undefined;
    if (file === undefined) {
      say(`  ${svc}: no profile written (did it exit cleanly?)`);
      continue;
    }
    interface ProfileNode {
      id: number;
      callFrame: { functionName: string; url: string; lineNumber: number };
    }
    const prof = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    const self = new Map<number, number>();
    prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
    const fns = new Map<string, number>();
    const pkgs = new Map<string, number>();
    let total = 0;
    let idle = 0;
    for (const [id, us] of self) {
      const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
      if (functionName === '(idle)') {
        idle += us;
        continue;
      }
      total += us;
      const where = url.replace(/^file:\/\//, '');
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(where)?.[1] ?? /\/(libs|services)\/([^/]+)\//.exec(where)?.slice(1).join('/') ?? (where.startsWith('node:') ? 'node' : functionName.startsWith('(') ? functionName : where === '' ? '(native)' : where);
      const fn = `${functionName || '(anonymous)'} ${where ? `${where.split('/').slice(-2).join('/')}:${lineNumber + 1}` : ''}`.trim();
      fns.set(fn, (fns.get(fn) ?? 0) + us);
      pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us);
    }
    const top = (m: Map<string, number>, n: number): string[] =>
      [...m]
        .sort((a, b) => b[1] - a[1])
        .slice(0, n)
        .map(([k, us]) => `${((us / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
    say(`  ${svc}: ${(total / 1e6).toFixed(1)} s of CPU sampled on its main thread (${(idle / 1e6).toFixed(1)} s idle), ${join(dir, file)}`);
    say('    by package (self time):');
    for (const l of top(pkgs, 8)) say(`      ${l}`);
    say('    by function (self time):');
    for (const l of top(fns, 15)) say(`      ${l}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Main

const started = performance.now();
const result: Record<string, unknown> = {
  benchmark: 'pipeline',
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  aims: { eventsPerSec: AIM_EVENTS_PER_SEC, ratio: AIM_RATIO, p99Ms: AIM_P99_MS },
};
const nats = await natsVersion();
result.natsServer = nats;
say(`Lockline pipeline benchmark — ${result.date as string}, node ${process.version}, nats-server ${nats}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'})`);
say();
let limitRate: number | undefined;
if (ONLY.has('a')) {
  const a = await limit();
  result.limit = a;
  limitRate = (a.concurrent as { eventsPerSec: number }).eventsPerSec;
}
if (ONLY.has('b')) {
  const b = await pipeline(limitRate);
  result.pipeline = b;
  if (CPU_PROF.size > 0) {
    say('CPU profiles (--cpu-prof: the profiler slows the services, so the figures above are low):');
    summarizeProfiles();
    say();
  }
  const rate = b.queryableEventsPerSec as number;
  const p99 = (b.latencyMs as { ingestToQueryable: { p99: number } | null }).ingestToQueryable?.p99;
  say(`end to end ≥ ${fmt(AIM_EVENTS_PER_SEC)} events/s: ${fmt(rate)} — ${verdict(rate >= AIM_EVENTS_PER_SEC)}`);
  if (b.ratio !== null) say(`ratio to the limit ≥ ${AIM_RATIO}: ${(b.ratio as number).toFixed(2)} — ${verdict((b.ratio as number) >= AIM_RATIO)}`);
  say(`ingest → queryable p99 < ${AIM_P99_MS} ms: ${p99 === undefined ? '–' : ms1(p99)} — ${verdict(p99 !== undefined && p99 < AIM_P99_MS)}`);
}
result.seconds = Number(((performance.now() - started) / 1000).toFixed(1));
say(`done in ${result.seconds as number} s`);
say(`RESULT ${JSON.stringify(result)}`);
process.exit(0);
