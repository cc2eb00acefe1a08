#!/usr/bin/env node
// Writes the secrets a cluster deployment needs, fresh and random, where the compose file or the
// Kubernetes kustomization expects them. Nothing secret is committed; nothing has a default password.
//
//   node deploy/configure.mjs compose [--out deploy/compose] [--force]
//       .env (mode 0600): the passwords and tokens compose.yaml interpolates
//       generated/nats/nats-{1,2,3}.conf: the three NATS nodes (users, permissions, routes, JetStream)
//       generated/certs/: the EventStoreDB CA and node certificates (deploy/certs/gen-certs.sh)
//   node deploy/configure.mjs k8s [--out deploy/k8s/secrets] [--namespace lockline] [--force]
//       credentials.env, nats-{0,1,2}.conf, ca.crt, node.crt, node.key: the files
//       deploy/k8s/kustomization.yaml turns into Secrets
//
// Options: --hosts a,b (also give these hosts a NATS user of their own, allowed to publish only their
// own subject), --sync default (the server's 2-minute fsync instead of `sync_interval: always`).
//
// Needs the built libraries (`npm run build`), or run it from the sources:
//   node --conditions=lockline-source --import tsx deploy/configure.mjs compose
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SERVICE_ROLES, renderNatsClusterConfigs } from '@lockline/bus';
import { credentialsOf, generateUsers } from '@lockline/bus/config';

const here = dirname(fileURLToPath(import.meta.url));

/** JetStream limits per NATS node: the streams reserve 1.5 GiB of max_file_store (streams.ts defaultMaxBytes). */
const JETSTREAM = { maxMemory: 512 * 2 ** 20, maxFile: 10 * 2 ** 30 };

/** The NATS nodes of each target: compose services nats-1..3, or the StatefulSet's pods nats-0..2 behind the headless service `nats`. */
function natsNodes(target) {
  const names = target === 'compose' ? ['nats-1', 'nats-2', 'nats-3'] : ['nats-0', 'nats-1', 'nats-2'];
  return names.map((serverName) => ({
    serverName,
    routeHost: target === 'compose' ? serverName : `${serverName}.nats`,
    port: 4222,
    monitorPort: 8222,
    clusterPort: 6222,
    storeDir: '/data',
  }));
}

/** The DNS names each EventStoreDB node certificate is valid for. */
function esdbCertificates(target, namespace) {
  if (target === 'compose') return ['esdb-1', 'esdb-2', 'esdb-3'].map((name) => `${name}=${name},localhost,127.0.0.1`);
  // One certificate for every pod of the StatefulSet: short and full names, and a wildcard for more pods.
  const names = [0, 1, 2].flatMap((i) => [`eventstore-${i}.eventstore`, `eventstore-${i}.eventstore.${namespace}.svc.cluster.local`]);
  return [`node=${[...names, `*.eventstore.${namespace}.svc.cluster.local`, 'eventstore', 'localhost', '127.0.0.1'].join(',')}`];
}

const secret = () => randomBytes(24).toString('base64url');

function usage(message) {
  if (message) console.error(`configure: ${message}`);
  console.error('usage: node deploy/configure.mjs compose|k8s [--out DIR] [--namespace NS] [--hosts a,b] [--sync always|default] [--force]');
  process.exit(2);
}

function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      namespace: { type: 'string', default: 'lockline' },
      hosts: { type: 'string', default: '' },
      sync: { type: 'string', default: 'always' },
      force: { type: 'boolean', default: false },
    },
  });
  const [target, ...rest] = positionals;
  if (target !== 'compose' && target !== 'k8s') usage(`expected "compose" or "k8s", got ${JSON.stringify(target ?? '')}`);
  if (rest.length > 0) usage(`unexpected ${rest.join(' ')}`);
  if (values.sync !== 'always' && values.sync !== 'default') usage('--sync: expected "always" or "default"');
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(values.namespace)) usage(`--namespace: not a Kubernetes namespace name: ${values.namespace}`);
  const hosts = values.hosts.split(',').map((h) => h.trim()).filter((h) => h !== '');
  const out = resolve(values.out ?? (target === 'compose' ? join(here, 'compose') : join(here, 'k8s', 'secrets')));
  const envPath = join(out, target === 'compose' ? '.env' : 'credentials.env');
  if (existsSync(envPath) && !values.force) {
    // EventStoreDB takes its admin password at its first start only, and the services were given
    // these: new ones would lock everything out of an existing deployment.
    console.error(`configure: ${relative(process.cwd(), envPath)} exists: its passwords are in use (EventStoreDB keeps the first admin password it was started with). --force writes new ones; do it only for a deployment whose data you also remove.`);
    process.exit(1);
  }

  // NATS: Lockline's users (servicePermissions, hostPermissions), random passwords, route credentials.
  const users = generateUsers({ hosts, services: SERVICE_ROLES });
  const credentials = credentialsOf(users);
  const configs = renderNatsClusterConfigs({
    clusterName: 'lockline',
    listenHost: '0.0.0.0',
    nodes: natsNodes(target),
    jetstream: { ...JETSTREAM, syncAlways: values.sync === 'always' },
    users,
    routeAuth: { user: 'route', password: secret() },
  });

  const env = {
    NATS_ADMIN_PASSWORD: credentials.admin.password,
    NATS_INGEST_PASSWORD: credentials.ingest.password,
    NATS_PROJECTOR_PASSWORD: credentials.projector.password,
    NATS_API_PASSWORD: credentials.api.password,
    NATS_HOSTSIM_PASSWORD: credentials.hostsim.password,
    ESDB_ADMIN_PASSWORD: secret(),
    ESDB_OPS_PASSWORD: secret(),
    API_VIEWER_TOKEN: secret(),
    API_OPERATOR_TOKEN: secret(),
    ...(target === 'compose' ? { GRAFANA_ADMIN_PASSWORD: secret() } : {}),
  };
  const envText = [
    `# Written by deploy/configure.mjs ${target}. Secrets: keep this file to yourself (mode 0600), never commit it.`,
    ...Object.entries(env).map(([key, value]) => `${key}=${value}`),
    ...Object.entries(credentials)
      .filter(([user]) => user.startsWith('host_'))
      .map(([user, c]) => `# NATS user ${user} (publishes only its own subject): ${c.password}`),
    '',
  ].join('\n');

  const natsDir = target === 'compose' ? join(out, 'generated', 'nats') : out;
  mkdirSync(natsDir, { recursive: true });
  writeFileSync(envPath, envText, { mode: 0o600 });
  for (const [name, text] of configs) writeFileSync(join(natsDir, `${name}.conf`), text, { mode: 0o600 });

  // EventStoreDB: TLS certificates from our own CA (openssl; es-gencert-cli makes the same files).
  const certs = target === 'compose' ? join(out, 'generated', 'certs') : join(out, 'certs');
  execFileSync('bash', [join(here, 'certs', 'gen-certs.sh'), certs, ...esdbCertificates(target, values.namespace)], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, FORCE: values.force ? '1' : '' } });
  if (target === 'k8s') {
    // The kustomization's secretGenerator names its files flat.
    copyFileSync(join(certs, 'ca', 'ca.crt'), join(out, 'ca.crt'));
    copyFileSync(join(certs, 'node', 'node.crt'), join(out, 'node.crt'));
    copyFileSync(join(certs, 'node', 'node.key'), join(out, 'node.key'));
  }

  const shown = (path) => relative(process.cwd(), path) || '.';
  console.log(`wrote ${shown(envPath)} (passwords and tokens), ${[...configs.keys()].map((n) => shown(join(natsDir, `${n}.conf`))).join(', ')}, and certificates in ${shown(certs)}`);
  console.log(target === 'compose' ? 'next: docker compose -f deploy/compose/compose.yaml up -d --build' : `next: kubectl apply -k deploy/k8s   (namespace ${values.namespace})`);
}

main();
