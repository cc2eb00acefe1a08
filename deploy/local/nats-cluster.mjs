#!/usr/bin/env node
// A three-node NATS cluster with JetStream on loopback ports, for trying replicated (R3) streams and
// node failures on one machine, and for tests: startNatsCluster (@lockline/bus/testing) with the
// nats-server of scripts/nats-server.sh, each node on free 127.0.0.1 ports with its own store in a
// temporary folder. Runs until Ctrl-C (or SIGTERM), then stops the nodes and removes the folder.
//
//   node deploy/local/nats-cluster.mjs [--nodes 3] [--auth] [--sync-always] [--credentials PATH]
//
// --auth gives it Lockline's users and permissions (a user per service role, none anonymous) and
// writes, with --credentials, each role's password (mode 0600) for the services and setup-nats.mjs:
//   NATS_URL=nats://127.0.0.1:<port>, NATS_ADMIN_PASSWORD=…, NATS_INGEST_PASSWORD=…, …
// Then, for example:
//   LOCKLINE_NATS_URL=$NATS_URL LOCKLINE_NATS_USER=admin LOCKLINE_NATS_PASSWORD=$NATS_ADMIN_PASSWORD \
//     node deploy/setup-nats.mjs --partitions 2 --replicas 3
//
// Needs the built libraries (`npm run build`), or: node --conditions=lockline-source --import tsx deploy/local/nats-cluster.mjs
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startNatsCluster } from '@lockline/bus/testing';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '3' },
    auth: { type: 'boolean', default: false },
    'sync-always': { type: 'boolean', default: false },
    credentials: { type: 'string' },
  },
});
const nodes = Number(values.nodes);
if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) {
  console.error(`nats-cluster: --nodes: expected 1 to 9, got ${values.nodes}`);
  process.exit(2);
}
if (values.credentials !== undefined && !values.auth) {
  console.error('nats-cluster: --credentials holds passwords, and there are none without --auth');
  process.exit(2);
}

const cluster = await startNatsCluster({ nodes, clusterName: 'lockline-local', syncAlways: values['sync-always'], ...(values.auth ? { auth: { hosts: [] } } : {}) });
const leader = await cluster.waitForMetaLeader();
for (const node of cluster.nodes) {
  console.log(`${node.serverName}  ${node.url}  monitoring ${node.monitorUrl}  cluster port ${node.clusterPort}  pid ${node.pid ?? '?'}${node.serverName === leader ? '  (JetStream meta leader)' : ''}`);
}
if (values.credentials !== undefined) {
  const lines = [`NATS_URL=${cluster.urls[0]}`, `NATS_URLS=${cluster.urls.join(',')}`];
  for (const [user, credential] of Object.entries(cluster.credentials)) lines.push(`NATS_${user.toUpperCase()}_PASSWORD=${credential.password}`);
  writeFileSync(values.credentials, `${lines.join('\n')}\n`, { mode: 0o600 });
  console.log(`credentials in ${values.credentials}`);
}
console.log(`ready: ${cluster.nodes.length} nodes, cluster ${cluster.name}; Ctrl-C stops them`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await cluster.stop();
  console.log('stopped');
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
