import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DLQ_STREAM, EVENTS_STREAM, FINDINGS_STREAM, ensureHostsBucket, ensureIngestConsumers, ensureStreams } from '@lockline/bus';
import { writeNatsConfig } from '@lockline/bus/config';
import type { NatsCredential } from '@lockline/bus/config';
import { PROFILES, isProfileName } from '@lockline/kernel';
import { connectNats, createLogger } from '@lockline/runtime';
import type { NatsConnection } from '@lockline/runtime';
import { parseFaults } from '@lockline/sim';
import type { Command, Io } from '../command.js';
import { EXIT_OK, UsageError } from '../command.js';
import { openStore } from '../input.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository (services/cli/dist/commands → ../../../..). */
const repo = resolve(here, '../../../..');

interface ServiceSpec {
  name: string;
  /** the compiled entry point of the service */
  main: string;
  env: Record<string, string>;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => res(port));
    });
  });
}

function natsServerPath(io: Io): Promise<string> {
  return new Promise((res, rej) => {
    const p = spawn('bash', [join(repo, 'scripts/nats-server.sh')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => io.err(d.toString().trimEnd()));
    p.on('error', rej);
    p.on('close', (code) => (code === 0 ? res(out.trim()) : rej(new UsageError('no nats-server ≥ 2.10 could be found or installed (see above)'))));
  });
}

/** `port` if nothing listens on it, else any free port. */
function portOrFree(port: number): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => void freePort().then(res, () => res(0)));
    s.listen(port, '127.0.0.1', () => s.close(() => res(port)));
  });
}

/** The API's bearer tokens, made once per data folder (mode 0600) so that a bookmarked one keeps working. */
async function apiTokens(data: string): Promise<{ viewer: string; operator: string }> {
  const path = join(data, 'api-tokens.json');
  try {
    const t = JSON.parse(await readFile(path, 'utf8')) as { viewer?: unknown; operator?: unknown };
    if (typeof t.viewer === 'string' && typeof t.operator === 'string') return { viewer: t.viewer, operator: t.operator };
  } catch {
    /* none yet */
  }
  const tokens = { viewer: randomBytes(24).toString('base64url'), operator: randomBytes(24).toString('base64url') };
  await writeFile(path, `${JSON.stringify(tokens, null, 2)}\n`, { mode: 0o600 });
  return tokens;
}

async function waitHealthy(url: string, ms: number, logs: () => string): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new UsageError(`nats-server did not become healthy in ${ms / 1000} s:\n${logs()}`);
}

/** A child process that is restarted when it dies, until stopped. */
class Supervised {
  private child: ChildProcess | undefined;
  private stopping = false;
  restarts = 0;
  private lastStart = 0;

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly env: Record<string, string>,
    private readonly io: Io,
  ) {}

  get alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    this.lastStart = Date.now();
    const child = spawn(this.command, this.args, { env: { ...process.env, ...this.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let tail = '';
    child.stderr?.on('data', (d: Buffer) => {
      tail = (tail + d.toString()).slice(-4000);
    });
    child.on('exit', (code, signal) => {
      if (this.stopping) return;
      const last = tail.trim().split('\n').slice(-3).join('\n    ');
      // A service that keeps dying right away is restarted less and less often.
      const delay = Date.now() - this.lastStart < 5000 ? Math.min(30_000, 1000 * 2 ** Math.min(this.restarts, 5)) : 1000;
      this.restarts++;
      this.io.err(`up: ${this.name} exited (${signal ?? `code ${code}`}); restarting in ${delay / 1000} s${last ? `\n    ${last}` : ''}`);
      setTimeout(() => {
        if (!this.stopping) this.start();
      }, delay).unref();
    });
  }

  /**
   * No more restarts: everything is stopping. Said to every service as soon as a stop is asked for,
   * since a Ctrl-C in a terminal reaches the whole process group — the services exit by themselves
   * while `up` is still stopping the ones before them in order, and must not be brought back.
   */
  stopRestarting(): void {
    this.stopping = true;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || !this.alive) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

export const up: Command = {
  path: ['up'],
  summary: 'start the whole system on this machine: NATS, ingest, projector, the API and simulated hosts',
  usage: 'lockline up [--hosts N] [--rate R] [--seed S] [--profile P] [--faults LIST] [--store URL] [--nats URL] [--api-port P] [--data DIR] [--duration S]',
  help: `Starts, on this machine: a nats-server with JetStream (fetched by scripts/nats-server.sh if needed)
with a configuration that gives every host and service its own user and nothing more; the ingest
service; the projector; the HTTP API (serving the dashboard at /); and --hosts simulated hosts
publishing at --rate events/s. The event store is SQLite in the data folder unless --store says
otherwise. Prints what it started and where, the dashboard's URL with a token, then a line of
progress every second; Ctrl-C stops everything in order (API, hosts, ingest, projector, NATS).
A service that crashes is restarted, and says so.

Options:
  --hosts N        simulated hosts (default 8)
  --rate R         target events/s over all hosts (default 2000; 0: as fast as acks allow)
  --seed S         the simulation's seed (default 1)
  --profile P      the hosts' kernel: ${PROFILES.join(', ')} (default linux-2008-patch)
  --faults LIST    fault injection, as for \`lockline sim\` (default none)
  --partitions N   hosts are split into N partitions, one ingest and one projector copy each (default 1)
  --store URL      event store (default sqlite:DATA/events.db); an EventStoreDB connection string works too
  --nats URL       use this NATS instead of starting one (its users/permissions are then yours to set up;
                   --nats-user/--nats-password are given to every service)
  --api-port P     the API's port on 127.0.0.1 (default 8080, or any free one if 8080 is taken); its
                   bearer tokens are made once and kept in DATA/api-tokens.json
  --data DIR       where NATS, the store and the services keep their files (default .lockline)
  --fresh          delete DATA first
  --duration S     stop by itself after S seconds (default: run until Ctrl-C)`,
  options: {
    hosts: { type: 'string' },
    rate: { type: 'string' },
    seed: { type: 'string' },
    profile: { type: 'string' },
    faults: { type: 'string' },
    partitions: { type: 'string' },
    store: { type: 'string' },
    nats: { type: 'string' },
    'api-port': { type: 'string' },
    'nats-user': { type: 'string' },
    'nats-password': { type: 'string' },
    data: { type: 'string' },
    fresh: { type: 'boolean' },
    duration: { type: 'string' },
  },
  async run({ values, io }) {
    const int = (name: string, fallback: number, min: number): number => {
      const v = values[name];
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name}: expected a whole number ≥ ${min}, got "${String(v)}"`);
      return n;
    };
    const hosts = int('hosts', 8, 1);
    const rate = int('rate', 2000, 0);
    const partitions = int('partitions', 1, 1);
    const duration = values.duration === undefined ? undefined : int('duration', 0, 1);
    const profile = (values.profile as string | undefined) ?? 'linux-2008-patch';
    if (!isProfileName(profile)) throw new UsageError(`--profile: unknown profile "${profile}" (expected one of ${PROFILES.join(', ')})`);
    const faults = (values.faults as string | undefined) ?? '';
    try {
      parseFaults(faults);
    } catch (err) {
      throw new UsageError(`--faults: ${(err as Error).message}`);
    }
    const apiPort = int('api-port', 8080, 1);
    for (const svc of ['ingest', 'projector', 'host-sim', 'api']) {
      const main = join(repo, 'services', svc, 'dist/main.js');
      if (!existsSync(main)) throw new UsageError(`the ${svc} service is not built (${main} is missing): run \`npm run build\``);
    }
    const data = resolve((values.data as string | undefined) ?? '.lockline');
    if (values.fresh) await rm(data, { recursive: true, force: true });
    await mkdir(data, { recursive: true });
    const storeUrl = (values.store as string | undefined) ?? `sqlite:${join(data, 'events.db')}`;
    const hostIds = Array.from({ length: hosts }, (_, i) => `host-${String(i + 1).padStart(3, '0')}`);
    const log = createLogger('up', 'warn');

    // 1. NATS
    let natsUrl = values.nats as string | undefined;
    let nats: Supervised | undefined;
    let creds: Record<string, NatsCredential | undefined> = {};
    let monitorUrl: string | undefined;
    if (natsUrl === undefined) {
      const binary = await natsServerPath(io);
      const port = await freePort();
      const monitorPort = await freePort();
      const { configPath, credentials } = await writeNatsConfig({
        dir: join(data, 'nats'),
        port,
        monitorPort,
        serverName: 'lockline-local',
        jetstream: { storeDir: join(data, 'nats', 'store'), maxMemory: 256 * 2 ** 20, maxFile: 8 * 2 ** 30 },
        users: { hosts: hostIds },
      });
      creds = credentials;
      natsUrl = `nats://127.0.0.1:${port}`;
      monitorUrl = `http://127.0.0.1:${monitorPort}`;
      nats = new Supervised('nats-server', binary, ['-c', configPath, '-a', '127.0.0.1'], {}, io);
      nats.start();
      await waitHealthy(monitorUrl, 20_000, () => 'see the nats-server output above');
    } else {
      const user = values['nats-user'] as string | undefined;
      const password = values['nats-password'] as string | undefined;
      const shared = user ? { user, password: password ?? '', inboxPrefix: '_INBOX' } : undefined;
      creds = { admin: shared, ingest: shared, projector: shared, hostsim: shared, api: shared };
    }
    const credEnv = (role: string): Record<string, string> => {
      const c = creds[role];
      return c ? { LOCKLINE_NATS_USER: c.user, LOCKLINE_NATS_PASSWORD: c.password } : {};
    };

    // 2. Streams, consumers, the hosts bucket (as admin)
    let nc: NatsConnection;
    try {
      const admin = creds.admin;
      nc = await connectNats({ url: natsUrl, name: 'lockline-up', ...(admin ? { user: admin.user, password: admin.password, inboxPrefix: admin.inboxPrefix } : {}) }, log);
      const jsm = await nc.jetstreamManager();
      await ensureStreams(jsm, { partitions });
      await ensureIngestConsumers(jsm, partitions);
      await ensureHostsBucket(jsm);
    } catch (err) {
      await nats?.stop();
      throw new UsageError(`cannot set up NATS at ${natsUrl}: ${(err as Error).message}`);
    }

    // 3. Services
    const common = { LOCKLINE_NATS_URL: natsUrl, LOCKLINE_LOG_LEVEL: 'warn' };
    const specs: ServiceSpec[] = [];
    for (let p = 0; p < partitions; p++) {
      const projectorMetrics = await freePort();
      specs.push({
        name: partitions > 1 ? `projector-${p}` : 'projector',
        main: join(repo, 'services/projector/dist/main.js'),
        env: { ...common, ...credEnv('projector'), LOCKLINE_STORE: storeUrl, LOCKLINE_PARTITIONS: String(partitions), LOCKLINE_PARTITIONS_MINE: String(p), LOCKLINE_PROFILE: profile, LOCKLINE_METRICS_PORT: String(projectorMetrics) },
      });
    }
    for (let p = 0; p < partitions; p++) {
      const ingestMetrics = await freePort();
      specs.push({
        name: partitions > 1 ? `ingest-${p}` : 'ingest',
        main: join(repo, 'services/ingest/dist/main.js'),
        env: { ...common, ...credEnv('ingest'), LOCKLINE_STORE: storeUrl, LOCKLINE_PARTITIONS_MINE: String(p), LOCKLINE_METRICS_PORT: String(ingestMetrics) },
      });
    }
    const hostSimMetrics = await freePort();
    specs.push({
      name: 'host-sim',
      main: join(repo, 'services/host-sim/dist/main.js'),
      env: {
        ...common,
        ...credEnv('hostsim'),
        LOCKLINE_HOSTS: String(hosts),
        LOCKLINE_SEED: String(values.seed ?? '1'),
        LOCKLINE_PROFILE: profile,
        LOCKLINE_FAULTS: faults,
        LOCKLINE_RATE: String(rate),
        LOCKLINE_STATE_DIR: join(data, 'host-sim'),
        LOCKLINE_METRICS_PORT: String(hostSimMetrics),
      },
    });
    const tokens = await apiTokens(data);
    const apiUrl = `http://127.0.0.1:${await portOrFree(apiPort)}`;
    specs.push({
      name: 'api',
      main: join(repo, 'services/api/dist/main.js'),
      env: {
        ...common,
        ...credEnv('api'),
        LOCKLINE_STORE: storeUrl,
        LOCKLINE_PARTITIONS: String(partitions),
        LOCKLINE_API_PORT: apiUrl.slice(apiUrl.lastIndexOf(':') + 1),
        LOCKLINE_API_TOKENS: `viewer:${tokens.viewer},operator:${tokens.operator}`,
      },
    });
    const services = specs.map((s) => new Supervised(s.name, process.execPath, [s.main], s.env, io));
    for (const s of services) s.start();

    io.out(`Lockline is up (data in ${data})`);
    io.out(`  nats-server   ${natsUrl}${monitorUrl ? `  (monitoring ${monitorUrl}; users and passwords in ${join(data, 'nats', 'nats.conf')})` : ' (yours)'}`);
    io.out(`  event store   ${storeUrl}`);
    for (const s of specs) io.out(`  ${s.name.padEnd(13)} pid ${services.find((x) => x.name === s.name)?.pid ?? '?'}, ${s.name === 'api' ? `${apiUrl}  (routes at ${apiUrl}/docs; metrics ${apiUrl}/metrics)` : `metrics http://127.0.0.1:${s.env.LOCKLINE_METRICS_PORT}/metrics`}`);
    io.out(`  ${hosts} simulated hosts (${profile}) at ${rate ? `${rate} events/s` : 'full speed'}${faults ? `, faults ${faults}` : ''}`);
    io.out(`Try: npx lockline audit --store ${storeUrl}   (Ctrl-C here stops everything)`);
    io.out(`Dashboard: ${apiUrl}/   token (viewer): ${tokens.viewer}   (operator token in ${join(data, 'api-tokens.json')})`);

    // 4. Progress, once a second
    const store = await openStore(storeUrl);
    const started = Date.now();
    let lastStored = 0;
    let lastAt = Date.now();
    const tty = Boolean(process.stdout.isTTY);
    const tick = async (): Promise<void> => {
      let stored = 0;
      for (const s of await store.listStreams()) stored += s.lastRevision + 1;
      const jsm = await nc.jetstreamManager();
      const count = async (name: string): Promise<number> => (await jsm.streams.info(name)).state.messages;
      // LOCKLINE_EVENTS is a work queue: what it holds is what ingest has yet to store.
      const [backlog, findings, dead] = await Promise.all([count(EVENTS_STREAM), count(FINDINGS_STREAM), count(DLQ_STREAM)]);
      const now = Date.now();
      const rateNow = Math.round(((stored - lastStored) * 1000) / Math.max(1, now - lastAt));
      lastStored = stored;
      lastAt = now;
      const down = services.filter((s) => !s.alive).map((s) => s.name);
      const line = `${Math.round((now - started) / 1000)}s  stored ${stored.toLocaleString('en-US')} events (${rateNow.toLocaleString('en-US')}/s)  backlog ${backlog.toLocaleString('en-US')} batch${backlog === 1 ? '' : 'es'}  findings ${findings.toLocaleString('en-US')}  dead letters ${dead}${down.length ? `  DOWN: ${down.join(', ')}` : ''}`;
      if (tty) process.stdout.write(`\r${line}\x1b[K`);
      else io.out(line);
    };
    const timer = setInterval(() => void tick().catch(() => undefined), 1000);

    // 5. Stop in order on Ctrl-C / SIGTERM / --duration
    await new Promise<void>((res) => {
      // Whichever comes first; the others are let go, or a pending --duration timer would keep
      // the process alive after Ctrl-C stopped everything.
      let durationTimer: ReturnType<typeof setTimeout> | undefined;
      const done = (): void => {
        clearTimeout(durationTimer);
        process.off('SIGINT', done);
        process.off('SIGTERM', done);
        res();
      };
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
      if (duration !== undefined) durationTimer = setTimeout(done, duration * 1000);
    });
    for (const s of services) s.stopRestarting();
    clearInterval(timer);
    await tick().catch(() => undefined);
    if (tty) process.stdout.write('\n');
    io.out('stopping: api, host-sim, ingest, projector, nats-server …');
    for (const name of ['api', 'host-sim', 'ingest', 'projector']) {
      await Promise.all(services.filter((s) => s.name.startsWith(name)).map((s) => s.stop()));
    }
    await store.close();
    await nc.close();
    await nats?.stop();
    const restarted = services.filter((s) => s.restarts > 0).map((s) => `${s.name} ×${s.restarts}`);
    io.out(`stopped${restarted.length ? ` (restarts: ${restarted.join(', ')})` : ''}. The events stay in ${storeUrl}.`);
    return EXIT_OK;
  },
};
