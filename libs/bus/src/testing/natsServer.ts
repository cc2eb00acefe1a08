import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ServiceRole } from '../names.js';
import { writeNatsConfig, type NatsCredential } from '../natsConfig.js';
import { renderNatsConfig } from '../natsConfigText.js';
import { MAX_SERVER_LOG, haltServerProcess, startServerProcess } from './serverProcess.js';

/**
 * A real nats-server for tests: the binary `scripts/nats-server.sh` provides (≥ 2.10), on free
 * loopback ports, with its own store folder, killed when the test process exits.
 */

const run = promisify(execFile);

let binary: Promise<string> | undefined;

function findScript(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'scripts', 'nats-server.sh');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('scripts/nats-server.sh not found above @lockline/bus: run the tests from the Lockline repository');
    dir = parent;
  }
}

/** The nats-server binary's path, from `bash scripts/nats-server.sh` (asked once per process). */
export function natsServerBinary(): Promise<string> {
  binary ??= (async () => {
    const script = findScript();
    try {
      const { stdout } = await run('bash', [script], { cwd: resolve(dirname(script), '..'), timeout: 120_000 });
      const path = stdout.trim().split('\n').pop() ?? '';
      if (path === '') throw new Error('it printed no path');
      return path;
    } catch (error) {
      binary = undefined;
      const stderr = (error as { stderr?: string }).stderr ?? '';
      throw new Error(`no nats-server >= 2.10: bash ${script} failed${stderr ? `:\n${stderr}` : ''}`, { cause: error });
    }
  })();
  return binary;
}

/** `nats-server -t -c <configPath>`: whether the server accepts the file, with its words. */
export async function checkNatsConfig(configPath: string): Promise<{ ok: boolean; output: string }> {
  const path = await natsServerBinary();
  try {
    const { stdout, stderr } = await run(path, ['-t', '-c', configPath], { timeout: 30_000 });
    return { ok: true, output: `${stdout}${stderr}` };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message };
  }
}

/** A TCP port nothing listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return await new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolvePort(port) : reject(new Error('could not get a free port'))));
    });
  });
}

export interface StartNatsServerOptions {
  /** With auth: writeNatsConfig's users (no anonymous access). Without: anyone may connect. */
  auth?: { hosts: readonly string[]; services?: readonly ServiceRole[] };
  /** Default true. */
  jetstream?: boolean;
  /** JetStream memory limit in bytes; default 256 MiB. */
  maxMemory?: number;
  /** JetStream file limit in bytes; default 4 GiB (a limit, not space taken: Lockline's streams reserve 1.5 GiB of it). */
  maxFile?: number;
  /** `sync_interval: always`. */
  syncAlways?: boolean;
  serverName?: string;
  /** How long to wait for /healthz; default 15 s. */
  startTimeoutMs?: number;
}

export interface NatsServer {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  /** `http://127.0.0.1:<monitorPort>`. */
  readonly monitorUrl: string;
  readonly configPath: string;
  /** The JetStream store folder (kept across restart and kill). */
  readonly storeDir: string;
  /** By user (see writeNatsConfig); empty without auth. */
  readonly credentials: Readonly<Record<string, NatsCredential>>;
  /** The running process's id, or undefined while stopped. */
  readonly pid: number | undefined;
  /** The server's recent output (stdout and stderr). */
  logs(): string;
  /** SIGTERM (graceful), wait, remove the folder. Idempotent. */
  stop(): Promise<void>;
  /** Send `signal` (default SIGKILL) and wait for the exit; the store stays for restart(). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stop with `signal` (default SIGTERM) if running, then start again: same ports, same store. */
  restart(options?: { signal?: NodeJS.Signals }): Promise<void>;
}

export async function startNatsServer(options: StartNatsServerOptions = {}): Promise<NatsServer> {
  const path = await natsServerBinary();
  const dir = await mkdtemp(join(tmpdir(), 'lockline-nats-'));
  const storeDir = join(dir, 'store');
  await mkdir(storeDir);
  const port = await freePort();
  const monitorPort = await freePort();
  const serverName = options.serverName ?? `lockline-test-${port}`;
  const jetstream = options.jetstream === false ? undefined : { storeDir, maxMemory: options.maxMemory ?? 256 * 1024 * 1024, maxFile: options.maxFile ?? 4 * 1024 * 1024 * 1024 };
  let configPath = join(dir, 'nats.conf');
  let credentials: Record<string, NatsCredential> = {};
  try {
    if (options.auth !== undefined) {
      if (jetstream === undefined) throw new Error('auth needs JetStream in these test servers');
      const written = await writeNatsConfig({ dir, port, monitorPort, serverName, jetstream, users: options.auth, syncAlways: options.syncAlways === true });
      configPath = written.configPath;
      credentials = { ...written.credentials };
    } else {
      const text = renderNatsConfig({ host: '127.0.0.1', port, monitorPort, serverName, ...(jetstream === undefined ? {} : { jetstream: { ...jetstream, syncAlways: options.syncAlways === true } }) });
      await writeFile(configPath, text);
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  let child: ChildProcess | undefined;
  let log = '';
  const monitorUrl = `http://127.0.0.1:${monitorPort}`;

  const launch = async (): Promise<void> => {
    child = await startServerProcess({
      binary: path,
      args: ['-c', configPath, '-a', '127.0.0.1'],
      dir,
      readyUrl: `${monitorUrl}/healthz`,
      timeoutMs: options.startTimeoutMs ?? 15_000,
      name: 'nats-server',
      onOutput: (chunk) => {
        log = (log + chunk.toString('utf8')).slice(-MAX_SERVER_LOG);
      },
      log: () => log,
    });
  };

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc !== undefined) await haltServerProcess(proc, signal);
  };

  let stopped = false;
  try {
    await launch();
  } catch (error) {
    await halt('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    monitorPort,
    monitorUrl,
    configPath,
    storeDir,
    credentials,
    get pid() {
      return child?.pid;
    },
    logs: () => log,
    async stop() {
      if (stopped) return;
      stopped = true;
      await halt('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
    async kill(signal = 'SIGKILL') {
      await halt(signal);
    },
    async restart(restartOptions = {}) {
      if (stopped) throw new Error('restart() after stop(): the store is gone');
      await halt(restartOptions.signal ?? 'SIGTERM');
      await launch();
    },
  };
}
