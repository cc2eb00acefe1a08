/**
 * deploy/compose without a Docker engine: the compose file parses, and everything it points at
 * exists and agrees — the secrets and files deploy/configure.mjs writes (run here from the sources),
 * the variables each service's config.ts reads (and its own loadConfig accepts the values), the
 * partitions, the NATS and EventStoreDB clusters' configurations and certificates, the ports
 * Prometheus scrapes, and the metrics the Grafana dashboard plots. What only a running engine can
 * show (images pulled and built, containers healthy, the clusters formed) is in docs/deploy.md.
 */
import { rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { EventStoreDBClient } from '@eventstore/db-client';
import { checkNatsConfig } from '@lockline/bus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig as loadApiConfig } from '../../services/api/src/config.js';
import { loadConfig as loadHostSimConfig } from '../../services/host-sim/src/config.js';
import { loadConfig as loadIngestConfig } from '../../services/ingest/src/config.js';
import { loadConfig as loadProjectorConfig } from '../../services/projector/src/config.js';
import {
  SETUP_VARIABLES,
  arr,
  certificate,
  configVariables,
  configure,
  deploy,
  exists,
  metricsIn,
  metricsPortOf,
  natsUsers,
  obj,
  programOf,
  readEnvFile,
  readText,
  readYaml,
  registeredMetrics,
  repo,
  sanCovers,
  str,
  type Json,
  type ServiceName,
} from './support.js';

const composeDir = join(deploy, 'compose');
const composeText = readText(join(composeDir, 'compose.yaml'));
const compose = obj(readYaml(join(composeDir, 'compose.yaml')));
const services = obj(compose.services);
const names = Object.keys(services);

let out = '';
let secrets: Record<string, string> = {};

beforeAll(async () => {
  ({ out } = await configure('compose'));
  secrets = readEnvFile(join(out, '.env'));
});
afterAll(async () => {
  if (out !== '') await rm(out, { recursive: true, force: true });
});

/** Compose's interpolation: `${VAR}`, `${VAR:?message}`, `${VAR:-default}`, `$$`. */
function interpolate(value: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[?-])([^}]*))?\}/g, (whole, name: string | undefined, op: string | undefined, arg: string | undefined) => {
    if (whole === '$$') return '$';
    const set = secrets[name!];
    if (set !== undefined && set !== '') return set;
    if (op?.endsWith('-')) return arg ?? '';
    throw new Error(`\${${name}} is not set by deploy/configure.mjs compose${op?.endsWith('?') ? ` (${arg})` : ''}`);
  });
}

/** A service's environment, interpolated. */
function envOf(name: string): Record<string, string> {
  return Object.fromEntries(Object.entries(obj(obj(services[name]).environment)).map(([k, v]) => [k, interpolate(str(v))]));
}

/** `SOURCE:TARGET[:ro]` volumes of a service, with ./generated/ read from where configure.mjs wrote it. */
function mounts(name: string): Array<{ source: string; target: string }> {
  return arr(obj(services[name]).volumes).map((v) => {
    const [source = '', target = ''] = str(v).split(':');
    const local = source.startsWith('./') ? (source.startsWith('./generated/') ? join(out, source) : resolve(composeDir, source)) : source;
    return { source: local, target };
  });
}

/** The host folder or file mounted at `target` (or above it) in a service. */
function hostPathOf(name: string, target: string): string | undefined {
  const m = mounts(name)
    .filter((v) => target === v.target || target.startsWith(`${v.target}/`))
    .sort((a, b) => b.target.length - a.target.length)[0];
  return m === undefined ? undefined : join(m.source, target.slice(m.target.length));
}

const lockline = names.filter((n) => str(obj(services[n]).image).startsWith('lockline:'));
const programs = new Map(lockline.map((n) => [n, programOf(arr(obj(services[n]).command))]));
const running = (service: ServiceName): string[] => lockline.filter((n) => programs.get(n) === service);
const natsNodes = names.filter((n) => str(obj(services[n]).image).startsWith('nats:'));
const esdbNodes = names.filter((n) => str(obj(services[n]).image).startsWith('eventstore/'));
const setup = lockline.find((n) => programs.get(n) === 'setup');

const loaders: Record<ServiceName, (env: Record<string, string>) => unknown> = {
  ingest: loadIngestConfig,
  projector: loadProjectorConfig,
  'host-sim': loadHostSimConfig,
  api: loadApiConfig,
};

describe('deploy/compose/compose.yaml', () => {
  it('names pinned images, and builds the Lockline one from deploy/Dockerfile at the repository root', () => {
    for (const name of names) {
      const image = str(obj(services[name]).image);
      expect(image, name).toMatch(/^[a-z0-9./-]+:[A-Za-z0-9.${}:_-]+$/);
      expect(image, name).not.toMatch(/:latest$/);
    }
    expect(lockline.length).toBeGreaterThanOrEqual(9);
    for (const name of lockline) {
      const build = obj(obj(services[name]).build);
      const context = resolve(composeDir, str(build.context));
      expect(context, name).toBe(repo);
      expect(exists(join(context, str(build.dockerfile))), name).toBe(true);
    }
    // JetStream's sync_interval (the durable setting) needs nats-server 2.10 or later.
    for (const name of natsNodes) expect(str(obj(services[name]).image), name).toMatch(/^nats:2\.(1\d|[2-9]\d)/);
  });

  it('interpolates only what deploy/configure.mjs writes, and uses every secret it writes', () => {
    const required = new Set([...composeText.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[?-])?/g)].filter((m) => m[2] === undefined || m[2].endsWith('?')).map((m) => m[1]!));
    expect([...required].sort()).toEqual(Object.keys(secrets).sort());
    for (const name of names) expect(() => envOf(name), name).not.toThrow();
  });

  it('runs a program of the image in each Lockline container, with only the LOCKLINE_* variables its config.ts reads, and values its loadConfig accepts', () => {
    for (const name of lockline) {
      const program = programs.get(name);
      expect(program, `${name}: ${JSON.stringify(obj(services[name]).command)}`).toBeDefined();
      const env = envOf(name);
      const allowed = program === 'setup' ? SETUP_VARIABLES : configVariables(program as ServiceName);
      for (const key of Object.keys(env)) {
        expect(key, name).toMatch(/^LOCKLINE_/);
        expect(allowed.has(key), `${name} sets ${key}, which ${program === 'setup' ? 'setup-nats.mjs' : `services/${program}/src/config.ts`} does not read`).toBe(true);
      }
      if (program !== 'setup' && program !== undefined) expect(() => loaders[program](env), name).not.toThrow();
    }
  });

  it('runs two copies of each service, the partitions of the stream split between the ingest and the projector copies', () => {
    for (const service of ['ingest', 'projector', 'host-sim', 'api'] as const) expect(running(service).length, service).toBeGreaterThanOrEqual(2);
    expect(setup).toBeDefined();
    const command = arr(obj(services[setup!]).command).map(str);
    const partitions = Number(command[command.indexOf('--partitions') + 1]);
    const replicas = Number(command[command.indexOf('--replicas') + 1]);
    expect(partitions).toBeGreaterThanOrEqual(1);
    expect(replicas).toBe(3);
    expect(natsNodes).toHaveLength(replicas);
    for (const service of ['ingest', 'projector'] as const) {
      const mine = running(service).flatMap((n) => envOf(n).LOCKLINE_PARTITIONS_MINE!.split(',').map(Number));
      expect(mine.sort(), `${service} copies own every partition once`).toEqual(Array.from({ length: partitions }, (_, i) => i));
    }
    for (const name of [...running('projector'), ...running('api')]) expect(envOf(name).LOCKLINE_PARTITIONS, name).toBe(String(partitions));
    // The simulator copies simulate different hosts.
    expect(new Set(running('host-sim').map((n) => envOf(n).LOCKLINE_HOST_ID_PREFIX)).size).toBe(running('host-sim').length);
  });

  it('starts three NATS nodes, each on its own configure.mjs file that nats-server -t accepts, routed to the others, with the passwords the services get', async () => {
    const serverNames = new Set<string>();
    for (const name of natsNodes) {
      const service = obj(services[name]);
      const command = arr(service.command).map(str);
      const confInContainer = command[command.indexOf('-c') + 1]!;
      const conf = hostPathOf(name, confInContainer);
      expect(conf, name).toBeDefined();
      expect(exists(conf!), `${name}: ${conf}`).toBe(true);
      const check = await checkNatsConfig(conf!);
      expect(check.ok, check.output).toBe(true);
      const text = readText(conf!);
      serverNames.add(/server_name: "([^"]+)"/.exec(text)?.[1] ?? '');
      expect(text).toContain('sync_interval: always');
      const routes = [...text.matchAll(/nats-route:\/\/[^@]+@([^:]+):(\d+)/g)].map((m) => m[1]);
      expect(routes.sort(), name).toEqual(natsNodes.filter((n) => n !== name).sort());
      // JetStream's store is on the node's volume.
      const storeDir = /store_dir: "([^"]+)"/.exec(text)?.[1] ?? '';
      expect(mounts(name).some((v) => v.target === storeDir && !v.source.startsWith('/')), `${name}: a volume at ${storeDir}`).toBe(true);
      const users = natsUsers(text);
      expect(users.get('admin')).toBe(secrets.NATS_ADMIN_PASSWORD);
      expect(users.get('ingest')).toBe(secrets.NATS_INGEST_PASSWORD);
      expect(users.get('projector')).toBe(secrets.NATS_PROJECTOR_PASSWORD);
      expect(users.get('api')).toBe(secrets.NATS_API_PASSWORD);
      expect(users.get('hostsim')).toBe(secrets.NATS_HOSTSIM_PASSWORD);
      // What the clients dial: a name every node answers to, on the port each listens on.
      const aliases = arr(obj(obj(service.networks).default).aliases).map(str);
      const clientUrl = new URL(envOf(lockline[0]!).LOCKLINE_NATS_URL!);
      expect(aliases, name).toContain(clientUrl.hostname);
      expect(text).toContain(`listen: "0.0.0.0:${clientUrl.port}"`);
    }
    expect(serverNames.size).toBe(natsNodes.length);
    for (const name of lockline) expect(envOf(name).LOCKLINE_NATS_URL, name).toBe(envOf(lockline[0]!).LOCKLINE_NATS_URL);
  });

  it('starts three EventStoreDB nodes with TLS from configure.mjs certificates, no default password, and gives the services a connection string the client accepts', async () => {
    expect(esdbNodes).toHaveLength(3);
    for (const name of esdbNodes) {
      const env = envOf(name);
      expect(env.EVENTSTORE_INSECURE, name).toBe('false');
      expect(env.EVENTSTORE_CLUSTER_SIZE, name).toBe(String(esdbNodes.length));
      expect(env.EVENTSTORE_DISCOVER_VIA_DNS, name).toBe('false');
      expect(env.EVENTSTORE_GOSSIP_SEED!.split(',').sort(), name).toEqual(esdbNodes.filter((n) => n !== name).map((n) => `${n}:2113`));
      for (const key of ['EVENTSTORE_DEFAULT_ADMIN_PASSWORD', 'EVENTSTORE_DEFAULT_OPS_PASSWORD']) {
        expect(env[key], `${name} ${key}`).not.toBe('changeit');
        expect(env[key]!.length, `${name} ${key}`).toBeGreaterThanOrEqual(16);
      }
      expect(env.EVENTSTORE_DEFAULT_ADMIN_PASSWORD).toBe(secrets.ESDB_ADMIN_PASSWORD);
      const ca = hostPathOf(name, join(env.EVENTSTORE_TRUSTED_ROOT_CERTIFICATES_PATH!, 'ca.crt'));
      const cert = hostPathOf(name, env.EVENTSTORE_CERTIFICATE_FILE!);
      const key = hostPathOf(name, env.EVENTSTORE_CERTIFICATE_PRIVATE_KEY_FILE!);
      for (const path of [ca, cert, key]) expect(path !== undefined && exists(path), `${name}: ${path}`).toBe(true);
      // The CA's key is never mounted.
      expect(mounts(name).some((v) => v.source.includes('private'))).toBe(false);
      const facts = await certificate(cert!, ca!);
      expect(facts.verified, name).toBe(true);
      expect(facts.subject).toBe(`CN=${env.EVENTSTORE_CERTIFICATE_RESERVED_NODE_COMMON_NAME}`);
      expect(facts.eku).toMatch(/Server Authentication.*Client Authentication|Client Authentication.*Server Authentication/);
      for (const advertised of [env.EVENTSTORE_NODE_HOST_ADVERTISE_AS!, env.EVENTSTORE_REPLICATION_HOST_ADVERTISE_AS!, env.EVENTSTORE_ADVERTISE_HOST_TO_CLIENT_AS!]) {
        expect(sanCovers(facts.sans, advertised), `${name}: ${advertised} in ${facts.sans.join(', ')}`).toBe(true);
      }
    }

    const storeUsers = lockline.filter((n) => envOf(n).LOCKLINE_STORE !== undefined);
    expect(storeUsers.length).toBeGreaterThanOrEqual(6);
    for (const name of storeUsers) {
      const url = envOf(name).LOCKLINE_STORE!;
      const m = /^esdb:\/\/admin:([^@]+)@([^?]+)\?(.*)$/.exec(url);
      expect(m, `${name}: ${url}`).not.toBeNull();
      expect(m![1]).toBe(secrets.ESDB_ADMIN_PASSWORD);
      const hosts = m![2]!.split(',').map((h) => h.split(':')[0]!);
      expect(hosts.sort()).toEqual([...esdbNodes].sort());
      const params = new URLSearchParams(m![3]);
      expect(params.get('tls')).toBe('true');
      const caFile = hostPathOf(name, params.get('tlsCAFile') ?? '');
      expect(caFile !== undefined && exists(caFile), `${name}: tlsCAFile ${params.get('tlsCAFile')} is mounted`).toBe(true);
      expect(basename(dirname(caFile!))).toBe('ca');
      // The client parses it and loads the CA file (it connects only when first used).
      const client = EventStoreDBClient.connectionString(url.replace(params.get('tlsCAFile')!, caFile!));
      await client.dispose();
    }
  });

  it('has Prometheus scrape every copy of every service on the port it serves /metrics on', () => {
    const prometheus = obj(services.prometheus);
    const configArg = arr(prometheus.command).map(str).find((a) => a.startsWith('--config.file='))!;
    const configPath = hostPathOf('prometheus', configArg.slice('--config.file='.length));
    expect(configPath !== undefined && exists(configPath)).toBe(true);
    const config = obj(readYaml(configPath!));
    const targets = arr(config.scrape_configs).flatMap((job) =>
      arr(obj(job).static_configs).flatMap((sc) => arr(obj(sc).targets).map((t) => ({ job: str(obj(job).job_name), target: str(t) }))),
    );
    const scraped = targets.filter((t) => t.job.startsWith('lockline-'));
    const services4 = lockline.filter((n) => programs.get(n) !== 'setup');
    expect(scraped.map((t) => t.target.split(':')[0]).sort()).toEqual([...services4].sort());
    for (const { job, target } of scraped) {
      const [host, port] = target.split(':');
      const program = programs.get(host!) as ServiceName;
      expect(job).toBe(`lockline-${program}`);
      expect(Number(port), target).toBe(metricsPortOf(program, envOf(host!)));
    }
  });

  it('checks each service health on its own port, from inside the container', () => {
    for (const name of lockline.filter((n) => programs.get(n) !== 'setup')) {
      const program = programs.get(name) as ServiceName;
      const test = arr(obj(obj(services[name]).healthcheck).test).map(str).join(' ');
      const path = program === 'api' ? 'readyz' : 'healthz';
      expect(test, name).toContain(`http://127.0.0.1:${metricsPortOf(program, envOf(name))}/${path}`);
    }
  });

  it('provisions Grafana with the Prometheus data source and a Lockline dashboard over metrics the services register', () => {
    const datasources = obj(readYaml(hostPathOf('grafana', '/etc/grafana/provisioning/datasources/prometheus.yaml')!));
    const source = obj(arr(datasources.datasources)[0]);
    expect(new URL(str(source.url)).hostname).toBe('prometheus');
    const providers = obj(readYaml(hostPathOf('grafana', '/etc/grafana/provisioning/dashboards/lockline.yaml')!));
    const dashboardsDir = str(obj(obj(arr(providers.providers)[0]).options).path);
    const dashboardPath = hostPathOf('grafana', `${dashboardsDir}/lockline.json`)!;
    expect(exists(dashboardPath)).toBe(true);
    expect(hostPathOf('grafana', envOf('grafana').GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH!)).toBe(dashboardPath);
    expect(envOf('grafana').GF_SECURITY_ADMIN_PASSWORD).toBe(secrets.GRAFANA_ADMIN_PASSWORD);

    const dashboard = JSON.parse(readText(dashboardPath)) as Json;
    const panels = arr(dashboard.panels).map(obj);
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    const known = registeredMetrics();
    const exprs: string[] = [];
    for (const panel of panels) {
      expect(obj(panel.gridPos).w, str(panel.title)).toBeGreaterThan(0);
      for (const target of arr(panel.targets).map(obj)) {
        expect(obj(target.datasource).uid, str(panel.title)).toBe(source.uid);
        exprs.push(str(target.expr));
        for (const metric of metricsIn(str(target.expr))) expect(known.has(metric), `${str(panel.title)}: ${metric} is registered by no service`).toBe(true);
      }
    }
    const all = exprs.join('\n');
    expect(all).toMatch(/by \(code\) \([a-z]+\(lockline_projector_findings_total/);
    for (const metric of ['lockline_host_sim_events_published_total', 'lockline_ingest_events_appended_total', 'lockline_projector_events_folded_total', 'lockline_ingest_consumer_pending', 'lockline_projector_lag_events']) {
      expect(all).toContain(metric);
    }
    expect(panels.some((p) => /locked memory/i.test(str(p.title)))).toBe(true);
  });

  // In a container, /metrics must listen beyond loopback for Prometheus (another container) to reach it.
  it('tells ingest, projector and host-sim to serve /metrics beyond loopback, so that Prometheus can reach them', () => {
    for (const name of lockline.filter((n) => ['ingest', 'projector', 'host-sim'].includes(programs.get(n) ?? ''))) {
      const variable = [...configVariables(programs.get(name) as ServiceName)].find((v) => /^LOCKLINE_METRICS_(HOST|ADDR|ADDRESS|LISTEN)$/.test(v));
      expect(variable, `services/${programs.get(name)}/src/config.ts reads no metrics listen address`).toBeDefined();
      expect(envOf(name)[variable!], name).toBe('0.0.0.0');
    }
  });
});
