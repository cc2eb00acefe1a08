/**
 * deploy/k8s without a cluster: every manifest the kustomization lists parses, and what the manifests
 * reference exists and agrees — the Secrets' files and keys deploy/configure.mjs writes (run here
 * from the sources), the variables each service's config.ts reads (its loadConfig accepts the values),
 * probes and scrape annotations on the port each service serves, partitions, the NATS configurations
 * (`nats-server -t`) and the EventStoreDB certificates. `kubectl apply --dry-run=server` and a real
 * rollout need a cluster: docs/deploy.md.
 */
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
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
  metricsPortOf,
  natsUsers,
  obj,
  programOf,
  readEnvFile,
  readText,
  readYaml,
  readYamlDocuments,
  sanCovers,
  str,
  type Json,
  type ServiceName,
} from './support.js';

const k8s = join(deploy, 'k8s');
const kustomization = obj(readYaml(join(k8s, 'kustomization.yaml')));
const namespace = str(kustomization.namespace);
const resources = arr(kustomization.resources).map(str);
const docs = resources.flatMap((file) => readYamlDocuments(join(k8s, file)).map((doc) => ({ file, doc: obj(doc) })));
const ofKind = (kind: string): Json[] => docs.filter((d) => d.doc.kind === kind).map((d) => d.doc);
const named = (kind: string, name: string): Json => {
  const found = ofKind(kind).find((d) => obj(d.metadata).name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name} in ${resources.join(', ')}`);
  return found;
};
const podSpec = (workload: Json): Json => obj(obj(obj(workload.spec).template).spec);
const containersOf = (workload: Json): Json[] => arr(podSpec(workload).containers).map(obj);
const replicasOf = (workload: Json): number => Number(obj(workload.spec).replicas ?? 1);
const nameOf = (doc: Json): string => str(obj(doc.metadata).name);

/** secretGenerator: secret name → { key → file } (envs contribute their keys, files their base names). */
const generators = new Map(
  arr(kustomization.secretGenerator).map((g) => {
    const files = arr(obj(g).files).map(str);
    const envs = arr(obj(g).envs).map(str);
    return [str(obj(g).name), { files, envs }] as const;
  }),
);

let out = '';
let credentials: Record<string, string> = {};
/** Where configure.mjs wrote a generator's file. */
const secretFile = (file: string): string => join(out, file.replace(/^secrets\//, ''));

beforeAll(async () => {
  ({ out } = await configure('k8s', '--namespace', namespace));
  credentials = readEnvFile(secretFile('secrets/credentials.env'));
});
afterAll(async () => {
  if (out !== '') await rm(out, { recursive: true, force: true });
});

function secretKeys(name: string): Set<string> {
  const g = generators.get(name);
  if (g === undefined) return new Set();
  return new Set([...g.files.map((f) => basename(f)), ...g.envs.flatMap((f) => Object.keys(readEnvFile(secretFile(f))))]);
}

/**
 * A container's environment as the kubelet makes it: secretKeyRef values from the generated files,
 * fieldRef values for `pod`, and `$(VAR)` expanded from the variables defined before it.
 */
function envOf(container: Json, pod = { name: 'pod-0', namespace }): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of arr(container.env).map(obj)) {
    const name = str(entry.name);
    const from = obj(entry.valueFrom);
    let value: string;
    if (from.secretKeyRef !== undefined) {
      const ref = obj(from.secretKeyRef);
      expect(secretKeys(str(ref.name)).has(str(ref.key)), `${name}: secret ${str(ref.name)} has no key ${str(ref.key)}`).toBe(true);
      const g = generators.get(str(ref.name))!;
      value = g.envs.length > 0 ? readEnvFile(secretFile(g.envs[0]!))[str(ref.key)]! : readText(secretFile(g.files.find((f) => basename(f) === str(ref.key))!));
    } else if (from.fieldRef !== undefined) {
      const path = str(obj(from.fieldRef).fieldPath);
      value = path === 'metadata.name' ? pod.name : path === 'metadata.namespace' ? pod.namespace : '';
      expect(value, `${name}: fieldRef ${path}`).not.toBe('');
    } else {
      value = str(entry.value).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (_, ref: string) => {
        expect(env[ref], `${name} refers to $(${ref}), which is not defined before it`).toBeDefined();
        return env[ref]!;
      });
    }
    env[name] = value;
  }
  return env;
}

const workloads = [...ofKind('Deployment'), ...ofKind('Job'), ...ofKind('StatefulSet')];
const lockline = workloads.filter((w) => containersOf(w).some((c) => c.image === 'lockline'));
const program = (w: Json): ServiceName | 'setup' | undefined => programOf(arr(containersOf(w)[0]!.args));
const running = (service: ServiceName): Json[] => lockline.filter((w) => program(w) === service);

const loaders: Record<ServiceName, (env: Record<string, string>) => unknown> = {
  ingest: loadIngestConfig,
  projector: loadProjectorConfig,
  'host-sim': loadHostSimConfig,
  api: loadApiConfig,
};

describe('deploy/k8s', () => {
  it('lists manifests that exist and parse, in one namespace, and Secrets from the files configure.mjs writes', () => {
    expect(namespace).toMatch(/^[a-z0-9-]+$/);
    expect(nameOf(named('Namespace', namespace))).toBe(namespace);
    for (const { file, doc } of docs) {
      expect(str(doc.apiVersion), file).not.toBe('');
      expect(nameOf(doc), `${file}: ${str(doc.kind)}`).not.toBe('');
    }
    for (const [name, g] of generators) {
      for (const file of [...g.files, ...g.envs]) expect(exists(secretFile(file)), `${name}: ${file}`).toBe(true);
    }
    // The images: the Lockline one through `images`, the others pinned.
    const images = arr(kustomization.images).map(obj);
    expect(images.some((i) => i.name === 'lockline')).toBe(true);
    for (const w of workloads) {
      for (const c of containersOf(w)) {
        if (c.image !== 'lockline') expect(str(c.image), nameOf(w)).toMatch(/^[a-z0-9./-]+:[0-9][A-Za-z0-9.-]*$/);
      }
    }
  });

  it('runs every service as Deployments with readiness probes, resource requests and limits, unprivileged', () => {
    for (const service of ['ingest', 'projector', 'host-sim', 'api'] as const) {
      const deployments = running(service);
      expect(deployments.every((d) => d.kind === 'Deployment'), service).toBe(true);
      expect(deployments.reduce((n, d) => n + replicasOf(d), 0), `${service}: two copies`).toBeGreaterThanOrEqual(2);
    }
    for (const w of [...ofKind('Deployment'), ...ofKind('StatefulSet'), ...ofKind('Job')]) {
      const spec = podSpec(w);
      expect(obj(spec.securityContext).runAsNonRoot, nameOf(w)).toBe(true);
      for (const c of containersOf(w)) {
        const limits = obj(obj(c.resources).limits);
        const requests = obj(obj(c.resources).requests);
        expect(limits.cpu !== undefined && limits.memory !== undefined, `${nameOf(w)}: limits`).toBe(true);
        expect(requests.cpu !== undefined && requests.memory !== undefined, `${nameOf(w)}: requests`).toBe(true);
        expect(obj(c.securityContext).allowPrivilegeEscalation, nameOf(w)).toBe(false);
        expect(arr(obj(obj(c.securityContext).capabilities).drop), nameOf(w)).toContain('ALL');
        if (w.kind !== 'Job') expect(c.readinessProbe, `${nameOf(w)}: readinessProbe`).toBeDefined();
      }
    }
  });

  it('gives each Lockline container only LOCKLINE_* variables its config.ts reads, with values its loadConfig accepts', () => {
    for (const w of lockline) {
      const p = program(w);
      expect(p, nameOf(w)).toBeDefined();
      const env = envOf(containersOf(w)[0]!);
      const allowed = p === 'setup' ? SETUP_VARIABLES : configVariables(p as ServiceName);
      for (const key of Object.keys(env).filter((k) => k.startsWith('LOCKLINE_'))) {
        expect(allowed.has(key), `${nameOf(w)} sets ${key}, which ${p === 'setup' ? 'setup-nats.mjs' : `services/${p}/src/config.ts`} does not read`).toBe(true);
      }
      const serviceEnv = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('LOCKLINE_')));
      if (p !== 'setup' && p !== undefined) expect(() => loaders[p](serviceEnv), nameOf(w)).not.toThrow();
    }
  });

  it('splits the partitions of the stream between single-copy ingest and projector Deployments that never overlap in an update', () => {
    const job = lockline.find((w) => program(w) === 'setup')!;
    const args = arr(containersOf(job)[0]!.args).map(str);
    const partitions = Number(args[args.indexOf('--partitions') + 1]);
    expect(Number(args[args.indexOf('--replicas') + 1])).toBe(replicasOf(named('StatefulSet', 'nats')));
    for (const service of ['ingest', 'projector'] as const) {
      const mine = running(service).flatMap((d) => {
        expect(replicasOf(d), nameOf(d)).toBe(1);
        expect(obj(obj(d.spec).strategy).type, nameOf(d)).toBe('Recreate');
        return envOf(containersOf(d)[0]!).LOCKLINE_PARTITIONS_MINE!.split(',').map(Number);
      });
      expect(mine.sort(), service).toEqual(Array.from({ length: partitions }, (_, i) => i));
    }
    for (const d of [...running('projector'), ...running('api')]) expect(envOf(containersOf(d)[0]!).LOCKLINE_PARTITIONS, nameOf(d)).toBe(String(partitions));
    expect(new Set(running('host-sim').map((d) => envOf(containersOf(d)[0]!).LOCKLINE_HOST_ID_PREFIX)).size).toBe(running('host-sim').length);
  });

  it('probes and announces for scraping the port each service serves /metrics on', () => {
    for (const d of lockline.filter((w) => program(w) !== 'setup')) {
      const p = program(d) as ServiceName;
      const c = containersOf(d)[0]!;
      const port = metricsPortOf(p, envOf(c));
      const annotations = obj(obj(obj(obj(d.spec).template).metadata).annotations);
      expect(annotations['prometheus.io/port'], nameOf(d)).toBe(String(port));
      const ports = arr(c.ports).map(obj);
      const named = ports.find((x) => x.name === (p === 'api' ? 'http' : 'metrics'));
      expect(named?.containerPort, nameOf(d)).toBe(port);
      const probe = obj(c.readinessProbe);
      if (p === 'api') expect(obj(probe.httpGet).port, nameOf(d)).toBe('http');
      else expect(arr(obj(probe.exec).command).map(str).join(' '), nameOf(d)).toContain(`http://127.0.0.1:${port}/healthz`);
    }
    // The optional PodMonitor selects every service and names ports they have.
    const monitor = obj(readYamlDocuments(join(k8s, 'monitoring', 'podmonitor.yaml'))[0]);
    const selected = arr(obj(arr(obj(obj(monitor.spec).selector).matchExpressions)[0]).values).map(str);
    expect(selected.sort()).toEqual(['api', 'host-sim', 'ingest', 'projector']);
    const endpoints = arr(obj(monitor.spec).podMetricsEndpoints).map((e) => str(obj(e).port));
    for (const d of lockline.filter((w) => program(w) !== 'setup')) expect(arr(containersOf(d)[0]!.ports).some((x) => endpoints.includes(str(obj(x).name))), nameOf(d)).toBe(true);
  });

  it('runs NATS as a three-node StatefulSet on configure.mjs files nats-server -t accepts, routed through its headless service, with the passwords the services get', async () => {
    const sts = named('StatefulSet', 'nats');
    const replicas = replicasOf(sts);
    expect(replicas).toBe(3);
    const headless = named('Service', str(obj(sts.spec).serviceName));
    expect(obj(headless.spec).clusterIP).toBe('None');
    expect(obj(headless.spec).publishNotReadyAddresses).toBe(true);
    const c = containersOf(sts)[0]!;
    const args = arr(c.args).map(str);
    const confPattern = args[args.indexOf('-c') + 1]!;
    expect(confPattern).toContain('$(POD_NAME)');
    const mount = arr(c.volumeMounts).map(obj).find((m) => confPattern.startsWith(`${str(m.mountPath)}/`))!;
    const volume = arr(podSpec(sts).volumes).map(obj).find((v) => v.name === mount.name)!;
    const secretName = str(obj(volume.secret).secretName);
    for (let i = 0; i < replicas; i++) {
      const pod = `${nameOf(sts)}-${i}`;
      const env = envOf(c, { name: pod, namespace });
      const file = basename(confPattern.replace('$(POD_NAME)', env.POD_NAME!));
      expect(secretKeys(secretName).has(file), `${secretName} has ${file}`).toBe(true);
      const path = secretFile(`secrets/${file}`);
      const check = await checkNatsConfig(path);
      expect(check.ok, check.output).toBe(true);
      const text = readText(path);
      expect(text).toContain(`server_name: "${pod}"`);
      expect(text).toContain('sync_interval: always');
      const routes = [...text.matchAll(/nats-route:\/\/[^@]+@([^:"]+):(\d+)/g)].map((m) => `${m[1]}:${m[2]}`);
      const clusterPort = arr(c.ports).map(obj).find((x) => x.name === 'cluster')!.containerPort;
      expect(routes.sort()).toEqual(Array.from({ length: replicas }, (_, j) => j).filter((j) => j !== i).map((j) => `${nameOf(sts)}-${j}.${nameOf(headless)}:${String(clusterPort)}`));
      const users = natsUsers(text);
      for (const [user, key] of [['admin', 'NATS_ADMIN_PASSWORD'], ['ingest', 'NATS_INGEST_PASSWORD'], ['projector', 'NATS_PROJECTOR_PASSWORD'], ['api', 'NATS_API_PASSWORD'], ['hostsim', 'NATS_HOSTSIM_PASSWORD']] as const) {
        expect(users.get(user), `${file}: ${user}`).toBe(credentials[key]);
      }
    }
    // The services dial a Service that selects the NATS pods, on the client port their configurations listen on.
    const clientPort = arr(c.ports).map(obj).find((x) => x.name === 'client')!.containerPort;
    for (const w of lockline) {
      const url = new URL(envOf(containersOf(w)[0]!).LOCKLINE_NATS_URL!);
      const svc = named('Service', url.hostname);
      expect(obj(svc.spec).selector).toEqual(obj(obj(sts.spec).selector).matchLabels);
      expect(arr(obj(svc.spec).ports).some((p) => String(obj(p).port) === url.port), nameOf(w)).toBe(true);
      expect(readText(secretFile('secrets/nats-0.conf'))).toContain(`listen: "0.0.0.0:${String(clientPort)}"`);
    }
  });

  it('runs EventStoreDB as a three-node StatefulSet with TLS, certificates valid for the names it advertises and the services dial, and no default password', async () => {
    const sts = named('StatefulSet', 'eventstore');
    const c = containersOf(sts)[0]!;
    const replicas = replicasOf(sts);
    const headless = named('Service', str(obj(sts.spec).serviceName));
    expect(obj(headless.spec).clusterIP).toBe('None');
    expect(obj(headless.spec).publishNotReadyAddresses).toBe(true);
    const mountOf = (path: string): Json => arr(c.volumeMounts).map(obj).find((m) => path.startsWith(`${str(m.mountPath)}/`) || path === str(m.mountPath))!;
    const secretOf = (mount: Json): string => str(obj(arr(podSpec(sts).volumes).map(obj).find((v) => v.name === mount.name)!.secret).secretName);
    const ca = secretFile('secrets/ca.crt');
    const cert = secretFile('secrets/node.crt');
    const facts = await certificate(cert, ca);
    expect(facts.verified).toBe(true);
    expect(facts.eku).toMatch(/Server Authentication.*Client Authentication|Client Authentication.*Server Authentication/);
    for (let i = 0; i < replicas; i++) {
      const env = envOf(c, { name: `${nameOf(sts)}-${i}`, namespace });
      expect(env.EVENTSTORE_CLUSTER_SIZE).toBe(String(replicas));
      expect(env.EVENTSTORE_INSECURE).toBe('false');
      expect(env.EVENTSTORE_DISCOVER_VIA_DNS).toBe('true');
      expect(env.EVENTSTORE_CLUSTER_DNS).toBe(`${nameOf(headless)}.${namespace}.svc.cluster.local`);
      for (const key of ['EVENTSTORE_DEFAULT_ADMIN_PASSWORD', 'EVENTSTORE_DEFAULT_OPS_PASSWORD']) {
        expect(env[key], key).not.toBe('changeit');
        expect(env[key]!.length, key).toBeGreaterThanOrEqual(16);
      }
      expect(facts.subject).toBe(`CN=${env.EVENTSTORE_CERTIFICATE_RESERVED_NODE_COMMON_NAME}`);
      for (const host of [env.EVENTSTORE_NODE_HOST_ADVERTISE_AS!, env.EVENTSTORE_REPLICATION_HOST_ADVERTISE_AS!, env.EVENTSTORE_ADVERTISE_HOST_TO_CLIENT_AS!]) {
        expect(sanCovers(facts.sans, host), `${host} in ${facts.sans.join(', ')}`).toBe(true);
      }
      const certMount = mountOf(env.EVENTSTORE_CERTIFICATE_FILE!);
      expect(secretKeys(secretOf(certMount))).toContain(basename(env.EVENTSTORE_CERTIFICATE_FILE!));
      expect(secretKeys(secretOf(certMount))).toContain(basename(env.EVENTSTORE_CERTIFICATE_PRIVATE_KEY_FILE!));
      const caMount = mountOf(env.EVENTSTORE_TRUSTED_ROOT_CERTIFICATES_PATH!);
      expect([...secretKeys(secretOf(caMount))]).toEqual(['ca.crt']);
    }
    // The services: the admin password of the Secret, TLS, every node a seed, and the CA mounted where tlsCAFile says.
    for (const w of lockline) {
      const container = containersOf(w)[0]!;
      const url = envOf(container).LOCKLINE_STORE;
      if (url === undefined) continue;
      const m = /^esdb:\/\/admin:([^@]+)@([^?]+)\?(.*)$/.exec(url);
      expect(m, `${nameOf(w)}: ${url}`).not.toBeNull();
      expect(m![1]).toBe(credentials.ESDB_ADMIN_PASSWORD);
      const hosts = m![2]!.split(',').map((h) => h.split(':')[0]!);
      expect(hosts).toEqual(Array.from({ length: replicas }, (_, i) => `${nameOf(sts)}-${i}.${nameOf(headless)}`));
      for (const host of hosts) expect(sanCovers(facts.sans, host), host).toBe(true);
      const params = new URLSearchParams(m![3]);
      expect(params.get('tls')).toBe('true');
      const caFile = params.get('tlsCAFile')!;
      const mount = arr(container.volumeMounts).map(obj).find((x) => caFile.startsWith(`${str(x.mountPath)}/`))!;
      expect(mount, `${nameOf(w)}: ${caFile} is mounted`).toBeDefined();
      const volume = arr(podSpec(w).volumes).map(obj).find((v) => v.name === mount.name)!;
      expect(secretKeys(str(obj(volume.secret).secretName)), nameOf(w)).toContain(basename(caFile));
    }
  });
});
