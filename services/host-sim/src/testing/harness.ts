import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVENTS_STREAM, decodeLines, ensureStreams, natsAuthOptions, parsePartitionedSubject } from '@lockline/bus';
import { readStoredMessages, startNatsServer, type NatsServer } from '@lockline/bus/testing';
import { createLogger, createRegistry, type Registry } from '@lockline/runtime';
import { createSimHost, type SimRecord } from '@lockline/sim';
import { connect, type NatsConnection } from 'nats';
import { loadConfig, type HostSimConfig } from '../config.js';
import { build, type HostSim } from '../hostSim.js';

/**
 * The tests' world: a real nats-server with Lockline's users and permissions, the streams ensured by
 * the admin user, a state folder, and read-back of what LOCKLINE_EVENTS holds.
 */
export interface Harness {
  readonly server: NatsServer;
  /** The admin user's connection: setup and read-back. */
  readonly admin: NatsConnection;
  readonly stateDir: string;
  /** A new connection as `user` (default hostsim), closed at cleanup. */
  connect(user?: string): Promise<NatsConnection>;
  /** The environment host-sim reads, for this server and state folder, plus `extra`. */
  env(extra?: Record<string, string>): Record<string, string>;
  config(extra?: Record<string, string>): HostSimConfig;
  /** build() on a fresh connection (as `user`) and registry; abort()ed at cleanup if still running. */
  build(config: HostSimConfig, user?: string): Promise<{ sim: HostSim; nc: NatsConnection; registry: Registry }>;
  cleanup(): Promise<void>;
}

export async function startHarness(options: { hosts?: readonly string[]; partitions?: number } = {}): Promise<Harness> {
  const server = await startNatsServer({ auth: { hosts: options.hosts ?? [] } });
  const connections: NatsConnection[] = [];
  const sims: HostSim[] = [];
  const stateDir = await mkdtemp(join(tmpdir(), 'lockline-host-sim-'));
  const connectAs = async (user = 'hostsim'): Promise<NatsConnection> => {
    const credential = server.credentials[user];
    if (credential === undefined) throw new Error(`no NATS user ${user}`);
    const nc = await connect({ servers: server.url, ...natsAuthOptions(credential), maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    connections.push(nc);
    return nc;
  };
  const admin = await connectAs('admin');
  await ensureStreams(await admin.jetstreamManager(), { partitions: options.partitions ?? 4 });
  const env = (extra: Record<string, string> = {}): Record<string, string> => {
    const hostsim = server.credentials.hostsim;
    return {
      LOCKLINE_NATS_URL: server.url,
      ...(hostsim === undefined ? {} : { LOCKLINE_NATS_USER: hostsim.user, LOCKLINE_NATS_PASSWORD: hostsim.password }),
      LOCKLINE_STATE_DIR: stateDir,
      LOCKLINE_LOG_LEVEL: 'silent',
      ...extra,
    };
  };
  return {
    server,
    admin,
    stateDir,
    connect: connectAs,
    env,
    config: (extra) => loadConfig(env(extra)),
    async build(config, user) {
      const nc = await connectAs(user);
      const registry = createRegistry('host-sim');
      const sim = build(config, { nc, log: createLogger('host-sim', config.logLevel), registry });
      sims.push(sim);
      return { sim, nc, registry };
    },
    async cleanup() {
      for (const sim of sims) await sim.abort();
      for (const nc of connections) await nc.close().catch(() => undefined);
      await server.stop();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** One stored batch: its host (from the partitioned subject), Msg-Id and JSONL lines. */
export interface StoredBatch {
  readonly streamSeq: number;
  readonly hostId: string;
  readonly msgId: string | undefined;
  readonly lines: readonly string[];
}

export async function storedBatches(admin: NatsConnection): Promise<StoredBatch[]> {
  const messages = await readStoredMessages(admin.jetstream(), EVENTS_STREAM, { timeoutMs: 30_000 });
  return messages.map((m) => {
    const where = parsePartitionedSubject(m.subject);
    if (where === undefined) throw new Error(`unexpected subject ${m.subject}`);
    return { streamSeq: m.seq, hostId: where.hostId, msgId: m.msgId, lines: decodeLines(m.data) };
  });
}

/** Every stored line of each host, in stream order. */
export function linesByHost(batches: readonly StoredBatch[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const b of batches) {
    const lines = out.get(b.hostId) ?? [];
    lines.push(...b.lines);
    out.set(b.hostId, lines);
  }
  return out;
}

/** What the same simulated host (same seed, profile, faults) hands out first: `count` records. */
export function simulated(config: HostSimConfig, hostId: string, count: number): SimRecord[] {
  return createSimHost({ hostId, seed: config.seed, profile: config.profile, faults: config.faults }).take(count);
}

/** The envelope fields a test checks, from one stored JSONL line. */
export function envelope(line: string): { id: string; hostId: string; bootId: string; seq: number } {
  const e = JSON.parse(line) as { id: string; hostId: string; bootId: string; seq: number };
  return { id: e.id, hostId: e.hostId, bootId: e.bootId, seq: e.seq };
}

/** Resolves once `predicate` holds (polled), or rejects after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
