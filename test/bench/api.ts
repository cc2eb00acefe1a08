/**
 * Benchmark of the HTTP API while the pipeline ingests: `npm run bench -- api` (scripts/bench.mjs
 * builds the workspace first, so the services' compiled dist/ is what runs).
 *
 * A real nats-server with the configuration `lockline up` writes (its users and permissions), the
 * streams and the hosts bucket, then services/projector, services/ingest, services/api and
 * services/host-sim as child processes with the environment `lockline up` gives them (SQLite store,
 * log level warn, each its own NATS user; the API with the rate limit lifted). host-sim publishes
 * HOSTS hosts at RATE events/s (default 20,000) for the whole run. Once the API is ready and every
 * host is in its fleet, autocannon (in this process) drives, one route after the other:
 *
 *   - `paced`: 1,000 requests/s evenly spaced, open loop (this process's own client: request i is due
 *     at i ms and its latency counts from then), SECONDS s each: p50, p99, max latency, requests/s
 *     achieved, non-2xx answers — the issue's aim is p99 under 10 ms here;
 *   - `ac`: autocannon at 1,000 requests/s (10 connections, SECONDS/2 s; it paces by a quota per
 *     connection per second, so its load comes in bursts at the start of each second);
 *   - `max`: autocannon as fast as it goes (10 connections, SECONDS/2 s): requests/s, p50, p99;
 *   - then host-sim is stopped and, once the backlog is drained, 1,000 requests/s again with the
 *     pipeline quiet: what the API costs apart from the CPU the pipeline takes from it.
 *
 * Routes: GET /v1/fleet (held in the API's memory, watched from the hosts bucket), GET /v1/hosts/:id
 * (a `state` question to the projector over NATS) and GET /v1/hosts/:id/tree (a `tree` question:
 * every process of the host). The ingest rate during each run is ingest's own counter of events
 * appended (its /metrics), over the run; the API's CPU per request is its process's CPU time
 * (/proc/<pid>/stat) over the run divided by the answers — a figure other load on the machine does
 * not inflate, unlike the latencies.
 *
 * Options: --seconds=N (per fixed-rate run, default 10), --rate=N (host-sim's events/s, default
 * 20000), --hosts=N (default 8), --request-rate=N (default 1000). About 100 s with the defaults.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { connect } from 'nats';
import { ensureHostsBucket, ensureIngestConsumers, ensureStreams, natsAuthOptions } from '@lockline/bus';
import { freePort, startNatsServer } from '@lockline/bus/testing';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function option(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  if (arg === undefined) return fallback;
  const n = Number(arg.slice(name.length + 3));
  if (!Number.isSafeInteger(n) || n <= 0) {
    process.stderr.write(`--${name}: expected a positive whole number, got ${arg}\n`);
    process.exit(2);
  }
  return n;
}
for (const a of process.argv.slice(2)) {
  if (!/^--(seconds|rate|hosts|request-rate)=/.test(a)) {
    process.stderr.write(`unknown option ${a}; options: --seconds=N --rate=N --hosts=N --request-rate=N\n`);
    process.exit(2);
  }
}
const SECONDS = option('seconds', 10);
const RATE = option('rate', 20_000);
const HOSTS = option('hosts', 8);
const REQUEST_RATE = option('request-rate', 1000);
const CONNECTIONS = 10;
const TOKEN = 'bench-viewer-token-0123456789abcdef';

const say = (line = ''): void => void process.stdout.write(`${line}\n`);

class Service {
  readonly proc: ChildProcess;
  private tail = '';
  constructor(
    readonly name: string,
    env: Record<string, string>,
  ) {
    this.proc = spawn(process.execPath, [join(REPO, 'services', name, 'dist/main.js')], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr?.on('data', (d: Buffer) => (this.tail = (this.tail + d.toString()).slice(-3000)));
  }
  get log(): string {
    return this.tail;
  }
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, ms: number, services: Service[]): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what}: not within ${ms / 1000} s\n${services.map((s) => `--- ${s.name}\n${s.log}`).join('\n')}`);
}

async function appended(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const m = /^lockline_ingest_events_appended_total(?:\{[^}]*\})? (\d+)/m.exec(text);
  return m === null ? 0 : Number(m[1]);
}

/** CPU seconds (user + system, all threads) process `pid` has used, from /proc. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return Number.NaN;
  }
}

let apiPid: number | undefined;

/** Runs `fn` and adds the API process's CPU per answered request to its result. */
async function withCpu(fn: () => Promise<Run>): Promise<Run> {
  const before = cpuSeconds(apiPid);
  const t0 = performance.now();
  const r = await fn();
  const seconds = (performance.now() - t0) / 1000;
  return { ...r, cpuUs: ((cpuSeconds(apiPid) - before) / (r.rps * seconds)) * 1e6 };
}

interface Run {
  /** the API process's CPU per request, µs */
  cpuUs?: number;
  route: string;
  mode: string;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  ingest: number;
}

async function drive(url: string, route: string, seconds: number, overallRate: number | undefined, ingestPort: number): Promise<Run> {
  const before = await appended(ingestPort);
  const t0 = Date.now();
  const r = await autocannon({
    url: `${url}${route}`,
    connections: CONNECTIONS,
    duration: seconds,
    headers: { authorization: `Bearer ${TOKEN}` },
    ...(overallRate === undefined ? {} : { overallRate, ignoreCoordinatedOmission: true }),
  });
  const ingest = ((await appended(ingestPort)) - before) / ((Date.now() - t0) / 1000);
  return {
    route,
    mode: overallRate === undefined ? 'max' : `${overallRate}/s ac`,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    ingest,
  };
}

/**
 * Requests at an even pace, open loop: request i is due at start + i/rate and its latency counts
 * from then, whether or not earlier answers have come (no coordinated omission). autocannon's own
 * `overallRate` gives each connection a quota per second, which it sends back to back as soon as the
 * second begins: bursts, with latencies that say more about the burst than about the rate.
 */
async function paced(url: string, route: string, seconds: number, rate: number, ingestPort: number): Promise<Run> {
  const before = await appended(ingestPort);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const target = new URL(`${url}${route}`);
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  let sent = 0;
  const total = seconds * rate;
  const start = performance.now();
  const pending = new Set<Promise<void>>();
  const one = (due: number): Promise<void> =>
    new Promise<void>((done) => {
      const req = request({ host: target.hostname, port: target.port, path: target.pathname, agent, headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
        if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode > 299) non2xx++;
        res.resume();
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
      const now = performance.now();
      while (sent < total && start + (sent * 1000) / rate <= now) {
        const p = one(start + (sent * 1000) / rate);
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
  const sorted = latencies.sort((a, b) => a - b);
  const at = (q: number): number => Number((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(1));
  return { route, mode: `${rate}/s paced`, rps: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), max: at(1), non2xx, errors, ingest: ((await appended(ingestPort)) - before) / elapsed };
}

async function main(): Promise<void> {
  const data = mkdtempSync(join(tmpdir(), 'lockline-bench-api-'));
  const hostIds = Array.from({ length: HOSTS }, (_, i) => `host-${String(i + 1).padStart(3, '0')}`);
  const server = await startNatsServer({ auth: { hosts: hostIds } });
  const services: Service[] = [];
  try {
    const admin = await connect({ servers: server.url, ...natsAuthOptions(server.credentials.admin!) });
    const jsm = await admin.jetstreamManager();
    await ensureStreams(jsm, { partitions: 1 });
    await ensureIngestConsumers(jsm, 1);
    await ensureHostsBucket(jsm);
    await admin.close();

    const storeUrl = `sqlite:${join(data, 'events.db')}`;
    const cred = (role: string): Record<string, string> => ({ LOCKLINE_NATS_USER: server.credentials[role]!.user, LOCKLINE_NATS_PASSWORD: server.credentials[role]!.password });
    const common = { LOCKLINE_NATS_URL: server.url, LOCKLINE_LOG_LEVEL: 'warn' };
    const [projectorPort, ingestPort, hostSimPort, apiPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    services.push(new Service('projector', { ...common, ...cred('projector'), LOCKLINE_STORE: storeUrl, LOCKLINE_PARTITIONS: '1', LOCKLINE_PARTITIONS_MINE: '0', LOCKLINE_METRICS_PORT: String(projectorPort) }));
    services.push(new Service('ingest', { ...common, ...cred('ingest'), LOCKLINE_STORE: storeUrl, LOCKLINE_PARTITIONS_MINE: '0', LOCKLINE_METRICS_PORT: String(ingestPort) }));
    services.push(
      new Service('api', {
        ...common,
        ...cred('api'),
        LOCKLINE_STORE: storeUrl,
        LOCKLINE_PARTITIONS: '1',
        LOCKLINE_API_PORT: String(apiPort),
        LOCKLINE_API_TOKENS: `viewer:${TOKEN}`,
        LOCKLINE_API_RATE_LIMIT: '10000000',
      }),
    );
    apiPid = services.at(-1)!.proc.pid;
    const url = `http://127.0.0.1:${apiPort}`;
    await waitFor('projector, ingest and api healthy', async () => (await fetch(`http://127.0.0.1:${projectorPort}/healthz`)).ok && (await fetch(`http://127.0.0.1:${ingestPort}/healthz`)).ok && (await fetch(`${url}/readyz`)).ok, 30_000, services);
    services.push(
      new Service('host-sim', { ...common, ...cred('hostsim'), LOCKLINE_HOSTS: String(HOSTS), LOCKLINE_SEED: '1', LOCKLINE_RATE: String(RATE), LOCKLINE_STATE_DIR: join(data, 'host-sim'), LOCKLINE_METRICS_PORT: String(hostSimPort) }),
    );
    await waitFor(
      `all ${HOSTS} hosts in the fleet`,
      async () => ((await (await fetch(`${url}/v1/fleet`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { hosts: unknown[] }).hosts.length === HOSTS,
      30_000,
      services,
    );
    // Let the pipeline reach its pace.
    await sleep(3000);

    say(`API benchmark: ${HOSTS} simulated hosts publishing at ${RATE.toLocaleString('en-US')} events/s (host-sim LOCKLINE_RATE), ${CONNECTIONS} connections, autocannon`);
    say(`load average at start (1 min): ${loadavg()[0]!.toFixed(2)} on ${cpus().length} cores — anything above ~3 is other work on this machine and shows in the tails`);
    const routes = ['/v1/fleet', `/v1/hosts/${hostIds[0]}`, `/v1/hosts/${hostIds[0]}/tree`];
    const runs: Run[] = [];
    const short = Math.max(2, Math.round(SECONDS / 2));
    // An untimed round first: the API's and the projector's code optimised, the client's sockets
    // open (without it the first route measured took the warm-up: p50 ~1 s for the fleet).
    for (const route of routes) await paced(url, route, 2, REQUEST_RATE, ingestPort);
    for (const route of routes) runs.push(await withCpu(() => paced(url, route, SECONDS, REQUEST_RATE, ingestPort)));
    for (const route of routes) runs.push(await withCpu(() => drive(url, route, short, REQUEST_RATE, ingestPort)));
    for (const route of routes) runs.push(await withCpu(() => drive(url, route, short, undefined, ingestPort)));
    // The same routes with the pipeline quiet (host-sim stopped, the backlog drained): what the API
    // itself costs, apart from the CPU the pipeline takes from it.
    const hostSim = services.pop()!;
    await hostSim.stop();
    let last = -1;
    await waitFor('the pipeline drained', async () => {
      const now = await appended(ingestPort);
      const still = now === last;
      last = now;
      await sleep(400);
      return still;
    }, 60_000, services);
    for (const route of routes) runs.push({ ...(await withCpu(() => paced(url, route, short, REQUEST_RATE, ingestPort))), mode: `${REQUEST_RATE}/s quiet` });

    const cell = (s: string | number, w: number): string => String(s).padStart(w);
    say();
    say(`${'route'.padEnd(24)}${cell('load', 16)}${cell('req/s', 9)}${cell('p50 ms', 8)}${cell('p99 ms', 8)}${cell('max ms', 8)}${cell('non-2xx', 9)}${cell('errors', 8)}${cell('ingest ev/s', 13)}${cell('API CPU µs/req', 16)}`);
    for (const r of runs) {
      say(
        `${r.route.replace(hostIds[0]!, ':id').padEnd(24)}${cell(r.mode, 16)}${cell(Math.round(r.rps).toLocaleString('en-US'), 9)}${cell(r.p50, 8)}${cell(r.p99, 8)}${cell(r.max, 8)}${cell(r.non2xx, 9)}${cell(r.errors, 8)}${cell(Math.round(r.ingest).toLocaleString('en-US'), 13)}${cell(r.cpuUs === undefined || Number.isNaN(r.cpuUs) ? '-' : Math.round(r.cpuUs), 16)}`,
      );
    }
    say();
    for (const r of runs.filter((x) => x.mode === `${REQUEST_RATE}/s paced`)) {
      const ok = r.p99 < 10 && r.non2xx === 0 && r.errors === 0;
      say(`aim p99 < 10 ms at ${REQUEST_RATE}/s during ingest, ${r.route.replace(hostIds[0]!, ':id')}: ${ok ? 'PASS' : 'MISS'} (p99 ${r.p99} ms, ingest ${Math.round(r.ingest).toLocaleString('en-US')} events/s)`);
    }
  } finally {
    for (const s of [...services].reverse()) await s.stop();
    await server.stop();
    rmSync(data, { recursive: true, force: true });
  }
}

await main();
