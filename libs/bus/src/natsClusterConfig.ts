import { renderNatsConfig, type RenderedUser } from './natsConfigText.js';

/**
 * The configuration text of one node of a nats-server cluster with JetStream: what renderNatsConfig
 * writes for a single server (name, listen and monitoring addresses, JetStream, Lockline's users and
 * permissions), followed by a `cluster` block (name, listen address, route credentials and the routes
 * to the other nodes). Pure, like natsConfigText.ts: the deploy scripts and the test cluster of
 * ./testing write the files.
 *
 * Replicated streams (`replicas: 3` in ensureStreams) need at least three JetStream nodes in one
 * cluster; each node needs its own server_name (the JetStream meta group knows peers by it) and its own
 * store folder.
 */

export interface NatsClusterNode {
  /** Unique within the cluster. */
  readonly serverName: string;
  /** The name or address the other nodes dial for their routes to this one (a DNS name in a container network, 127.0.0.1 on one machine). */
  readonly routeHost: string;
  /** This node's cluster (route) port. */
  readonly clusterPort: number;
  /** This node's client port. */
  readonly port: number;
  /** This node's monitoring port (`/healthz`, `/jsz`). */
  readonly monitorPort: number;
  /** This node's own JetStream store folder. */
  readonly storeDir: string;
}

export interface NatsClusterOptions {
  /** The cluster's name: letters, digits, `_` and `-`. Every node of one cluster has the same. */
  readonly clusterName: string;
  /** The address every port listens on: 127.0.0.1 for a cluster on one machine, 0.0.0.0 in a container. */
  readonly listenHost: string;
  /** Every node, the one being rendered included (it gets no route to itself). */
  readonly nodes: readonly NatsClusterNode[];
  readonly jetstream: {
    /** Bytes, per node. */
    readonly maxMemory: number;
    /** Bytes, per node: each replica of a stream reserves its max_bytes on its node. */
    readonly maxFile: number;
    /** `sync_interval: always`: fsync before every ack (see renderNatsConfig). */
    readonly syncAlways?: boolean;
  };
  /** Omitted: anonymous clients (tests only). Given: only these users (see generateUsers). */
  readonly users?: readonly RenderedUser[];
  /** What the nodes authenticate each other's routes with. Omitted: any process that reaches a cluster port may join (tests on loopback only). */
  readonly routeAuth?: { readonly user: string; readonly password: string };
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const q = (value: string): string => JSON.stringify(value);

function checkName(what: string, name: string): string {
  if (!NAME.test(name)) throw new RangeError(`${what} must be 1 to 64 letters, digits, "_" or "-", got ${JSON.stringify(name)}`);
  return name;
}

function checkPort(what: string, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`${what} must be a TCP port (1-65535), got ${String(port)}`);
  return port;
}

/** `nats-route://user:password@host:port`, the form a `routes` entry takes (credentials percent-encoded). */
export function natsRouteUrl(node: Pick<NatsClusterNode, 'routeHost' | 'clusterPort'>, auth?: NatsClusterOptions['routeAuth']): string {
  const credentials = auth === undefined ? '' : `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.password)}@`;
  return `nats-route://${credentials}${node.routeHost}:${checkPort('clusterPort', node.clusterPort)}`;
}

/** Throws a RangeError naming what is wrong with the cluster as a whole. */
export function checkNatsCluster(options: NatsClusterOptions): void {
  checkName('clusterName', options.clusterName);
  if (options.nodes.length === 0) throw new RangeError('a cluster needs at least one node');
  const names = new Set<string>();
  const routes = new Set<string>();
  for (const node of options.nodes) {
    checkName('serverName', node.serverName);
    if (names.has(node.serverName)) throw new RangeError(`server name ${node.serverName} is used twice: JetStream tells its peers apart by name`);
    names.add(node.serverName);
    if (!/^[A-Za-z0-9.:[\]-]+$/.test(node.routeHost)) throw new RangeError(`routeHost of ${node.serverName} must be a host name or address, got ${JSON.stringify(node.routeHost)}`);
    const route = `${node.routeHost}:${checkPort(`clusterPort of ${node.serverName}`, node.clusterPort)}`;
    if (routes.has(route)) throw new RangeError(`two nodes have the route address ${route}`);
    routes.add(route);
    const own = [checkPort(`port of ${node.serverName}`, node.port), checkPort(`monitorPort of ${node.serverName}`, node.monitorPort), node.clusterPort];
    if (new Set(own).size !== own.length) throw new RangeError(`${node.serverName} uses one port twice (client ${node.port}, monitoring ${node.monitorPort}, cluster ${node.clusterPort})`);
    if (node.storeDir === '') throw new RangeError(`storeDir of ${node.serverName} is empty`);
  }
  // On one host, two nodes may not share a port or a store folder.
  const byHost = new Map<string, NatsClusterNode[]>();
  for (const node of options.nodes) byHost.set(node.routeHost, [...(byHost.get(node.routeHost) ?? []), node]);
  for (const [host, nodes] of byHost) {
    if (nodes.length < 2) continue;
    const ports = nodes.flatMap((n) => [n.port, n.monitorPort, n.clusterPort]);
    if (new Set(ports).size !== ports.length) throw new RangeError(`nodes on ${host} share a port: give each its own client, monitoring and cluster ports`);
    if (new Set(nodes.map((n) => n.storeDir)).size !== nodes.length) throw new RangeError(`nodes on ${host} share a store folder: each needs its own`);
  }
  if (options.routeAuth !== undefined) {
    checkName('routeAuth.user', options.routeAuth.user);
    if (options.routeAuth.password.length < 16) throw new RangeError('routeAuth.password must be at least 16 characters');
  }
}

/** The configuration of the node named `serverName`. */
export function renderNatsClusterConfig(options: NatsClusterOptions, serverName: string): string {
  checkNatsCluster(options);
  const self = options.nodes.find((node) => node.serverName === serverName);
  if (self === undefined) throw new RangeError(`${JSON.stringify(serverName)} is not one of the cluster's nodes (${options.nodes.map((n) => n.serverName).join(', ')})`);
  const single = renderNatsConfig({
    host: options.listenHost,
    port: self.port,
    monitorPort: self.monitorPort,
    serverName: self.serverName,
    jetstream: { storeDir: self.storeDir, maxMemory: options.jetstream.maxMemory, maxFile: options.jetstream.maxFile, syncAlways: options.jetstream.syncAlways === true },
    ...(options.users === undefined ? {} : { users: options.users }),
  });
  const others = options.nodes.filter((node) => node !== self);
  const out = [
    `# Node ${self.serverName} of the ${options.nodes.length}-node cluster ${options.clusterName} (renderNatsClusterConfig).`,
    'cluster {',
    `  name: ${q(options.clusterName)}`,
    `  listen: ${q(`${options.listenHost}:${self.clusterPort}`)}`,
  ];
  if (options.routeAuth !== undefined) {
    out.push(`  authorization { user: ${q(options.routeAuth.user)}, password: ${q(options.routeAuth.password)} }`);
  }
  out.push(`  routes: [${others.length === 0 ? '' : `\n${others.map((node) => `    ${q(natsRouteUrl(node, options.routeAuth))}`).join('\n')}\n  `}]`, '}');
  return `${single}${out.join('\n')}\n`;
}

/** Every node's configuration, by server name. */
export function renderNatsClusterConfigs(options: NatsClusterOptions): Map<string, string> {
  return new Map(options.nodes.map((node) => [node.serverName, renderNatsClusterConfig(options, node.serverName)]));
}
