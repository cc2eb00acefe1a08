import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import { describe, expect, it } from 'vitest';
import { startNatsServer } from './natsServer.js';

/** Whether `pid` runs (a zombie — killed, not yet reaped by its new parent — does not count). */
function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

describe('startNatsServer', () => {
  it('is healthy on loopback, keeps its store and ports across kill + restart, and cleans up on stop', async () => {
    const server = await startNatsServer();
    expect(server.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${server.monitorUrl}/healthz`)).ok).toBe(true);
    const varz = (await (await fetch(`${server.monitorUrl}/varz`)).json()) as { host: string; port: number; jetstream?: { config?: { store_dir?: string } } };
    expect(varz).toMatchObject({ host: '127.0.0.1', port: server.port });
    // nats-server keeps its files in a `jetstream` folder inside the configured store_dir.
    expect(varz.jetstream?.config?.store_dir).toBe(join(server.storeDir, 'jetstream'));

    let nc = await connect({ servers: server.url });
    await (await nc.jetstreamManager()).streams.add({ name: 'KEEP', subjects: ['keep.>'] });
    await nc.jetstream().publish('keep.1', new Uint8Array([1]));
    await nc.close();

    const firstPid = server.pid;
    await server.kill('SIGKILL');
    expect(alive(firstPid)).toBe(false);
    await server.restart();
    expect(server.pid).not.toBe(firstPid);
    nc = await connect({ servers: server.url });
    expect((await (await nc.jetstreamManager()).streams.info('KEEP')).state.messages).toBe(1);
    await nc.close();

    const pid = server.pid;
    await server.stop();
    expect(alive(pid)).toBe(false);
    expect(existsSync(dirname(server.configPath))).toBe(false);
  });

  it.each(['exit', 'SIGKILL'])('leaves no nats-server behind when the process that started it ends (%s) without stopping it', async (how) => {
    const here = dirname(fileURLToPath(import.meta.url));
    const script = `
      import { startNatsServer } from ${JSON.stringify(join(here, 'natsServer.ts'))};
      const server = await startNatsServer();
      console.log(JSON.stringify({ pid: server.pid, dir: server.storeDir }));
      ${how === 'exit' ? 'process.exit(0);' : "process.kill(process.pid, 'SIGKILL');"}
    `;
    const child = spawnSync(process.execPath, ['--conditions=lockline-source', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(child.status ?? child.signal, child.stderr).toBe(how === 'exit' ? 0 : 'SIGKILL');
    const { pid, dir } = JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}') as { pid: number; dir: string };
    expect(pid).toBeGreaterThan(0);
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    expect(alive(pid)).toBe(false);
    if (how === 'exit') expect(existsSync(dir)).toBe(false);
    else rmSync(dirname(dir), { recursive: true, force: true }); // nobody was left to remove it
  });

  it('refuses limits nats-server could not use, before starting it', async () => {
    await expect(startNatsServer({ maxMemory: -5 })).rejects.toThrow(/maxMemory must be a positive number/);
  });
});
