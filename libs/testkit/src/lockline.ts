import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureHostsBucket, ensureIngestConsumers, ensureStreams, natsAuthOptions } from '@lockline/bus';
import { freePort } from '@lockline/bus/testing';
import { parseScenario } from '@lockline/events';
import type { ProfileName } from '@lockline/kernel';
import { fleetHostId } from '@lockline/sim';
import { connect, type NatsConnection } from 'nats';
import { LocklineApiError, LocklineClient, type Finding, type FindingsQuery, type HostStateView } from './client.js';
import { containersAvailable, containerLauncher, type ContainerImages } from './containerLauncher.js';
import type { Launcher, RunningNats, RunningService } from './launcher.js';
import { localLauncher } from './localLauncher.js';
import { publishScenario, type DrivenHost } from './scenario.js';
import { sleep } from './wait.js';

/** The Lockline checkout this package belongs to: where the services' dist/main.js are. */
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export type Backend = 'local' | 'containers';

export interface StartLocklineOptions {
  /** Simulated hosts publishing a workload (host-sim); 0 for none (default 0: drive hosts with scenarios). */
  hosts?: number;
  /** host-sim's seed (default "1"). */
  seed?: string;
  /** The kernel the simulated hosts and the projector run (default linux-2008-patch). */
  profile?: ProfileName;
  /** host-sim's events/s (default 2000; 0 = as fast as it can). */
  rate?: number;
  /** The event store: "sqlite" (default, a file in a temp folder) or an EventStoreDB connection string. */
  store?: 'sqlite' | string;
  /** "auto" (default): containers where a Docker engine answers, local processes otherwise. */
  backend?: Backend | 'auto';
  /** Container images (containers backend); see buildLocalImages. */
  images?: Partial<ContainerImages>;
  /** How long to wait for every service to be ready (default 60 s). */
  readyTimeoutMs?: number;
}

export interface Lockline {
  readonly backend: Backend;
  /** The API's base URL (`http://127.0.0.1:<port>`); the dashboard is at `/`. */
  readonly apiUrl: string;
  readonly natsUrl: string;
  readonly storeUrl: string;
  /** Bearer tokens for the API. */
  readonly tokens: { readonly viewer: string; readonly operator: string };
  /** An API client with the viewer token. */
  readonly client: LocklineClient;
  /** The simulated hosts' ids (host-001 …). */
  readonly hostIds: readonly string[];
  /**
   * Runs a scenario file (spec/scenario-format.md) as a host of its own: its events are published to
   * NATS as a simulated host would, and flow through ingest and the projector. Returns the host, its
   * boot and the seq of its last event (wait for it with waitForSeq).
   */
  driveScenario(scenario: string | { path: string } | Record<string, unknown>, options?: { hostId?: string; profile?: ProfileName; seed?: number }): Promise<DrivenHost>;
  /** Resolves once the projection of `hostId` has folded `seq` (its current boot); returns its state. */
  waitForSeq(hostId: string, seq: number, options?: { timeoutMs?: number }): Promise<HostStateView>;
  /**
   * Resolves with the first finding matching `match` (waiting for it up to timeoutMs, default 10 s);
   * throws naming what was asked and the findings there were.
   */
  expectFinding(match: FindingsQuery & { code: string; bootId?: string; seq?: number }, options?: { timeoutMs?: number }): Promise<Finding>;
  /** The log output of every service so far, by name: for a failing test's report. */
  logs(): Record<string, string>;
  stop(): Promise<void>;
}

/** Chooses the backend: containers where an engine answers (fast to tell: 1–3 ms when none). */
export async function chooseBackend(wanted: StartLocklineOptions['backend']): Promise<Backend> {
  if (wanted === 'local' || wanted === 'containers') return wanted;
  return (await containersAvailable()) ? 'containers' : 'local';
}

function serviceMain(name: string): string {
  const main = join(REPO, 'services', name, 'dist', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: build Lockline first (npm run build in ${REPO})`);
  return main;
}

async function waitHttp(url: string, what: string, timeoutMs: number, service: RunningService): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (!service.running) throw new Error(`${service.name} exited before it was ready:\n${service.logs().slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`${what} was not ready within ${timeoutMs} ms:\n${service.logs().slice(-4000)}`);
    await sleep(100);
  }
}

/**
 * Starts a whole Lockline for a test: nats-server with Lockline's users, the streams, ingest, the
 * projector, the API and (with `hosts`) simulated hosts; returns once every one is ready.
 *
 *     const lockline = await startLockline({ hosts: 0 });
 *     const host = await lockline.driveScenario('examples/mlock-inherit-make.json');
 *     await lockline.waitForSeq(host.hostId, host.lastSeq);
 *     await lockline.expectFinding({ code: 'LOCKED_OVER_LIMIT', hostId: host.hostId });
 *     await lockline.stop();
 */
export async function startLockline(options: StartLocklineOptions = {}): Promise<Lockline> {
  const backend = await chooseBackend(options.backend);
  const launcher: Launcher = backend === 'containers' ? await containerLauncher(options.images) : localLauncher();
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const profile = options.profile ?? 'linux-2008-patch';
  const hostIds = Array.from({ length: options.hosts ?? 0 }, (_, i) => fleetHostId('host-', i));
  const dir = await mkdtemp(join(tmpdir(), 'lockline-testkit-'));
  const storeUrl = options.store === undefined || options.store === 'sqlite' ? `sqlite:${join(dir, 'events.db')}` : options.store;
  const services: RunningService[] = [];
  const connections: NatsConnection[] = [];
  let nats: RunningNats | undefined;

  const stop = async (): Promise<void> => {
    // The API and the hosts first, then ingest and the projector, then NATS.
    for (const s of [...services].reverse()) await s.stop().catch(() => undefined);
    for (const nc of connections) await nc.close().catch(() => undefined);
    await nats?.stop().catch(() => undefined);
    await launcher.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    nats = await launcher.startNats({ hosts: hostIds, dir });
    const as = async (user: string): Promise<NatsConnection> => {
      const credential = nats!.credentials[user];
      if (credential === undefined) throw new Error(`no NATS user ${user}`);
      const nc = await connect({ servers: nats!.url, ...natsAuthOptions(credential), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
      connections.push(nc);
      return nc;
    };
    const admin = await as('admin');
    const jsm = await admin.jetstreamManager();
    await ensureStreams(jsm, { partitions: 1 });
    await ensureIngestConsumers(jsm, 1);
    await ensureHostsBucket(jsm);
    const publisherConnection = await as('hostsim');

    const credEnv = (user: string): Record<string, string> => {
      const c = nats!.credentials[user]!;
      return { LOCKLINE_NATS_USER: c.user, LOCKLINE_NATS_PASSWORD: c.password };
    };
    const common = { LOCKLINE_NATS_URL: nats.url, LOCKLINE_LOG_LEVEL: 'warn' };
    const tokens = { viewer: randomBytes(18).toString('base64url'), operator: randomBytes(18).toString('base64url') };
    const ports = { ingest: await freePort(), projector: await freePort(), hostSim: await freePort(), api: await freePort() };

    const ingest = await launcher.startService({ name: 'ingest', main: serviceMain('ingest'), env: { ...common, ...credEnv('ingest'), LOCKLINE_STORE: storeUrl, LOCKLINE_METRICS_PORT: String(ports.ingest) } });
    services.push(ingest);
    const projector = await launcher.startService({
      name: 'projector',
      main: serviceMain('projector'),
      env: { ...common, ...credEnv('projector'), LOCKLINE_STORE: storeUrl, LOCKLINE_PARTITIONS: '1', LOCKLINE_PROFILE: profile, LOCKLINE_METRICS_PORT: String(ports.projector) },
    });
    services.push(projector);
    const api = await launcher.startService({
      name: 'api',
      main: serviceMain('api'),
      env: { ...common, ...credEnv('api'), LOCKLINE_STORE: storeUrl, LOCKLINE_PARTITIONS: '1', LOCKLINE_API_PORT: String(ports.api), LOCKLINE_API_TOKENS: `viewer:${tokens.viewer},operator:${tokens.operator}` },
    });
    services.push(api);
    await waitHttp(`http://127.0.0.1:${ports.ingest}/healthz`, 'ingest', readyTimeoutMs, ingest);
    await waitHttp(`http://127.0.0.1:${ports.projector}/healthz`, 'the projector', readyTimeoutMs, projector);
    const apiUrl = `http://127.0.0.1:${ports.api}`;
    await waitHttp(`${apiUrl}/readyz`, 'the API', readyTimeoutMs, api);
    if (hostIds.length > 0) {
      const hostSim = await launcher.startService({
        name: 'host-sim',
        main: serviceMain('host-sim'),
        env: {
          ...common,
          ...credEnv('hostsim'),
          LOCKLINE_HOSTS: String(hostIds.length),
          LOCKLINE_SEED: options.seed ?? '1',
          LOCKLINE_PROFILE: profile,
          LOCKLINE_RATE: String(options.rate ?? 2000),
          LOCKLINE_STATE_DIR: join(dir, 'host-sim'),
          LOCKLINE_METRICS_PORT: String(ports.hostSim),
        },
      });
      services.push(hostSim);
      await waitHttp(`http://127.0.0.1:${ports.hostSim}/healthz`, 'host-sim', readyTimeoutMs, hostSim);
    }

    const client = new LocklineClient(apiUrl, tokens.viewer);
    let scenarios = 0;
    const lockline: Lockline = {
      backend,
      apiUrl,
      natsUrl: nats.url,
      storeUrl,
      tokens,
      client,
      hostIds,
      async driveScenario(scenario, o = {}) {
        const text = typeof scenario === 'string' ? await readFile(scenario, 'utf8') : 'path' in scenario && typeof scenario.path === 'string' ? await readFile(scenario.path, 'utf8') : JSON.stringify(scenario);
        const parsed = parseScenario(text);
        if (!parsed.ok) throw new Error(`the scenario${typeof scenario === 'string' ? ` ${scenario}` : ''} is invalid: ${parsed.problems.map((p) => `${p.path || '(file)'}: ${p.message}`).join('; ')}`);
        scenarios++;
        return publishScenario(publisherConnection, parsed.scenario, { hostId: o.hostId ?? `scenario-${scenarios}`, profile: o.profile ?? profile, seed: o.seed ?? scenarios });
      },
      async waitForSeq(hostId, seq, o = {}) {
        const timeoutMs = o.timeoutMs ?? 20_000;
        const deadline = Date.now() + timeoutMs;
        let last: HostStateView | string = 'no answer yet';
        for (;;) {
          try {
            const state = await client.host(hostId);
            last = state;
            if (state.seq >= seq) return state;
          } catch (error) {
            if (!(error instanceof LocklineApiError) || (error.status !== 404 && error.status !== 503 && error.status !== 504)) throw error;
            last = error.message;
          }
          if (Date.now() > deadline) throw new Error(`host ${hostId} did not reach seq ${seq} within ${timeoutMs} ms (last: ${typeof last === 'string' ? last : `seq ${last.seq}`})`);
          await sleep(100);
        }
      },
      async expectFinding(match, o = {}) {
        const timeoutMs = o.timeoutMs ?? 10_000;
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const findings = await client.findings({ ...(match.hostId === undefined ? {} : { hostId: match.hostId }), code: match.code, ...(match.pid === undefined ? {} : { pid: match.pid }) });
          const found = findings.find((f) => (match.bootId === undefined || f.bootId === match.bootId) && (match.seq === undefined || f.seq === match.seq));
          if (found !== undefined) return found;
          if (Date.now() > deadline) {
            const all = await client.findings({ ...(match.hostId === undefined ? {} : { hostId: match.hostId }), limit: 20 });
            throw new Error(`no finding ${JSON.stringify(match)} within ${timeoutMs} ms; the findings there are: ${all.length === 0 ? 'none' : all.map((f) => `${f.code} ${f.hostId} pid ${f.pid ?? '-'} seq ${f.seq}`).join('; ')}`);
          }
          await sleep(100);
        }
      },
      logs: () => Object.fromEntries(services.map((s) => [s.name, s.logs()])),
      stop,
    };
    return lockline;
  } catch (error) {
    const logs = services.map((s) => `--- ${s.name}\n${s.logs().slice(-2000)}`).join('\n');
    await stop();
    throw new Error(`startLockline (${backend}) failed: ${(error as Error).message}${logs === '' ? '' : `\n${logs}`}`, { cause: error });
  }
}
