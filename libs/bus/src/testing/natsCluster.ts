import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceRole } from '../names.js';
import { credentialsOf, generateUsers, type NatsCredential } from '../natsConfig.js';
import { renderNatsClusterConfigs, type NatsClusterNode } from '../natsClusterConfig.js';
import { freePort, natsServerBinary } from './natsServer.js';
import { MAX_SERVER_LOG, haltServerProcess, startServerProcess } from './serverProcess.js';

/**
 * A real nats-server cluster on loopback for tests and for trying replicated streams on one machine:
 * N nodes (default 3) of the binary `scripts/nats-server.sh` provides, each on its own free client,
 * monitoring and cluster ports with its own store folder, configured by renderNatsClusterConfig, and
 * killed when the process that started them exits. Starting resolves once every node is healthy and
 * all agree on a JetStream meta leader, so an R3 stream can be created right away.
 */

export interface StartNatsClusterOptions {
  /** Nodes; default 3 (the fewest for R3 streams that survive one node's loss). */
  nodes?: number;
  /** Default `lockline-test`. */
  clusterName?: string;
  /** With auth: Lockline's users (writeNatsConfig's), and route credentials. Without: anyone may connect. */
  auth?: { hosts: readonly string[]; services?: readonly ServiceRole[] };
  /** Per node, bytes; default 256 MiB. */
  maxMemory?: number;
  /** Per node, bytes; default 4 GiB (a limit, not space taken). */
  maxFile?: number;
  /** `sync_interval: always` on every node. */
  syncAlways?: boolean;
  /** How long to wait for health and a meta leader; default 30 s. */
  startTimeoutMs?: number;
}

export interface NatsClusterMember {
  readonly serverName: string;
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  readonly monitorUrl: string;
  readonly clusterPort: number;
  readonly configPath: string;
  readonly storeDir: string;
  /** The running process's id, or undefined while stopped. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** The node's recent output. */
  logs(): string;
  /** Send `signal` (default SIGKILL) and wait for the exit; ports and store stay for start(). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start again after kill() (same ports, same store) and wait for /healthz. */
  start(): Promise<void>;
}

export interface NatsCluster {
  readonly name: string;
  readonly nodes: readonly NatsClusterMember[];
  /** Every node's client URL: pass them all as `servers`, so a client survives the loss of one. */
  readonly urls: readonly string[];
  /** By user (see writeNatsConfig); empty without auth. */
  readonly credentials: Readonly<Record<string, NatsCredential>>;
  node(serverName: string): NatsClusterMember;
  /**
   * Waits until every running node is healthy and names the same running JetStream meta leader, and
   * returns the leader's server name.
   */
  waitForMetaLeader(timeoutMs?: number): Promise<string>;
  /** SIGTERM every node, wait, remove the folder. Idempotent. */
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function getJson(url: string): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return await response.json();
}

export async function startNatsCluster(options: StartNatsClusterOptions = {}): Promise<NatsCluster> {
  const count = options.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 9) throw new RangeError(`nodes must be 1 to 9, got ${String(count)}`);
  const name = options.clusterName ?? 'lockline-test';
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const path = await natsServerBinary();
  const dir = await mkdtemp(join(tmpdir(), 'lockline-nats-cluster-'));
  const members: Member[] = [];
  let credentials: Record<string, NatsCredential> = {};

  try {
    const nodes: NatsClusterNode[] = [];
    // freePort() asks the OS for a port and lets it go, so two calls can get the same one: take
    // distinct ones (each is still only free until a server binds it).
    const taken = new Set<number>();
    const distinctPort = async (): Promise<number> => {
      for (;;) {
        const port = await freePort();
        if (!taken.has(port)) {
          taken.add(port);
          return port;
        }
      }
    };
    for (let i = 1; i <= count; i++) {
      const serverName = `${name}-${i}`;
      const storeDir = join(dir, serverName, 'store');
      await mkdir(storeDir, { recursive: true });
      nodes.push({ serverName, routeHost: '127.0.0.1', port: await distinctPort(), monitorPort: await distinctPort(), clusterPort: await distinctPort(), storeDir });
    }
    const users = options.auth === undefined ? undefined : generateUsers(options.auth);
    if (users !== undefined) credentials = credentialsOf(users);
    const configs = renderNatsClusterConfigs({
      clusterName: name,
      listenHost: '127.0.0.1',
      nodes,
      jetstream: { maxMemory: options.maxMemory ?? 256 * 2 ** 20, maxFile: options.maxFile ?? 4 * 2 ** 30, syncAlways: options.syncAlways === true },
      ...(users === undefined ? {} : { users, routeAuth: { user: 'route', password: randomBytes(24).toString('base64url') } }),
    });
    for (const node of nodes) {
      const configPath = join(dir, node.serverName, 'nats.conf');
      await writeFile(configPath, configs.get(node.serverName) ?? '', { mode: 0o600 });
      members.push(new Member(path, dir, node, configPath));
    }
    // All at once: a node waits for its routes, and JetStream for a quorum of peers, to be healthy.
    await Promise.all(members.map((m) => m.start(timeoutMs)));
  } catch (error) {
    await Promise.all(members.map((m) => m.kill('SIGKILL')));
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  const waitForMetaLeader = async (waitMs = timeoutMs): Promise<string> => {
    const deadline = Date.now() + waitMs;
    let last = 'no answer yet';
    for (;;) {
      const running = members.filter((m) => m.running);
      try {
        const leaders = await Promise.all(
          running.map(async (m) => {
            const jsz = (await getJson(`${m.monitorUrl}/jsz`)) as { meta_cluster?: { leader?: string; cluster_size?: number } };
            await getJson(`${m.monitorUrl}/healthz`);
            return jsz.meta_cluster;
          }),
        );
        const names = new Set(leaders.map((meta) => meta?.leader ?? ''));
        const [leader] = names;
        last = `leaders seen: ${[...names].map((n) => JSON.stringify(n)).join(', ')}; cluster sizes: ${leaders.map((meta) => meta?.cluster_size ?? '?').join(', ')}`;
        if (names.size === 1 && leader !== undefined && leader !== '' && running.some((m) => m.serverName === leader) && leaders.every((meta) => meta?.cluster_size === count)) return leader;
      } catch (error) {
        last = (error as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`the cluster ${name} has no JetStream meta leader after ${waitMs} ms (${last}):\n${running.map((m) => `--- ${m.serverName}\n${m.logs().slice(-2000)}`).join('\n')}`);
      await sleep(50);
    }
  };

  try {
    await waitForMetaLeader();
  } catch (error) {
    await Promise.all(members.map((m) => m.kill('SIGKILL')));
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  let stopped = false;
  return {
    name,
    nodes: members,
    urls: members.map((m) => m.url),
    credentials,
    node(serverName) {
      const member = members.find((m) => m.serverName === serverName);
      if (member === undefined) throw new RangeError(`no node ${serverName} in ${name} (${members.map((m) => m.serverName).join(', ')})`);
      return member;
    },
    waitForMetaLeader,
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(members.map((m) => m.kill('SIGTERM')));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

class Member implements NatsClusterMember {
  readonly serverName: string;
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  readonly monitorUrl: string;
  readonly clusterPort: number;
  readonly storeDir: string;
  private child: ChildProcess | undefined;
  private log = '';

  constructor(
    private readonly binary: string,
    private readonly dir: string,
    node: NatsClusterNode,
    readonly configPath: string,
  ) {
    this.serverName = node.serverName;
    this.port = node.port;
    this.monitorPort = node.monitorPort;
    this.clusterPort = node.clusterPort;
    this.storeDir = node.storeDir;
    this.url = `nats://127.0.0.1:${node.port}`;
    this.monitorUrl = `http://127.0.0.1:${node.monitorPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  logs(): string {
    return this.log;
  }

  async start(timeoutMs = 30_000): Promise<void> {
    if (this.running) return;
    this.child = await startServerProcess({
      binary: this.binary,
      args: ['-c', this.configPath],
      dir: this.dir,
      // Not /healthz: in a cluster it stays 503 until JetStream has a quorum, that is until the
      // other nodes are up too. /varz answers as soon as this one listens.
      readyUrl: `${this.monitorUrl}/varz`,
      timeoutMs,
      name: `nats-server ${this.serverName}`,
      onOutput: (chunk) => {
        this.log = (this.log + chunk.toString('utf8')).slice(-MAX_SERVER_LOG);
      },
      log: () => this.log,
    });
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.child;
    if (proc === undefined) return;
    await haltServerProcess(proc, signal);
  }
}
