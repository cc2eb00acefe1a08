import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeNatsConfig } from '@lockline/bus/config';
import { freePort, natsServerBinary } from '@lockline/bus/testing';
import type { Launcher, RunningService } from './launcher.js';
import { sleep } from './wait.js';

const run = promisify(execFile);

/**
 * The containers backend (testcontainers 11): nats-server and each service in a container of its
 * own, on the host's network (these machines run Docker with no bridge: NOTES.md), the Lockline
 * checkout mounted read-only and the test's temp folder read-write at the same paths.
 *
 * Images are configurable (an air-gapped CI builds its own). By default they are made locally
 * from this machine's own binaries — `docker import` of a root filesystem holding nats-server (or
 * node) and the shared libraries it loads — so nothing is pulled: see buildLocalImages.
 */

export interface ContainerImages {
  /** An image whose `natsServerPath` runs nats-server ≥ 2.10. */
  readonly nats: string;
  readonly natsServerPath: string;
  /** An image whose `nodePath` runs Node ≥ 20 (the services run from the mounted checkout). */
  readonly node: string;
  readonly nodePath: string;
}

export const DEFAULT_IMAGES: ContainerImages = {
  nats: 'lockline-local/nats-server:testkit',
  natsServerPath: '/usr/local/bin/nats-server',
  node: 'lockline-local/node:testkit',
  nodePath: '/usr/local/bin/node',
};

/** True when a Docker engine answers (testcontainers fails in a few ms when there is none). */
export async function containersAvailable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

async function docker(args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

async function imageExists(image: string): Promise<boolean> {
  try {
    await docker(['image', 'inspect', image]);
    return true;
  } catch {
    return false;
  }
}

/** The files a dynamically linked binary loads (ldd), itself first; a static one alone. */
async function closure(binary: string): Promise<string[]> {
  let out = '';
  try {
    out = (await run('ldd', [binary])).stdout;
  } catch {
    return [binary]; // "not a dynamic executable"
  }
  const files = [binary];
  for (const line of out.split('\n')) {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (match?.[1] !== undefined && existsSync(match[1])) files.push(match[1]);
  }
  return files;
}

/** `docker import` of a root filesystem holding `binary` at `target` and the libraries it loads. */
async function importImage(image: string, binary: string, target: string): Promise<void> {
  const libs = (await closure(binary)).slice(1);
  // tar from /, following symlinks, the binary renamed to its place in the image.
  const args = ['-C', '/', '--dereference', '-cf', '-', ...libs.map((l) => l.slice(1)), '--transform', `s|^${binary.slice(1)}$|${target.slice(1)}|`, binary.slice(1)];
  await new Promise<void>((resolveImport, reject) => {
    const tar = spawn('tar', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const imp = spawn('docker', ['import', '-', image], { stdio: ['pipe', 'ignore', 'pipe'] });
    let errors = '';
    tar.stderr.on('data', (c: Buffer) => (errors += c.toString()));
    imp.stderr.on('data', (c: Buffer) => (errors += c.toString()));
    tar.stdout.pipe(imp.stdin);
    imp.once('exit', (code) => (code === 0 ? resolveImport() : reject(new Error(`docker import ${image} failed (${code}): ${errors.trim()}`))));
    tar.once('error', reject);
    imp.once('error', reject);
  });
}

/**
 * Makes the default images from this machine's nats-server (scripts/nats-server.sh) and node, unless
 * they exist. About a second each; nothing is pulled.
 */
export async function buildLocalImages(images: ContainerImages = DEFAULT_IMAGES): Promise<void> {
  if (!(await imageExists(images.nats))) await importImage(images.nats, await natsServerBinary(), images.natsServerPath);
  if (!(await imageExists(images.node))) await importImage(images.node, process.execPath, images.nodePath);
}

export async function containerLauncher(wanted: Partial<ContainerImages> = {}): Promise<Launcher> {
  const { GenericContainer } = await import('testcontainers');
  const images: ContainerImages = { ...DEFAULT_IMAGES, ...wanted };
  if (wanted.nats === undefined || wanted.node === undefined) await buildLocalImages(images);
  const started: Array<{ stop(options?: { timeout?: number }): Promise<unknown> }> = [];

  const start = async (name: string, image: string, command: string[], mounts: Array<{ source: string; target: string; mode: 'ro' | 'rw' }>, env: Record<string, string>): Promise<RunningService> => {
    const container = await new GenericContainer(image).withName(`lockline-${name}-${process.pid}-${Date.now()}`).withNetworkMode('host').withBindMounts(mounts).withEnvironment(env).withCommand(command).start();
    started.push(container);
    let log = '';
    let running = true;
    const stream = await container.logs();
    stream.on('data', (chunk: Buffer | string) => {
      log = (log + chunk.toString()).slice(-256 * 1024);
    });
    stream.on('end', () => {
      running = false;
    });
    return {
      name,
      logs: () => log,
      get running() {
        return running;
      },
      stop: async () => {
        running = false;
        await container.stop({ timeout: 10 }).catch(() => undefined);
      },
    };
  };

  return {
    kind: 'containers',
    async startNats({ hosts, dir }) {
      const natsDir = join(dir, 'nats');
      const port = await freePort();
      const monitorPort = await freePort();
      const { configPath, credentials } = await writeNatsConfig({
        dir: natsDir,
        port,
        monitorPort,
        serverName: `lockline-testkit-${process.pid}`,
        jetstream: { storeDir: join(natsDir, 'store'), maxMemory: 256 * 2 ** 20, maxFile: 4 * 2 ** 30 },
        users: { hosts },
      });
      const service = await start('nats', images.nats, [images.natsServerPath, '-c', configPath], [{ source: natsDir, target: natsDir, mode: 'rw' }], {});
      const deadline = Date.now() + 15_000;
      for (;;) {
        const ok = await fetch(`http://127.0.0.1:${monitorPort}/healthz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
        if (ok) break;
        if (Date.now() > deadline) throw new Error(`nats-server in its container was not healthy within 15 s:\n${service.logs().slice(-2000)}`);
        await sleep(50);
      }
      return { url: `nats://127.0.0.1:${port}`, credentials, stop: () => service.stop() };
    },
    async startService({ name, main, env }) {
      // main is <repo>/services/<name>/dist/main.js: mount the checkout read-only at the same path.
      const checkout = join(main, '..', '..', '..', '..');
      const dataDirs = [...new Set(Object.values(env).filter((v) => v.startsWith('sqlite:')).map((v) => join(v.slice('sqlite:'.length), '..')))];
      const stateDir = env.LOCKLINE_STATE_DIR === undefined ? [] : [join(env.LOCKLINE_STATE_DIR, '..')];
      const mounts = [{ source: checkout, target: checkout, mode: 'ro' as const }, ...[...new Set([...dataDirs, ...stateDir])].map((d) => ({ source: d, target: d, mode: 'rw' as const }))];
      return start(name, images.node, [images.nodePath, main], mounts, env);
    },
    async close() {
      for (const c of started.reverse()) await c.stop({ timeout: 5 }).catch(() => undefined);
    },
  };
}
